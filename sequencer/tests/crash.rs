//! The crash test: a writer process committing batches is killed with SIGKILL at random moments,
//! and the database must reopen at exactly a commit boundary, holding every commit the writer
//! acknowledged.
//!
//! Each round starts `merkle-crash-writer` on the same database, waits until it has opened it,
//! sleeps a seeded random 20-300 ms while it commits, kills it, and then, in this process:
//!
//! * k = the stored commit count; the writer's last acknowledgement `a` must satisfy
//!   `a <= k <= a + 1` (nothing acknowledged is lost; at most the one commit in flight, written
//!   but not yet printed, is extra);
//! * the root must equal the in-memory tree after exactly the first k batches of the stream, and
//!   the stored leaves must be exactly the leaves those batches wrote (a half-written batch would
//!   show as a foreign root or stray leaves, or fail to open as corrupt);
//! * sampled stored leaves must have proofs that verify against the root.
//!
//! A commit that is not atomic (nodes and metadata in two writes) fails the open or the root
//! check; a commit acknowledged before it is written (or written without the WAL) fails `a <= k`.
//! What SIGKILL cannot show is a missing fsync, because the kernel's page cache outlives the
//! process; `commits_are_fsynced` below checks that with strace.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rand::seq::IteratorRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use zkperp_sequencer::PersistentTree;
use zkperp_state::field::Fr;
use zkperp_state::merkle::SparseMerkleTree;

#[path = "../src/bin/merkle-crash-writer/stream.rs"]
mod stream;

const WRITER: &str = env!("CARGO_BIN_EXE_merkle-crash-writer");
/// Shallower than the protocol's 32 on purpose: a kill can only expose a non-atomic commit if it
/// lands inside the commit's writes, and at depth 32 hashing takes ~85% of a writer's time
/// (measured: 5.7 ms per batch, of which ~0.8 ms in fdatasync). At depth 10 the writes are about
/// half of it. Depth 32 itself, with indices anywhere in it, is covered by `persistent_tree.rs`.
const DEPTH: u8 = 10;
const STREAM_SEED: u64 = 0xc0ff_ee00_dead_beef;
const KILL_SEED: u64 = 0x0005_1691_0000_0009;
const ROUNDS: usize = 32;
const SAMPLED_PROOFS: usize = 48;
const SIGKILL: i32 = 9;

/// A running writer whose stdout lines arrive on a channel. Dropping it kills the process, so a
/// failing assertion never leaves a writer behind.
struct Writer {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Option<thread::JoinHandle<String>>,
}

impl Writer {
    fn spawn(path: &Path, max_commits: u64) -> Writer {
        Self::spawn_with(Command::new(WRITER), path, max_commits)
    }

    fn spawn_with(mut command: Command, path: &Path, max_commits: u64) -> Writer {
        let mut child = command
            .arg(path)
            .arg(DEPTH.to_string())
            .arg(STREAM_SEED.to_string())
            .arg(max_commits.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn merkle-crash-writer");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Writer {
            child,
            lines,
            stderr: Some(stderr),
        }
    }

    /// Waits for the `opened N` line and returns N.
    fn opened(&mut self) -> u64 {
        match self.lines.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => parse_event(&line, "opened"),
            Err(e) => panic!("writer did not open ({e}): {}", self.finish_stderr()),
        }
    }

    /// Ends the process and returns what it wrote to stderr.
    fn finish_stderr(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .and_then(|handle| handle.join().ok())
            .unwrap_or_default()
    }

    /// Every `committed N` line still to come, after the process has ended.
    fn remaining_acks(&mut self) -> Vec<u64> {
        self.lines
            .iter()
            .map(|line| parse_event(&line, "committed"))
            .collect()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse_event(line: &str, event: &str) -> u64 {
    line.strip_prefix(event)
        .and_then(|rest| rest.strip_prefix(' '))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("expected `{event} N` from the writer, got {line:?}"))
}

/// The in-memory replay of the stream: the tree after the first `applied` batches, and the
/// leaves those batches wrote.
struct Replay {
    tree: SparseMerkleTree,
    leaves: BTreeMap<u64, Fr>,
    applied: u64,
}

impl Replay {
    fn new() -> Replay {
        Replay {
            tree: SparseMerkleTree::new(DEPTH).expect("depth"),
            leaves: BTreeMap::new(),
            applied: 0,
        }
    }

    fn advance_to(&mut self, commits: u64) {
        assert!(commits >= self.applied, "the commit count went backwards");
        for number in self.applied..commits {
            for (index, leaf) in stream::batch(STREAM_SEED, number, DEPTH) {
                self.tree.update(index, leaf).expect("in-memory update");
                self.leaves.insert(index, leaf);
            }
        }
        self.applied = commits;
    }
}

