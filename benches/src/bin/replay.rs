//! Restart bench: how long a node takes to come back. Writes `commands` commands of the crash
//! tests' random stream (every order type, cancels, withdrawals, batches rolling) through the
//! API hub's group commit into a RocksDB journal, with a snapshot every `every` sealed batches
//! (as `zkperp node --snapshot-every`), then reopens the hub (what `zkperp node` does) twice:
//! from genesis, replaying the whole journal, and from the newest snapshot, replaying only what
//! follows it. Prints one JSON line. Figures: docs/PERFORMANCE.md.
//!
//! `cargo run --release -p zkperp-benches --bin replay -- [commands] [every]`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use zkperp_core::testkit::CommandStream;
use zkperp_sequencer::hub::{Hub, OpenOptions};
use zkperp_sequencer::snapshot::{SnapshotChoice, SnapshotPolicy};

fn main() {
    let mut args = std::env::args().skip(1);
    let commands: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let every: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let stream = CommandStream::new(5);
    let config = stream.sequencer_config();
    let dir = tempfile::tempdir().expect("tmp");
    let policy = SnapshotPolicy {
        every_batches: every,
        keep: 3,
    };
    let started = Instant::now();
    {
        let options = OpenOptions {
            start: SnapshotChoice::Latest,
            snapshots: Some(policy),
        };
        let (hub, _) =
            Hub::open(dir.path(), &config, options, |_, _| {}, Box::new(|_| {})).expect("open");
        for n in 0..commands {
            let command = hub.with_sequencer(|s| stream.command(n, s.engine()));
            hub.execute(command).expect("journaled");
        }
    }
    let write_secs = started.elapsed().as_secs_f64();

    let reopen = |start| {
        let started = Instant::now();
        let sealed = Arc::new(AtomicUsize::new(0));
        let options = OpenOptions {
            start,
            snapshots: None,
        };
        let count = sealed.clone();
        let (hub, opened) = Hub::open(
            dir.path(),
            &config,
            options,
            |_, _| {},
            Box::new(move |_| {
                count.fetch_add(1, Ordering::Relaxed);
            }),
        )
        .expect("reopen");
        let sealed = sealed.load(Ordering::Relaxed);
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(hub.with_sequencer(|s| s.journal_len()), commands);
        assert!(opened.skipped.is_empty(), "{:?}", opened.skipped);
        (secs, opened, sealed)
    };
    let (genesis_secs, _, sealed) = reopen(SnapshotChoice::Genesis);
    let (snapshot_secs, opened, _) = reopen(SnapshotChoice::Latest);
    let restored = opened.restored.expect("a snapshot");
    // What writing one costs the sequencer (under its lock in the hub): the builder's part,
    // encoded and synced, without the hub's views.
    let mut seq = zkperp_sequencer::sequencer::Sequencer::open(dir.path(), &config).expect("open");
    while seq.batcher().is_open() {
        let n = seq.journal_len();
        seq.execute(stream.command(n, seq.engine()))
            .expect("journaled");
    }
    let started = Instant::now();
    let written = seq.snapshot(Vec::new(), 3).expect("written");
    let write_snapshot_ms = started.elapsed().as_secs_f64() * 1e3;
    let builder_bytes = written.map(|m| m.bytes);
    println!(
        "{}",
        json!({
            "commands": commands,
            "sealed_batches": sealed,
            "snapshot_every_batches": every,
            "write_secs": write_secs,
            "reopen_from_genesis_secs": genesis_secs,
            "replayed_commands_per_sec": commands as f64 / genesis_secs,
            "reopen_from_snapshot_secs": snapshot_secs,
            "snapshot_position": restored.position,
            "snapshot_bytes": restored.bytes,
            "replayed_after_snapshot": opened.replayed,
            "write_builder_snapshot_ms": write_snapshot_ms,
            "builder_snapshot_bytes": builder_bytes,
        })
    );
}
