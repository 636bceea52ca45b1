//! Child process of the crash test (`tests/crash.rs`): commits the deterministic batch stream of
//! `stream.rs` to a [`PersistentTree`] until it is killed.
//!
//! Usage: `merkle-crash-writer DB_PATH DEPTH SEED MAX_COMMITS`
//!
//! It continues the stream at the database's committed count and prints, flushed, one line per
//! event, which the parent reads as acknowledgements:
//!
//! ```text
//! opened N       the database was open with N batches committed
//! committed N    update_many for batch N-1 returned: N batches are durable
//! ```
//!
//! It stops by itself after `MAX_COMMITS` commits of this run or after 60 seconds, so an
//! orphaned writer (its test died before killing it) does not run forever; writing to a closed
//! stdout also ends it.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use zkperp_sequencer::PersistentTree;

mod stream;

const LIFETIME: Duration = Duration::from_secs(60);

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, depth, seed, max_commits] = args.as_slice() else {
        bail!("usage: merkle-crash-writer DB_PATH DEPTH SEED MAX_COMMITS");
    };
    let path = PathBuf::from(path);
    let depth: u8 = depth.parse().context("DEPTH")?;
    let seed: u64 = seed.parse().context("SEED")?;
    let max_commits: u64 = max_commits.parse().context("MAX_COMMITS")?;

    let started = Instant::now();
    let mut tree = PersistentTree::open(&path, depth).context("open")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "opened {}", tree.commit_count())?;
    out.flush()?;
    for _ in 0..max_commits {
        if started.elapsed() > LIFETIME {
            break;
        }
        let number = tree.commit_count();
        tree.update_many(&stream::batch(seed, number, depth))
            .with_context(|| format!("batch {number}"))?;
        // Printed only after update_many returned: a line is a promise that the batch is durable.
        writeln!(out, "committed {}", tree.commit_count())?;
        out.flush()?;
    }
    Ok(())
}
