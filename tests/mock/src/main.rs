//! `discord-oauth-mock`: the mock Discord as a standalone server.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use discord_oauth_mock::{Fault, MockClient, MockDiscord, fixture};

/// A mock of Discord's OAuth2 endpoints and user API, for tests and offline demos.
///
/// Serves `/oauth2/authorize` (consent page), `/api/v10/oauth2/token`,
/// `/api/v10/oauth2/token/revoke`, `/api/v10/users/@me` and friends, with the built-in fixture
/// (users, guilds, connections) plus the client given on the command line. Open
/// `{base}/mock` to pick which mock user is "logged in to Discord" in your browser.
#[derive(Debug, Parser)]
#[command(name = "discord-oauth-mock", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7999")]
    bind: SocketAddr,

    /// Client id to register (in addition to the fixture clients). Reusing a fixture id
    /// replaces that client.
    #[arg(long, default_value = fixture::CLIENT_ID)]
    client_id: String,

    /// Client secret of --client-id (ignored with --public-client).
    #[arg(long, default_value = fixture::CLIENT_SECRET)]
    client_secret: String,

    /// Register --client-id as a public client (no secret needed, PKCE required).
    #[arg(long)]
    public_client: bool,

    /// Redirect URI to register for --client-id (repeatable). The fixture's
    /// http://127.0.0.1:3000/auth/callback and http://localhost:3000/auth/callback are
    /// registered when none is given.
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,

    /// Bot token for --client-id (`Authorization: Bot <token>`).
    #[arg(long, default_value = fixture::BOT_TOKEN)]
    bot_token: String,

    /// Approve valid authorization requests at once (no consent page).
    #[arg(long)]
    auto_consent: bool,

    /// Authorization code lifetime, in seconds.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    code_ttl: u64,

    /// Access token lifetime (`expires_in`), in seconds.
    #[arg(long, default_value_t = 604_800, value_name = "SECONDS")]
    access_token_ttl: u64,

    /// Add `iss` to authorization responses (RFC 9207); off like discord.com.
    #[arg(long)]
    include_iss: bool,

    /// Origin to advertise instead of http://{bind} (e.g. behind a proxy).
    #[arg(long, value_name = "URL")]
    public_base_url: Option<String>,

    /// Inject a fault (repeatable): ENDPOINT:KIND[*N]. ENDPOINT is authorize, token, revoke,
    /// current_user, current_user_guilds, current_user_guild_member, current_user_connections,
    /// current_authorization, current_application, add_guild_member, role_connection,
    /// user_info, keys or any; KIND is 429, 429-global, 429-headers, 429-body, 429-html,
    /// 429-cloudflare, a status such as 503, html-502, delay-<ms> or close; *N limits it to
    /// the next N requests. Example: --fault token:429*2 --fault current_user:503*1
    #[arg(long = "fault", value_name = "SPEC")]
    faults: Vec<Fault>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();

    let mut client = if args.public_client {
        MockClient::public(&args.client_id)
    } else {
        MockClient::confidential(&args.client_id, &args.client_secret)
    }
    .name("Mock Discord App")
    .bot_token(&args.bot_token)
    .owner(fixture::WUMPUS_ID);
    let uris: Vec<String> = if args.redirect_uris.is_empty() {
        fixture::REDIRECT_URIS.iter().map(|s| (*s).to_owned()).collect()
    } else {
        args.redirect_uris.clone()
    };
    for uri in &uris {
        client = client.redirect_uri(uri);
    }

    let mut builder = MockDiscord::builder()
        .bind(args.bind)
        .client(client)
        .bot_in_guild(&args.client_id, fixture::GUILD_ID)
        .bot_in_guild(&args.client_id, fixture::SECOND_GUILD_ID)
        .auto_consent(args.auto_consent)
        .code_ttl(Duration::from_secs(args.code_ttl))
        .access_token_ttl(Duration::from_secs(args.access_token_ttl))
        .include_iss(args.include_iss);
    if let Some(url) = &args.public_base_url {
        builder = builder.public_base_url(url);
    }
    let mock = match builder.start().await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("discord-oauth-mock: {e}");
            return ExitCode::FAILURE;
        }
    };
    for f in &args.faults {
        mock.inject(f.clone());
    }

    let mut banner = String::new();
    let _ = writeln!(banner, "mock Discord listening on {}", mock.addr());
    let _ = writeln!(banner, "  base URL       {}", mock.base_url());
    let _ = writeln!(banner, "  authorize URL  {}", mock.authorize_url());
    let _ = writeln!(banner, "  token URL      {}", mock.token_url());
    let _ = writeln!(banner, "  revoke URL     {}", mock.revoke_url());
    let _ = writeln!(banner, "  API base       {}", mock.api_base());
    let _ = writeln!(banner, "  JWKS           {}", mock.keys_url());
    let _ = writeln!(banner, "  pick a user    {}/mock", mock.base_url());
    let kind = if args.public_client { "public" } else { "confidential" };
    let _ = writeln!(banner, "client id {} ({kind})", args.client_id);
    for uri in &uris {
        let _ = writeln!(banner, "  redirect URI   {uri}");
    }
    let _ = writeln!(
        banner,
        "users: wumpus {} (default), legacy_lena {}, nova {}",
        fixture::WUMPUS_ID,
        fixture::LENA_ID,
        fixture::NOVA_ID
    );
    if args.auto_consent {
        let _ = writeln!(
            banner,
            "auto-consent is on: authorization requests are approved as the current user"
        );
    }
    // Written in one go; a closed stdout is not a reason to stop serving.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(banner.as_bytes());
    let _ = out.flush();
    drop(out);

    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("discord-oauth-mock: cannot wait for Ctrl-C: {e}");
    }
    mock.shutdown().await;
    ExitCode::SUCCESS
}
