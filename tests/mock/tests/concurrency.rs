//! Many browsers at once, each "logged in to Discord" as a different user.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use discord_oauth_mock::{Endpoint, MockDiscord, MockUser};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_browsers_log_in_as_sixty_four_users() {
    let mock = MockDiscord::start().await.unwrap();
    let ids: Vec<String> = (0..64u64).map(|i| (700_000_000_000_000_000 + i).to_string()).collect();
    for (i, id) in ids.iter().enumerate() {
        mock.add_user(MockUser::new(id.clone(), format!("user{i}")).email(format!("user{i}@example.com"), true));
    }
    let mut tasks = Vec::new();
    for id in ids.clone() {
        let mock = mock.clone();
        tasks.push(tokio::spawn(async move {
            let http = http();
            let login = http.get(mock.login_url(&id)).send().await.unwrap();
            let cookie = login.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            let (verifier, challenge) = pkce();
            let state = format!("state-{id}");
            let params = code_params("identify email", &state, Some(&challenge));
            let page = http
                .get(authorize_url(&mock, &params))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(page.status(), StatusCode::OK);
            let html = page.text().await.unwrap();
            let mut form = hidden_fields(&html);
            form.push(("action".into(), "approve".into()));
            let resp = http
                .post(mock.authorize_url())
                .header("cookie", &cookie)
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::FOUND);
            let q = params_of(&location(&resp), false);
            assert_eq!(q["state"], state);
            let (s, t) = json_of(exchange(&http, &mock, &q["code"], Some(&verifier)).await).await;
            assert_eq!(s, StatusCode::OK, "{t}");
            let (s, me) = get_api(&http, &mock, "/users/@me", t["access_token"].as_str().unwrap()).await;
            assert_eq!(s, StatusCode::OK);
            assert_eq!(me["id"], id.as_str());
            me["email"].as_str().unwrap().to_owned()
        }));
    }
    let mut emails = Vec::new();
    for t in tasks {
        emails.push(t.await.unwrap());
    }
    emails.sort();
    emails.dedup();
    assert_eq!(emails.len(), 64);
    assert_eq!(mock.count_grant("authorization_code"), 64);
    assert_eq!(mock.count(Endpoint::Authorize), 128);
    mock.shutdown().await;
}
