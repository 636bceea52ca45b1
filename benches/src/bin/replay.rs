//! Restart bench: how long a node takes to replay its journal. Writes `commands` commands of the
//! crash tests' random stream (every order type, cancels, withdrawals, batches rolling) through
//! group commit into a RocksDB journal, then reopens it twice: the sequencer alone
//! (`Sequencer::open`) and the API hub with its views (`Hub::open`, what `zkperp node` does).
//! Prints one JSON line. Figures: docs/PERFORMANCE.md.
//!
//! `cargo run --release -p zkperp-benches --bin replay -- [commands]`

use std::time::Instant;

use serde_json::json;
use zkperp_api::hub::Hub;
use zkperp_sequencer::sequencer::Sequencer;
use zkperp_sequencer::testkit::CommandStream;

fn main() {
    let commands: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let stream = CommandStream::new(5);
    let config = stream.sequencer_config();
    let dir = tempfile::tempdir().expect("tmp");
    let started = Instant::now();
    {
        let hub = Hub::new(Sequencer::open(dir.path(), &config).expect("open"));
        for n in 0..commands {
            let command = hub.with_sequencer(|s| stream.command(n, s.engine()));
            hub.execute(command).expect("journaled");
        }
    }
    let write_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let seq = Sequencer::open(dir.path(), &config).expect("replay");
    let sequencer_secs = started.elapsed().as_secs_f64();
    drop(seq);

    let started = Instant::now();
    let mut sealed = 0usize;
    let hub = Hub::open(dir.path(), &config, |_, done| {
        sealed += done.sealed().count()
    })
    .expect("replay");
    let hub_secs = started.elapsed().as_secs_f64();
    assert_eq!(hub.with_sequencer(|s| s.journal_len()), commands);
    println!(
        "{}",
        json!({
            "commands": commands,
            "sealed_batches": sealed,
            "write_secs": write_secs,
            "replay_sequencer_secs": sequencer_secs,
            "replay_hub_secs": hub_secs,
            "replayed_commands_per_sec": commands as f64 / hub_secs,
        })
    );
}
