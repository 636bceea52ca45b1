//! Snapshots: a sequencer restored from one and replaying the journal after it is the sequencer
//! that replays the whole journal (same results for every command that follows, same books,
//! state and held transactions), and a snapshot that cannot be trusted is skipped for an older
//! one or for genesis, never used.

use std::path::Path;

use zkperp_core::engine::FeeSchedule;
use zkperp_core::testkit::{fingerprint, CommandStream, BATCH};
use zkperp_sequencer::journal::SNAPSHOTS_CF;
use zkperp_sequencer::sequencer::{Sequencer, SequencerConfig};
use zkperp_sequencer::snapshot::{SnapshotChoice, SnapshotPolicy};

const SEED: u64 = 11;

fn next_copy() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// Runs the stream's commands `from..to` one by one, writing snapshots as `policy` says.
fn run(seq: &mut Sequencer, stream: &CommandStream, to: u64, policy: SnapshotPolicy) {
    seq.set_snapshot_policy(Some(policy));
    for n in seq.journal_len()..to {
        seq.execute(stream.command(n, seq.engine()))
            .expect("journaled");
        seq.snapshot_if_due(|| n.to_be_bytes().to_vec())
            .expect("snapshot written");
    }
}

/// Runs the same next commands on both and asserts each did the same.
fn same_future(a: &mut Sequencer, b: &mut Sequencer, stream: &CommandStream, commands: u64) {
    assert_eq!(fingerprint(a.batcher()), fingerprint(b.batcher()));
    assert_eq!(a.batcher().cursors(), b.batcher().cursors());
    assert_eq!(a.batcher().cost_basis(), b.batcher().cost_basis());
    let start = a.journal_len();
    for n in start..start + commands {
        let command = stream.command(n, a.engine());
        assert_eq!(command, stream.command(n, b.engine()), "command {n}");
        let (x, y) = (
            a.execute(command.clone()).expect("a"),
            b.execute(command).expect("b"),
        );
        assert_eq!(x, y, "command {n} did different things");
    }
    assert_eq!(fingerprint(a.batcher()), fingerprint(b.batcher()));
}

/// A copy of the closed database at `path`: two sequencers cannot open one database at once.
fn copy(path: &Path, to: &str) -> std::path::PathBuf {
    let dest = path.with_file_name(to);
    std::fs::create_dir_all(&dest).expect("mkdir");
    for entry in std::fs::read_dir(path).expect("read_dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dest.join(entry.file_name())).expect("copy");
    }
    dest
}

/// A copy of `path` opened from genesis: the reference a restored sequencer must equal.
fn open(path: &Path, config: &SequencerConfig, choice: SnapshotChoice) -> Sequencer {
    let copied = copy(path, &format!("genesis-{}", next_copy()));
    Sequencer::opening(&copied, config, choice)
        .expect("opens")
        .replay(|_, _, _| {}, Box::new(|_| {}))
        .expect("replays")
}

#[test]
fn restored_sequencer_continues_as_a_full_replay() {
    let stream = CommandStream::new(SEED);
    let config = stream.sequencer_config();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal");
    let policy = SnapshotPolicy {
        every_batches: 2,
        keep: 3,
    };
    let end = 7 * BATCH + 57;
    {
        let mut live = Sequencer::open(&path, &config).expect("open");
        run(&mut live, &stream, end, policy);
        let snapshots = live.snapshots().expect("index");
        assert_eq!(
            snapshots.len(),
            3,
            "only the newest `keep` are kept: {snapshots:?}"
        );
        assert!(snapshots.windows(2).all(|w| w[0].position < w[1].position));
        assert!(snapshots.iter().all(|m| m.bytes > 0));
    }

    let opening = Sequencer::opening(&path, &config, SnapshotChoice::Latest).expect("opens");
    let restored = opening
        .restored()
        .cloned()
        .expect("restored from a snapshot");
    assert!(opening.skipped().is_empty());
    // The extras are what the owner stored at that position.
    assert_eq!(
        opening.extras(),
        Some(&(restored.position - 1).to_be_bytes()[..])
    );
    let mut replayed_after = 0;
    let mut from_snapshot = opening
        .replay(|_, _, _| replayed_after += 1, Box::new(|_| {}))
        .expect("replays");
    assert_eq!(replayed_after, end - restored.position);
    assert!(
        replayed_after < 3 * BATCH,
        "replayed {replayed_after} commands"
    );

    let mut from_genesis = open(&path, &config, SnapshotChoice::Genesis);
    assert_eq!(from_genesis.journal_len(), end);
    same_future(&mut from_snapshot, &mut from_genesis, &stream, 3 * BATCH);

    // An older snapshot (at most a given batch) continues the same way too.
    drop((from_snapshot, from_genesis));
    let oldest = Sequencer::opening(
        &path,
        &config,
        SnapshotChoice::AtMostBatch(restored.batches_sealed - 1),
    )
    .expect("opens");
    let older = oldest.restored().cloned().expect("an older snapshot");
    assert!(older.batches_sealed < restored.batches_sealed);
    let mut from_older = oldest
        .replay(|_, _, _| {}, Box::new(|_| {}))
        .expect("replays");
    let mut from_genesis = open(&path, &config, SnapshotChoice::Genesis);
    same_future(&mut from_older, &mut from_genesis, &stream, BATCH);
}

