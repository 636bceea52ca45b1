//! Child process of the sequencer crash test (`tests/sequencer_crash.rs`): opens the sequencer
//! (replaying its journal) and executes the deterministic command stream of `testkit` until it
//! is killed, printing one flushed line per acknowledged command:
//!
//! ```text
//! opened N                  the journal held N commands, replayed
//! ack N FINGERPRINT         command N is durable; state root and books after it
//! ```
//!
//! Usage: `sequencer-crash-driver JOURNAL_PATH SEED MAX_COMMANDS`. It stops by itself after
//! `MAX_COMMANDS` commands of this run or 60 seconds, so an orphan never runs forever.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use zkperp_sequencer::sequencer::Sequencer;
use zkperp_sequencer::testkit::{fingerprint, CommandStream};

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
    let mut out = std::io::stdout().lock();
    writeln!(out, "opened {}", sequencer.journal_len())?;
    out.flush()?;
    for _ in 0..max {
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
        let n = sequencer.journal_len();
        let command = stream.command(n, sequencer.engine());
        sequencer
            .execute(command)
            .with_context(|| format!("command {n}"))?;
        writeln!(out, "ack {n} {}", fingerprint(sequencer.batcher()))?;
        out.flush()?;
    }
    Ok(())
}
