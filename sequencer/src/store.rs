//! Merkle nodes in RocksDB, written in atomic, synced batches.
//!
//! Layout, in three column families of the sequencer's database ([`crate::storage`]):
//!
//! ```text
//! merkle_nodes:   level (1 byte) || index (8 bytes, big-endian)  ->  node (32 bytes, LE canonical)
//! merkle_meta:    caller-chosen name                             ->  caller-chosen bytes
//! merkle_history: level || index || version (8 bytes, BE)        ->  node, as of that version
//! ```
//!
//! A *versioned* commit ([`RocksNodeStore::commit_versioned`]) also writes each of its nodes to
//! `merkle_history` under the caller's version (the verified state uses the batch number), so
//! the tree as of any version is readable: a node's value at version `v` is its history entry
//! with the greatest version `<= v` (one `seek_for_prev`), or the empty subtree if it has none.
//!
//! Big-endian indices keep each level contiguous and in index order, so a level can be scanned
//! with one iterator. A node value is the canonical little-endian encoding of a field element;
//! bytes that are not one (wrong length, or `>= r`) are corruption and are reported, never
//! reduced: reducing would silently turn a damaged node into a different, valid-looking one.
//!
//! [`RocksNodeStore::put`](NodeStore::put) only touches an in-memory overlay that reads consult
//! first. [`RocksNodeStore::commit`] writes the overlay and the caller's metadata (root, commit
//! counter) as one `WriteBatch` with `sync = true`: after a crash the database holds either all of
//! a commit or none of it, and a commit that returned `Ok` survives a crash of the process and of
//! the machine. [`RocksNodeStore::rollback`] drops the overlay.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rocksdb::{DBPinnableSlice, Direction, IteratorMode, WriteBatch, WriteOptions, DB};
use zkperp_state::field::{fr_from_le_bytes, fr_to_le_bytes, Fr};
use zkperp_state::merkle::{NodeKey, NodeStore};

use crate::storage::cf;
pub use crate::storage::{HISTORY_CF, NODES_CF, TREE_META_CF as META_CF};
/// Bytes in a history key: a node key, then the version.
pub const HISTORY_KEY_LEN: usize = NODE_KEY_LEN + 8;

/// Bytes in a node key: the level, then the index.
pub const NODE_KEY_LEN: usize = 1 + 8;
/// Bytes in a node value: one canonical field element.
pub const NODE_VALUE_LEN: usize = 32;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("the database has no column family `{0}`")]
    MissingColumnFamily(&'static str),
    #[error("corrupt database: {0}")]
    Corrupt(#[from] Corruption),
}

/// Stored bytes that no correct commit could have written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    #[error("node key {} is not {NODE_KEY_LEN} bytes", hex_bytes(.0))]
    NodeKey(Vec<u8>),
    #[error("node at level {}, index {} holds {len} bytes, not a canonical field element", .key.level, .key.index)]
    NodeValue { key: NodeKey, len: usize },
    #[error("metadata `{name}`: {reason}")]
    Meta { name: String, reason: String },
    #[error("the metadata root {meta_root} differs from the stored root node {node_root}")]
    RootMismatch { meta_root: Fr, node_root: Fr },
    #[error("the database holds Merkle nodes but no tree metadata")]
    NodesWithoutMeta,
}

fn hex_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `level || index` (big-endian), the key of a node.
pub fn encode_node_key(key: NodeKey) -> [u8; NODE_KEY_LEN] {
    let mut out = [0u8; NODE_KEY_LEN];
    out[0] = key.level;
    out[1..].copy_from_slice(&key.index.to_be_bytes());
    out
}

/// The inverse of [`encode_node_key`].
pub fn decode_node_key(bytes: &[u8]) -> Result<NodeKey, Corruption> {
    let (&level, index) = bytes
        .split_first()
        .ok_or_else(|| Corruption::NodeKey(bytes.to_vec()))?;
    let index: [u8; 8] = index
        .try_into()
        .map_err(|_| Corruption::NodeKey(bytes.to_vec()))?;
    Ok(NodeKey {
        level,
        index: u64::from_be_bytes(index),
    })
}

/// Decodes a stored node value, rejecting anything but a canonical field element.
pub fn decode_node_value(key: NodeKey, bytes: &[u8]) -> Result<Fr, Corruption> {
    let corrupt = || Corruption::NodeValue {
        key,
        len: bytes.len(),
    };
    let bytes: &[u8; NODE_VALUE_LEN] = bytes.try_into().map_err(|_| corrupt())?;
    fr_from_le_bytes(bytes).map_err(|_| corrupt())
}

