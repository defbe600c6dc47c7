//! `discord-auth`: "Log in with Discord" for the command line, for people who script against
//! the Discord API as themselves.
//!
//! ```text
//! discord-auth login [--scopes identify,email,guilds] [--redirect-uri http://127.0.0.1:PORT/PATH] [--no-browser] [--timeout 300]
//! discord-auth status [--json]         connected / expired / not logged in, user, scopes, expiry
//! discord-auth token                   a valid access token (refreshed first when needed)
//! discord-auth export --format env     DISCORD_ACCESS_TOKEN=… DISCORD_USER_ID=… (never the refresh token)
//! discord-auth run -- CMD ARGS…        CMD's requests to Discord get the token; CMD never sees it
//! discord-auth logout                  revoke at Discord, delete the connection
//! discord-auth list                    the connections and their state
//! ```
//! Every command takes `--connection NAME` (default `default`).
//!
//! # How it works
//! - [`login`]: authorization code + PKCE S256 + state on a loopback redirect (RFC 8252), with
//!   the flows of `discord-oauth-core`.
//! - [`vault`]: each connection sealed with XChaCha20-Poly1305; the key in the OS keyring, a
//!   key file readable only by the user, or derived from a passphrase with Argon2id.
//! - [`tokens`]: refresh under a file lock, so concurrent processes refresh once (Discord
//!   rotates refresh tokens: a second refresh with the old one would fail).
//! - [`proxy`]: `run`'s reverse proxy on 127.0.0.1 that swaps a per-run placeholder for the
//!   real token, and refuses every caller that does not hold the placeholder.
//!
//! The guide [`guides::discord_auth`] walks from installing to `logout`, with each step run
//! against the mock Discord.
//!
//! # Settings (flags or environment)
//! `--client-id`/`DISCORD_CLIENT_ID`; `DISCORD_CLIENT_SECRET` (optional: without it the login
//! is a public client with PKCE only); `--api-base`/`DISCORD_API_BASE` and
//! `--authorize-url`/`DISCORD_AUTHORIZE_URL` (as the sample sites; Discord's by default);
//! `--home`/`DISCORD_AUTH_HOME` (the vault; default the platform's config directory, e.g.
//! `~/.config/discord-auth`); `DISCORD_AUTH_PASSPHRASE` (protect the vault key with a
//! passphrase instead); `DISCORD_AUTH_KEYRING=off` (never use the OS keyring: headless machines,
//! tests). The first login stores the client id, the secret and the endpoints in the
//! connection; later commands use the stored ones.
//!
//! Exit status: 0 on success; 1 on an error (and for `status` when not logged in); 2 for a
//! usage error; `run` exits with CMD's status (128 + N if CMD was killed by signal N), or 127
//! if CMD could not be started.
//!
//! # Trying it without Discord credentials
//! Start the mock Discord of this repository and point the tool at it:
//! ```sh
//! cargo run -p discord-oauth-mock -- --bind 127.0.0.1:7999 --client-id 1100000000000000001 \
//!     --client-secret mock-client-secret --redirect-uri http://127.0.0.1:53134/callback --auto-consent
//! export DISCORD_CLIENT_ID=1100000000000000001 DISCORD_CLIENT_SECRET=mock-client-secret \
//!     DISCORD_API_BASE=http://127.0.0.1:7999/api/v10 DISCORD_AUTHORIZE_URL=http://127.0.0.1:7999/oauth2/authorize
//! cargo run -p discord-auth -- login --scopes identify,guilds
//! ```
//!
//! # Why these crates
//! - **clap** (derive): the de facto standard argument parser; `--help`, `env` fallbacks and
//!   `run -- CMD` (trailing arguments) without hand-written parsing. Already in the workspace.
//! - **webbrowser**: opens the *system* browser on Linux, macOS, Windows and the BSDs (RFC 8252
//!   §8.12: no embedded web view); small, widely used, maintained.
//! - **directories**: the platform's config directory (XDG on Linux, `~/Library/Application
//!   Support` on macOS, `%APPDATA%` on Windows); the maintained dirs-dev crate.
//! - **chacha20poly1305** (RustCrypto, audited): XChaCha20-Poly1305's 192-bit nonces can be drawn
//!   at random for every write without a counter to keep; pure Rust.
//! - **argon2** (RustCrypto): Argon2id, RFC 9106's recommended password KDF, for the passphrase
//!   option; pure Rust.
//! - **keyring** (v4): one API over macOS Keychain, Windows Credential Manager and the Secret
//!   Service (through the pure-Rust zbus, so no C D-Bus library to build); when no keyring
//!   answers (headless machines, CI) the vault falls back to a key file.
//! - **tempfile**: atomic replacement (a 0600 temporary file in the same directory, renamed)
//!   with cleanup on failure. The refresh lock is `std::fs::File::lock` (no crate needed).
//! - **rustix** (Unix): forwards signals to `run`'s child with a safe `kill` (the crate forbids
//!   `unsafe`); already in the dependency tree.
//! - **zeroize**: wipes keys and decrypted plaintext from memory when dropped.
//! - **reqwest** (rustls) and **axum**: the workspace's HTTP client and server: the core's
//!   requests are sent with reqwest; the loopback listener and the proxy are small axum apps.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod cli;
pub mod connection;
mod error;
pub mod guides;
pub mod login;
pub mod proxy;
pub mod tokens;
pub mod transport;
pub mod vault;

pub use error::{Error, Result};
