//! The anonymous login flood: what a flood of `GET /auth/login` from anonymous visitors costs a
//! sample site, and whether a real user's login started before it still completes after it.
//!
//! For each sample site with each store, one at a time and each with its own mock Discord: a
//! real user starts a login (`GET /auth/login?return_to=/me`) and waits; `wrk` measures login
//! redirects per second ("before"); the resident memory of this process (and, with Redis, the
//! number of keys in the site's Redis database) is read; then `wrk` floods
//! `GET /auth/login?return_to=/aaaa…` (a 500-byte path) at full speed; memory and `DBSIZE` are
//! read again (right after the flood and a few seconds later), redirects per second measured
//! again ("after"), and the real user finishes its login (consent at the mock, the callback,
//! `/me`).
//!
//! A configuration fails when the process's resident memory grew by [`MAX_RSS_GROWTH`] or
//! more, when the Redis database's key count changed, or when the real user's login did not
//! complete. (With Redis, the key count must then grow with the real user's session: else it
//! was read from a database the site does not use, and that fails too.) Run it with `cargo run --release -p discord-oauth-bench --bin flood`.
#![warn(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::time::Duration;

use discord_oauth_mock::{MockDiscord, fixture};
use discord_oauth_test_sites::SessionStore;

use crate::{Figures, Load, Redis, Target, Visitor, rss_bytes, try_wrk};

/// Length in bytes of the flood's `return_to` path (`/` and `a`s).
pub const RETURN_TO_BYTES: usize = 500;

/// Resident-memory growth at which a configuration fails: 32 MiB.
pub const MAX_RSS_GROWTH: u64 = 32 * 1024 * 1024;

/// Durations and load of a flood run.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Seconds of flood (`FLOOD_SECONDS`, default 60).
    pub flood_seconds: u32,
    /// Seconds of each redirects/s measurement before and after (`MEASURE_SECONDS`, default 5).
    pub measure_seconds: u32,
    /// Pause before the first memory reading (`SETTLE_SECONDS`, default 2).
    pub settle: Duration,
    /// Pause between the two memory readings after the flood (`LATER_SECONDS`, default 5).
    pub later: Duration,
    /// `wrk` connections (`CONNECTIONS`, default 64); always one `wrk` thread.
    pub connections: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            flood_seconds: 60,
            measure_seconds: 5,
            settle: Duration::from_secs(2),
            later: Duration::from_secs(5),
            connections: 64,
        }
    }
}

impl Settings {
    /// The defaults, overridden by `FLOOD_SECONDS`, `MEASURE_SECONDS`, `SETTLE_SECONDS`,
    /// `LATER_SECONDS` and `CONNECTIONS` where set.
    pub fn from_env() -> Self {
        let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
        let d = Self::default();
        Self {
            flood_seconds: env("FLOOD_SECONDS").unwrap_or(d.flood_seconds).max(1),
            measure_seconds: env("MEASURE_SECONDS").unwrap_or(d.measure_seconds).max(1),
            settle: env("SETTLE_SECONDS").map_or(d.settle, |s| Duration::from_secs(s.into())),
            later: env("LATER_SECONDS").map_or(d.later, |s| Duration::from_secs(s.into())),
            connections: env("CONNECTIONS").unwrap_or(d.connections).max(1),
        }
    }

    fn load(&self, seconds: u32) -> Load {
        Load {
            connections: self.connections,
            threads: 1,
            seconds,
        }
    }
}

/// A sample site with one session store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Config {
    /// axum-site, the bounded in-process store.
    AxumMemory,
    /// axum-site, Redis.
    AxumRedis,
    /// actix-site, the bounded in-process store.
    ActixMemory,
    /// actix-site, the whole session in the encrypted cookie.
    ActixCookie,
    /// actix-site, Redis.
    ActixRedis,
}

impl Config {
    /// Every configuration, in the order they run.
    pub const ALL: [Self; 5] = [
        Self::AxumMemory,
        Self::AxumRedis,
        Self::ActixMemory,
        Self::ActixCookie,
        Self::ActixRedis,
    ];

