//! The encrypted vault: one directory holding a header, an optional key file, and one sealed
//! file per connection.
//!
//! ```text
//! $DISCORD_AUTH_HOME/                 0700
//!   vault.json                        header: format, cipher, where the key lives, a key check
//!   vault.key                         0600, only when the key lives in a file
//!   vault.lock                        serializes the vault's creation
//!   connections/                      0700
//!     default.vault                   {"format","version","nonce","ciphertext"}: XChaCha20-Poly1305
//!     default.lock                    held across a refresh (single flight between processes)
//! ```
//!
//! Every connection file is sealed with XChaCha20-Poly1305 under the vault key, with the
//! connection's name as associated data (a file copied to another name does not open). The
//! vault key (32 random bytes) comes from, in this order of choice when the vault is created:
//! 1. a passphrase in `DISCORD_AUTH_PASSPHRASE`, stretched with Argon2id (salt and cost in the
//!    header);
//! 2. the OS keyring (macOS Keychain, Windows Credential Manager, the Secret Service on Linux
//!    and the BSDs), unless `DISCORD_AUTH_KEYRING=off`;
//! 3. a key file `vault.key` readable only by the user.
//!
//! Once created, the header fixes where the key lives; a later command never silently switches
//! to another source. Files are replaced atomically (a temporary file in the same directory,
//! synced, then renamed). A file that cannot be read as ours is an error naming the file and is
//! never overwritten.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use rand::RngExt as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::connection::Connection;
use crate::error::{Error, Result};

/// The header's file name.
pub const HEADER_FILE: &str = "vault.json";
/// The key file's name (when the key lives in a file).
pub const KEY_FILE: &str = "vault.key";
/// The directory of connection files.
pub const CONNECTIONS_DIR: &str = "connections";
/// The keyring service name under which vault keys are stored.
pub const KEYRING_SERVICE: &str = "discord-auth";

const HEADER_FORMAT: &str = "discord-auth vault";
const CONNECTION_FORMAT: &str = "discord-auth connection";
const VERSION: u32 = 1;
const CIPHER: &str = "XChaCha20-Poly1305";
const CHECK_AAD: &[u8] = b"discord-auth vault key check v1";
const CHECK_PLAINTEXT: &[u8] = b"discord-auth";
/// How long a keyring operation may take before the keyring is treated as unreachable.
const KEYRING_TIMEOUT: Duration = Duration::from_secs(5);

/// Argon2id cost for passphrase vaults: OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
const ARGON2_M_COST: u32 = 19 * 1024;
const ARGON2_T_COST: u32 = 2;
const ARGON2_P_COST: u32 = 1;

/// Where the vault key may come from, as chosen by the environment.
#[derive(Clone, Default)]
pub struct KeyOptions {
    /// `DISCORD_AUTH_PASSPHRASE`, if set and non-empty.
    pub passphrase: Option<Zeroizing<String>>,
    /// `false` when `DISCORD_AUTH_KEYRING` is `off` (or `0`, `false`, `no`).
    pub keyring: bool,
}

impl std::fmt::Debug for KeyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyOptions")
            .field("passphrase", &self.passphrase.as_ref().map(|_| "[redacted]"))
            .field("keyring", &self.keyring)
            .finish()
    }
}

impl KeyOptions {
    /// Reads `DISCORD_AUTH_PASSPHRASE` and `DISCORD_AUTH_KEYRING`.
    pub fn from_env() -> Self {
        let passphrase = std::env::var("DISCORD_AUTH_PASSPHRASE")
            .ok()
            .filter(|p| !p.is_empty())
            .map(Zeroizing::new);
        let keyring = !std::env::var("DISCORD_AUTH_KEYRING")
            .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "off" | "0" | "false" | "no"));
        Self { passphrase, keyring }
    }
}

/// Where an open vault's key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The OS keyring.
    Keyring,
    /// The key file `vault.key`.
    File,
    /// Derived from `DISCORD_AUTH_PASSPHRASE` with Argon2id.
    Passphrase,
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeySource::Keyring => "OS keyring",
            KeySource::File => "key file",
            KeySource::Passphrase => "passphrase (Argon2id)",
        })
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    cipher: String,
    key: KeyHeader,
    check: Sealed,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase")]
