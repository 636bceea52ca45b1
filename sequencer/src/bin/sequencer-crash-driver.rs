//! Child process of the sequencer crash test (`tests/sequencer_crash.rs`): opens the sequencer
//! (replaying its journal) and executes the deterministic command stream of `testkit` until it
//! is killed, in group commits of 1 to 5 commands (`Sequencer::execute_group`, as the API's hub
//! does; a group's commands are drawn from the state before it), printing one flushed line per
//! acknowledged group, and writing a snapshot after every sealed batch it can (so restarts go
//! through snapshots, not only replays from genesis):
//!
//! ```text
//! opened N                  the journal held N commands, restored and replayed
//! ack N FINGERPRINT         commands up to N are durable; state root and books after N
//! ```
//!
//! Usage: `sequencer-crash-driver JOURNAL_PATH SEED MAX_COMMANDS`. It stops by itself after
//! `MAX_COMMANDS` commands of this run or 60 seconds, so an orphan never runs forever.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use zkperp_core::testkit::{fingerprint, CommandStream};
use zkperp_sequencer::sequencer::Sequencer;
use zkperp_sequencer::snapshot::SnapshotPolicy;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, seed, max] = args.as_slice() else {
        bail!("usage: sequencer-crash-driver JOURNAL_PATH SEED MAX_COMMANDS");
    };
    let seed: u64 = seed.parse().context("SEED")?;
    let max: u64 = max.parse().context("MAX_COMMANDS")?;
    let stream = CommandStream::new(seed);
    let started = Instant::now();
    let mut sequencer =
        Sequencer::open(&PathBuf::from(path), &stream.sequencer_config()).context("open")?;
    sequencer.set_snapshot_policy(Some(SnapshotPolicy {
        every_batches: 1,
        keep: 2,
    }));
    let mut out = std::io::stdout().lock();
    writeln!(out, "opened {}", sequencer.journal_len())?;
    out.flush()?;
    let mut done = 0;
    while done < max && started.elapsed() < Duration::from_secs(60) {
        let n = sequencer.journal_len();
        let size = 1 + n % 5;
        let group = (n..n + size)
            .map(|i| stream.command(i, sequencer.engine()))
            .collect();
        sequencer
            .execute_group(group, |_, _| {})
            .with_context(|| format!("commands {n}..{}", n + size))?;
        sequencer.snapshot_if_due(Vec::new).context("snapshot")?;
        let last = n + size - 1;
        writeln!(out, "ack {last} {}", fingerprint(sequencer.batcher()))?;
        out.flush()?;
        done += size;
    }
    Ok(())
}