    /// Table label.
    pub fn name(self) -> &'static str {
        match self {
            Self::AxumMemory => "axum-site, memory store",
            Self::AxumRedis => "axum-site, Redis store",
            Self::ActixMemory => "actix-site, memory store",
            Self::ActixCookie => "actix-site, cookie store",
            Self::ActixRedis => "actix-site, Redis store",
        }
    }

    /// Whether the site keeps its sessions in Redis.
    pub fn uses_redis(self) -> bool {
        matches!(self, Self::AxumRedis | Self::ActixRedis)
    }
}

/// What one configuration measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Login redirects before the flood.
    pub before: Figures,
    /// The flood itself.
    pub flood: Figures,
    /// Login redirects after the flood.
    pub after: Figures,
    /// Resident memory of this process before the flood, bytes.
    pub rss_before: u64,
    /// Right after the flood.
    pub rss_after: u64,
    /// [`Settings::later`] after that.
    pub rss_later: u64,
    /// Keys in the site's Redis database before and after the flood (Redis stores only).
    pub dbsize: Option<(u64, u64)>,
    /// Keys in it once the real user has logged in: more than after the flood, or the
    /// database read is not the one the site writes its sessions to.
    pub dbsize_after_login: Option<u64>,
    /// The real user's login: its Discord id from `/me`, or what went wrong.
    pub login: Result<String, String>,
}

impl Outcome {
    /// Growth of resident memory: the larger reading after the flood minus the one before
    /// (negative when it shrank).
    pub fn rss_growth(&self) -> i64 {
        let after = self.rss_after.max(self.rss_later);
        if after >= self.rss_before {
            i64::try_from(after - self.rss_before).unwrap_or(i64::MAX)
        } else {
            i64::try_from(self.rss_before - after).map_or(i64::MIN, |shrunk| -shrunk)
        }
    }

    /// Why this configuration fails the acceptance criteria; empty when it passes.
    pub fn failures(&self) -> Vec<String> {
        let mut v = Vec::new();
        let growth = self.rss_growth();
        if growth > 0 && growth.unsigned_abs() >= MAX_RSS_GROWTH {
            v.push(format!(
                "resident memory grew {:.1} MiB (the limit is {} MiB)",
                mib(growth as f64),
                MAX_RSS_GROWTH / (1024 * 1024)
            ));
        }
        if let Some((before, after)) = self.dbsize
            && before != after
        {
            v.push(format!("the Redis database went from {before} to {after} keys"));
        }
        if let (Some((_, after)), Some(logged_in), Ok(_)) = (self.dbsize, self.dbsize_after_login, &self.login)
            && logged_in <= after
        {
            v.push(format!(
                "the real user's session added no key ({after} → {logged_in}): DBSIZE was not read from the site's database"
            ));
        }
        if let Err(e) = &self.login {
            v.push(format!("the real user's login did not complete: {e}"));
        }
        v
    }
}

/// How one configuration's run ended.
#[derive(Debug, Clone)]
pub enum Run {
    /// Measured (it may still fail the criteria: [`Outcome::failures`]).
    Done(Box<Outcome>),
    /// Could not be measured: why. Counts as a failure.
    Failed(String),
    /// Left out (no Redis to be had): why. Not a failure, but said in the report.
    Skipped(String),
}

impl Run {
    /// Why this run fails; empty when it passes or was left out.
    pub fn failures(&self) -> Vec<String> {
        match self {
            Self::Done(o) => o.failures(),
            Self::Failed(e) => vec![format!("not measured: {e}")],
            Self::Skipped(_) => Vec::new(),
        }
    }
}

/// The flood's path and query: `/auth/login?return_to=` and a URL-encoded path of
/// [`RETURN_TO_BYTES`] bytes (`/aaaa…`).
pub fn flood_path() -> String {
    let return_to = format!("/{}", "a".repeat(RETURN_TO_BYTES - 1));
    let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    format!("/auth/login?return_to={encoded}")
}

