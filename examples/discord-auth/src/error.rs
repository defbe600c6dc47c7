//! The tool's errors: each says what happened and what to do about it.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in a command. The `Display` text is the sentence printed on
/// stderr; it never contains a token, a refresh token or the client secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A flag or setting is missing or invalid.
    #[error("{0}")]
    Usage(String),
    /// The connection does not exist.
    #[error("not logged in: there is no connection named `{0}` (run `discord-auth login --connection {0}`)")]
    NotLoggedIn(String),
    /// A vault file exists but cannot be read as one of ours.
    #[error("vault file {}: {reason}; it was left as it is (move it away to start over)", path.display())]
    VaultFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file or directory operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "cannot write".
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The vault key could not be found, made or used.
    #[error("vault key: {0}")]
    Key(String),
    /// The login did not complete (denied, wrong state, timeout, interrupted).
    #[error("login failed: {0}")]
    Login(String),
    /// Discord refused a request or answered in a way we cannot use.
    #[error("Discord: {0}")]
    Discord(String),
    /// The grant is gone at Discord (revoked, or the refresh token was already used).
    #[error(
        "the authorization of connection `{0}` is no longer valid at Discord (revoked or expired); run `discord-auth login --connection {0}` again"
    )]
    GrantGone(String),
    /// The command given to `run` could not be started.
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Discord could not be reached.
    #[error("cannot reach {url}: {reason}")]
    Network {
        /// The URL (never with a token in it: tokens travel in headers and bodies only).
        url: String,
        /// What failed.
        reason: String,
    },
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }

    /// An [`Error::VaultFile`] for `path`.
    pub fn vault_file(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::VaultFile {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// The tool's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
