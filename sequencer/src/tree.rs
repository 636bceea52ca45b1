//! The sequencer's state tree on disk: a [`SparseMerkleTree`] over [`RocksNodeStore`] whose every
//! batch of leaf updates is one atomic, synced commit.
//!
//! Metadata written with every commit (in [`META_CF`](crate::store::META_CF)):
//!
//! ```text
//! merkle/depth         1 byte        the depth the tree was created with
//! merkle/root          32 bytes LE   the root after the commit
//! merkle/commit_count  8 bytes BE    commits since the tree was created
//! ```
//!
//! Opening checks the metadata against itself and against the stored root node, so a database
//! in which nodes and metadata disagree is reported as corrupt instead of served.

use std::sync::Arc;

use zkperp_state::field::{fr_from_le_bytes, fr_to_le_bytes, Fr};
use zkperp_state::merkle::{
    empty_roots, MerkleError, MerkleProof, NodeKey, SparseMerkleTree, MAX_DEPTH,
};

use crate::storage::At;
use crate::store::{Corruption, RocksNodeStore, StoreError};

const DEPTH_KEY: &[u8] = b"merkle/depth";
const ROOT_KEY: &[u8] = b"merkle/root";
const COMMIT_COUNT_KEY: &[u8] = b"merkle/commit_count";

/// Why a [`PersistentTree`] operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("tree depth {0} is outside 1..={MAX_DEPTH}")]
    BadDepth(u8),
    #[error("leaf index {index} does not fit a tree of depth {depth}")]
    IndexOutOfRange { index: u64, depth: u8 },
    #[error("leaf index {index} follows {previous}: the writes must be in ascending index")]
    NotAscending { index: u64, previous: u64 },
    #[error("the database holds a tree of depth {stored}, not {requested}")]
    DepthMismatch { stored: u8, requested: u8 },
    #[error(
        "an earlier failure left uncommitted nodes that could not be discarded; reopen the tree"
    )]
    Poisoned,
}

impl TreeError {
    /// Whether the database itself is damaged (as opposed to a bad request or an I/O failure).
    pub fn is_corruption(&self) -> bool {
        matches!(self, TreeError::Store(StoreError::Corrupt(_)))
    }
}

impl From<MerkleError<StoreError>> for TreeError {
    fn from(e: MerkleError<StoreError>) -> Self {
        match e {
            MerkleError::IndexOutOfRange { index, depth } => {
                TreeError::IndexOutOfRange { index, depth }
            }
            MerkleError::NotAscending { index, previous } => {
                TreeError::NotAscending { index, previous }
            }
            MerkleError::BadDepth(depth) => TreeError::BadDepth(depth),
            MerkleError::Store(e) => TreeError::Store(e),
        }
    }
}

/// A sparse Merkle tree in RocksDB, changed only by whole committed batches.
#[derive(Debug)]
pub struct PersistentTree {
    tree: SparseMerkleTree<RocksNodeStore>,
    /// The root as of the last commit; equal to `tree.root()` except while a batch is applied.
    root: Fr,
    commit_count: u64,
    /// Set when a failed batch could not be undone in memory: the tree's cached root may then
    /// include uncommitted updates, so nothing more may be read or written through it.
    poisoned: bool,
}

impl PersistentTree {
    /// Opens (or creates) the tree of the given depth in the sequencer's database `at`.
    pub fn open(at: impl At, depth: u8) -> Result<Self, TreeError> {
        Self::with_store(RocksNodeStore::new(at.storage()?.db().clone())?, depth)
    }

    /// Opens (or creates) the tree of the given depth in `store`, discarding any nodes pending
    /// in it.
    pub fn with_store(mut store: RocksNodeStore, depth: u8) -> Result<Self, TreeError> {
        if depth == 0 || depth > MAX_DEPTH {
            return Err(TreeError::BadDepth(depth));
        }
        store.rollback();
        match read_meta(&store)? {
            Some(meta) => Self::reopen(store, depth, meta),
            None => Self::create(store, depth),
        }
    }

    fn reopen(store: RocksNodeStore, depth: u8, meta: Meta) -> Result<Self, TreeError> {
        if meta.depth != depth {
            return Err(TreeError::DepthMismatch {
                stored: meta.depth,
                requested: depth,
            });
        }
        // The tree reads its root from the level-`depth` node; the metadata root was written in
        // the same batch, so any difference means the batch boundary was not respected.
        let tree = SparseMerkleTree::open(depth, store)?;
        if tree.root() != meta.root {
            return Err(StoreError::from(Corruption::RootMismatch {
                meta_root: meta.root,
                node_root: tree.root(),
            })
            .into());
        }
        tracing::info!(
            target: "zkperp::sequencer::tree",
            depth,
            commit_count = meta.commit_count,
            root = %meta.root,
            "opened"
        );
        Ok(PersistentTree {
            tree,
            root: meta.root,
            commit_count: meta.commit_count,
            poisoned: false,
        })
    }