fn mib(bytes: f64) -> f64 {
    bytes / 1_048_576.0
}

/// A running sample site.
enum Site {
    Axum(discord_oauth_test_sites::axum::Site),
    Actix(discord_oauth_test_sites::actix::Site),
}

impl Site {
    fn url(&self) -> String {
        match self {
            Self::Axum(s) => s.url(),
            Self::Actix(s) => s.url(),
        }
    }

    fn stop(&self) {
        match self {
            Self::Axum(s) => s.stop(),
            Self::Actix(s) => s.stop(),
        }
    }
}

/// Runs the whole flood for `config`: starts its mock Discord and site, measures, stops them.
/// `redis` is the server the Redis stores use (required for them).
pub async fn run(config: Config, settings: Settings, redis: Option<&Redis>) -> Run {
    let redis = match (config.uses_redis(), redis) {
        (true, None) => return Run::Skipped("no Redis (REDIS_URL unset and no redis-server)".into()),
        (true, Some(r)) => Some(r),
        (false, _) => None,
    };
    let mock = match MockDiscord::builder().auto_consent(true).start().await {
        Ok(m) => m,
        Err(e) => return Run::Failed(format!("the mock Discord does not start: {e}")),
    };
    let site = match start(config, &mock, redis).await {
        Ok(s) => s,
        Err(e) => {
            mock.shutdown().await;
            return Run::Failed(e);
        }
    };
    let run = match measure(config, &site.url(), settings, redis).await {
        Ok(o) => Run::Done(Box::new(o)),
        Err(e) => Run::Failed(e),
    };
    site.stop();
    mock.shutdown().await;
    run
}

async fn start(config: Config, mock: &MockDiscord, redis: Option<&Redis>) -> Result<Site, String> {
    let redis_url = || redis.map(|r| r.url.clone()).ok_or_else(|| "no Redis".to_owned());
    Ok(match config {
        Config::AxumMemory => Site::Axum(crate::start_axum_site(mock, SessionStore::Memory, None).await?),
        Config::AxumRedis => {
            Site::Axum(crate::start_axum_site(mock, SessionStore::Redis { url: redis_url()? }, None).await?)
        }
        Config::ActixMemory => Site::Actix(crate::start_actix_site(mock, SessionStore::Memory, None).await?),
        Config::ActixCookie => Site::Actix(crate::start_actix_site(mock, SessionStore::Cookie, None).await?),
        Config::ActixRedis => {
            Site::Actix(crate::start_actix_site(mock, SessionStore::Redis { url: redis_url()? }, None).await?)
        }
    })
}

/// `wrk` off the async threads.
async fn wrk(target: &Target, load: Load) -> Result<Figures, String> {
    let target = target.clone();
    tokio::task::spawn_blocking(move || try_wrk(&target, load))
        .await
        .map_err(|e| format!("wrk task: {e}"))?
}

async fn dbsize(redis: Option<&Redis>) -> Result<Option<u64>, String> {
    let Some(url) = redis.map(|r| r.url.clone()) else {
        return Ok(None);
    };
    tokio::task::spawn_blocking(move || crate::dbsize(&url))
        .await
        .map_err(|e| format!("DBSIZE task: {e}"))?
        .map(Some)
}

fn rss() -> Result<u64, String> {
    rss_bytes().ok_or_else(|| "no /proc/self/statm to read resident memory from".to_owned())
}

