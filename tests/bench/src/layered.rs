//! The bare applications with the login layer added as the sample sites add it (memory store,
//! private session cookie, the login routes), for the anonymous row on a route that does not
//! read the login: bare's `/`, the very handler of the bare rows. The difference to bare is
//! what the login layer costs a page that does not need login; the sites' own `/` reads the
//! login (`Option<DiscordUser>`, the guilds' client) and is measured in its own rows.

use discord_oauth_core::login::LoginConfig;
use discord_oauth_mock::{MockDiscord, fixture};

/// The login configuration against `mock`, for a site at `origin`.
fn config(mock: &MockDiscord, origin: &str) -> LoginConfig {
    LoginConfig::builder(fixture::CLIENT_ID, format!("{origin}/auth/callback"))
        .client_secret(fixture::CLIENT_SECRET)
        .discord_base(&mock.base_url())
        .build()
        .expect("the mock's login configuration")
}

/// Bare axum's home page wrapped by `discord_oauth_axum::DiscordOAuth::wrap_with`, as the
/// sample wraps its routes, on the current tokio runtime; returns its `/` URL.
pub async fn axum(mock: &MockDiscord) -> String {
    use discord_oauth_axum::tower_sessions::cookie::Key;
    use discord_oauth_axum::{DiscordOAuth, DiscordOAuthLayer, MemoryStore};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let transport = discord_oauth_axum::transport::ReqwestTransport::new().unwrap();
    let layer = DiscordOAuthLayer::builder(config(mock, &origin), transport).build();
    let routes = axum::Router::new().route("/", crate::bare::axum_home());
    let key = Key::generate();
    let app = DiscordOAuth::from_layer(layer).wrap_with(routes, MemoryStore::default(), |s| s.with_private(key));
    let app = axum::ServiceExt::<axum::extract::Request>::into_make_service(app);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("{origin}/")
}

/// Bare actix-web's `/` with `discord_oauth_actix`'s routes and middleware, one worker;
/// returns its `/` URL and the server handle.
pub fn actix(mock: &MockDiscord) -> (String, actix_web::dev::ServerHandle) {
    use actix_web::App;
    use actix_web::cookie::Key;
    use discord_oauth_actix::{DiscordOAuth, MemoryStore};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let transport = discord_oauth_actix::transport::ReqwestTransport::new().unwrap();
    let discord = DiscordOAuth::builder(config(mock, &origin), transport).build();
    let (store, key) = (MemoryStore::default(), Key::generate());
    let handle = crate::bare::serve_actix(listener, 1, move || {
        App::new()
            .route("/", crate::bare::actix_home())
            .configure(discord.routes())
            .wrap(discord.session_middleware(store.clone(), key.clone()))
    });
    (format!("{origin}/"), handle)
}
