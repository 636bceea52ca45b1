//! What the process-level tests share: a `zkperp` service run in a process group of its own,
//! its stdout read as JSON event lines, and small waiting helpers.

#![allow(dead_code)] // each test binary uses its own part of this

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs()
}

/// `zkperp <args>`, ready to spawn as a service.
pub fn zkperp(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zkperp"));
    command.args(args).env("RUST_LOG", "warn");
    command
}

/// A running `zkperp` service; its JSON event lines are read on a thread of their own.
pub struct Service {
    pub child: Child,
    lines: mpsc::Receiver<Value>,
    pub events: Vec<Value>,
}

impl Service {
    /// Spawns `command` in a process group of its own (so that whatever it starts, anvil for
    /// the devnet, ends with it), reading its stdout.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("the zkperp binary runs");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let event: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("every stdout line is JSON ({e}): {line}"));
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        Service {
            child,
            lines,
            events: Vec::new(),
        }
    }

    /// Waits (up to `secs`) for an event `pick` accepts; every event read is kept.
    pub fn wait(&mut self, secs: u64, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
        if let Some(e) = self.events.iter().find(|e| pick(e)) {
            return e.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(event) => {
                    self.events.push(event.clone());
                    if pick(&event) {
                        return event;
                    }
                }
                Err(_) => panic!("no {what} within {secs} s; events: {:#?}", self.events),
            }
        }
    }

    /// Reads every event printed so far.
    pub fn drain(&mut self) {
        while let Ok(event) = self.lines.try_recv() {
            self.events.push(event);
        }
    }

    /// The batch that will hold what the service does next: every event so far read, the one
    /// after the last it sealed (still open), or an already sealed one.
    pub fn next_batch(&mut self) -> u64 {
        self.drain();
        self.events
            .iter()
            .filter(|e| e["event"] == "sealed")
            .filter_map(|e| e["batch"].as_u64())
            .max()
            .unwrap_or(0)
            + 1
    }

    /// Asks the service to stop, as an operator's `kill` would.
    pub fn terminate(&self) {
        self.signal("-TERM");
    }

    /// Kills the service outright, as a crash would: no chance to clean up.
    pub fn kill_hard(&mut self) {
        self.signal("-KILL");
        let _ = self.child.wait();
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args([signal, &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "{signal} sent to {pid}");
    }

    /// After [`Service::terminate`]: the `stopped` event, then a clean exit.
    pub fn expect_clean_stop(&mut self) {
        self.wait(30, "the stop", |e| e["event"] == "stopped");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "a clean exit after SIGTERM: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "the process exits after SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Service {
    /// Ends the service and everything it started: a child left behind (anvil inherits stderr)
    /// would hold the test runner's output pipe open, and the suite with it.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` every second for up to `secs` until it gives `Some`.
pub fn until<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} within {secs} s");
        std::thread::sleep(Duration::from_secs(1));
    }
}

pub fn get(rt: &tokio::runtime::Runtime, url: String) -> Value {
    rt.block_on(async {
        reqwest::get(url)
            .await
            .expect("the API answers")
            .json()
            .await
            .expect("JSON")
    })
}