async fn measure(config: Config, site: &str, settings: Settings, redis: Option<&Redis>) -> Result<Outcome, String> {
    let user = Visitor::new(site)?;
    let authorize = user.start_login("/me").await?;

    let target = Target {
        name: format!("{} /auth/login", config.name()),
        url: format!("{site}{}", flood_path()),
        cookie: None,
    };
    // The flood's request must be a login (a redirect), not a refusal of its `return_to`.
    let (http, _jar) = crate::try_browser()?;
    let probe = http
        .get(&target.url)
        .send()
        .await
        .map_err(|e| format!("GET {}: {e}", target.url))?;
    if probe.status() != reqwest::StatusCode::SEE_OTHER {
        let status = probe.status();
        let body = probe.text().await.unwrap_or_default();
        return Err(format!("the flood's request answered {status}, not 303: {body}"));
    }

    eprintln!("{}: redirects/s before", config.name());
    let before = wrk(&target, settings.load(settings.measure_seconds)).await?;
    tokio::time::sleep(settings.settle).await;
    let rss_before = rss()?;
    let db_before = dbsize(redis).await?;

    eprintln!("{}: flood, {} s", config.name(), settings.flood_seconds);
    let flood = wrk(&target, settings.load(settings.flood_seconds)).await?;
    let rss_after = rss()?;
    tokio::time::sleep(settings.later).await;
    let rss_later = rss()?;
    let db_after = dbsize(redis).await?;

    eprintln!("{}: redirects/s after", config.name());
    let after = wrk(&target, settings.load(settings.measure_seconds)).await?;

    eprintln!("{}: the real user finishes its login", config.name());
    let login = user.finish_login(&authorize).await.and_then(|id| {
        if id == fixture::WUMPUS_ID {
            Ok(id)
        } else {
            Err(format!("/me shows user {id}, not {}", fixture::WUMPUS_ID))
        }
    });
    let db_logged_in = dbsize(redis).await?;
    Ok(Outcome {
        before,
        flood,
        after,
        rss_before,
        rss_after,
        rss_later,
        dbsize: db_before.zip(db_after),
        dbsize_after_login: db_logged_in,
        login,
    })
}

