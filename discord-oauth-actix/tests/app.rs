//! The actix integration in `test::init_service`, with a scripted transport (no sockets):
//! route answers, cookie flags and size, extractor rejections, guards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::cookie::Key;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, test, web};
use discord_oauth_actix::transport::TransportError;
use discord_oauth_actix::{DiscordOAuth, DiscordOAuthBuilder, DiscordToken, DiscordUser, LoginConfig};
use discord_oauth_core::{Endpoints, Scope};

const USER: &str = r#"{"id":"80351110224678912","username":"nelly","discriminator":"0","global_name":"Nelly","avatar":"8342729096ea3675442027381ff50dfe","email":"nelly@example.com","verified":true,"locale":"en-US","mfa_enabled":true,"premium_type":2,"flags":64,"public_flags":64}"#;

#[derive(Clone, Default)]
struct Counts(Arc<[AtomicUsize; 4]>);

fn discord(counts: &Counts, member_status: u16) -> DiscordOAuth {
    builder(counts, member_status, "http://localhost:8080/auth/callback").build()
}

/// The integration against a scripted Discord, with `redirect_uri`.
fn builder(counts: &Counts, member_status: u16, redirect_uri: &str) -> DiscordOAuthBuilder {
    let config = LoginConfig::builder("1100000000000000001", redirect_uri)
        .client_secret("secret")
        .scopes([Scope::Identify, Scope::Guilds, Scope::GuildsMembersRead, Scope::Email])
        .endpoints(Endpoints::from_base("https://discord.test/api/v10".parse().unwrap()).unwrap())
        .build()
        .unwrap();
    let counts = counts.clone();
    let transport = move |req: http::Request<Vec<u8>>| {
        let counts = counts.clone();
        async move {
            let path = req.uri().path().to_owned();
            let (i, status, body) = if path.ends_with("/oauth2/token") {
                (0, 200, r#"{"access_token":"6qrZcUqja7812RVdnEKjpzOL4CvHBFG","token_type":"Bearer","expires_in":604800,"refresh_token":"D43f5y0ahjqew82jZ4NViEr2YafMKhue","scope":"identify guilds guilds.members.read email"}"#.to_owned())
            } else if path.ends_with("/oauth2/token/revoke") {
                (1, 200, String::new())
            } else if path.ends_with("/users/@me") {
                (2, 200, USER.to_owned())
            } else if path.ends_with("/member") {
                (
                    3,
                    member_status,
                    if member_status == 200 {
                        r#"{"roles":["7"],"joined_at":"2020-01-01T00:00:00Z","deaf":false,"mute":false}"#.to_owned()
                    } else if member_status == 429 {
                        r#"{"message":"slow down","retry_after":40,"global":false}"#.to_owned()
                    } else {
                        r#"{"message":"Unknown Guild","code":10004}"#.to_owned()
                    },
                )
            } else {
                return Err(TransportError::Failed(format!("unexpected {path}")));
            };
            counts.0[i].fetch_add(1, Ordering::SeqCst);
            Ok::<_, TransportError>(
                http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(body.into_bytes())
                    .unwrap(),
            )
        }
    };
    DiscordOAuth::builder(config, discord_oauth_actix::transport::from_fn(transport))
}

macro_rules! app {
    ($discord:expr) => {{
        let d: DiscordOAuth = $discord;
        test::init_service(
            App::new()
                .configure(d.routes())
                .route(
                    "/me",
                    web::get().to(|u: DiscordUser| async move { HttpResponse::Ok().body(u.id.to_string()) }),
                )
                .route(
                    "/token",
                    web::get().to(|t: DiscordToken| async move { HttpResponse::Ok().body(t.scopes().to_string()) }),
                )
                .service(
                    web::resource("/members")
                        .wrap(d.require_role(42, 7))
                        .to(|| async { HttpResponse::Ok().body("welcome") }),
                )
                .wrap(d.cookie_session(Key::from(&[7u8; 64]))),
        )
        .await
    }};
}

fn hdr<B>(resp: &ServiceResponse<B>, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn set_cookie<B>(resp: &ServiceResponse<B>) -> Option<String> {
    resp.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned())
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// The cookies a browser holds: every `Set-Cookie` of each answer is applied.
#[derive(Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn absorb<B>(&mut self, resp: &ServiceResponse<B>) {
        for sc in resp.headers().get_all("set-cookie") {
            let sc = sc.to_str().unwrap();
            let (name, value) = cookie_pair(sc)
                .split_once('=')
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .unwrap();
            self.0.retain(|(n, _)| *n != name);
            let deleted = sc.contains("Max-Age=0") || sc.contains("expires=Thu, 01 Jan 1970");
            if !deleted {
                self.0.push((name, value));
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

fn location<B>(resp: &ServiceResponse<B>) -> String {
    hdr(resp, "location")
}

fn state_of(url: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned()
}

#[actix_web::test]
async fn login_callback_session_and_cookie_size() {
    let counts = Counts::default();
    let app = app!(discord(&counts, 200));
    // Five logins in progress in one browser, each in its own sealed cookie, and no session.
    let mut jar = Jar::default();
    let mut authorize = Vec::new();
    for n in 0..5 {
        let mut req = test::TestRequest::get().uri(&format!("/auth/login?return_to=%2Fpage{n}"));
        if !jar.0.is_empty() {
            req = req.insert_header(("cookie", jar.header()));
        }
        let resp = test::call_service(&app, req.to_request()).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(hdr(&resp, "cache-control"), "no-store");
        assert_eq!(hdr(&resp, "referrer-policy"), "no-referrer");
        let sc = set_cookie(&resp).unwrap();
        assert!(
            sc.starts_with("discord_oauth_login.") && sc.contains("HttpOnly") && sc.contains("SameSite=Lax"),
            "{sc}"
        );
        assert!(
            sc.contains("Path=/") && !sc.contains("Secure") && sc.contains("Max-Age=600"),
            "{sc}"
        );
        jar.absorb(&resp);
        assert!(
            jar.get("discord_oauth").is_none(),
            "an anonymous login creates no session"
        );
        authorize.push(location(&resp));
    }
    assert_eq!(jar.0.len(), 5);
    // … one completes: the session starts, that login's cookie goes …
    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri(&format!("/auth/callback?code=abc&state={}", state_of(&authorize[4])))
            .insert_header(("cookie", jar.header()))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/page4");
    let replay = jar.header();
    jar.absorb(&resp);
    assert_eq!(jar.0.len(), 5, "four logins in progress and the session");
    let session = jar.get("discord_oauth").unwrap().to_owned();
    eprintln!("session cookie: {} bytes", session.len());
    assert!(session.len() < 4096, "the session cookie is {} bytes", session.len());
    let cookie = format!("discord_oauth={session}");
    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/me")
            .insert_header(("cookie", cookie.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(test::read_body(resp).await, "80351110224678912");
    assert_eq!(counts.0[0].load(Ordering::SeqCst), 1);
    assert_eq!(counts.0[2].load(Ordering::SeqCst), 1);

    // The replayed callback is refused (the state was used), even with a copy of its cookie.
    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri(&format!("/auth/callback?code=abc&state={}", state_of(&authorize[4])))
            .insert_header(("cookie", replay))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(hdr(&resp, "content-type"), "text/html; charset=utf-8");
    assert_eq!(counts.0[0].load(Ordering::SeqCst), 1, "no second code exchange");

    // Guard: the member has role 7 in guild 42.
    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/members")
            .insert_header(("cookie", cookie.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);

    // Logout: GET is 405, a cross-site POST 403, a same-site POST revokes and clears.
    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/auth/logout")
            .insert_header(("cookie", cookie.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(hdr(&resp, "allow"), "POST");
    let resp = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/auth/logout")
            .insert_header(("cookie", cookie.clone()))
            .insert_header(("origin", "https://evil.example"))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(counts.0[1].load(Ordering::SeqCst), 0);
    let resp = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/auth/logout")
            .insert_header(("cookie", cookie.clone()))
            .insert_header(("origin", "http://localhost:8080"))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/");
    assert_eq!(counts.0[1].load(Ordering::SeqCst), 1, "revoked at Discord");
    let sc = set_cookie(&resp).unwrap();
    assert!(
        sc.contains("Max-Age=0") || sc.contains("expires=Thu, 01 Jan 1970"),
        "cookie removed: {sc}"
    );
}

#[actix_web::test]
async fn anonymous_requests_get_a_redirect_or_401_json() {
    let app = app!(discord(&Counts::default(), 200));
    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/me?x=1")
            .insert_header(("accept", "text/html"))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/auth/login?return_to=%2Fme%3Fx%3D1");
    assert!(set_cookie(&resp).is_none(), "no session for an anonymous request");
    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/token")
            .insert_header(("accept", "application/json"))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(hdr(&resp, "content-type"), "application/json");
    let body: serde_json::Value = test::read_body_json(resp).await;
    assert_eq!(body["login_url"], "/auth/login?return_to=%2Ftoken");
    // A fetch from a script is never redirected.
    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/members")
            .insert_header(("accept", "text/html"))
            .insert_header(("sec-fetch-mode", "cors"))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn missing_middleware_is_an_opaque_500() {
    let d = discord(&Counts::default(), 200);
    let app = test::init_service(App::new().route(
        "/me",
        web::get().to(|u: DiscordUser| async move { HttpResponse::Ok().body(u.username.clone()) }),
    ))
    .await;
    let resp = test::call_service(&app, test::TestRequest::get().uri("/me").to_request()).await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(test::read_body(resp).await, "Internal Server Error");
    // The routes without the middleware: nothing could be stored, so the callback says so.
    let app = test::init_service(App::new().configure(d.routes())).await;
    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/auth/callback?code=a&state=b")
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

async fn logged_in_cookie<S, B>(app: &S) -> String
where
    S: actix_web::dev::Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let resp = test::call_service(app, test::TestRequest::get().uri("/auth/login").to_request()).await;
    let mut jar = Jar::default();
    jar.absorb(&resp);
    let resp = test::call_service(
        app,
        test::TestRequest::get()
            .uri(&format!("/auth/callback?code=abc&state={}", state_of(&location(&resp))))
            .insert_header(("cookie", jar.header()))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    jar.absorb(&resp);
    format!("discord_oauth={}", jar.get("discord_oauth").unwrap())
}

#[actix_web::test]
async fn guards_refuse_non_members_and_never_let_in_on_errors() {
    for (status, expected) in [(404, StatusCode::FORBIDDEN), (429, StatusCode::SERVICE_UNAVAILABLE)] {
        let counts = Counts::default();
        let app = app!(discord(&counts, status));
        let cookie = logged_in_cookie(&app).await;
        let resp = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/members")
                .insert_header(("cookie", cookie.clone()))
                .insert_header(("accept", "text/html"))
                .to_request(),
        )
        .await;
        assert_eq!(resp.status(), expected);
        if status == 429 {
            assert_eq!(hdr(&resp, "retry-after"), "40");
        } else {
            assert_eq!(hdr(&resp, "content-type"), "text/html; charset=utf-8");
            // The decision is remembered: no second call to Discord.
            let resp = test::call_service(
                &app,
                test::TestRequest::get()
                    .uri("/members")
                    .insert_header(("cookie", cookie))
                    .to_request(),
            )
            .await;
            assert_eq!(resp.status(), StatusCode::FORBIDDEN);
            assert_eq!(counts.0[3].load(Ordering::SeqCst), 1);
        }
    }
}

#[actix_web::test]
async fn a_flood_of_anonymous_logins_leaves_the_store_empty() {
    let d = discord(&Counts::default(), 200);
    let store = discord_oauth_actix::MemoryStore::default();
    let app = test::init_service(
        App::new()
            .configure(d.routes())
            .route("/", web::get().to(|| async { HttpResponse::Ok().body("home") }))
            .wrap(d.session_middleware(store.clone(), Key::from(&[7u8; 64]))),
    )
    .await;
    let long = format!("%2F{}", "a".repeat(497));
    for n in 0..1_000 {
        let resp = test::call_service(
            &app,
            test::TestRequest::get()
                .uri(&format!("/auth/login?return_to={long}&n={n}"))
                .to_request(),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let cookies: Vec<_> = resp.headers().get_all("set-cookie").collect();
        assert_eq!(cookies.len(), 1);
        assert!(cookies[0].to_str().unwrap().starts_with("discord_oauth_login."));
    }
    assert!(store.is_empty(), "nothing was stored for 1,000 anonymous logins");
    let resp = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(set_cookie(&resp).is_none());
    assert!(store.is_empty());
}

/// Logs in through `app`; the session cookie's `Set-Cookie`.
async fn login_set_cookie<S, B>(app: &S, name: &str) -> String
where
    S: actix_web::dev::Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let resp = test::call_service(app, test::TestRequest::get().uri("/auth/login").to_request()).await;
    let mut jar = Jar::default();
    jar.absorb(&resp);
    let resp = test::call_service(
        app,
        test::TestRequest::get()
            .uri(&format!("/auth/callback?code=abc&state={}", state_of(&location(&resp))))
            .insert_header(("cookie", jar.header()))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    resp.headers()
        .get_all("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap()
}

#[actix_web::test]
async fn the_session_cookie_is_private_lax_http_only_and_host_only() {
    let app = app!(discord(&Counts::default(), 200));
    let sc = login_set_cookie(&app, "discord_oauth").await;
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
        assert!(sc.contains(attribute), "{attribute}: {sc}");
    }
    assert!(!sc.contains("Domain") && !sc.contains("Secure"), "{sc}");
    let value = cookie_pair(&sc);
    let value = value.strip_prefix("discord_oauth=").unwrap();
    assert!(!value.contains("nelly"), "the content is encrypted");

    let https = builder(&Counts::default(), 200, "https://example.test/auth/callback").build();
    let app = app!(https);
    let sc = login_set_cookie(&app, "__Host-discord_oauth").await;
    assert!(
        sc.contains("Secure") && sc.contains("Path=/") && !sc.contains("Domain"),
        "{sc}"
    );
    let strict = discord(&Counts::default(), 200);
    let app = test::init_service(
        App::new()
            .configure(strict.routes())
            .wrap(strict.session_middleware_with(
                discord_oauth_actix::MemoryStore::default(),
                Key::from(&[7u8; 64]),
                |cookie| cookie.cookie_same_site(actix_web::cookie::SameSite::Strict),
            )),
    )
    .await;
    assert!(
        login_set_cookie(&app, "discord_oauth")
            .await
            .contains("SameSite=Strict")
    );
}

/// A `MemoryStore` that fails on demand.
#[derive(Clone, Default)]
struct FlakyStore {
    inner: discord_oauth_actix::MemoryStore,
    down: Arc<std::sync::atomic::AtomicBool>,
    /// Loads find nothing (every session ended elsewhere).
    gone: Arc<std::sync::atomic::AtomicBool>,
}

mod flaky {
    use std::collections::HashMap;

    use actix_web::cookie::time::Duration;
    use discord_oauth_actix::actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};

    use super::*;

    type State = HashMap<String, String>;

    impl FlakyStore {
        fn check(&self) -> anyhow::Result<()> {
            if self.down.load(Ordering::SeqCst) {
                anyhow::bail!("the store is down (injected)");
            }
            Ok(())
        }
    }

    impl SessionStore for FlakyStore {
        async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
            self.check().map_err(LoadError::Other)?;
            if self.gone.load(Ordering::SeqCst) {
                return Ok(None);
            }
            self.inner.load(key).await
        }

        async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
            self.check().map_err(SaveError::Other)?;
            self.inner.save(state, ttl).await
        }

        async fn update(&self, key: SessionKey, state: State, ttl: &Duration) -> Result<SessionKey, UpdateError> {
            self.check().map_err(UpdateError::Other)?;
            self.inner.update(key, state, ttl).await
        }

        async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> anyhow::Result<()> {
            self.check()?;
            self.inner.update_ttl(key, ttl).await
        }

        async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
            self.check()?;
            self.inner.delete(key).await
        }
    }
}

#[actix_web::test]
async fn option_discord_user_answers_503_when_the_store_is_down() {
    // The fast path off: every request reads the store.
    let d = builder(&Counts::default(), 200, "http://localhost:8080/auth/callback")
        .cache_ttl(std::time::Duration::ZERO)
        .build();
    let store = FlakyStore::default();
    let app = test::init_service(
        App::new()
            .configure(d.routes())
            .route(
                "/maybe",
                web::get().to(|u: Option<DiscordUser>| async move {
                    HttpResponse::Ok().body(u.map_or_else(|| "anonymous".to_owned(), |u| u.id.to_string()))
                }),
            )
            .wrap(d.session_middleware(store.clone(), Key::from(&[7u8; 64]))),
    )
    .await;
    let cookie = logged_in_cookie(&app).await;
    let maybe = |accept: &'static str| {
        test::TestRequest::get()
            .uri("/maybe")
            .insert_header(("cookie", cookie.clone()))
            .insert_header(("accept", accept))
            .to_request()
    };
    let resp = test::call_service(&app, maybe("application/json")).await;
    assert_eq!(test::read_body(resp).await, "80351110224678912");

    store.down.store(true, Ordering::SeqCst);
    let resp = test::call_service(&app, maybe("application/json")).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "not `None`");
    assert_eq!(hdr(&resp, "retry-after"), "5");
    assert_eq!(hdr(&resp, "content-type"), "application/json");
    assert!(set_cookie(&resp).is_none(), "the cookie is left alone");
    let resp = test::call_service(&app, maybe("text/html")).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(hdr(&resp, "content-type"), "text/html; charset=utf-8");
    // Without a session cookie there is nothing to read: anonymous.
    let resp = test::call_service(&app, test::TestRequest::get().uri("/maybe").to_request()).await;
    assert_eq!(test::read_body(resp).await, "anonymous");

    store.down.store(false, Ordering::SeqCst);
    let resp = test::call_service(&app, maybe("application/json")).await;
    assert_eq!(
        test::read_body(resp).await,
        "80351110224678912",
        "recovered, still logged in"
    );
}

#[actix_web::test]
async fn a_change_to_a_session_that_ended_meanwhile_is_dropped() {
    let d = discord(&Counts::default(), 200);
    let store = FlakyStore::default();
    let ended = store.clone();
    let app = test::init_service(
        App::new()
            .configure(d.routes())
            .route(
                "/note",
                web::get().to(move |session: discord_oauth_actix::actix_session::Session| {
                    // A logout on another instance while this handler runs.
                    ended.gone.store(true, Ordering::SeqCst);
                    session.insert("note", "hello").unwrap();
                    async { HttpResponse::Ok().finish() }
                }),
            )
            .wrap(d.session_middleware(store.clone(), Key::from(&[7u8; 64]))),
    )
    .await;
    let cookie = logged_in_cookie(&app).await;
    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/note")
            .insert_header(("cookie", cookie))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(set_cookie(&resp).is_none(), "no cookie for a session that is gone");
    store.gone.store(false, Ordering::SeqCst);
    assert_eq!(store.inner.len(), 1, "nothing was saved under a new key");
}

#[actix_web::test]
async fn an_unreadable_login_is_a_503_not_anonymous() {
    // The cookie store keeps the state in the cookie: one whose login record does not decode.
    let key = Key::from(&[7u8; 64]);
    let state = serde_json::json!({ "discord_oauth.auth": "{\"not\":\"a login\"}" }).to_string();
    let mut jar = actix_web::cookie::CookieJar::new();
    jar.private_mut(&key)
        .add(actix_web::cookie::Cookie::new("discord_oauth", state));
    let sealed = jar.delta().next().unwrap().encoded().to_string();
    let app = app!(discord(&Counts::default(), 200));
    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/me")
            .insert_header(("cookie", sealed))
            .insert_header(("accept", "application/json"))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(set_cookie(&resp).is_none(), "the cookie is left alone");
}

#[actix_web::test]
async fn cookies_under_a_previous_key_work_during_a_rotation() {
    let (old, new) = (Key::from(&[7u8; 64]), Key::from(&[9u8; 64]));
    let d = discord(&Counts::default(), 200);
    let store = discord_oauth_actix::MemoryStore::default();
    let with = |previous: Vec<Key>| {
        App::new()
            .configure(d.routes())
            .route(
                "/me",
                web::get().to(|u: DiscordUser| async move { HttpResponse::Ok().body(u.id.to_string()) }),
            )
            .route(
                "/note",
                web::get().to(|s: discord_oauth_actix::actix_session::Session| async move {
                    s.insert("note", 1).unwrap();
                    HttpResponse::Ok().finish()
                }),
            )
            .wrap(d.session_middleware_with(store.clone(), new.clone(), move |c| c.previous_keys(previous)))
    };
    let before = test::init_service(
        App::new()
            .configure(d.routes())
            .wrap(d.session_middleware(store.clone(), old.clone())),
    )
    .await;
    let cookie = logged_in_cookie(&before).await;
    let get = |uri: &str, cookie: &str| {
        test::TestRequest::get()
            .uri(uri)
            .insert_header(("cookie", cookie.to_owned()))
            .insert_header(("accept", "application/json"))
            .to_request()
    };

    let without = test::init_service(with(Vec::new())).await;
    let resp = test::call_service(&without, get("/me", &cookie)).await;
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "the new key alone does not open it"
    );

    let rotating = test::init_service(with(vec![old.clone()])).await;
    let resp = test::call_service(&rotating, get("/me", &cookie)).await;
    assert_eq!(resp.status(), StatusCode::OK, "accepted under the previous key");
    // The session's next change sends a cookie under the current key.
    let resp = test::call_service(&rotating, get("/note", &cookie)).await;
    let moved = cookie_pair(&set_cookie(&resp).unwrap());
    let resp = test::call_service(&without, get("/me", &moved)).await;
    assert_eq!(resp.status(), StatusCode::OK, "the new cookie needs no previous key");
}

#[actix_web::test]
async fn an_anonymous_visitor_gets_a_session_only_when_a_handler_starts_one() {
    use discord_oauth_actix::actix_session::Session;
    let d = discord(&Counts::default(), 200);
    let store = discord_oauth_actix::MemoryStore::default();
    let app = test::init_service(
        App::new()
            .configure(d.routes())
            .route(
                "/page",
                web::get().to(|user: Option<DiscordUser>| async move {
                    HttpResponse::Ok().body(format!("anonymous: {}", user.is_none()))
                }),
            )
            .route(
                "/cart",
                web::get().to(|user: Option<DiscordUser>, s: Session| async move {
                    let items = s.get::<u32>("items").unwrap().unwrap_or(0) + 1;
                    s.insert("items", items).unwrap();
                    HttpResponse::Ok().body(format!("{} {items}", user.is_none()))
                }),
            )
            .wrap(d.session_middleware(store.clone(), Key::from(&[7u8; 64]))),
    )
    .await;
    let get = |uri: &str, cookie: Option<&str>| {
        let mut req = test::TestRequest::get().uri(uri);
        if let Some(cookie) = cookie {
            req = req.insert_header(("cookie", cookie.to_owned()));
        }
        req.to_request()
    };
    for cookie in [None, Some("theme=dark; discord_oauthx=1")] {
        let resp = test::call_service(&app, get("/page", cookie)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(set_cookie(&resp).is_none(), "{cookie:?}: no session, no cookie");
        assert!(!resp.headers().contains_key("cache-control"), "not a personal page");
        assert_eq!(test::read_body(resp).await, "anonymous: true");
    }
    assert!(store.is_empty(), "anonymous pages store nothing");

    let resp = test::call_service(&app, get("/cart", Some("theme=dark"))).await;
    let sealed = set_cookie(&resp).expect("the handler started a session: its cookie is sent");
    assert!(
        sealed.contains("HttpOnly") && sealed.contains("SameSite=Lax"),
        "{sealed}"
    );
    assert_eq!(test::read_body(resp).await, "true 1");
    assert_eq!(store.len(), 1);
    let cookie = cookie_pair(&sealed);
    let resp = test::call_service(&app, get("/cart", Some(&cookie))).await;
    assert_eq!(test::read_body(resp).await, "true 2", "the session came back");
    assert_eq!(store.len(), 1, "updated in place");
}

#[actix_web::test]
async fn a_session_an_anonymous_handler_starts_is_a_503_when_the_store_is_down() {
    let d = discord(&Counts::default(), 200);
    let store = FlakyStore::default();
    let app = test::init_service(
        App::new()
            .configure(d.routes())
            .route(
                "/cart",
                web::get().to(|s: discord_oauth_actix::actix_session::Session| async move {
                    s.insert("items", 1).unwrap();
                    HttpResponse::Ok().body("added")
                }),
            )
            .route("/page", web::get().to(|| async { HttpResponse::Ok().body("page") }))
            .wrap(d.session_middleware(store.clone(), Key::from(&[7u8; 64]))),
    )
    .await;
    store.down.store(true, Ordering::SeqCst);
    let get = |uri: &str| test::TestRequest::get().uri(uri).to_request();
    let resp = test::call_service(&app, get("/page")).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "a page that starts no session needs no store"
    );
    let resp = test::call_service(&app, get("/cart")).await;
    assert_eq!(
        resp.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "not the handler's answer without its session"
    );
    assert!(set_cookie(&resp).is_none(), "no cookie for a session never stored");
    assert!(resp.headers().contains_key("retry-after"));
}