enum KeyHeader {
    File,
    Keyring {
        service: String,
        account: String,
    },
    Passphrase {
        kdf: String,
        m_cost: u32,
        t_cost: u32,
        p_cost: u32,
        salt: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    nonce: String,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct ConnectionFile {
    format: String,
    version: u32,
    #[serde(flatten)]
    sealed: Sealed,
}

/// An open vault: its directory and its key (kept in memory, zeroed on drop).
pub struct Vault {
    home: PathBuf,
    key: Zeroizing<[u8; 32]>,
    source: KeySource,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("home", &self.home)
            .field("key", &"[redacted]")
            .field("source", &self.source)
            .finish()
    }
}

/// An exclusive lock on one connection, released when dropped (or when the process ends).
#[derive(Debug)]
pub struct ConnectionLock {
    _file: File,
}

/// `true` if `name` can name a connection: 1 to 64 ASCII letters, digits, `-` or `_`.
pub fn valid_connection_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn check_name(name: &str) -> Result<()> {
    if valid_connection_name(name) {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid connection name {name:?}: use 1 to 64 letters, digits, `-` or `_`"
        )))
    }
}

impl Vault {
    /// Opens the vault in `home`, or returns `None` if there is none yet.
    pub fn open_existing(home: &Path, options: &KeyOptions) -> Result<Option<Vault>> {
        let header_path = home.join(HEADER_FILE);
        let bytes = match fs::read(&header_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("cannot read", header_path, e)),
        };
        let header: Header = serde_json::from_slice(&bytes).map_err(|e| {
            Error::vault_file(
                &header_path,
                format!("is damaged or truncated, or not a discord-auth vault header ({e})"),
            )
        })?;
        if header.format != HEADER_FORMAT {
            return Err(Error::vault_file(&header_path, "is not a discord-auth vault header"));
        }
        if header.version != VERSION || header.cipher != CIPHER {
            return Err(Error::vault_file(
                &header_path,
                format!(
                    "uses vault format {} with {}, which this version of discord-auth does not know",
                    header.version, header.cipher
                ),
            ));
        }
        let (key, source) = match &header.key {
            KeyHeader::File => (read_key_file(&home.join(KEY_FILE))?, KeySource::File),
            KeyHeader::Keyring { service, account } => (keyring_get(service, account)?, KeySource::Keyring),
            KeyHeader::Passphrase {
                kdf,
                m_cost,
                t_cost,
                p_cost,
                salt,
            } => {
                if kdf != "argon2id" {
                    return Err(Error::vault_file(&header_path, format!("names an unknown KDF {kdf:?}")));
                }
                let Some(passphrase) = &options.passphrase else {
                    return Err(Error::Key(format!(
                        "the vault at {} is protected by a passphrase: set DISCORD_AUTH_PASSPHRASE",
                        home.display()
                    )));
                };
                let salt = B64
                    .decode(salt)
                    .map_err(|_| Error::vault_file(&header_path, "has a malformed salt"))?;
                (
                    derive_key(passphrase, &salt, *m_cost, *t_cost, *p_cost)?,
                    KeySource::Passphrase,
                )
            }
        };
        let vault = Vault {
            home: home.to_owned(),
            key,
            source,
        };
        if vault.open_sealed(&header.check, CHECK_AAD).is_err() {
            return Err(Error::Key(match source {
                KeySource::Passphrase => format!(
                    "DISCORD_AUTH_PASSPHRASE does not open the vault at {} (wrong passphrase)",
                    home.display()
                ),
                other => format!(
                    "the {other} does not hold the key of the vault at {} (replaced or damaged)",
                    home.display()
                ),
            }));
        }
        Ok(Some(vault))
    }

    /// Opens the vault in `home`, creating it (and its key) if there is none yet.
    pub fn open_or_create(home: &Path, options: &KeyOptions) -> Result<Vault> {
        if let Some(v) = Self::open_existing(home, options)? {
            return Ok(v);
        }
        create_private_dir(home)?;
        let lock_path = home.join("vault.lock");
        let lock = open_lock_file(&lock_path)?;
        lock.lock().map_err(|e| Error::io("cannot lock", &lock_path, e))?;
        // Another process may have created it while we waited.
        if let Some(v) = Self::open_existing(home, options)? {
            return Ok(v);
        }
        let header_path = home.join(HEADER_FILE);
        let (key, source, key_header) = if let Some(passphrase) = &options.passphrase {
            let salt: [u8; 16] = rand::rng().random();
            let key = derive_key(passphrase, &salt, ARGON2_M_COST, ARGON2_T_COST, ARGON2_P_COST)?;
            let header = KeyHeader::Passphrase {
                kdf: "argon2id".into(),
                m_cost: ARGON2_M_COST,
                t_cost: ARGON2_T_COST,
                p_cost: ARGON2_P_COST,
                salt: B64.encode(salt),
            };
            (key, KeySource::Passphrase, header)
        } else {
            let key: Zeroizing<[u8; 32]> = Zeroizing::new(rand::rng().random());
            let account = keyring_account(home);
            if options.keyring && keyring_set(KEYRING_SERVICE, &account, &key).is_ok() {
                let header = KeyHeader::Keyring {
                    service: KEYRING_SERVICE.into(),
                    account,
                };
                (key, KeySource::Keyring, header)
            } else {
                write_key_file(&home.join(KEY_FILE), &key)?;
                (key, KeySource::File, KeyHeader::File)
            }
        };
        let vault = Vault {
            home: home.to_owned(),
            key,
            source,
        };
        let header = Header {
            format: HEADER_FORMAT.into(),
            version: VERSION,
            cipher: CIPHER.into(),
            key: key_header,
            check: vault.seal(CHECK_PLAINTEXT, CHECK_AAD)?,
        };
        let json = serde_json::to_vec_pretty(&header).map_err(|e| Error::Key(format!("cannot encode header: {e}")))?;
        write_atomic(&header_path, &json)?;
        drop(lock);
        Ok(vault)
    }

    /// The vault's directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Where the key lives.
    pub fn key_source(&self) -> KeySource {
        self.source
    }

    /// The sealed file of a connection.
    pub fn connection_path(&self, name: &str) -> PathBuf {
        self.home.join(CONNECTIONS_DIR).join(format!("{name}.vault"))
    }

    /// Reads a connection; `None` if it does not exist.
    pub fn load(&self, name: &str) -> Result<Option<Connection>> {
        check_name(name)?;
        let path = self.connection_path(name);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("cannot read", path, e)),
        };
        let file: ConnectionFile = serde_json::from_slice(&bytes).map_err(|e| {
            Error::vault_file(
                &path,
                format!("is damaged or truncated, or not a discord-auth connection file ({e})"),
            )
        })?;
        if file.format != CONNECTION_FORMAT {
            return Err(Error::vault_file(&path, "is not a discord-auth connection file"));
        }
        if file.version != VERSION {
            return Err(Error::vault_file(
                &path,
                format!(
                    "uses format version {}, which this version of discord-auth does not know",
                    file.version
                ),
            ));
        }
        let plain = self.open_sealed(&file.sealed, &connection_aad(name)).map_err(|()| {
            Error::vault_file(
                &path,
                "cannot be decrypted with this vault's key (damaged, renamed, or from another vault)",
            )
        })?;
        let connection = serde_json::from_slice(&plain)
            .map_err(|e| Error::vault_file(&path, format!("decrypts but does not hold a connection ({e})")))?;
        Ok(Some(connection))
    }

    /// Writes a connection atomically.
    pub fn store(&self, name: &str, connection: &Connection) -> Result<()> {
        check_name(name)?;
        let dir = self.home.join(CONNECTIONS_DIR);
        create_private_dir(&dir)?;
        let plain = Zeroizing::new(
            serde_json::to_vec(connection).map_err(|e| Error::Key(format!("cannot encode the connection: {e}")))?,
        );
        let file = ConnectionFile {
            format: CONNECTION_FORMAT.into(),
            version: VERSION,
            sealed: self.seal(&plain, &connection_aad(name))?,
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|e| Error::Key(format!("cannot encode: {e}")))?;
        write_atomic(&self.connection_path(name), &json)
    }

    /// Deletes a connection's file; `false` if there was none.
    pub fn delete(&self, name: &str) -> Result<bool> {
        check_name(name)?;
        let path = self.connection_path(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("cannot delete", path, e)),
        }
    }

    /// The names of the stored connections, sorted.
    pub fn names(&self) -> Result<Vec<String>> {
        let dir = self.home.join(CONNECTIONS_DIR);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("cannot list", dir, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("cannot list", &dir, e))?;
            let file_name = entry.file_name();
            if let Some(stem) = file_name.to_str().and_then(|n| n.strip_suffix(".vault"))
                && valid_connection_name(stem)
            {
                names.push(stem.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Takes the connection's exclusive lock, waiting for another process that holds it.
    /// Blocking: call it from a blocking context.
    pub fn lock(&self, name: &str) -> Result<ConnectionLock> {
        check_name(name)?;
        let dir = self.home.join(CONNECTIONS_DIR);
        create_private_dir(&dir)?;
        let path = dir.join(format!("{name}.lock"));
        let file = open_lock_file(&path)?;
        file.lock().map_err(|e| Error::io("cannot lock", &path, e))?;
        Ok(ConnectionLock { _file: file })
    }

    fn cipher(&self) -> Result<XChaCha20Poly1305> {
        XChaCha20Poly1305::new_from_slice(&self.key[..]).map_err(|_| Error::Key("invalid key length".into()))
    }

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed> {
        let nonce: [u8; 24] = rand::rng().random();
        let ciphertext = self
            .cipher()?
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .map_err(|_| Error::Key("encryption failed".into()))?;
        Ok(Sealed {
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(ciphertext),
        })
    }

    fn open_sealed(&self, sealed: &Sealed, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, ()> {
        let nonce = B64.decode(&sealed.nonce).map_err(|_| ())?;
        let ciphertext = B64.decode(&sealed.ciphertext).map_err(|_| ())?;
        if nonce.len() != 24 {
            return Err(());
        }
        let cipher = self.cipher().map_err(|_| ())?;
        cipher
            .decrypt(XNonce::from_slice(&nonce), Payload { msg: &ciphertext, aad })
            .map(Zeroizing::new)
            .map_err(|_| ())
    }
}

fn connection_aad(name: &str) -> Vec<u8> {
    format!("{CONNECTION_FORMAT} v{VERSION}: {name}").into_bytes()
}

fn keyring_account(home: &Path) -> String {
    let home = fs::canonicalize(home).unwrap_or_else(|_| home.to_owned());
    format!("vault key for {}", home.display())
}

fn derive_key(passphrase: &str, salt: &[u8], m: u32, t: u32, p: u32) -> Result<Zeroizing<[u8; 32]>> {
    use argon2::{Algorithm, Argon2, Params, Version};
    let params = Params::new(m, t, p, Some(32)).map_err(|e| Error::Key(format!("bad Argon2id parameters: {e}")))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut key[..])
        .map_err(|e| Error::Key(format!("Argon2id failed: {e}")))?;
    Ok(key)
}

/// Runs a keyring operation on a thread of its own, giving up after [`KEYRING_TIMEOUT`]
/// (a session bus without a Secret Service can otherwise stall for a long time).
fn with_keyring<T: Send + 'static>(
    op: impl FnOnce() -> std::result::Result<T, String> + Send + 'static,
) -> std::result::Result<T, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(op());
    });
    rx.recv_timeout(KEYRING_TIMEOUT)
        .map_err(|_| "the OS keyring did not answer".to_owned())?
}