/// A metadata entry: its name and its bytes.
pub type MetaEntry = (Vec<u8>, Vec<u8>);

/// The history key of `key` at `version`.
pub fn encode_history_key(key: NodeKey, version: u64) -> [u8; HISTORY_KEY_LEN] {
    let mut out = [0u8; HISTORY_KEY_LEN];
    out[..NODE_KEY_LEN].copy_from_slice(&encode_node_key(key));
    out[NODE_KEY_LEN..].copy_from_slice(&version.to_be_bytes());
    out
}

/// A [`NodeStore`] over RocksDB with an in-memory overlay of uncommitted nodes.
pub struct RocksNodeStore {
    db: Arc<DB>,
    /// Nodes written since the last commit. A map rather than a growing `WriteBatch`: one leaf
    /// update rewrites every node on its path, so the upper levels are rewritten once per update
    /// in a batch; the map keeps the last value of each and the commit writes each node once.
    overlay: HashMap<NodeKey, Fr>,
}

impl fmt::Debug for RocksNodeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksNodeStore")
            .field("path", &self.db.path())
            .field("pending_nodes", &self.overlay.len())
            .finish()
    }
}

impl RocksNodeStore {
    /// Opens the sequencer's database at `path` ([`crate::storage::Storage`]) for this store
    /// alone, with an empty overlay.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::new(crate::storage::Storage::open(path)?.db().clone())
    }

    /// A store over an already open database, which must have [`NODES_CF`] and [`META_CF`].
    /// Sharing the `Arc` lets other sequencer tables live in the same database.
    pub fn new(db: Arc<DB>) -> Result<Self, StoreError> {
        cf(&db, NODES_CF)?;
        cf(&db, META_CF)?;
        Ok(RocksNodeStore {
            db,
            overlay: HashMap::new(),
        })
    }

    pub fn db(&self) -> &Arc<DB> {
        &self.db
    }

    /// The number of distinct nodes written since the last commit.
    pub fn pending_nodes(&self) -> usize {
        self.overlay.len()
    }

    /// The committed value of a metadata entry (the overlay holds nodes only).
    pub fn meta(&self, name: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(cf(&self.db, META_CF)?, name)?)
    }

    /// Writes every pending node and the metadata entries as one atomic, synced batch, then
    /// empties the overlay.
    ///
    /// On error the overlay is kept. The batch is then all or nothing but its fate is unknown:
    /// if the failure was the fsync after the WAL write, RocksDB refuses further writes and the
    /// batch may reappear, whole, when the database is reopened.
    pub fn commit(&mut self, meta: &[(&[u8], &[u8])]) -> Result<(), StoreError> {
        self.commit_versioned(meta, None)
    }

    /// [`RocksNodeStore::commit`], also writing every pending node to the history under
    /// `version` (in the same atomic batch), when given. Versions must only grow.
    pub fn commit_versioned(
        &mut self,
        meta: &[(&[u8], &[u8])],
        version: Option<u64>,
    ) -> Result<(), StoreError> {
        let nodes_cf = cf(&self.db, NODES_CF)?;
        let meta_cf = cf(&self.db, META_CF)?;
        let history_cf = match version {
            Some(_) => Some(cf(&self.db, HISTORY_CF)?),
            None => None,
        };
        let mut batch = WriteBatch::default();
        for (key, value) in &self.overlay {
            let bytes = fr_to_le_bytes(value);
            batch.put_cf(nodes_cf, encode_node_key(*key), bytes);
            if let (Some(history), Some(v)) = (history_cf, version) {
                batch.put_cf(history, encode_history_key(*key, v), bytes);
            }
        }
        for (name, value) in meta {
            batch.put_cf(meta_cf, name, value);
        }
        // sync: the commit is acknowledged to the caller (and by it to users), so it must be on
        // the disk, not in the page cache, when this returns. The WAL stays enabled: without it
        // a commit lives only in the memtable until a flush.
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts)?;
        tracing::debug!(
            target: "zkperp::sequencer::store",
            nodes = self.overlay.len(),
            meta = meta.len(),
            "committed"
        );
        self.overlay.clear();
        Ok(())
    }

    /// The committed value of node `key` as of `version`: its history entry with the greatest
    /// version `<= version`, or `None` if no versioned commit up to then wrote it.
    pub fn node_at(&self, key: NodeKey, version: u64) -> Result<Option<Fr>, StoreError> {
        let mut it = self.db.raw_iterator_cf(cf(&self.db, HISTORY_CF)?);
        it.seek_for_prev(encode_history_key(key, version));
        let (Some(found), Some(value)) = (it.key(), it.value()) else {
            it.status()?;
            return Ok(None);
        };
        if found.len() != HISTORY_KEY_LEN {
            return Err(Corruption::NodeKey(found.to_vec()).into());
        }
        if found[..NODE_KEY_LEN] != encode_node_key(key) {
            return Ok(None);
        }
        Ok(Some(decode_node_value(key, value)?))
    }

    /// The committed metadata entry with the greatest name `<= name` among those starting
    /// with `prefix` (names that end in a big-endian version make this "as of a version").
    pub fn meta_at_or_before(
        &self,
        prefix: &[u8],
        name: &[u8],
    ) -> Result<Option<MetaEntry>, StoreError> {
        let mut it = self.db.raw_iterator_cf(cf(&self.db, META_CF)?);
        it.seek_for_prev(name);
        match (it.key(), it.value()) {
            (Some(k), Some(v)) if k.starts_with(prefix) => Ok(Some((k.to_vec(), v.to_vec()))),
            _ => {
                it.status()?;
                Ok(None)
            }
        }
    }

    /// Forgets every node written since the last commit.
    pub fn rollback(&mut self) {
        self.overlay.clear();
    }

    /// The committed nodes of one level in index order, ignoring the overlay.
    pub fn committed_level(
        &self,
        level: u8,
    ) -> Result<impl Iterator<Item = Result<(u64, Fr), StoreError>> + '_, StoreError> {
        let start = [level];
        let iter = self
            .db
            .iterator_cf(
                cf(&self.db, NODES_CF)?,
                IteratorMode::From(&start, Direction::Forward),
            )
            .map(|item| -> Result<(NodeKey, Fr), StoreError> {
                let (key, value) = item?;
                let key = decode_node_key(&key)?;
                Ok((key, decode_node_value(key, &value)?))
            })
            .take_while(move |item| !matches!(item, Ok((key, _)) if key.level != level))
            .map(|item| item.map(|(key, value)| (key.index, value)));
        Ok(iter)
    }

    /// Whether any node has ever been committed.
    pub fn has_committed_nodes(&self) -> Result<bool, StoreError> {
        let mut iter = self
            .db
            .iterator_cf(cf(&self.db, NODES_CF)?, IteratorMode::Start);
        Ok(iter.next().transpose()?.is_some())
    }

    fn committed(&self, key: NodeKey) -> Result<Option<Fr>, StoreError> {
        let value: Option<DBPinnableSlice> = self
            .db
            .get_pinned_cf(cf(&self.db, NODES_CF)?, encode_node_key(key))?;
        Ok(value
            .map(|bytes| decode_node_value(key, &bytes))
            .transpose()?)
    }
}

