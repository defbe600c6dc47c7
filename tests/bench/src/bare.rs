//! The bare frameworks: the same `/me` JSON as the sample sites, built the same way from a
//! user held in memory, with no session and no authentication. The ratio to these is the cost
//! of logging in.

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use discord_oauth_core::Scopes;
use discord_oauth_core::api::User;

/// The page the sample sites serve in the benchmarks (Discord's CDN), built once.
static PAGE: LazyLock<discord_oauth_test_sites::Page> =
    LazyLock::new(|| discord_oauth_test_sites::discord_page("bare"));

/// The sample sites' `/me` body for `user` with `scopes`: the very code of their handlers
/// (`sample_common::Page::me`), so that the table's differences are the login's cost only.
pub fn me_json(user: &User, scopes: &Scopes) -> serde_json::Value {
    PAGE.me(user, scopes)
}

/// The sample sites' home page for an anonymous visitor (a "Log in with Discord" button): the
/// very code of their `/` handler without a user.
pub async fn anonymous_home() -> String {
    PAGE.home(None, None::<&discord_oauth_actix::DiscordClient>).await
}

/// The bare axum application: `/me`, and `/` as an anonymous visitor sees it.
pub fn axum_router(user: User, scopes: Scopes) -> axum::Router {
    use axum::Json;
    use axum::routing::get;
    let state = Arc::new((user, scopes));
    axum::Router::new().route("/", axum_home()).route(
        "/me",
        get(move || {
            let state = Arc::clone(&state);
            async move { Json(me_json(&state.0, &state.1)) }
        }),
    )
}

/// `/` on axum: the page an anonymous visitor gets.
pub fn axum_home() -> axum::routing::MethodRouter {
    use axum::http::header::CACHE_CONTROL;
    use axum::response::Html;
    axum::routing::get(|| async { ([(CACHE_CONTROL, "no-store")], Html(anonymous_home().await)) })
}

/// Bare axum on the current tokio runtime; returns its `/me` URL.
pub async fn axum(user: User, scopes: Scopes) -> String {
    let app = axum_router(user, scopes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/me")
}

/// The bare actix-web application's routes: `/me` from the user and scopes in the app data,
/// and `/` as an anonymous visitor sees it.
pub fn actix_routes(cfg: &mut actix_web::web::ServiceConfig) {
    use actix_web::{HttpResponse, web};
    cfg.route("/", actix_home());
    cfg.route(
        "/me",
        web::get()
            .to(|state: web::Data<(User, Scopes)>| async move { HttpResponse::Ok().json(me_json(&state.0, &state.1)) }),
    );
}

/// `/` on actix-web: the page an anonymous visitor gets.
pub fn actix_home() -> actix_web::Route {
    use actix_web::{HttpResponse, web};
    web::get().to(|| async {
        HttpResponse::Ok()
            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
            .content_type("text/html; charset=utf-8")
            .body(anonymous_home().await)
    })
}

/// Bare actix-web with `workers` workers; returns its `/me` URL and the server handle.
pub fn actix(user: User, scopes: Scopes, workers: usize) -> (String, actix_web::dev::ServerHandle) {
    use actix_web::{App, web};
    let state = web::Data::new((user, scopes));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let handle = serve_actix(listener, workers, move || {
        App::new().app_data(state.clone()).configure(actix_routes)
    });
    (format!("http://{addr}/me"), handle)
}

/// Serves the application `app` builds (once per worker) on `listener` with `workers` workers,
/// on the current tokio runtime: the server's handle, to stop it with.
pub fn serve_actix<F, T, B>(listener: std::net::TcpListener, workers: usize, app: F) -> actix_web::dev::ServerHandle
where
    F: Fn() -> actix_web::App<T> + Send + Clone + 'static,
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: actix_web::body::MessageBody + 'static,
{
    let server = actix_web::HttpServer::new(app)
        .workers(workers)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
    let handle = server.handle();
    tokio::spawn(server);
    handle
}
