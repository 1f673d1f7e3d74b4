//! [`RedisServer`]: a private `redis-server` for tests and benchmarks, on a free loopback
//! port with its own temporary directory, stopped when dropped. It never touches a system
//! service: it runs the `redis-server` binary found on `PATH`.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a starting server has to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A `redis-server` child process; see the [module documentation](self).
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts a server on a free loopback port, no persistence, and waits until it answers.
    pub fn start() -> io::Result<RedisServer> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        // Relaxed: the counter only makes directory names unique within this process.
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("headway-redis-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut last = None;
        // A port found free can be taken before the server binds it: try a few.
        for _ in 0..5 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
                .local_addr()?
                .port();
            let mut server = RedisServer {
                child: None,
                port,
                dir: dir.clone(),
            };
            match server.run() {
                Ok(()) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("redis-server did not start")))
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (its data is gone: no persistence); [`RedisServer::restart`] starts
    /// it again on the same port.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the stopped server again on its port, empty.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.run()
    }

    /// Spawns the server on `self.port` and waits until it answers `PING`.
    fn run(&mut self) -> io::Result<()> {
        let log = self.dir.join("redis.log");
        // The server keeps the machine's own clock even when the test process runs under a
        // faked one (libfaketime, as the suite's run in another year does): it stands for
        // another machine, and a frozen wall clock stalls its event loop.
        let child = Command::new("redis-server")
            .env_remove("LD_PRELOAD")
            .env_remove("FAKETIME")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(io::Error::other(format!("redis-server exited: {status}")));
            }
            if self.ping() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop();
        Err(io::Error::other("redis-server did not answer PING in time"))
    }

    fn ping(&self) -> bool {
        let Ok(mut conn) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) else {
            return false;
        };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0u8; 7];
        conn.write_all(b"PING\r\n").is_ok()
            && conn.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
