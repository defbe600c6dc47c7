//! The command line: flags, settings, and what each command prints.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::{Parser, Subcommand, ValueEnum};
use discord_oauth_core::{ClientSecret, Endpoints, RevocableToken};
use url::Url;

use crate::connection::{Connection, State, rfc3339};
use crate::error::{Error, Result};
use crate::login::{self, DEFAULT_REDIRECT_URI, DEFAULT_SCOPES, LoginRequest};
use crate::tokens::{Freshness, fresh_connection};
use crate::transport::Http;
use crate::vault::{KeyOptions, Vault, valid_connection_name};

/// Log in to Discord from the command line and use the token from scripts.
///
/// Tokens are kept in an encrypted vault and refreshed automatically. Settings come from
/// flags or the environment: DISCORD_CLIENT_ID, DISCORD_CLIENT_SECRET (optional: without it
/// the login is a public client with PKCE only), DISCORD_API_BASE, DISCORD_AUTHORIZE_URL,
/// DISCORD_AUTH_HOME (the vault's directory), DISCORD_AUTH_PASSPHRASE (protect the vault key
/// with a passphrase), DISCORD_AUTH_KEYRING=off (never use the OS keyring).
#[derive(Debug, Parser)]
#[command(name = "discord-auth", version, max_term_width = 100)]
pub struct Cli {
    /// The connection to act on (several accounts or applications side by side).
    #[arg(long, global = true, default_value = "default", value_name = "NAME")]
    pub connection: String,
    /// The application's client id (stored at the first login and reused).
    #[arg(long, global = true, env = "DISCORD_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,
    /// Discord's API base [default: `https://discord.com/api/v10`].
    #[arg(long, global = true, env = "DISCORD_API_BASE", value_name = "URL")]
    pub api_base: Option<Url>,
    /// Discord's authorization page [default: `https://discord.com/oauth2/authorize`].
    #[arg(long, global = true, env = "DISCORD_AUTHORIZE_URL", value_name = "URL")]
    pub authorize_url: Option<Url>,
    /// The vault's directory [default: the platform's config directory, e.g. ~/.config/discord-auth].
    #[arg(long, global = true, env = "DISCORD_AUTH_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in with the browser and store the tokens.
    Login {
        /// The scopes to ask for, separated by commas.
        #[arg(long, default_value = DEFAULT_SCOPES, value_name = "SCOPES")]
        scopes: String,
        /// The loopback redirect URI to listen on; register it for your application at Discord.
        #[arg(long, default_value = DEFAULT_REDIRECT_URI, value_name = "URI")]
        redirect_uri: String,
        /// Print the authorization URL instead of opening a browser.
        #[arg(long)]
        no_browser: bool,
        /// Seconds to wait for the browser.
        #[arg(long, default_value_t = 300, value_name = "SECONDS")]
        timeout: u64,
    },
    /// Show whether the connection is logged in, as whom, with which scopes, until when.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a valid access token (refreshed first when expired or close to it).
    Token,
    /// Print the access token and user id as environment variables or JSON (never the refresh token).
    Export {
        /// The output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Env)]
        format: ExportFormat,
    },
    /// Run a command whose requests to Discord get the token injected by a local proxy.
    Run {
        /// The command and its arguments, after `--`.
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "CMD"
        )]
        command: Vec<OsString>,
    },
    /// Revoke the authorization at Discord and delete the connection.
    Logout {
        /// Delete the connection without revoking it at Discord.
        #[arg(long)]
        no_revoke: bool,
    },
    /// List the connections and their state.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `export` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// `NAME=value` lines.
    Env,
    /// A JSON object.
    Json,
}

/// The default vault directory: the platform's config directory for `discord-auth`.
pub fn default_home() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "discord-auth").map(|d| d.config_dir().to_owned())
}

