//! The journal: every command the sequencer accepts, written to RocksDB and synced before it is
//! acknowledged. The engine is deterministic, so replaying the journal from the start rebuilds
//! the books and the state exactly.
//!
//! Layout: column family `journal`, key = sequence number (8 bytes, big-endian, from 0), value =
//! the command as JSON. One synced write per call: [`Journal::append`] writes one command,
//! [`Journal::append_all`] a group of them (group commit: one fsync for every command waiting).
//! The same database ([`crate::storage`]) holds the sequencer's snapshots ([`crate::snapshot`]),
//! so that a restart replays only the commands after the newest one it can use.

use std::sync::Arc;

use rocksdb::{IteratorMode, WriteBatch, WriteOptions, DB};

use zkperp_core::command::Command;

use crate::storage::At;
pub use crate::storage::{JOURNAL_CF, SECRETS_CF as META_CF, SNAPSHOTS_CF, SNAPSHOT_INDEX_CF};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error(transparent)]
    Storage(#[from] crate::store::StoreError),
    #[error("journal entry {seq} is corrupt: {reason}")]
    Corrupt { seq: u64, reason: String },
    #[error("journal column family missing")]
    MissingColumnFamily,
}

/// An append-only, synced log of commands.
#[derive(Debug)]
pub struct Journal {
    pub(crate) db: Arc<DB>,
    next: u64,
}

impl Journal {
    /// Opens (or creates) the journal in the sequencer's database `at` and checks its entries
    /// are numbered 0..n.
    pub fn open(at: impl At) -> Result<Self, JournalError> {
        let db = at.storage()?.db().clone();
        let cf = db
            .cf_handle(JOURNAL_CF)
            .ok_or(JournalError::MissingColumnFamily)?;
        // The length is the last key plus one; `read_from` checks the keys before it.
        let next = match db.iterator_cf(cf, IteratorMode::End).next() {
            None => 0,
            Some(item) => {
                let (key, _) = item?;
                let last = crate::storage::number_of_key(&key).ok_or(JournalError::Corrupt {
                    seq: 0,
                    reason: "a key is not 8 bytes".into(),
                })?;
                last + 1
            }
        };
        Ok(Journal { db, next })
    }

    /// The secret that draws each batch's decoys (`Batcher::set_padding_secret`): drawn from
    /// the OS the first time, then kept (synced) with the journal and its snapshots, so every
    /// replay pads as the first run did. Never published: with it, anyone could tell the
    /// decoys from the accounts that traded.
    pub fn padding_secret(&mut self) -> Result<[u8; 32], JournalError> {
        const KEY: &[u8] = b"padding-secret";
        let cf = self
            .db
            .cf_handle(META_CF)
            .ok_or(JournalError::MissingColumnFamily)?;
        if let Some(stored) = self.db.get_cf(cf, KEY)? {
            return stored.try_into().map_err(|_| JournalError::Corrupt {
                seq: 0,
                reason: "the padding secret is not 32 bytes".into(),
            });
        }
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.put_cf_opt(cf, KEY, secret, &opts)?;
        Ok(secret)
    }

    /// The number of commands written.
    pub fn len(&self) -> u64 {
        self.next
    }

    pub fn is_empty(&self) -> bool {
        self.next == 0
    }

    /// Writes `command` durably (synced) and returns its sequence number.
    pub fn append(&mut self, command: &Command) -> Result<u64, JournalError> {
        let cf = self
            .db
            .cf_handle(JOURNAL_CF)
            .ok_or(JournalError::MissingColumnFamily)?;
        let value = serde_json::to_vec(command).map_err(|e| JournalError::Corrupt {
            seq: self.next,
            reason: e.to_string(),
        })?;
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db
            .put_cf_opt(cf, self.next.to_be_bytes(), value, &opts)?;
        self.next += 1;
        Ok(self.next - 1)
    }

