//! Micro-benchmarks of the core's hot functions: building the authorize URL (a login starts),
//! validating the callback (state, expiry, single use), parsing the token response and the
//! user. `cargo bench -p discord-oauth-core --bench hot`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use discord_oauth_core::api::User;
use discord_oauth_core::login::{LoginConfig, PendingLogins};
use discord_oauth_core::{Scope, Scopes, TokenSet};
use rand::SeedableRng;
use rand::rngs::StdRng;

const TOKEN_RESPONSE: &str = r#"{"access_token":"6qrZcUqja7812RVdnEKjpzOL4CvHBFG","token_type":"Bearer","expires_in":604800,"refresh_token":"D43f5y0ahjqew82jZ4NViEr2YafMKhue","scope":"identify guilds"}"#;

const USER: &str = r#"{"id":"80351110224678912","username":"nelly","discriminator":"0","global_name":"Nelly","avatar":"8342729096ea3675442027381ff50dfe","bot":false,"system":false,"mfa_enabled":true,"banner":"06c16474723fe537c283b8efa61a30c8","accent_color":16711680,"locale":"en-US","verified":true,"email":"nelly@discord.com","flags":64,"premium_type":1,"public_flags":64,"avatar_decoration_data":{"sku_id":"1144058844004233369","asset":"a_fed43ab12698df65902ba06727e20c0e"}}"#;

fn config() -> LoginConfig {
    LoginConfig::builder("1100000000000000001", "https://site.example/auth/callback")
        .client_secret("secret")
        .scopes([Scope::Identify, Scope::Guilds])
        .build()
        .unwrap()
}

fn state_of(url: &url::Url) -> String {
    url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned()
}

fn hot(c: &mut Criterion) {
    let config = config();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut rng = StdRng::seed_from_u64(7);

    c.bench_function("authorize URL (begin_login: state, PKCE S256, URL)", |b| {
        b.iter_batched(
            PendingLogins::default,
            |mut pending| {
                black_box(
                    config
                        .begin_login(Some("/dashboard"), &mut pending, &mut rng, now)
                        .unwrap(),
                )
            },
            BatchSize::SmallInput,
        );
    });

    c.bench_function("callback validation (complete_callback)", |b| {
        b.iter_batched(
            || {
                let mut pending = PendingLogins::default();
                let url = config
                    .begin_login(Some("/dashboard"), &mut pending, &mut rng, now)
                    .unwrap();
                let query = format!("code=NhhvTDYsFcdgNLnnLijcl7Ku7bEEeee&state={}", state_of(&url));
                (pending, query)
            },
            |(mut pending, query)| black_box(config.complete_callback(&query, &mut pending, now).unwrap()),
            BatchSize::SmallInput,
        );
    });

    let requested: Scopes = [Scope::Identify, Scope::Guilds].into_iter().collect();
    c.bench_function("token response parse (TokenSet::parse)", |b| {
        b.iter(|| black_box(TokenSet::parse(black_box(TOKEN_RESPONSE.as_bytes()), &requested, now).unwrap()));
    });

    c.bench_function("user parse (/users/@me)", |b| {
        b.iter(|| black_box(serde_json::from_str::<User>(black_box(USER)).unwrap()));
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = hot
}
criterion_main!(benches);
