//! The sequencer's one database: every table the service keeps on disk is a column family of
//! one RocksDB, opened once per process and shared by the parts that use it.
//!
//! ```text
//! journal          sequence number (8 bytes, BE)  ->  command              (journal.rs)
//! snapshots        journal position (8 bytes, BE) ->  the builder          (snapshot.rs)
//! snapshot_index   journal position (8 bytes, BE) ->  what it holds        (snapshot.rs)
//! secrets          name                           ->  the padding secret   (journal.rs)
//! batches          batch number (8 bytes, BE)     ->  its pipeline record  (pipeline.rs)
//! merkle_nodes     level || index                 ->  node of the verified tree (store.rs)
//! merkle_meta      name                           ->  its root, depth, batch, markets
//! merkle_history   level || index || version      ->  node as of a verified batch
//! ```
//!
//! One database rather than one per part: one write-ahead log and one fsync path for every
//! synced write, one directory an operator backs up, one open (a second open of the same
//! directory is refused by RocksDB's lock, so two processes can never share a journal), and
//! writes that must be atomic across tables can be one `WriteBatch`. Every part still writes
//! only its own column families.
//!
//! A part may also be opened on its own at a path ([`At`] for `&Path`): the database is then
//! opened for it (tests, the crash-test binaries). The node opens the [`Storage`] once and hands
//! it to every part.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{ColumnFamily, Options, DB};

use crate::store::StoreError;

/// The sequencer's commands, in order ([`crate::journal`]).
pub const JOURNAL_CF: &str = "journal";
/// Snapshots of the batch builder ([`crate::snapshot`]).
pub const SNAPSHOTS_CF: &str = "snapshots";
/// What each snapshot holds, by position.
pub const SNAPSHOT_INDEX_CF: &str = "snapshot_index";
/// The sequencer's own secrets (the padding secret, [`crate::journal::Journal::padding_secret`]).
pub const SECRETS_CF: &str = "secrets";
/// Every batch's pipeline record ([`crate::pipeline::BatchStore`]).
pub const BATCHES_CF: &str = "batches";
/// The Merkle nodes of the persistent tree ([`crate::store`]).
pub const NODES_CF: &str = "merkle_nodes";
/// Metadata written with each commit of the persistent tree.
pub const TREE_META_CF: &str = "merkle_meta";
/// Node history of the persistent tree (versioned commits only).
pub const HISTORY_CF: &str = "merkle_history";

/// Every column family of the database.
pub const COLUMN_FAMILIES: [&str; 8] = [
    JOURNAL_CF,
    SNAPSHOTS_CF,
    SNAPSHOT_INDEX_CF,
    SECRETS_CF,
    BATCHES_CF,
    NODES_CF,
    TREE_META_CF,
    HISTORY_CF,
];

/// The open database, shared: cloning it shares the one handle.
#[derive(Clone)]
pub struct Storage {
    db: Arc<DB>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("path", &self.db.path())
            .finish()
    }
}

impl Storage {
    /// Opens (or creates) the database at `path` with every column family.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        Ok(Storage {
            db: Arc::new(DB::open_cf(&opts, path, COLUMN_FAMILIES)?),
        })
    }

    pub fn db(&self) -> &Arc<DB> {
        &self.db
    }

    pub fn path(&self) -> &Path {
        self.db.path()
    }
}

/// A column family of `db`, or the error naming it.
pub(crate) fn cf<'a>(db: &'a DB, name: &'static str) -> Result<&'a ColumnFamily, StoreError> {
    db.cf_handle(name)
        .ok_or(StoreError::MissingColumnFamily(name))
}

/// Where a part of the sequencer's storage lives: the open [`Storage`] shared with the other
/// parts, or a directory whose database is opened for this part alone.
pub trait At {
    fn storage(self) -> Result<Storage, StoreError>;
}

impl At for &Storage {
    fn storage(self) -> Result<Storage, StoreError> {
        Ok(self.clone())
    }
}

impl At for &Path {
    fn storage(self) -> Result<Storage, StoreError> {
        Storage::open(self)
    }
}

impl At for &PathBuf {
    fn storage(self) -> Result<Storage, StoreError> {
        Storage::open(self)
    }
}

/// A key of the sequencer's numbered records (journal entries, batches, snapshots): the number
/// as 8 big-endian bytes, so RocksDB's byte order is numeric order. `None` for any other length.
pub(crate) fn number_of_key(key: &[u8]) -> Option<u64> {
    key.try_into().ok().map(u64::from_be_bytes)
}