    fn create(mut store: RocksNodeStore, depth: u8) -> Result<Self, TreeError> {
        if store.has_committed_nodes()? {
            return Err(StoreError::from(Corruption::NodesWithoutMeta).into());
        }
        // Bind the database to this depth before any node is written, so a later open with
        // another depth is refused rather than reading nodes of the wrong shape.
        let root = empty_roots()[usize::from(depth)];
        store.commit(&meta_entries(depth, root, 0).each_ref().map(pair))?;
        tracing::info!(target: "zkperp::sequencer::tree", depth, "created");
        Ok(PersistentTree {
            tree: SparseMerkleTree::open(depth, store)?,
            root,
            commit_count: 0,
            poisoned: false,
        })
    }

    pub fn depth(&self) -> u8 {
        self.tree.depth()
    }

    /// The committed root.
    pub fn root(&self) -> Fr {
        self.root
    }

    /// The number of batches committed since the tree was created.
    pub fn commit_count(&self) -> u64 {
        self.commit_count
    }

    /// The committed leaf at `index` (`0` if never written).
    pub fn leaf(&self, index: u64) -> Result<Fr, TreeError> {
        self.check_usable()?;
        Ok(self.tree.leaf(index)?)
    }

    /// A proof of the committed leaf at `index` against [`root`](Self::root).
    pub fn proof(&self, index: u64) -> Result<MerkleProof, TreeError> {
        self.check_usable()?;
        Ok(self.tree.proof(index)?)
    }

    /// The leaf at `index`, its proof, and the root, as of versioned commit `version` (the
    /// last versioned commit at or before it). Only meaningful when every commit that wrote
    /// the tree up to `version` was versioned.
    pub fn proof_at(&self, index: u64, version: u64) -> Result<(Fr, MerkleProof, Fr), TreeError> {
        self.check_usable()?;
        let depth = self.depth();
        if index >= self.tree.capacity() {
            return Err(TreeError::IndexOutOfRange { index, depth });
        }
        let store = self.tree.store();
        let empty = empty_roots();
        let node = |level: u8, index: u64| -> Result<Fr, TreeError> {
            Ok(store
                .node_at(NodeKey { level, index }, version)?
                .unwrap_or(empty[usize::from(level)]))
        };
        let siblings = (0..depth)
            .map(|level| node(level, (index >> level) ^ 1))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((
            node(0, index)?,
            MerkleProof { index, siblings },
            node(depth, 0)?,
        ))
    }