/// Runs a parsed command line; returns the process exit code.
pub fn execute(cli: Cli) -> Result<u8> {
    if !valid_connection_name(&cli.connection) {
        return Err(Error::Usage(format!(
            "invalid --connection {:?}: use 1 to 64 letters, digits, `-` or `_`",
            cli.connection
        )));
    }
    let home = cli
        .home
        .clone()
        .or_else(default_home)
        .ok_or_else(|| Error::Usage("cannot find a config directory: set DISCORD_AUTH_HOME".into()))?;
    let keys = KeyOptions::from_env();
    // The vault is opened before the async runtime starts: reaching the keyring and Argon2id
    // are blocking work.
    let vault = match cli.command {
        Command::Login { .. } => Some(Vault::open_or_create(&home, &keys)?),
        _ => Vault::open_existing(&home, &keys)?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(dispatch(cli, vault.map(Arc::new)))
}

fn warn_on_other_settings(cli: &Cli, name: &str, connection: &Connection) {
    if let Some(base) = &cli.api_base
        && base.as_str().trim_end_matches('/') != connection.api_base.as_str().trim_end_matches('/')
    {
        eprintln!(
            "warning: connection `{name}` belongs to {}; the API base {base} from DISCORD_API_BASE/--api-base is not used for it (log in again to change it)",
            connection.api_base
        );
    }
    if let Some(id) = cli.client_id.as_deref().filter(|id| !id.is_empty())
        && id != connection.client_id
    {
        eprintln!(
            "warning: connection `{name}` was made with client id {}; the client id {id} is not used for it",
            connection.client_id
        );
    }
}

async fn dispatch(cli: Cli, vault: Option<Arc<Vault>>) -> Result<u8> {
    let name = cli.connection.clone();
    match &cli.command {
        Command::Login {
            scopes,
            redirect_uri,
            no_browser,
            timeout,
        } => {
            let vault = vault.ok_or_else(|| Error::Usage("the vault could not be created".into()))?;
            let existing = vault.load(&name)?;
            let client_id = cli
                .client_id
                .clone()
                .filter(|id| !id.is_empty())
                .or_else(|| existing.as_ref().map(|c| c.client_id.clone()))
                .ok_or_else(|| {
                    Error::Usage(
                        "no client id: pass --client-id or set DISCORD_CLIENT_ID to your application's id (Discord Developer Portal → your application → OAuth2)".into(),
                    )
                })?;
            let client_secret = std::env::var("DISCORD_CLIENT_SECRET")
                .ok()
                .filter(|s| !s.is_empty())
                .map(ClientSecret::new)
                .or_else(|| {
                    existing
                        .as_ref()
                        .filter(|c| c.client_id == client_id)
                        .and_then(|c| c.client_secret.clone())
                });
            if client_secret.is_none() {
                eprintln!("No client secret (DISCORD_CLIENT_SECRET): logging in as a public client with PKCE only.");
            }
            let defaults = Endpoints::discord();
            let authorize_url = cli
                .authorize_url
                .clone()
                .or_else(|| existing.as_ref().map(|c| c.authorize_url.clone()))
                .unwrap_or(defaults.authorize);
            let api_base = cli
                .api_base
                .clone()
                .or_else(|| existing.as_ref().map(|c| c.api_base.clone()))
                .unwrap_or(defaults.api_base);
            let (redirect_uri, _) = login::parse_redirect_uri(redirect_uri)?;
            let request = LoginRequest {
                name: name.clone(),
                client_id,
                client_secret,
                authorize_url,
                api_base,
                scopes: login::parse_scopes(scopes)?,
                redirect_uri,
                open_browser: !no_browser,
                timeout: Duration::from_secs((*timeout).max(1)),
            };
            let connection = login::login(vault, Http::new()?, request).await?;
            let who = connection
                .user
                .as_ref()
                .map_or_else(String::new, |u| format!(" as {} ({})", u.username, u.id));
            eprintln!(
                "Logged in{who}; stored as connection `{name}` with scopes: {}.",
                connection.scope_names().join(" ")
            );
            Ok(0)
        }
        Command::Status { json } => {
            let connection = match &vault {
                Some(v) => v.load(&name)?,
                None => None,
            };
            print_status(&name, connection.as_ref(), *json)?;
            Ok(u8::from(connection.is_none()))
        }
        Command::Token => {
            let vault = vault.ok_or_else(|| Error::NotLoggedIn(name.clone()))?;
            let connection = fresh(&cli, &vault, &name).await?;
            println!("{}", connection.tokens.access_token.secret());
            Ok(0)
        }
        Command::Export { format } => {
            let vault = vault.ok_or_else(|| Error::NotLoggedIn(name.clone()))?;
            let connection = fresh(&cli, &vault, &name).await?;
            print_export(&connection, *format)?;
            Ok(0)
        }
        Command::Run { command } => {
            let vault = vault.ok_or_else(|| Error::NotLoggedIn(name.clone()))?;
            if let Some(c) = vault.load(&name)? {
                warn_on_other_settings(&cli, &name, &c);
            }
            crate::proxy::run(vault, Http::new()?, &name, command).await
        }
        Command::Logout { no_revoke } => {
            let vault = vault.ok_or_else(|| Error::NotLoggedIn(name.clone()))?;
            logout(&vault, &name, *no_revoke).await?;
            Ok(0)
        }
        Command::List { json } => {
            let connections = match &vault {
                Some(v) => {
                    let mut all = Vec::new();
                    for n in v.names()? {
                        if let Some(c) = v.load(&n)? {
                            all.push((n, c));
                        }
                    }
                    all
                }
                None => Vec::new(),
            };
            print_list(&connections, *json)?;
            Ok(0)
        }
    }
}

async fn fresh(cli: &Cli, vault: &Arc<Vault>, name: &str) -> Result<Connection> {
    if let Some(c) = vault.load(name)? {
        warn_on_other_settings(cli, name, &c);
    }
    let (connection, how) = fresh_connection(vault, name, &Http::new()?, Duration::ZERO).await?;
    if how == Freshness::KeptAfterTransientFailure {
        eprintln!(
            "warning: the token of `{name}` could not be refreshed now; printing the current one, valid until {}",
            rfc3339(connection.tokens.expires_at)
        );
    }
    Ok(connection)
}

async fn logout(vault: &Arc<Vault>, name: &str, no_revoke: bool) -> Result<()> {
    let lock = {
        let vault = Arc::clone(vault);
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || vault.lock(&name))
            .await
            .map_err(|e| Error::Usage(format!("lock task failed: {e}")))??
    };
    let connection = vault.load(name)?.ok_or_else(|| Error::NotLoggedIn(name.to_owned()))?;
    if !no_revoke {
        let client = connection.client()?;
        let revoke = client.revoke(RevocableToken::from_set(&connection.tokens));
        let outcome = match Http::new()?.send(revoke.request()).await {
            Ok(response) => revoke.finish(response).map_err(|e| Error::Discord(e.to_string())),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            return Err(Error::Discord(format!(
                "could not revoke the authorization ({e}); the connection `{name}` was kept (`logout --no-revoke` deletes it without revoking)"
            )));
        }
    }
    vault.delete(name)?;
    drop(lock);
    if no_revoke {
        eprintln!("Deleted connection `{name}` (not revoked at Discord).");
    } else {
        eprintln!("Revoked the authorization at Discord and deleted connection `{name}`.");
    }
    Ok(())
}

