//! Redis for the multi-instance scenarios: the shared server CI starts (`REDIS_URL`, default
//! `redis://127.0.0.1:6379/15`: database 15, away from a developer's own data), or a private
//! `redis-server` on a free loopback port for tests that stop and restart it.
//!
//! Without Redis the tests skip with a printed reason, except in CI (`CI` set), where a
//! missing Redis fails them: `.ci/run` installs and starts it.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fred::clients::Client;
use fred::interfaces::ClientLike as _;
use fred::types::config::Config;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// `true` when running in CI (where Redis is required).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// Skips (returns `None`, printing why) or, in CI, fails.
fn unavailable<T>(why: &str) -> Option<T> {
    assert!(
        !in_ci(),
        "Redis is required in CI: {why} (.ci/run installs redis-server and starts it)"
    );
    eprintln!("skipping: {why}. Install redis-server (apt-get install redis-server) or set REDIS_URL.");
    None
}

/// `PING` over a raw connection; `Ok` if the answer is `+PONG`.
async fn ping(addr: &str) -> Result<(), String> {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        stream.write_all(b"PING\r\n").await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if buf[..n].starts_with(b"+PONG") {
            Ok(())
        } else {
            Err(format!("unexpected answer {:?}", String::from_utf8_lossy(&buf[..n])))
        }
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .map_err(|_| "no answer within 2 s".to_owned())?
}

/// The shared Redis (`REDIS_URL`, default `redis://127.0.0.1:6379/15`), if it answers.
pub async fn shared_redis() -> Option<String> {
    let url = std::env::var("REDIS_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379/15".to_owned());
    let config = match Config::from_url(&url) {
        Ok(c) => c,
        Err(e) => return unavailable(&format!("REDIS_URL {url} is not a Redis URL ({e})")),
    };
    let client = Client::new(config, None, None, None);
    let check = async {
        client.init().await?;
        let pong: String = client.ping(None).await?;
        let _ = client.quit().await;
        Ok::<_, fred::error::Error>(pong)
    };
    match tokio::time::timeout(Duration::from_secs(3), check).await {
        Ok(Ok(_)) => Some(url),
        Ok(Err(e)) => unavailable(&format!("no Redis at {url} ({e})")),
        Err(_) => unavailable(&format!("no Redis at {url} (no answer within 3 s)")),
    }
}

/// A `redis-server` of this test's own on a free loopback port, killed when dropped. Its
/// data survives [`RedisServer::restart`] (append-only file, fsync on every write, in a
/// temporary directory removed on drop), like a production Redis coming back.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one, or skips (`None`) if `redis-server` is not installed (fails in CI).
    pub async fn start() -> Option<Self> {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("local address").port()
        };
        let dir = std::env::temp_dir().join(format!("discord-oauth-redis-{}-{port}", std::process::id()));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("cannot create {}: {e}", dir.display());
        }
        let mut server = Self { port, dir, child: None };
        match server.spawn() {
            Ok(()) => {}
            Err(e) => return unavailable(&format!("cannot run redis-server ({e})")),
        }
        server.wait_ready().await;
        Some(server)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args([
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--maxmemory", "64mb", "--daemonize", "no", "--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    async fn wait_ready(&self) {
        let addr = self.addr().to_string();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match ping(&addr).await {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("redis-server on {addr} did not start: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.addr())
    }

    /// Kills it (an outage: connections drop, the port refuses).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, with the same data.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().expect("redis-server restarts");
        self.wait_ready().await;
    }

    /// A client for inspecting keys.
    pub async fn client(&self) -> Client {
        let client = Client::new(Config::from_url(&self.url()).unwrap(), None, None, None);
        client.init().await.unwrap();
        client
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