fn keyring_set(service: &str, account: &str, key: &[u8; 32]) -> std::result::Result<(), String> {
    let (service, account) = (service.to_owned(), account.to_owned());
    let encoded = Zeroizing::new(B64.encode(key));
    let expected = encoded.clone();
    let stored = with_keyring(move || {
        let entry = keyring::Entry::new(&service, &account).map_err(|e| e.to_string())?;
        entry.set_password(&encoded).map_err(|e| e.to_string())?;
        // Read it back: a keyring that accepts writes but forgets them is no keyring.
        entry.get_password().map(Zeroizing::new).map_err(|e| e.to_string())
    })?;
    if stored == expected {
        Ok(())
    } else {
        Err("the OS keyring did not keep the key".into())
    }
}

fn keyring_get(service: &str, account: &str) -> Result<Zeroizing<[u8; 32]>> {
    let (service, account) = (service.to_owned(), account.to_owned());
    let what = format!("the OS keyring entry {service:?} / {account:?}");
    let encoded = with_keyring(move || {
        let entry = keyring::Entry::new(&service, &account).map_err(|e| e.to_string())?;
        entry.get_password().map(Zeroizing::new).map_err(|e| e.to_string())
    })
    .map_err(|e| Error::Key(format!("this vault's key is in {what}, which cannot be read: {e}")))?;
    decode_key(&encoded).ok_or_else(|| Error::Key(format!("{what} does not hold a vault key")))
}