    /// Every committed leaf that has been written, in index order (including leaves written
    /// back to `0`).
    pub fn stored_leaves(
        &self,
    ) -> Result<impl Iterator<Item = Result<(u64, Fr), StoreError>> + '_, TreeError> {
        self.check_usable()?;
        Ok(self.tree.store().committed_level(0)?)
    }

    /// Writes the leaves in order (a later write to the same index wins) and commits them as
    /// one batch, returning the new root.
    ///
    /// On error this tree is as before the call. Only a failure inside the commit's write can
    /// leave the batch on disk (see [`RocksNodeStore::commit`]); reopening then shows it by
    /// [`commit_count`](Self::commit_count), whole, or not at all.
    pub fn update_many(&mut self, updates: &[(u64, Fr)]) -> Result<Fr, TreeError> {
        self.update_many_with_meta(updates, &[])
    }

    /// As [`update_many`](Self::update_many), writing the caller's metadata entries in the
    /// same atomic, synced commit (names must not collide with the tree's own: `merkle/...`).
    pub fn update_many_with_meta(
        &mut self,
        updates: &[(u64, Fr)],
        extra: &[(&[u8], &[u8])],
    ) -> Result<Fr, TreeError> {
        self.update(updates, extra, None)
    }

    /// As [`update_many_with_meta`](Self::update_many_with_meta), keeping the nodes it writes
    /// as of `version` (which must be greater than every earlier commit's): the tree as it is
    /// after this commit stays readable by [`proof_at`](Self::proof_at) after later ones.
    pub fn update_many_versioned(
        &mut self,
        updates: &[(u64, Fr)],
        extra: &[(&[u8], &[u8])],
        version: u64,
    ) -> Result<Fr, TreeError> {
        self.update(updates, extra, Some(version))
    }

    fn update(
        &mut self,
        updates: &[(u64, Fr)],
        extra: &[(&[u8], &[u8])],
        version: Option<u64>,
    ) -> Result<Fr, TreeError> {
        self.check_usable()?;
        // Range errors are found before any node is written, so they need no undo.
        let capacity = self.tree.capacity();
        if let Some(&(index, _)) = updates.iter().find(|(index, _)| *index >= capacity) {
            return Err(TreeError::IndexOutOfRange {
                index,
                depth: self.depth(),
            });
        }
        match self.apply_and_commit(updates, extra, version) {
            Ok(root) => Ok(root),
            Err(e) => {
                self.discard_pending();
                Err(e)
            }
        }
    }

    fn apply_and_commit(
        &mut self,
        updates: &[(u64, Fr)],
        extra: &[(&[u8], &[u8])],
        version: Option<u64>,
    ) -> Result<Fr, TreeError> {
        for &(index, leaf) in updates {
            self.tree.update(index, leaf)?;
        }
        let root = self.tree.root();
        // No overflow: a commit takes at least one synced disk write, far fewer than 2^64.
        let commit_count = self.commit_count + 1;
        let meta = meta_entries(self.depth(), root, commit_count);
        let mut entries: Vec<(&[u8], &[u8])> = meta.each_ref().map(pair).to_vec();
        entries.extend_from_slice(extra);
        self.tree.store_mut().commit_versioned(&entries, version)?;
        self.root = root;
        self.commit_count = commit_count;
        Ok(root)
    }

    /// Drops the uncommitted nodes of a failed batch and the root the tree cached from them.
    fn discard_pending(&mut self) {
        self.tree.store_mut().rollback();
        // SparseMerkleTree caches its root and offers no way to reset it, so rebuild it over a
        // fresh store sharing the same database (the rolled-back store has nothing pending).
        let reopened = RocksNodeStore::new(Arc::clone(self.tree.store().db()))
            .map_err(TreeError::from)
            .and_then(|store| Ok(SparseMerkleTree::open(self.depth(), store)?));
        match reopened {
            Ok(tree) => self.tree = tree,
            Err(e) => {
                tracing::error!(
                    target: "zkperp::sequencer::tree",
                    error = %e,
                    "could not discard a failed batch; the tree refuses further use"
                );
                self.poisoned = true;
            }
        }
    }

    fn check_usable(&self) -> Result<(), TreeError> {
        if self.poisoned {
            Err(TreeError::Poisoned)
        } else {
            Ok(())
        }
    }

    /// The underlying store, for callers that need the database (e.g. to share it).
    pub fn store(&self) -> &RocksNodeStore {
        self.tree.store()
    }
}

struct Meta {
    depth: u8,
    root: Fr,
    commit_count: u64,
}

type MetaEntry = (&'static [u8], Vec<u8>);

fn meta_entries(depth: u8, root: Fr, commit_count: u64) -> [MetaEntry; 3] {
    [
        (DEPTH_KEY, vec![depth]),
        (ROOT_KEY, fr_to_le_bytes(&root).to_vec()),
        (COMMIT_COUNT_KEY, commit_count.to_be_bytes().to_vec()),
    ]
}

fn pair(entry: &MetaEntry) -> (&[u8], &[u8]) {
    (entry.0, &entry.1)
}

/// The tree metadata, `None` for a database that never held a tree. Entries are written
/// together, so a database with only some of them is corrupt.
fn read_meta(store: &RocksNodeStore) -> Result<Option<Meta>, TreeError> {
    let depth = store.meta(DEPTH_KEY)?;
    let root = store.meta(ROOT_KEY)?;
    let commit_count = store.meta(COMMIT_COUNT_KEY)?;
    let (depth, root, commit_count) = match (depth, root, commit_count) {
        (None, None, None) => return Ok(None),
        (Some(depth), Some(root), Some(commit_count)) => (depth, root, commit_count),
        (depth, root, commit_count) => {
            return Err(corrupt_meta(
                "merkle/*",
                format!(
                    "only some entries present (depth: {}, root: {}, commit_count: {})",
                    depth.is_some(),
                    root.is_some(),
                    commit_count.is_some()
                ),
            ))
        }
    };
    let depth = match depth.as_slice() {
        [depth] if (1..=MAX_DEPTH).contains(depth) => *depth,
        _ => return Err(corrupt_meta("merkle/depth", format!("bytes {depth:?}"))),
    };
    let root = <&[u8; 32]>::try_from(root.as_slice())
        .ok()
        .and_then(|bytes| fr_from_le_bytes(bytes).ok())
        .ok_or_else(|| corrupt_meta("merkle/root", "not a canonical field element".into()))?;
    let commit_count = <[u8; 8]>::try_from(commit_count.as_slice())
        .map(u64::from_be_bytes)
        .map_err(|_| corrupt_meta("merkle/commit_count", "not 8 bytes".into()))?;
    Ok(Some(Meta {
        depth,
        root,
        commit_count,
    }))
}

fn corrupt_meta(name: &str, reason: String) -> TreeError {
    StoreError::from(Corruption::Meta {
        name: name.to_owned(),
        reason,
    })
    .into()
}
