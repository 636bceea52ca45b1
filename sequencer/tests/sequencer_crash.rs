//! The sequencer killed with SIGKILL at random points under a stream of orders, restarted, many
//! times: no acknowledged command is lost, and the books and state root after the restart are
//! exactly those the killed process acknowledged (a replay of the journal). The driver commits
//! in groups (`Sequencer::execute_group`), the way the API's hub does, and writes snapshots, so
//! restarts start from one and a kill may land while one is written.
//!
//! CI kills it 12 times; the full run kills it 100 times or more:
//! `ZKPERP_CRASH_ROUNDS=100 cargo test --release -p zkperp-sequencer --test sequencer_crash`
//! (figures in docs/PERFORMANCE.md).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use zkperp_core::book::Event;
use zkperp_core::testkit::{fingerprint, shape, CommandStream};
use zkperp_sequencer::journal::Journal;
use zkperp_sequencer::sequencer::{BatchEvent, Outcome, Sequencer};
use zkperp_sequencer::snapshot::SnapshotChoice;

const SEED: u64 = 5;
/// Kills in CI; `ZKPERP_CRASH_ROUNDS` asks for more.
const ROUNDS: usize = 12;

fn rounds() -> usize {
    std::env::var("ZKPERP_CRASH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ROUNDS)
}

#[test]
fn killed_sequencer_restarts_with_every_acknowledged_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal");
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(99);
    let mut acked: Vec<(u64, String)> = Vec::new();
    let mut progressed = 0;
    let rounds = rounds();
    for round in 0..rounds {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sequencer-crash-driver"))
            .args([
                path.to_str().expect("utf-8 path"),
                &SEED.to_string(),
                "100000",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("driver starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait for the replay to finish, then let it run a random while.
        let opened = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("driver opened");
        let opened_at: u64 = opened
            .strip_prefix("opened ")
            .expect("opened line")
            .parse()
            .expect("count");
        let expected = acked.last().map_or(0, |(n, _)| n + 1);
        assert!(
            opened_at >= expected,
            "round {round}: journal has {opened_at} commands, {expected} were acknowledged"
        );
        std::thread::sleep(Duration::from_millis(rng.gen_range(50..600)));
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        assert!(!status.success(), "the driver was killed, not finished");
        reader.join().expect("reader");
        let before = acked.len();
        for line in rx.try_iter() {
            let mut parts = line.splitn(3, ' ');
            if parts.next() == Some("ack") {
                let n: u64 = parts.next().expect("n").parse().expect("n");
                acked.push((n, parts.next().expect("fingerprint").to_string()));
            }
        }
        if acked.len() > before {
            progressed += 1;
        }
        // Reopen: every acknowledged command is in the journal, and replaying exactly up to the
        // last acknowledged one gives what the killed process reported.
        let mut journal = Journal::open(&path).expect("journal reopens");
        let commands = journal.read_all().expect("journal reads");
        // The batches' decoys are drawn by the secret kept with the journal.
        let secret = journal.padding_secret().expect("the padding secret");
        drop(journal);
        if let Some((last, reported)) = acked.last() {
            assert!(
                commands.len() as u64 > *last,
                "acknowledged command {last} lost"
            );
            let stream = CommandStream::new(SEED);
            let mut batcher = stream.sequencer_config().genesis().expect("genesis");
            batcher.set_padding_secret(secret);
            for (ticket, c) in commands[..=*last as usize].iter().enumerate() {
                batcher.execute(ticket as u64, c);
            }
            assert_eq!(
                &fingerprint(&batcher),
                reported,
                "round {round}: replay differs from what was acknowledged"
            );
        }
    }
    assert!(
        progressed >= rounds / 2,
        "the driver made progress in only {progressed} rounds"
    );
    // A full restart gives the same sequencer as a replay by hand of the whole journal, and the
    // stream did what it is meant to exercise: fills, cancels, refusals, sealed batches that
    // fit the shape.
    let stream = CommandStream::new(SEED);
    let mut journal = Journal::open(&path).expect("journal");
    let commands = journal.read_all().expect("reads");
    let secret = journal.padding_secret().expect("the padding secret");
    drop(journal);
    let mut batcher = stream.sequencer_config().genesis().expect("genesis");
    batcher.set_padding_secret(secret);
    let (mut fills, mut cancels, mut refused, mut sealed) = (0, 0, 0, 0);
    for (ticket, c) in commands.iter().enumerate() {
        let executed = batcher.execute(ticket as u64, c);
        for batch in executed.sealed() {
            batch
                .check_shape(&shape())
                .expect("every sealed batch fits the shape");
            sealed += 1;
        }
        refused += executed
            .events
            .iter()
            .filter(|e| matches!(e, BatchEvent::Refused { .. }))
            .count();
        match executed.outcome {
            Outcome::Book(events) | Outcome::Cancelled(events) => {
                fills += events
                    .iter()
                    .filter(|e| matches!(e, Event::Fill(_)))
                    .count();
                cancels += events
                    .iter()
                    .filter(|e| matches!(e, Event::Cancelled { .. }))
                    .count();
            }
            Outcome::Refused(_) | Outcome::TxRefused(_) => refused += 1,
            _ => {}
        }
    }
    let opening = Sequencer::opening(&path, &stream.sequencer_config(), SnapshotChoice::Latest)
        .expect("reopen");
    assert!(
        opening.restored().is_some() && opening.skipped().is_empty(),
        "the driver's snapshots are used"
    );
    let reopened = opening
        .replay(|_, _, _| {}, Box::new(|_| {}))
        .expect("replay");
    assert_eq!(fingerprint(reopened.batcher()), fingerprint(&batcher));
    assert!(
        fills > 10 && cancels > 10 && refused > 0 && sealed > 0,
        "fills {fills}, cancels {cancels}, refused {refused}, sealed {sealed}"
    );
}