fn decode_key(encoded: &str) -> Option<Zeroizing<[u8; 32]>> {
    let bytes = Zeroizing::new(B64.decode(encoded.trim()).ok()?);
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return None;
    }
    key.copy_from_slice(&bytes);
    Some(key)
}

fn read_key_file(path: &Path) -> Result<Zeroizing<[u8; 32]>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = fs::metadata(path).map_err(|e| Error::io("cannot read the vault key file", path, e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::Key(format!(
                "{} can be read by other users (mode {mode:o}); run `chmod 600 {}`",
                path.display(),
                path.display()
            )));
        }
    }
    let text =
        Zeroizing::new(fs::read_to_string(path).map_err(|e| Error::io("cannot read the vault key file", path, e))?);
    decode_key(&text).ok_or_else(|| Error::vault_file(path, "does not hold a vault key (damaged or truncated)"))
}

fn write_key_file(path: &Path, key: &[u8; 32]) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::vault_file(
                path,
                "exists but the vault header does not; refusing to replace a key that may still be needed",
            )
        } else {
            Error::io("cannot create the vault key file", path, e)
        }
    })?;
    let encoded = Zeroizing::new(format!("{}\n", B64.encode(key)));
    file.write_all(encoded.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("cannot write", path, e))
}

/// Creates a directory (and its parents) readable only by the user; leaves existing ones as
/// they are.
fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| Error::io("cannot create the directory", dir, e))
}