fn to_json(value: &serde_json::Value) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| Error::Usage(format!("cannot print JSON: {e}")))
}

fn status_json(name: &str, connection: Option<&Connection>, now: SystemTime) -> serde_json::Value {
    match connection {
        None => serde_json::json!({ "connection": name, "state": State::NotLoggedIn.as_str() }),
        Some(c) => serde_json::json!({
            "connection": name,
            "state": c.state(now).as_str(),
            "user": c.user,
            "scopes": c.scope_names(),
            "expires_at": rfc3339(c.tokens.expires_at),
            "expires_at_unix": c.expires_at_unix(),
            "refreshable": c.tokens.refresh_token.is_some(),
            "client_id": c.client_id,
            "public_client": c.client_secret.is_none(),
            "api_base": c.api_base.as_str(),
        }),
    }
}

fn print_status(name: &str, connection: Option<&Connection>, json: bool) -> Result<()> {
    let now = SystemTime::now();
    if json {
        println!("{}", to_json(&status_json(name, connection, now))?);
        return Ok(());
    }
    println!("connection: {name}");
    let Some(c) = connection else {
        println!("state:      {}", State::NotLoggedIn.as_str());
        return Ok(());
    };
    println!("state:      {}", c.state(now).as_str());
    match &c.user {
        Some(u) => println!("user:       {} ({})", u.id, u.username),
        None => println!("user:       unknown (no `identify` scope)"),
    }
    println!("scopes:     {}", c.scope_names().join(" "));
    println!("expires:    {}", rfc3339(c.tokens.expires_at));
    println!("client id:  {}", c.client_id);
    println!("api base:   {}", c.api_base);
    Ok(())
}

