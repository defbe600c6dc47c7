//! The login's network sequences (callback, refresh, revocation, guild checks) and the route
//! answers, driven with scripted responses: no sockets, fixed time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use discord_oauth_core::login::answer::{self, Refusal, Route};
use discord_oauth_core::login::flow::{
    CallbackFlow, CallbackOutcome, Flow, FlowIo, GuildRequirement, RefreshOutcome, RefreshPlan, RevokeFlow, Step, drive,
};
use discord_oauth_core::login::{AuthSession, LoginConfig, PendingLogins};
use discord_oauth_core::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn builder() -> login::LoginConfigBuilder {
    LoginConfig::builder("1100000000000000001", "https://site.example/auth/callback").client_secret("secret")
}

fn config() -> LoginConfig {
    builder().build().unwrap()
}

fn resp(status: u16, body: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

fn token_body(n: u32, scope: &str) -> String {
    format!(
        r#"{{"access_token":"at{n}","token_type":"Bearer","expires_in":604800,"refresh_token":"rt{n}","scope":"{scope}"}}"#
    )
}

const USER: &str =
    r#"{"id":"80351110224678912","username":"nelly","discriminator":"0","global_name":"Nelly","avatar":null}"#;

fn rate_limited(secs: f64) -> http::Response<Vec<u8>> {
    resp(
        429,
        &format!(r#"{{"message":"You are being rate limited.","retry_after":{secs},"global":false}}"#),
    )
}

fn start_callback(c: &LoginConfig) -> CallbackFlow {
    let mut pending = PendingLogins::default();
    let url = c
        .begin_login(Some("/me"), &mut pending, &mut StdRng::seed_from_u64(7), now())
        .unwrap();
    let state = url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let (exchange, return_to) = c
        .complete_callback(&format!("code=c0de&state={state}"), &mut pending, now())
        .unwrap();
    CallbackFlow::new(c, exchange, return_to)
}

/// What happened, for assertions: "POST /api/v10/oauth2/token", "wait 200ms", …
fn run<F: Flow>(mut flow: F, mut answers: VecDeque<Result<http::Response<Vec<u8>>, &str>>) -> (F::Output, Vec<String>) {
    let mut log = Vec::new();
    loop {
        match flow.poll() {
            Step::Send(req) => {
                log.push(format!("{} {}", req.method(), req.uri().path()));
                match answers.pop_front().expect("the flow sent more requests than scripted") {
                    Ok(r) => flow.handle_response(r, now()),
                    Err(e) => flow.handle_unreachable(e.to_owned()),
                }
            }
            Step::Wait(d) => log.push(format!("wait {}ms", d.as_millis())),
            Step::Done => break,
        }
    }
    assert!(answers.is_empty(), "unused answers: {}", answers.len());
    (flow.finish(), log)
}

const TOKEN: &str = "POST /api/v10/oauth2/token";
const REVOKE: &str = "POST /api/v10/oauth2/token/revoke";
const ME: &str = "GET /api/v10/users/@me";

#[test]
fn callback_exchanges_fetches_the_user_and_builds_the_session() {
    let c = config();
    let (out, log) = run(
        start_callback(&c),
        VecDeque::from([Ok(resp(200, &token_body(1, "identify"))), Ok(resp(200, USER))]),
    );
    assert_eq!(log, [TOKEN, ME]);
    let CallbackOutcome { result, revocation } = out;
    let done = result.unwrap();
    assert_eq!(done.return_to.as_str(), "/me");
    assert_eq!(done.session.user.id.get(), 80_351_110_224_678_912);
    assert_eq!(done.session.authenticated_at, now());
    assert_eq!(done.session.tokens.unwrap().access_token.secret(), "at1");
    assert!(revocation.is_none());
}

#[test]
fn a_short_429_is_waited_out_and_retried_exactly_once() {
    let c = config();
    let (out, log) = run(
        start_callback(&c),
        VecDeque::from([
            Ok(rate_limited(0.2)),
            Ok(resp(200, &token_body(1, "identify"))),
            Ok(rate_limited(1.0)),
            Ok(resp(200, USER)),
        ]),
    );
    assert_eq!(log, [TOKEN, "wait 200ms", TOKEN, ME, "wait 1000ms", ME]);
    assert!(out.result.is_ok());

    // A second 429 on the same request is the result.
    let (out, log) = run(
        start_callback(&c),
        VecDeque::from([Ok(rate_limited(0.2)), Ok(rate_limited(0.2))]),
    );
    assert_eq!(log, [TOKEN, "wait 200ms", TOKEN]);
    let e = out.result.unwrap_err();
    assert_eq!(e.status(), 503);
}

#[test]
fn a_long_429_is_not_waited_for_and_answers_503_with_retry_after() {
    let c = config();
    let (out, log) = run(start_callback(&c), VecDeque::from([Ok(rate_limited(30.0))]));
    assert_eq!(log, [TOKEN]);
    let e = out.result.unwrap_err();
    assert_eq!((e.status(), e.retry_after()), (503, Some(30)));
    let page = c.login_error_answer(&e);
    assert_eq!(page.status(), 503);
    assert_eq!(page.headers()["retry-after"], "30");
    assert_eq!(page.headers()["cache-control"], "no-store");
}

#[test]
fn failures_after_the_exchange_revoke_the_tokens() {
    let c = config();
    // Scope not granted: revoke, 400.
    let (out, log) = run(
        start_callback(&c),
        VecDeque::from([Ok(resp(200, &token_body(1, "email"))), Ok(resp(200, ""))]),
    );
    assert_eq!(log, [TOKEN, REVOKE]);
    assert_eq!(out.result.unwrap_err().status(), 400);
    assert_eq!(out.revocation, Some(Ok(())));

    // User fetch fails: revoke (even if the revocation fails), 502, no session.
    let (out, log) = run(
        start_callback(&c),
        VecDeque::from([
            Ok(resp(200, &token_body(1, "identify"))),
            Ok(resp(500, "{}")),
            Err("connection reset"),
        ]),
    );
    assert_eq!(log, [TOKEN, ME, REVOKE]);
    assert_eq!(out.result.unwrap_err().status(), 502);
    assert_eq!(out.revocation, Some(Err("connection reset".to_owned())));

    // User fetch unreachable: revoke, 503.
    let (out, log) = run(
        start_callback(&c),
        VecDeque::from([
            Ok(resp(200, &token_body(1, "identify"))),
            Err("timeout"),
            Ok(resp(200, "")),
        ]),
    );
    assert_eq!(log, [TOKEN, ME, REVOKE]);
    assert_eq!(out.result.unwrap_err().status(), 503);
}

#[test]
fn exchange_failures_revoke_nothing() {
    let c = config();
    for (answer, status) in [
        (Ok(resp(500, "oops")), 502),
        (Ok(resp(400, r#"{"error":"invalid_grant"}"#)), 400),
        (Err("timed out"), 503),
    ] {
        let (out, log) = run(start_callback(&c), VecDeque::from([answer]));
        assert_eq!(log, [TOKEN]);
        assert_eq!(out.result.unwrap_err().status(), status);
        assert!(out.revocation.is_none());
    }
}

#[test]
fn identity_only_revokes_after_fetching_the_user() {
    let c = builder().identity_only(true).build().unwrap();
    let (out, log) = run(
        start_callback(&c),
        VecDeque::from([
            Ok(resp(200, &token_body(1, "identify"))),
            Ok(resp(200, USER)),
            Ok(resp(200, "")),
        ]),
    );
    assert_eq!(log, [TOKEN, ME, REVOKE]);
    assert!(out.result.unwrap().session.tokens.is_none());
    assert_eq!(out.revocation, Some(Ok(())));
}

fn session(expires_in: u64, n: u32) -> AuthSession {
    let c = config();
    let user: api::User = serde_json::from_str(USER).unwrap();
    let tokens = TokenSet::parse(
        format!(
            r#"{{"access_token":"at{n}","token_type":"Bearer","expires_in":{expires_in},"refresh_token":"rt{n}","scope":"identify"}}"#
        )
        .as_bytes(),
        &Scopes::new(),
        now(),
    )
    .unwrap();
    c.new_session(user, tokens, now())
}

fn refresh_flow(c: &LoginConfig, s: &AuthSession, at: SystemTime) -> discord_oauth_core::login::flow::RefreshFlow {
    match c.plan_refresh(s, Some(s), at) {
        RefreshPlan::Refresh(flow) => flow,
        other => panic!("expected a refresh, got {other:?}"),
    }
}

#[test]
fn refresh_plan_reuses_a_fresher_record_and_skips_gone_sessions() {
    let c = config();
    let stale = session(100, 1);
    let fresher = session(604_800, 2);
    assert!(matches!(c.plan_refresh(&stale, None, now()), RefreshPlan::Gone));
    assert!(matches!(
        c.plan_refresh(&stale, Some(&fresher), now()),
        RefreshPlan::UseCurrent { write_back: true }
    ));
    // Same record, still far from expiry: nothing to do.
    assert!(matches!(
        c.plan_refresh(&fresher, Some(&fresher), now()),
        RefreshPlan::UseCurrent { write_back: false }
    ));
    // Same record, within the skew: refresh, sending the stored refresh token.
    let mut flow = refresh_flow(&c, &stale, now());
    let Step::Send(req) = flow.poll() else { panic!() };
    let body = String::from_utf8(req.body().clone()).unwrap();
    assert!(
        body.contains("grant_type=refresh_token") && body.contains("refresh_token=rt1"),
        "{body}"
    );
}

#[test]
fn refresh_outcomes() {
    let c = config();
    let s = session(100, 1);
    // Success: the new record carries the rotated tokens, same user and login time.
    let (out, log) = run(
        refresh_flow(&c, &s, now()),
        VecDeque::from([Ok(resp(200, &token_body(2, "identify")))]),
    );
    assert_eq!(log, [TOKEN]);
    let RefreshOutcome::Refreshed(next) = out else {
        panic!("{out:?}")
    };
    assert_eq!(
        next.tokens.as_ref().unwrap().refresh_token.as_ref().unwrap().secret(),
        "rt2"
    );
    assert_eq!(next.authenticated_at, s.authenticated_at);

    // invalid_grant: log out.
    let (out, _) = run(
        refresh_flow(&c, &s, now()),
        VecDeque::from([Ok(resp(400, r#"{"error":"invalid_grant"}"#))]),
    );
    assert!(matches!(out, RefreshOutcome::LoggedOut { .. }), "{out:?}");

    // Transient failure while the old token is valid: keep it.
    let (out, _) = run(
        refresh_flow(&c, &s, now()),
        VecDeque::from([Ok(resp(502, "bad gateway"))]),
    );
    assert!(matches!(out, RefreshOutcome::KeepOld { .. }), "{out:?}");
    let (out, _) = run(refresh_flow(&c, &s, now()), VecDeque::from([Err("timeout")]));
    assert!(matches!(out, RefreshOutcome::KeepOld { .. }), "{out:?}");

    // … and once it has expired: 503, with Discord's Retry-After for a long 429.
    let later = now() + Duration::from_secs(200);
    let (out, _) = run(refresh_flow(&c, &s, later), VecDeque::from([Ok(rate_limited(30.0))]));
    assert!(
        matches!(out, RefreshOutcome::Unavailable { retry_after: 30, .. }),
        "{out:?}"
    );
    let (out, _) = run(refresh_flow(&c, &s, later), VecDeque::from([Err("refused")]));
    let RefreshOutcome::Unavailable {
        retry_after, message, ..
    } = out
    else {
        panic!()
    };
    assert_eq!(retry_after, 5);
    assert!(message.contains("could not be reached"));
    // A short 429 is retried once.
    let (out, log) = run(
        refresh_flow(&c, &s, later),
        VecDeque::from([Ok(rate_limited(0.5)), Ok(resp(200, &token_body(2, "identify")))]),
    );
    assert_eq!(log, [TOKEN, "wait 500ms", TOKEN]);
    assert!(matches!(out, RefreshOutcome::Refreshed(_)));
}

#[test]
fn logout_revocation_uses_the_refresh_token_and_reports_failures() {
    let c = config();
    let s = session(100, 1);
    let mut flow = RevokeFlow::new(&c, s.tokens.as_ref().unwrap());
    let Step::Send(req) = flow.poll() else { panic!() };
    let body = String::from_utf8(req.body().clone()).unwrap();
    assert!(body.contains("token=rt1") && body.contains("token_type_hint=refresh_token"));
    flow.handle_response(resp(503, "down"), now());
    assert!(matches!(flow.poll(), Step::Done));
    assert!(flow.finish().is_err());
}

fn guild_session(scope: &str) -> AuthSession {
    let mut s = session(604_800, 1);
    if let Some(t) = s.tokens.as_mut() {
        t.scopes = scope.parse().unwrap();
    }
    s
}

#[test]
fn guild_checks() {
    let c = config();
    let role = GuildRequirement {
        guild_id: 42,
        role_id: Some(7),
    };
    let member = GuildRequirement {
        guild_id: 42,
        role_id: None,
    };
    // With guilds.members.read: the member endpoint, roles compared as ids.
    let s = guild_session("identify guilds.members.read");
    let flow = role.check(&c, &s, false).unwrap();
    let (out, log) = run(
        flow,
        VecDeque::from([Ok(resp(
            200,
            r#"{"roles":["7","8"],"joined_at":"2020-01-01T00:00:00Z","deaf":false,"mute":false}"#,
        ))]),
    );
    assert_eq!(log, ["GET /api/v10/users/@me/guilds/42/member"]);
    assert!(out.unwrap());
    let (out, _) = run(
        role.check(&c, &s, false).unwrap(),
        VecDeque::from([Ok(resp(404, r#"{"message":"Unknown Guild","code":10004}"#))]),
    );
    assert!(!out.unwrap());
    let (out, _) = run(
        role.check(&c, &s, false).unwrap(),
        VecDeque::from([Ok(rate_limited(60.0))]),
    );
    assert_eq!(out.unwrap_err().retry_after(), Some(60));

    // With guilds only: page through the list.
    let s = guild_session("identify guilds");
    let page: Vec<serde_json::Value> = (1..=200)
        .map(|i| serde_json::json!({"id": (1000 + i).to_string(), "name": "g", "owner": false, "permissions": "0"}))
        .collect();
    let page2 = serde_json::json!([{"id": "42", "name": "the one", "owner": false, "permissions": "0"}]);
    let (out, log) = run(
        member.check(&c, &s, false).unwrap(),
        VecDeque::from([
            Ok(resp(200, &serde_json::Value::from(page).to_string())),
            Ok(resp(200, &page2.to_string())),
        ]),
    );
    assert_eq!(log.len(), 2);
    assert!(out.unwrap());
    // Roles cannot be checked with `guilds` alone; no token at all cannot check anything.
    assert!(matches!(
        role.check(&c, &s, true),
        Err(Refusal::Forbidden { html: true, .. })
    ));
    let mut no_tokens = s.clone();
    no_tokens.tokens = None;
    assert!(member.check(&c, &no_tokens, false).is_err());
}

struct Scripted {
    answers: Mutex<VecDeque<http::Response<Vec<u8>>>>,
    waited: Mutex<Vec<Duration>>,
}

impl FlowIo for Scripted {
    type Error = String;
    fn send(
        &self,
        _request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, String>> + Send {
        let next = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .ok_or_else(|| "no answer".to_owned());
        std::future::ready(next)
    }
    fn wait(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        self.waited.lock().unwrap().push(duration);
        std::future::ready(())
    }
    fn now(&self) -> SystemTime {
        now()
    }
}

#[test]
fn drive_runs_a_flow_over_any_io() {
    let io = Scripted {
        answers: Mutex::new(VecDeque::from([
            rate_limited(0.25),
            resp(200, &token_body(1, "identify")),
            resp(200, USER),
        ])),
        waited: Mutex::new(Vec::new()),
    };
    let c = config();
    let mut fut = pin!(drive(start_callback(&c), &io));
    let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) else {
        panic!("scripted IO is ready at once")
    };
    assert!(out.result.is_ok());
    assert_eq!(*io.waited.lock().unwrap(), [Duration::from_millis(250)]);
}

#[test]
fn route_answers() {
    let c = config();
    assert_eq!(c.route("/auth/login"), Some(Route::Login));
    assert_eq!(c.route("/auth/logout"), Some(Route::Logout));
    assert_eq!(c.route("/auth/login/"), None);
    assert!(Route::Login.check_method("HEAD").is_ok());
    let r = Route::Logout.check_method("GET").unwrap_err();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(Route::Callback.check_method("POST").is_err());

    assert!(c.check_logout_origin(None).is_ok());
    assert!(c.check_logout_origin(Some(b"https://site.example")).is_ok());
    assert_eq!(
        c.check_logout_origin(Some(b"https://evil.example"))
            .unwrap_err()
            .status(),
        403
    );

    let r = answer::redirect("/me?x=1");
    assert_eq!(
        (r.status().as_u16(), r.headers()["location"].to_str().unwrap()),
        (303, "/me?x=1")
    );
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    let r = answer::store_unavailable();
    assert_eq!(
        (r.status().as_u16(), r.headers()["retry-after"].to_str().unwrap()),
        (503, "5")
    );

    assert_eq!(
        answer::return_to_param("a=1&return_to=%2Fme%3Fx%3D1"),
        Some("/me?x=1".into())
    );
    assert!(answer::wants_html("GET", Some(b"text/html,*/*"), None, false));
    assert!(!answer::wants_html("GET", Some(b"text/html"), Some(b"cors"), false));
    assert!(!answer::wants_html("POST", Some(b"text/html"), None, false));
    assert!(!answer::wants_html("GET", Some(b"application/json"), None, false));
    assert!(!answer::wants_html("GET", Some(b"text/html"), None, true));

    let r = Refusal::NotLoggedIn {
        login_url: c.login_url("/me"),
        html: false,
    }
    .answer("/");
    assert_eq!(r.status(), 401);
    assert!(r.body().contains("/auth/login?return_to=%2Fme"));
    let r = Refusal::NotLoggedIn {
        login_url: c.login_url("/me"),
        html: true,
    }
    .answer("/");
    assert_eq!(
        (r.status().as_u16(), r.headers()["location"].to_str().unwrap()),
        (303, "/auth/login?return_to=%2Fme")
    );
    let r = Refusal::Forbidden {
        html: true,
        reason: "<no>",
    }
    .answer("/");
    assert_eq!(r.status(), 403);
    assert!(r.body().contains("&lt;no&gt;"));
}

#[test]
fn k03_a_held_request_is_handled_like_discords_own_429() {
    use discord_oauth_core::login::outbound::held_answer;
    let c = config();
    // Held for 2 s: waited out, then sent once.
    let (out, log) = run(
        start_callback(&c),
        VecDeque::from([
            Ok(held_answer(Duration::from_secs(2))),
            Ok(resp(200, &token_body(1, "identify"))),
            Ok(resp(200, USER)),
        ]),
    );
    assert_eq!(log, [TOKEN, "wait 2001ms", TOKEN, ME]);
    assert!(out.result.is_ok());
    // Held for 30 s: not waited for; 503 with the time left.
    let (out, log) = run(
        start_callback(&c),
        VecDeque::from([Ok(held_answer(Duration::from_secs(30)))]),
    );
    assert_eq!(log, [TOKEN]);
    let e = out.result.unwrap_err();
    assert_eq!(e.status(), 503);
    assert_eq!(e.retry_after(), Some(30));
}

#[test]
fn a_forced_refresh_after_a_401_refreshes_a_valid_looking_record_once() {
    let c = config();
    let valid = session(604_800, 1);
    let rejected = valid.tokens.as_ref().unwrap().access_token.clone();
    // The expiry says valid, but Discord rejected its token: refresh anyway.
    assert!(matches!(
        c.plan_refresh(&valid, Some(&valid), now()),
        RefreshPlan::UseCurrent { write_back: false }
    ));
    let RefreshPlan::Refresh(mut flow) = c.plan_forced_refresh(&valid, Some(&valid), &rejected) else {
        panic!("expected a refresh");
    };
    let Step::Send(req) = flow.poll() else { panic!() };
    let body = String::from_utf8(req.body().clone()).unwrap();
    assert!(body.contains("refresh_token=rt1"), "{body}");
    // A transient failure does not keep the rejected token: there is nothing to retry with.
    let RefreshPlan::Refresh(flow) = c.plan_forced_refresh(&valid, Some(&valid), &rejected) else {
        panic!("expected a refresh");
    };
    let (out, _) = run(flow, VecDeque::from([Ok(resp(502, "bad gateway"))]));
    assert!(matches!(out, RefreshOutcome::Unavailable { .. }), "{out:?}");

    // The store holds other tokens already (refreshed meanwhile): use them, no second refresh.
    let refreshed = session(604_900, 2);
    assert!(matches!(
        c.plan_forced_refresh(&valid, Some(&refreshed), &rejected),
        RefreshPlan::UseCurrent { write_back: true }
    ));
    // Logged out meanwhile.
    assert!(matches!(
        c.plan_forced_refresh(&valid, None, &rejected),
        RefreshPlan::Gone
    ));
}