impl NodeStore for RocksNodeStore {
    type Error = StoreError;

    fn get(&self, key: NodeKey) -> Result<Option<Fr>, StoreError> {
        match self.overlay.get(&key) {
            Some(value) => Ok(Some(*value)),
            None => self.committed(key),
        }
    }

    fn put(&mut self, key: NodeKey, value: Fr) -> Result<(), StoreError> {
        self.overlay.insert(key, value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_keys_round_trip_and_sort_by_level_then_index() {
        let keys = [
            NodeKey { level: 0, index: 0 },
            NodeKey { level: 0, index: 1 },
            NodeKey {
                level: 0,
                index: u64::MAX,
            },
            NodeKey { level: 1, index: 0 },
            NodeKey {
                level: 32,
                index: 0x0102_0304,
            },
        ];
        for pair in keys.windows(2) {
            assert!(encode_node_key(pair[0]) < encode_node_key(pair[1]));
        }
        for key in keys {
            assert_eq!(decode_node_key(&encode_node_key(key)), Ok(key));
        }
        assert!(decode_node_key(&[0u8; 8]).is_err());
        assert!(decode_node_key(&[0u8; 10]).is_err());
        assert!(decode_node_key(&[]).is_err());
    }

    #[test]
    fn node_values_must_be_canonical() {
        let key = NodeKey { level: 3, index: 7 };
        let x = Fr::from(12345u64);
        assert_eq!(decode_node_value(key, &fr_to_le_bytes(&x)), Ok(x));
        // r itself, little-endian: the smallest non-canonical value, which reduction would map to 0.
        let r_le = hex_to_bytes("010000f093f5e1439170b97948e833285d588181b64550b829a031e1724e6430");
        assert!(decode_node_value(key, &r_le).is_err());
        assert!(decode_node_value(key, &[0xff; 32]).is_err());
        assert!(decode_node_value(key, &[0u8; 31]).is_err());
        assert!(decode_node_value(key, &[0u8; 33]).is_err());
    }

    fn hex_to_bytes(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }
}