fn open_lock_file(path: &Path) -> Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
        .open(path)
        .map_err(|e| Error::io("cannot open the lock file", path, e))
}

/// Replaces `path` with `bytes` atomically: a temporary file (mode 0600) in the same
/// directory, synced, renamed over `path`, then the directory synced.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".discord-auth-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io("cannot create a temporary file in", dir, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io("cannot write", tmp.path().to_owned(), e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("cannot replace", path, e.error))?;
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn file_options() -> KeyOptions {
        KeyOptions {
            passphrase: None,
            keyring: false,
        }
    }

    #[test]
    fn connection_names_are_plain_words() {
        for ok in ["default", "work", "a", "my_bot-2"] {
            assert!(valid_connection_name(ok), "{ok}");
        }
        for bad in ["", "../x", "a/b", "a.b", ".", "..", "x y", &"a".repeat(65)] {
            assert!(!valid_connection_name(bad), "{bad}");
        }
    }

    #[test]
    fn sealed_data_needs_the_same_key_and_name() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open_or_create(dir.path(), &file_options()).unwrap();
        assert_eq!(vault.key_source(), KeySource::File);
        let sealed = vault.seal(b"hello", b"a").unwrap();
        assert_eq!(&vault.open_sealed(&sealed, b"a").unwrap()[..], b"hello");
        assert!(vault.open_sealed(&sealed, b"b").is_err(), "other associated data");
        let other_dir = tempfile::tempdir().unwrap();
        let other = Vault::open_or_create(other_dir.path(), &file_options()).unwrap();
        assert!(other.open_sealed(&sealed, b"a").is_err(), "other key");
    }

    #[cfg(unix)]
    #[test]
    fn i09_key_file_and_directories_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let _vault = Vault::open_or_create(&home, &file_options()).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&home), 0o700);
        assert_eq!(mode(&home.join(KEY_FILE)), 0o600);
        assert_eq!(mode(&home.join(HEADER_FILE)), 0o600);
        // A key file others can read is refused, not used.
        fs::set_permissions(home.join(KEY_FILE), fs::Permissions::from_mode(0o644)).unwrap();
        let err = Vault::open_existing(&home, &file_options()).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn passphrase_vault_needs_the_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let with = |p: &str| KeyOptions {
            passphrase: Some(Zeroizing::new(p.to_owned())),
            keyring: false,
        };
        let vault = Vault::open_or_create(dir.path(), &with("correct horse")).unwrap();
        assert_eq!(vault.key_source(), KeySource::Passphrase);
        assert!(
            !dir.path().join(KEY_FILE).exists(),
            "no key file for a passphrase vault"
        );
        drop(vault);
        assert!(
            Vault::open_existing(dir.path(), &with("correct horse"))
                .unwrap()
                .is_some()
        );
        let wrong = Vault::open_existing(dir.path(), &with("battery staple")).unwrap_err();
        assert!(wrong.to_string().contains("wrong passphrase"), "{wrong}");
        let missing = Vault::open_existing(dir.path(), &file_options()).unwrap_err();
        assert!(missing.to_string().contains("DISCORD_AUTH_PASSPHRASE"), "{missing}");
    }

    #[test]
    fn a_foreign_header_is_an_error_naming_the_file_and_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(HEADER_FILE), b"{\"hello\": 1}").unwrap();
        let err = Vault::open_or_create(dir.path(), &file_options())
            .unwrap_err()
            .to_string();
        assert!(err.contains(HEADER_FILE), "{err}");
        assert_eq!(fs::read(dir.path().join(HEADER_FILE)).unwrap(), b"{\"hello\": 1}");
    }
}
