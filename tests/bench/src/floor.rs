//! The floor: the least that any login layer has to do per request, on each framework, for
//! the instruction counts to be read against. A middleware added the way the sample sites add
//! the login layer (around the whole router on axum, `App::wrap` on actix-web) that
//! - finds the login by the request's `Cookie` header in a map of the logins it knows (one
//!   `foldhash` lookup of the whole header, as the fast paths key their index);
//! - hands the result to the handler in one request extension, anonymous requests too (so a
//!   handler can tell "nobody is logged in" from "the middleware is missing");
//! - adds `Cache-Control: private, no-store` to a logged-in user's response that has none
//!   (checklist H-14).
//!
//! It does not: expire or refresh logins, check them against the store, give handlers a
//! session, start logins or answer the login routes. The sample sites do all of that; the
//! difference between a site and its floor is what those cost on a request.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use discord_oauth_core::Scopes;
use discord_oauth_core::api::User;

use crate::bare::me_json;

/// Who the floor middleware found: the login its `Cookie` header names, or nobody.
#[derive(Debug, Clone)]
pub struct FloorAuth(pub Option<Arc<(User, Scopes)>>);

/// The logins the floor knows, by whole `Cookie` header.
type Logins = Arc<HashMap<Box<[u8]>, Arc<(User, Scopes)>, foldhash::fast::RandomState>>;

fn logins(cookie: &str, user: User, scopes: Scopes) -> Logins {
    let mut map = HashMap::with_hasher(foldhash::fast::RandomState::default());
    map.insert(Box::from(cookie.as_bytes()), Arc::new((user, scopes)));
    Arc::new(map)
}

fn find(logins: &Logins, cookie: Option<&[u8]>) -> FloorAuth {
    FloorAuth(cookie.and_then(|c| logins.get(c)).cloned())
}

/// The `Cookie` header the floor servers know `user` by: a session cookie of the axum
/// sample's length.
pub fn cookie(len: usize) -> String {
    let name = "discord_oauth=";
    let value: String = (0..len - name.len())
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    format!("{name}{value}")
}

// ------------------------------------------------------------------ axum

/// The floor as a tower layer, around the whole router.
#[derive(Debug, Clone)]
pub struct FloorLayer(Logins);

/// The service of [`FloorLayer`].
#[derive(Debug, Clone)]
pub struct FloorService<S> {
    inner: S,
    logins: Logins,
}

impl<S> tower::Layer<S> for FloorLayer {
    type Service = FloorService<S>;
    fn layer(&self, inner: S) -> FloorService<S> {
        FloorService {
            inner,
            logins: Arc::clone(&self.0),
        }
    }
}

impl<S, B, RB> tower::Service<http::Request<B>> for FloorService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = FloorFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let found = find(
            &self.logins,
            req.headers().get(http::header::COOKIE).map(http::HeaderValue::as_bytes),
        );
        let logged_in = found.0.is_some();
        req.extensions_mut().insert(found);
        FloorFuture {
            inner: self.inner.call(req),
            logged_in,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`FloorService`]: the handler's, polled in place.
    pub struct FloorFuture<F> {
        #[pin]
        inner: F,
        logged_in: bool,
    }
}

impl<F, RB, E> Future for FloorFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
{
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if *this.logged_in
            && let http::header::Entry::Vacant(v) = response.headers_mut().entry(http::header::CACHE_CONTROL)
        {
            v.insert(http::HeaderValue::from_static("private, no-store"));
        }
        Poll::Ready(Ok(response))
    }
}

/// The bare axum application behind the floor, wrapped whole by it (as
/// `discord_oauth_axum::DiscordOAuth::wrap` wraps the sample's): `/me` for whoever the cookie
/// names (`401` for nobody), `/` as an anonymous visitor sees it.
pub fn axum_app(cookie: &str, user: User, scopes: Scopes) -> FloorService<axum::Router> {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use axum::{Extension, Json};
    let router = axum::Router::new().route("/", crate::bare::axum_home()).route(
        "/me",
        get(|Extension(auth): Extension<FloorAuth>| async move {
            match auth.0 {
                Some(login) => Json(me_json(&login.0, &login.1)).into_response(),
                None => StatusCode::UNAUTHORIZED.into_response(),
            }
        }),
    );
    tower::Layer::layer(&FloorLayer(logins(cookie, user, scopes)), router)
}

/// The axum floor on the current tokio runtime; returns its `/me` URL.
pub async fn axum(cookie: &str, user: User, scopes: Scopes) -> String {
    let app = axum_app(cookie, user, scopes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::ServiceExt::<axum::extract::Request>::into_make_service(app);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/me")
}

// ------------------------------------------------------------------ actix-web

/// The floor as an actix-web middleware, for `App::wrap`.
#[derive(Debug)]
pub struct FloorMiddleware(Logins);

/// The service of [`FloorMiddleware`].
#[derive(Debug)]
pub struct FloorActix<S> {
    inner: S,
    logins: Logins,
}

impl<S, B> actix_web::dev::Transform<S, actix_web::dev::ServiceRequest> for FloorMiddleware
where
    S: actix_web::dev::Service<
            actix_web::dev::ServiceRequest,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
{
    type Response = actix_web::dev::ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = FloorActix<S>;
    type InitError = ();
    type Future = std::future::Ready<Result<FloorActix<S>, ()>>;

    fn new_transform(&self, inner: S) -> Self::Future {
        std::future::ready(Ok(FloorActix {
            inner,
            logins: Arc::clone(&self.0),
        }))
    }
}

impl<S, B> actix_web::dev::Service<actix_web::dev::ServiceRequest> for FloorActix<S>
where
    S: actix_web::dev::Service<
            actix_web::dev::ServiceRequest,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
{
    type Response = actix_web::dev::ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = FloorActixFuture<S::Future>;

    actix_web::dev::forward_ready!(inner);

    fn call(&self, req: actix_web::dev::ServiceRequest) -> Self::Future {
        use actix_web::HttpMessage as _;
        let found = find(
            &self.logins,
            req.headers()
                .get(actix_web::http::header::COOKIE)
                .map(actix_web::http::header::HeaderValue::as_bytes),
        );
        let logged_in = found.0.is_some();
        req.extensions_mut().insert(found);
        FloorActixFuture {
            inner: self.inner.call(req),
            logged_in,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`FloorActix`]: the handler's, polled in place.
    pub struct FloorActixFuture<F> {
        #[pin]
        inner: F,
        logged_in: bool,
    }
}

impl<F, B> Future for FloorActixFuture<F>
where
    F: Future<Output = Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>>,
{
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        let headers = response.headers_mut();
        if *this.logged_in && !headers.contains_key(CACHE_CONTROL) {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
        }
        Poll::Ready(Ok(response))
    }
}

/// The actix-web floor with one worker; returns its `/me` URL and the server handle.
pub fn actix(cookie: &str, user: User, scopes: Scopes) -> (String, actix_web::dev::ServerHandle) {
    use actix_web::{App, HttpResponse, web};
    let logins = logins(cookie, user, scopes);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = crate::bare::serve_actix(listener, 1, move || {
        App::new()
            .wrap(FloorMiddleware(Arc::clone(&logins)))
            .route("/", crate::bare::actix_home())
            .route(
                "/me",
                web::get().to(|auth: web::ReqData<FloorAuth>| async move {
                    match &auth.0 {
                        Some(login) => HttpResponse::Ok().json(me_json(&login.0, &login.1)),
                        None => HttpResponse::Unauthorized().finish(),
                    }
                }),
            )
    });
    (format!("http://{addr}/me"), handle)
}
