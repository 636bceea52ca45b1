//! The sequencer's one database: the journal, the batch records and the verified state live in
//! one RocksDB, opened once and shared, each in its own column families; a second open of the
//! same directory is refused while it is open (two processes can never share a journal).

use zkperp_core::command::Command;
use zkperp_sequencer::pipeline::{BatchRecord, BatchStatus, BatchStore};
use zkperp_sequencer::sequencer::{Sequencer, SequencerConfig};
use zkperp_sequencer::storage::{Storage, COLUMN_FAMILIES};
use zkperp_sequencer::verified::VerifiedState;
use zkperp_state::testkit::*;

#[test]
fn every_part_shares_one_database_and_finds_its_tables_after_a_reopen() {
    let mut f = Fixture::with_depths(2, 6, 3);
    let config = SequencerConfig {
        state: f.state.config().clone(),
        fees: zkperp_core::testkit::FEES,
        shape: zkperp_core::testkit::shape(),
    };
    let dir = tempfile::tempdir().expect("tmp");
    let record = BatchRecord {
        number: 1,
        shape: config.shape.id(),
        old_root: "0".into(),
        new_root: "1".into(),
        timestamp: START,
        transactions: 2,
        status: BatchStatus::Sealed,
    };
    f.deposit(0, 1_000_000_000);
    let first = f.state.end_batch().expect("seal 1");
    {
        let storage = Storage::open(dir.path()).expect("open");
        // Each part on the one handle: a part that opened the directory itself would be
        // refused by the database's lock.
        let mut sequencer = Sequencer::open(&storage, &config).expect("sequencer");
        let batches = BatchStore::open(&storage).expect("batches");
        let mut verified = VerifiedState::open(&storage, &config.state).expect("verified");
        assert!(
            Storage::open(dir.path()).is_err(),
            "a second open of an open database"
        );
        sequencer
            .execute(Command::BeginBatch {
                timestamp: ts(START),
            })
            .expect("journaled");
        batches.put(&record).expect("record");
        assert!(verified.apply(&first).expect("verified"));
    }
    let storage = Storage::open(dir.path()).expect("reopen");
    for name in COLUMN_FAMILIES {
        assert!(storage.db().cf_handle(name).is_some(), "{name}");
    }
    let sequencer = Sequencer::open(&storage, &config).expect("sequencer");
    assert_eq!(sequencer.journal_len(), 1);
    assert_eq!(
        BatchStore::open(&storage)
            .expect("batches")
            .get(1)
            .expect("read"),
        Some(record)
    );
    let verified = VerifiedState::open(&storage, &config.state).expect("verified");
    assert_eq!((verified.batch(), verified.root()), (1, first.new_root));
}