    /// Writes `commands` durably in one synced write (all or none of them) and returns the
    /// sequence number of the first; they are numbered consecutively from it.
    pub fn append_all(&mut self, commands: &[Command]) -> Result<u64, JournalError> {
        let cf = self
            .db
            .cf_handle(JOURNAL_CF)
            .ok_or(JournalError::MissingColumnFamily)?;
        let mut batch = WriteBatch::default();
        for (i, command) in commands.iter().enumerate() {
            let seq = self.next + i as u64;
            let value = serde_json::to_vec(command).map_err(|e| JournalError::Corrupt {
                seq,
                reason: e.to_string(),
            })?;
            batch.put_cf(cf, seq.to_be_bytes(), value);
        }
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts)?;
        let first = self.next;
        self.next += commands.len() as u64;
        Ok(first)
    }

    /// The command at sequence number `seq`, if the journal has one.
    pub fn get(&self, seq: u64) -> Result<Option<Command>, JournalError> {
        let cf = self
            .db
            .cf_handle(JOURNAL_CF)
            .ok_or(JournalError::MissingColumnFamily)?;
        let Some(value) = self.db.get_cf(cf, seq.to_be_bytes())? else {
            return Ok(None);
        };
        serde_json::from_slice(&value)
            .map(Some)
            .map_err(|e| JournalError::Corrupt {
                seq,
                reason: e.to_string(),
            })
    }

    /// Every command, in order.
    pub fn read_all(&self) -> Result<Vec<Command>, JournalError> {
        self.read_from(0)
    }

    /// The commands from sequence number `first` on, in order; the entries must be numbered
    /// without gaps up to the journal's length.
    ///
    /// The entries are read in order and decoded on every core: decoding an order checks its
    /// signature's `R` is in the prime-order subgroup (a scalar multiplication), which on one
    /// thread was half of a restart's time. A corrupt entry is reported at the first one.
    pub fn read_from(&self, first: u64) -> Result<Vec<Command>, JournalError> {
        use rayon::prelude::*;
        let cf = self
            .db
            .cf_handle(JOURNAL_CF)
            .ok_or(JournalError::MissingColumnFamily)?;
        let mut raw = Vec::new();
        let start = first.to_be_bytes();
        let mode = IteratorMode::From(&start, rocksdb::Direction::Forward);
        for (i, item) in self.db.iterator_cf(cf, mode).enumerate() {
            let (key, value) = item?;
            let seq = first + i as u64;
            if key.as_ref() != seq.to_be_bytes() {
                return Err(JournalError::Corrupt {
                    seq,
                    reason: "sequence numbers are not contiguous".into(),
                });
            }
            raw.push(value);
        }
        let decoded: Vec<Result<Command, serde_json::Error>> = raw
            .par_iter()
            .map(|value| serde_json::from_slice(value))
            .collect();
        let mut out = Vec::with_capacity(decoded.len());
        for (i, command) in decoded.into_iter().enumerate() {
            out.push(command.map_err(|e| JournalError::Corrupt {
                seq: first + i as u64,
                reason: e.to_string(),
            })?);
        }
        if first + out.len() as u64 != self.next.max(first) {
            return Err(JournalError::Corrupt {
                seq: first + out.len() as u64,
                reason: format!("the journal ends before its length {}", self.next),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkperp_state::units::Timestamp;

    #[test]
    fn entries_decode_in_order_and_the_first_corrupt_one_is_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut journal = Journal::open(dir.path()).expect("open");
        let commands: Vec<Command> = (0..400u64)
            .map(|i| match i % 2 {
                0 => Command::BeginBatch {
                    timestamp: Timestamp::new(1_700_000_000 + i).expect("time"),
                },
                _ => Command::EndBatch,
            })
            .collect();
        journal.append_all(&commands).expect("append");
        let read = journal.read_all().expect("read");
        assert_eq!(
            serde_json::to_string(&read).expect("json"),
            serde_json::to_string(&commands).expect("json"),
            "every entry, in order"
        );
        let cf = journal.db.cf_handle(JOURNAL_CF).expect("cf");
        for seq in [3u64, 250] {
            journal
                .db
                .put_cf(cf, seq.to_be_bytes(), b"not a command")
                .expect("damage");
        }
        let corrupt_at = |first: u64| match journal.read_from(first) {
            Err(JournalError::Corrupt { seq, .. }) => Some(seq),
            Ok(_) => None,
            Err(e) => panic!("another error: {e}"),
        };
        assert_eq!(corrupt_at(0), Some(3), "the first damaged entry");
        assert_eq!(corrupt_at(4), Some(250));
        assert_eq!(corrupt_at(251), None);
        assert_eq!(journal.read_from(398).expect("the tail").len(), 2);
    }
}