#[test]
fn a_snapshot_that_cannot_be_trusted_is_skipped() {
    let stream = CommandStream::new(SEED);
    let config = stream.sequencer_config();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal");
    let end = 5 * BATCH + 3;
    {
        let mut live = Sequencer::open(&path, &config).expect("open");
        run(
            &mut live,
            &stream,
            end,
            SnapshotPolicy {
                every_batches: 1,
                keep: 4,
            },
        );
    }
    let reference = fingerprint(open(&path, &config, SnapshotChoice::Genesis).batcher());

    // Another configuration (other fees): no snapshot of this journal is used.
    let other = SequencerConfig {
        fees: FeeSchedule {
            maker_ppm: 1,
            ..config.fees
        },
        ..config.clone()
    };
    let opening = Sequencer::opening(&path, &other, SnapshotChoice::Latest).expect("opens");
    assert!(opening.restored().is_none());
    assert_eq!(opening.skipped().len(), 4);
    assert!(opening.skipped()[0].1.contains("another configuration"));
    drop(opening);

    // The newest snapshot's bytes damaged: the one before it is used, and the result is the same.
    let newest = Sequencer::open(&path, &config)
        .expect("open")
        .snapshots()
        .expect("index")
        .pop()
        .expect("a snapshot");
    {
        let db = rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            &path,
            zkperp_sequencer::storage::COLUMN_FAMILIES,
        )
        .expect("db");
        let cf = db.cf_handle(SNAPSHOTS_CF).expect("cf");
        let key = newest.position.to_be_bytes();
        let mut bytes = db.get_cf(cf, key).expect("get").expect("stored");
        let at = bytes.len() / 2;
        bytes.truncate(at);
        db.put_cf(cf, key, bytes).expect("put");
    }
    let opening = Sequencer::opening(&path, &config, SnapshotChoice::Latest).expect("opens");
    assert_eq!(opening.skipped().len(), 1);
    assert_eq!(opening.skipped()[0].0, newest);
    let used = opening.restored().cloned().expect("an older snapshot");
    assert!(used.position < newest.position);
    let seq = opening
        .replay(|_, _, _| {}, Box::new(|_| {}))
        .expect("replays");
    assert_eq!(fingerprint(seq.batcher()), reference);
}

#[test]
fn no_snapshot_while_a_batch_is_open() {
    let stream = CommandStream::new(SEED);
    let config = stream.sequencer_config();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seq = Sequencer::open(&dir.path().join("journal"), &config).expect("open");
    for n in 0..BATCH / 2 {
        seq.execute(stream.command(n, seq.engine()))
            .expect("journaled");
    }
    assert!(seq.batcher().is_open());
    assert_eq!(seq.snapshot(Vec::new(), 1).expect("no error"), None);
    // Sealed (the stream's command BATCH is an `EndBatch`): now it can.
    for n in BATCH / 2..=BATCH {
        seq.execute(stream.command(n, seq.engine()))
            .expect("journaled");
    }
    assert!(!seq.batcher().is_open());
    let meta = seq
        .snapshot(Vec::new(), 1)
        .expect("written")
        .expect("between batches");
    assert_eq!(meta.position, BATCH + 1);
    assert_eq!(meta.batches_sealed, seq.engine().state().batches_sealed());
}

/// A sequencer executes every command as its core alone does (the journal and the seal worker
/// change nothing, the padding drawn by the secret kept with the journal included), and a
/// reopened one rebuilds the same books, state and held transactions.
#[test]
fn a_sequencer_runs_as_its_core_and_reopens_to_the_same_builder() {
    let stream = CommandStream::new(SEED);
    let config = stream.sequencer_config();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal");
    let secret = zkperp_sequencer::journal::Journal::open(&path)
        .and_then(|mut j| j.padding_secret())
        .expect("the padding secret");
    let mut core = config.genesis().expect("genesis");
    core.set_padding_secret(secret);
    let commands = 3 * BATCH + 17;
    {
        let mut sequencer = Sequencer::open(&path, &config).expect("open");
        for n in 0..commands {
            let command = stream.command(n, core.engine());
            let alone = core.execute(n, &command);
            assert_eq!(
                sequencer.execute(command).expect("journaled"),
                alone,
                "command {n}"
            );
        }
    }
    let reopened = Sequencer::open(&path, &config).expect("reopen");
    assert_eq!(reopened.journal_len(), commands);
    assert_eq!(fingerprint(reopened.batcher()), fingerprint(&core));
}