fn print_list(connections: &[(String, Connection)], json: bool) -> Result<()> {
    let now = SystemTime::now();
    if json {
        let all: Vec<_> = connections.iter().map(|(n, c)| status_json(n, Some(c), now)).collect();
        println!("{}", to_json(&serde_json::Value::Array(all))?);
        return Ok(());
    }
    if connections.is_empty() {
        eprintln!("No connections. Log in with `discord-auth login`.");
    }
    for (name, c) in connections {
        let user = c
            .user
            .as_ref()
            .map_or_else(|| "-".to_owned(), |u| format!("{} ({})", u.username, u.id));
        println!("{name}\t{}\t{user}", c.state(now).as_str());
    }
    Ok(())
}

/// Quotes a value for an env file / POSIX shell when it holds anything but safe characters.
fn env_value(value: &str) -> String {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'/' | b'+' | b'='))
    {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    }
}

fn print_export(c: &Connection, format: ExportFormat) -> Result<()> {
    let token = c.tokens.access_token.secret();
    let user_id = c.user.as_ref().map(|u| u.id.clone());
    match format {
        ExportFormat::Env => {
            println!("DISCORD_ACCESS_TOKEN={}", env_value(token));
            if let Some(id) = &user_id {
                println!("DISCORD_USER_ID={}", env_value(id));
            }
            println!("DISCORD_TOKEN_EXPIRES_AT={}", c.expires_at_unix());
        }
        ExportFormat::Json => {
            let value = serde_json::json!({
                "access_token": token,
                "token_type": "Bearer",
                "user_id": user_id,
                "scopes": c.scope_names(),
                "expires_at": rfc3339(c.tokens.expires_at),
                "expires_at_unix": c.expires_at_unix(),
            });
            println!("{}", to_json(&value)?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn env_values_are_quoted_when_needed() {
        assert_eq!(env_value("abc.DEF_1-2"), "abc.DEF_1-2");
        assert_eq!(env_value("a b"), "'a b'");
        assert_eq!(env_value("it's"), "'it'\\''s'");
        assert_eq!(env_value("$(x)"), "'$(x)'");
    }

    #[test]
    fn run_takes_everything_after_the_double_dash() {
        let cli = Cli::try_parse_from(["discord-auth", "run", "--", "sh", "-c", "exit 3"]).unwrap();
        let Command::Run { command } = cli.command else {
            panic!("not run")
        };
        assert_eq!(command, ["sh", "-c", "exit 3"].map(OsString::from));
        let cli = Cli::try_parse_from(["discord-auth", "--connection", "work", "status", "--json"]).unwrap();
        assert_eq!(cli.connection, "work");
        assert!(matches!(cli.command, Command::Status { json: true }));
    }
}
