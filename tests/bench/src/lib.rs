//! A small loopback load generator: N keep-alive connections hammer one URL for a fixed
//! time; reports requests/s and latency percentiles. Bounded in time and count, loopback only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

/// One configuration under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// Table label.
    pub name: String,
    /// The URL to GET.
    pub url: String,
    /// `Cookie` header to send, if any.
    pub cookie: Option<String>,
    /// The status every answer must have.
    pub expect: u16,
}

/// The figures of one round.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    /// Completed requests per second.
    pub rps: f64,
    /// Median latency, microseconds.
    pub p50_us: u64,
    /// 99th percentile latency, microseconds.
    pub p99_us: u64,
    /// Answers with an unexpected status.
    pub errors: u64,
}

/// Hard cap on requests per round, whatever the duration.
const MAX_REQUESTS_PER_ROUND: u64 = 5_000_000;

/// Runs one round against `target` with `concurrency` workers for `duration`.
pub async fn round(target: &Target, concurrency: usize, duration: Duration) -> Figures {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let start = Instant::now();
    let deadline = start + duration;
    let per_worker_cap = MAX_REQUESTS_PER_ROUND / concurrency as u64;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(65_536);
            let mut errors = 0u64;
            while Instant::now() < deadline && (latencies.len() as u64) < per_worker_cap {
                let t = Instant::now();
                let mut req = client.get(&target.url).header("accept", "application/json");
                if let Some(c) = &target.cookie {
                    req = req.header("cookie", c);
                }
                match req.send().await {
                    Ok(resp) => {
                        if resp.status().as_u16() != target.expect {
                            errors += 1;
                        }
                        let _ = resp.bytes().await;
                    }
                    Err(_) => errors += 1,
                }
                latencies.push(t.elapsed().as_micros() as u64);
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    Figures {
        rps: all.len() as f64 / elapsed,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        errors,
    }
}

/// The median of a list of figures, by requests/s.
pub fn median(mut v: Vec<Figures>) -> Figures {
    v.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Logs in on the sample site at `site` (the mock Discord auto-consents) and returns the
/// `Cookie` header of the logged-in session.
pub async fn login(site: &str) -> String {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    let r = http.get(format!("{site}/auth/login")).send().await.unwrap();
    let authorize = r.headers()["location"].to_str().unwrap().to_owned();
    let r = http.get(&authorize).send().await.unwrap();
    let callback = r.headers()["location"].to_str().unwrap().to_owned();
    let r = http.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 303);
    reqwest::cookie::CookieStore::cookies(&*jar, &site.parse().unwrap())
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}
