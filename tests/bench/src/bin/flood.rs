//! `cargo run --release -p discord-oauth-bench --bin flood`: the anonymous login flood of
//! `BENCHMARKS.md`.
//!
//! For each sample site with each store (axum-site memory and Redis; actix-site memory, cookie
//! and Redis), one at a time: a real user starts a login and waits; `wrk` measures login
//! redirects/s, floods `GET /auth/login` with a 500-byte `return_to` for `FLOOD_SECONDS` (60),
//! and measures again; resident memory of this process and the Redis key count are read
//! before and after; then the real user finishes its login. Prints a table, writes it to
//! `BENCH_OUT/flood-results.md` (default `target/bench`), and exits with status 1 when a
//! configuration fails: memory grew by 32 MiB or more, the Redis key count changed, or the
//! real user's login did not complete (see `discord_oauth_bench::flood`).
//!
//! Needs `wrk`. Redis columns use `REDIS_URL`, or a private `redis-server` per Redis
//! configuration when one is installed, or are left out. Options (env): `FLOOD_SECONDS` (60),
//! `MEASURE_SECONDS` (5, each of before and after), `SETTLE_SECONDS` (2), `LATER_SECONDS` (5),
//! `CONNECTIONS` (64).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use discord_oauth_bench::flood::{self, Config, Settings};
use discord_oauth_bench::{Redis, machine};

#[tokio::main]
async fn main() {
    if let Err(e) = discord_oauth_bench::check_wrk() {
        eprintln!("{e}");
        std::process::exit(2);
    }
    let started = Instant::now();
    let settings = Settings::from_env();
    let mut runs = Vec::new();
    for config in Config::ALL {
        eprintln!("== {}", config.name());
        // A Redis of its own for each Redis configuration (unless REDIS_URL names one), so
        // that each starts from an empty database.
        let redis = if config.uses_redis() {
            match Redis::find_or_start() {
                Ok(r) => Some(r),
                Err(e) => {
                    eprintln!("{} left out: {e}", config.name());
                    None
                }
            }
        } else {
            None
        };
        let run = flood::run(config, settings, redis.as_ref()).await;
        for failure in run.failures() {
            eprintln!("{}: {failure}", config.name());
        }
        drop(redis);
        runs.push((config, run));
    }
    let mut report = flood::report(&runs, settings, &machine());
    let _ = writeln!(report, "\nWhole run: {:.0} s.", started.elapsed().as_secs_f64());
    println!("{report}");
    let out_dir = PathBuf::from(std::env::var("BENCH_OUT").unwrap_or_else(|_| "target/bench".into()));
    let written =
        std::fs::create_dir_all(&out_dir).and_then(|()| std::fs::write(out_dir.join("flood-results.md"), &report));
    match written {
        Ok(()) => println!("Wrote {}", out_dir.join("flood-results.md").display()),
        Err(e) => eprintln!("could not write {}: {e}", out_dir.join("flood-results.md").display()),
    }
    let failed = runs.iter().any(|(_, run)| !run.failures().is_empty());
    if failed {
        println!("FAIL: at least one configuration failed the anonymous login flood");
        std::process::exit(1);
    }
    println!("PASS: every configuration measured passed the anonymous login flood");
}