/// Reopens the database and checks it against the replay of exactly its commit count.
fn check_database(path: &Path, replay: &mut Replay, rng: &mut ChaCha8Rng) -> u64 {
    let tree = match PersistentTree::open(path, DEPTH) {
        Ok(tree) => tree,
        Err(e) => panic!("the database does not reopen after a kill: {e}"),
    };
    let commits = tree.commit_count();
    replay.advance_to(commits);
    assert_eq!(
        tree.root(),
        replay.tree.root(),
        "the root is not the root after exactly {commits} batches"
    );
    let stored: BTreeMap<u64, Fr> = tree
        .stored_leaves()
        .expect("scan")
        .collect::<Result<_, _>>()
        .expect("stored leaves decode");
    assert!(
        stored == replay.leaves,
        "stored leaves differ from the {commits} committed batches: {} stored, {} expected",
        stored.len(),
        replay.leaves.len()
    );
    for (&index, &leaf) in stored.iter().choose_multiple(rng, SAMPLED_PROOFS) {
        let proof = tree.proof(index).expect("proof");
        assert!(
            proof.verify(tree.root(), leaf),
            "proof of leaf {index} fails"
        );
        assert_eq!(proof, replay.tree.proof(index).expect("in-memory proof"));
    }
    commits
}

#[test]
fn killed_writers_lose_no_acknowledged_commit_and_leave_no_partial_one() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = ChaCha8Rng::seed_from_u64(KILL_SEED);
    let mut replay = Replay::new();
    let mut commits = 0u64;
    let mut killed_mid_stream = 0;

    for round in 0..ROUNDS {
        let mut writer = Writer::spawn(dir.path(), u64::MAX);
        let opened_at = writer.opened();
        assert_eq!(
            opened_at, commits,
            "round {round}: the writer resumed elsewhere"
        );
        thread::sleep(Duration::from_millis(rng.gen_range(20..=300)));
        writer.child.kill().expect("kill");
        let status = writer.child.wait().expect("wait");
        if status.signal() != Some(SIGKILL) {
            panic!(
                "round {round}: the writer ended by itself ({status}): {}",
                writer.finish_stderr()
            );
        }
        let acks = writer.remaining_acks();
        let acked = acks.last().copied().unwrap_or(opened_at);
        drop(writer);

        commits = check_database(dir.path(), &mut replay, &mut rng);
        assert!(
            commits >= acked,
            "round {round}: acknowledged commit {acked} lost (database holds {commits})"
        );
        assert!(
            commits <= acked + 1,
            "round {round}: {commits} commits stored but only {acked} acknowledged"
        );
        if commits > opened_at {
            killed_mid_stream += 1;
        }
        eprintln!(
            "round {round}: resumed at {opened_at}, acknowledged {acked}, stored {commits} \
             ({:?} elapsed)",
            started.elapsed()
        );
    }
    assert!(
        killed_mid_stream >= ROUNDS / 2,
        "the writer committed in only {killed_mid_stream} of {ROUNDS} rounds: the test did not \
         exercise kills during a stream of commits"
    );
}

/// SIGKILL cannot catch a commit that is written but not fsynced (the page cache survives the
/// process), so count the writer's fsync/fdatasync calls instead: every commit needs one.
#[test]
fn commits_are_fsynced() {
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("SKIPPED commits_are_fsynced: strace is not installed (apt-get install strace)");
        return;
    }
    const COMMITS: u64 = 40;
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("trace");
    // Create the database first, so its creation's syncs are not counted.
    drop(PersistentTree::open(&dir.path().join("db"), DEPTH).expect("create"));

    let mut strace = Command::new("strace");
    strace
        .arg("-f")
        .arg("-qq")
        .arg("-e")
        .arg("trace=fsync,fdatasync")
        .arg("-o")
        .arg(&trace)
        .arg(WRITER);
    let mut writer = Writer::spawn_with(strace, &dir.path().join("db"), COMMITS);
    assert_eq!(writer.opened(), 0);
    let status = writer.child.wait().expect("wait");
    assert!(
        status.success(),
        "writer failed: {}",
        writer.finish_stderr()
    );
    let acks = writer.remaining_acks();
    assert_eq!(acks.last(), Some(&COMMITS));
    drop(writer);

    let trace = std::fs::read_to_string(&trace).expect("trace");
    let syncs = trace
        .lines()
        .filter(|line| line.contains("fsync(") || line.contains("fdatasync("))
        .count();
    assert!(
        syncs as u64 >= COMMITS,
        "{COMMITS} commits made only {syncs} fsync/fdatasync calls:\n{trace}"
    );
}
