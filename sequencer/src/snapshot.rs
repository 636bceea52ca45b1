//! Snapshots of the sequencer between batches, so a restart replays only the journal after one.
//!
//! ```text
//!  journal:   0 1 2 ... p-1 | p p+1 ... n-1        a snapshot at position p: the builder after
//!                           ^                       commands 0..p, taken with no batch open
//!  snapshots: key p -> { builder (state in the clear, books, held queues, cursors), extras }
//!  index:     key p -> { batches sealed, state root, size }   (read without decoding a snapshot)
//! ```
//!
//! A snapshot is a cache of the journal, never a second source of truth: commands are still
//! journaled one by one, and a snapshot only says what replaying the first `p` of them gives.
//! So every check that fails on opening one (another format version, another configuration, a
//! state that does not rebuild to the root it records, a position past the journal's end) skips
//! it for an older one, and in the end for the genesis state; the caller is told what was
//! skipped and why. The state's trees are not stored: they are rebuilt from the leaves and must
//! give the recorded root ([`zkperp_state::State::restore`]).
//!
//! `extras` are bytes the sequencer's owner stores with the snapshot (the API hub keeps its views
//! there) and gets back when the snapshot is used: what it derives from commands is then restored
//! at the same position as the builder.
//!
//! Encoding: CBOR (`ciborium`) of [`Stored`]; the index entries are JSON.

use rocksdb::{IteratorMode, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};

use crate::journal::{Journal, JournalError, SNAPSHOTS_CF, SNAPSHOT_INDEX_CF};
use zkperp_core::batcher::BatcherSnapshot;

/// The format of [`Stored`]; a snapshot of another version is skipped (the journal replays it).
pub const SNAPSHOT_VERSION: u32 = 1;

/// When the sequencer writes snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// A snapshot is due once this many batches were sealed since the last one (at least 1).
    pub every_batches: u64,
    /// Snapshots kept: older ones are deleted once a new one is written (at least 1).
    pub keep: usize,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        SnapshotPolicy {
            every_batches: 64,
            keep: 3,
        }
    }
}

/// Which snapshot a restart may start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotChoice {
    /// None: replay the whole journal from genesis.
    Genesis,
    /// The newest one.
    Latest,
    /// The newest one taken after at most this many sealed batches (a node restarts from at or
    /// before the L1-verified batch, so that replaying re-creates every batch still owed).
    AtMostBatch(u64),
}

/// What the index says of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The journal position: the snapshot is the builder after commands `0..position`.
    pub position: u64,
    pub batches_sealed: u64,
    /// The state root, decimal (as the batch records write roots).
    pub root: String,
    /// The encoded snapshot's size.
    pub bytes: u64,
}

/// One snapshot as stored.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Stored {
    pub version: u32,
    pub position: u64,
    /// The configuration the journal runs under (JSON): a snapshot of another is not used.
    pub config: String,
    pub batcher: BatcherSnapshot,
    /// The owner's bytes, as one CBOR byte string.
    pub extras: ciborium::Value,
}

fn corrupt(position: u64, reason: impl std::fmt::Display) -> JournalError {
    JournalError::Corrupt {
        seq: position,
        reason: format!("snapshot: {reason}"),
    }
}

impl Journal {
    /// Writes `stored` and its index entry, and deletes all but the newest `keep` snapshots, in
    /// one synced write.
    pub(crate) fn put_snapshot(
        &self,
        stored: &Stored,
        meta: &SnapshotMeta,
        keep: usize,
    ) -> Result<SnapshotMeta, JournalError> {
        let (data, index) = self.snapshot_cfs()?;
        let mut value = Vec::new();
        ciborium::into_writer(stored, &mut value).map_err(|e| corrupt(stored.position, e))?;
        let meta = SnapshotMeta {
            bytes: value.len() as u64,
            ..meta.clone()
        };
        let key = stored.position.to_be_bytes();
        let mut batch = WriteBatch::default();
        batch.put_cf(data, key, value);
        batch.put_cf(
            index,
            key,
            serde_json::to_vec(&meta).map_err(|e| corrupt(stored.position, e))?,
        );
        let older = self.snapshots()?;
        let drop = older.len().saturating_sub(keep.max(1).saturating_sub(1));
        for old in older.iter().take(drop) {
            if old.position != stored.position {
                batch.delete_cf(data, old.position.to_be_bytes());
                batch.delete_cf(index, old.position.to_be_bytes());
            }
        }
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts)?;
        Ok(meta)
    }

    /// Every snapshot's index entry, oldest first.
    pub fn snapshots(&self) -> Result<Vec<SnapshotMeta>, JournalError> {
        let (_, index) = self.snapshot_cfs()?;
        let mut out = Vec::new();
        for item in self.db.iterator_cf(index, IteratorMode::Start) {
            let (key, value) = item?;
            let position = crate::storage::number_of_key(&key)
                .ok_or_else(|| corrupt(0, "an index key is not 8 bytes"))?;
            let meta: SnapshotMeta =
                serde_json::from_slice(&value).map_err(|e| corrupt(position, e))?;
            out.push(meta);
        }
        Ok(out)
    }

    /// The snapshot at `position`, decoded.
    pub(crate) fn read_snapshot(&self, position: u64) -> Result<Stored, JournalError> {
        let (data, _) = self.snapshot_cfs()?;
        let value = self
            .db
            .get_cf(data, position.to_be_bytes())?
            .ok_or_else(|| corrupt(position, "indexed but not stored"))?;
        ciborium::from_reader(value.as_slice()).map_err(|e| corrupt(position, e))
    }

    fn snapshot_cfs(
        &self,
    ) -> Result<(&rocksdb::ColumnFamily, &rocksdb::ColumnFamily), JournalError> {
        let data = self
            .db
            .cf_handle(SNAPSHOTS_CF)
            .ok_or(JournalError::MissingColumnFamily)?;
        let index = self
            .db
            .cf_handle(SNAPSHOT_INDEX_CF)
            .ok_or(JournalError::MissingColumnFamily)?;
        Ok((data, index))
    }
}