/// The report: what ran, one column per configuration, and a PASS or FAIL line per
/// configuration.
pub fn report(runs: &[(Config, Run)], settings: Settings, machine: &str) -> String {
    let mut r = String::new();
    let _ = writeln!(
        r,
        "Machine: {machine}. Each configuration alone, with its own mock Discord, in this one process; \
         `wrk`: 1 thread, {} connections, `GET /auth/login?return_to=` with a {RETURN_TO_BYTES}-byte path \
         (`/aaaa…`), no cookies. Redirects/s: {} s before and {} s after a flood of {} s. Resident memory \
         (RSS) of this process: {} s after the \"before\" round, right after the flood, and {} s later; \
         growth is the larger of the two later readings minus the first.\n",
        settings.connections,
        settings.measure_seconds,
        settings.measure_seconds,
        settings.flood_seconds,
        settings.settle.as_secs(),
        settings.later.as_secs(),
    );
    let _ = write!(r, "| |");
    for (c, _) in runs {
        let _ = write!(r, " {} |", c.name());
    }
    let _ = write!(r, "\n|---|");
    for _ in runs {
        let _ = write!(r, "---:|");
    }
    r.push('\n');
    let row = |r: &mut String, label: &str, cell: &dyn Fn(&Outcome) -> String| {
        let _ = write!(r, "| {label} |");
        for (_, run) in runs {
            let text = match run {
                Run::Done(o) => cell(o),
                Run::Failed(_) => "not measured".into(),
                Run::Skipped(_) => "left out".into(),
            };
            let _ = write!(r, " {text} |");
        }
        r.push('\n');
    };
    row(&mut r, "redirects/s before", &|o| format!("{:.0}", o.before.rps));
    row(&mut r, "redirects/s after", &|o| format!("{:.0}", o.after.rps));
    row(&mut r, "requests served during the flood", &|o| {
        o.flood.requests.to_string()
    });
    row(&mut r, "redirects/s during the flood", &|o| {
        format!("{:.0}", o.flood.rps)
    });
    row(&mut r, "flood answers not 3xx, socket errors", &|o| {
        o.flood.errors.to_string()
    });
    row(&mut r, "RSS before (MiB)", &|o| {
        format!("{:.1}", mib(o.rss_before as f64))
    });
    row(&mut r, "RSS right after the flood (MiB)", &|o| {
        format!("{:.1}", mib(o.rss_after as f64))
    });
    row(
        &mut r,
        &format!("RSS {} s later (MiB)", settings.later.as_secs()),
        &|o| format!("{:.1}", mib(o.rss_later as f64)),
    );
    row(&mut r, "RSS growth (MiB)", &|o| {
        format!("{:+.1}", mib(o.rss_growth() as f64))
    });
    row(&mut r, "Redis DBSIZE before → after", &|o| {
        o.dbsize.map_or_else(|| "—".into(), |(b, a)| format!("{b} → {a}"))
    });
    row(&mut r, "Redis DBSIZE once the real user has logged in", &|o| {
        o.dbsize_after_login.map_or_else(|| "—".into(), |n| n.to_string())
    });
    row(&mut r, "the real user's login completed", &|o| match &o.login {
        Ok(_) => "yes".into(),
        Err(_) => "**no**".into(),
    });
    row(&mut r, "verdict", &|o| {
        if o.failures().is_empty() {
            "PASS".into()
        } else {
            "**FAIL**".into()
        }
    });
    r.push('\n');
    for (c, run) in runs {
        let failures = run.failures();
        if let Run::Skipped(why) = run {
            let _ = writeln!(r, "- LEFT OUT {}: {why}", c.name());
        } else if failures.is_empty() {
            let _ = writeln!(r, "- PASS {}", c.name());
        } else {
            let _ = writeln!(r, "- FAIL {}: {}", c.name(), failures.join("; "));
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome() -> Outcome {
        Outcome {
            before: Figures::default(),
            flood: Figures::default(),
            after: Figures::default(),
            rss_before: 100 << 20,
            rss_after: 110 << 20,
            rss_later: 105 << 20,
            dbsize: Some((0, 0)),
            dbsize_after_login: Some(2),
            login: Ok(fixture::WUMPUS_ID.into()),
        }
    }

    #[test]
    fn flood_return_to_is_500_bytes() {
        let path = flood_path();
        let query = path.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let (_, value) = url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "return_to")
            .unwrap_or_default();
        assert_eq!(value.len(), RETURN_TO_BYTES);
        assert!(value.starts_with("/a"));
    }

    #[test]
    fn passes_within_the_criteria() {
        let o = outcome();
        assert_eq!(o.rss_growth(), 10 << 20);
        assert!(o.failures().is_empty());
    }

    #[test]
    fn fails_on_growth_keys_or_a_lost_login() {
        let mut o = outcome();
        o.rss_later = o.rss_before + MAX_RSS_GROWTH;
        assert_eq!(o.failures().len(), 1);
        let mut o = outcome();
        o.dbsize = Some((0, 1));
        assert_eq!(o.failures().len(), 1);
        let mut o = outcome();
        o.login = Err("callback answered 400".into());
        assert_eq!(o.failures().len(), 1);
        let mut o = outcome();
        o.dbsize_after_login = Some(0);
        assert_eq!(
            o.failures().len(),
            1,
            "a DBSIZE the login does not move reads the wrong database"
        );
        assert!(Run::Failed("x".into()).failures().len() == 1);
        assert!(Run::Skipped("x".into()).failures().is_empty());
    }

    #[test]
    fn report_has_a_column_per_configuration_and_a_verdict_line_each() {
        let mut bad = outcome();
        bad.dbsize = Some((0, 5));
        let runs = [
            (Config::AxumMemory, Run::Done(Box::new(outcome()))),
            (Config::AxumRedis, Run::Done(Box::new(bad))),
            (Config::ActixRedis, Run::Skipped("no Redis".into())),
        ];
        let text = report(&runs, Settings::default(), "test machine");
        assert!(text.contains("| | axum-site, memory store | axum-site, Redis store | actix-site, Redis store |"));
        assert!(text.contains("- PASS axum-site, memory store"));
        assert!(text.contains("- FAIL axum-site, Redis store: the Redis database went from 0 to 5 keys"));
        assert!(text.contains("- LEFT OUT actix-site, Redis store"));
        assert!(text.contains("| Redis DBSIZE before → after | 0 → 0 | 0 → 5 | left out |"));
    }
}
