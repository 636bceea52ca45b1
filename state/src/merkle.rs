//! A sparse Merkle tree of Poseidon, generic over where its nodes live.
//!
//! Level 0 holds the leaves, level `depth` the root; node `(level + 1, i)` is
//! `Poseidon(node(level, 2i), node(level, 2i + 1))`. An empty leaf is `0`, and an absent node
//! equals the root of an empty subtree of its height, so a tree of depth 32 costs only what is
//! written. The store is a trait so the sequencer can keep nodes in RocksDB (with atomic batches)
//! while this crate stays free of I/O; [`MemoryStore`] serves tests, the orders trees inside
//! account leaves, and the circuits.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, OnceLock};

use crate::field::Fr;
use crate::poseidon::poseidon2;

/// The deepest tree the protocol allows (account ids are `u32`; 48 leaves headroom for tests of
/// the width logic).
pub const MAX_DEPTH: u8 = 48;

/// Where a node sits: `level` 0 is the leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeKey {
    pub level: u8,
    pub index: u64,
}

/// Storage of non-empty nodes.
pub trait NodeStore {
    type Error: std::error::Error + Send + Sync + 'static;
    fn get(&self, key: NodeKey) -> Result<Option<Fr>, Self::Error>;
    fn put(&mut self, key: NodeKey, value: Fr) -> Result<(), Self::Error>;
}

/// Nodes in a hash map.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    nodes: HashMap<NodeKey, Fr>,
}

impl MemoryStore {
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The non-empty leaves written, by index.
    pub fn leaves(&self) -> Vec<(u64, Fr)> {
        let mut leaves: Vec<(u64, Fr)> = self
            .nodes
            .iter()
            .filter(|(k, _)| k.level == 0)
            .map(|(k, v)| (k.index, *v))
            .collect();
        leaves.sort_unstable_by_key(|(index, _)| *index);
        leaves
    }
}

impl NodeStore for MemoryStore {
    type Error = Infallible;
    fn get(&self, key: NodeKey) -> Result<Option<Fr>, Infallible> {
        Ok(self.nodes.get(&key).copied())
    }
    fn put(&mut self, key: NodeKey, value: Fr) -> Result<(), Infallible> {
        self.nodes.insert(key, value);
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MerkleError<E: std::error::Error + 'static> {
    #[error("leaf index {index} does not fit a tree of depth {depth}")]
    IndexOutOfRange { index: u64, depth: u8 },
    #[error("tree depth {0} is outside 1..={MAX_DEPTH}")]
    BadDepth(u8),
    #[error("leaf index {index} follows {previous}: the writes must be in ascending index")]
    NotAscending { index: u64, previous: u64 },
    #[error("node store: {0}")]
    Store(#[source] E),
}

/// `empty_roots()[h]` is the root of an empty subtree of height `h`.
pub fn empty_roots() -> &'static [Fr] {
    static EMPTY: OnceLock<Vec<Fr>> = OnceLock::new();
    EMPTY.get_or_init(|| {
        let mut v = vec![Fr::from(0u64)];
        for h in 0..usize::from(MAX_DEPTH) {
            v.push(poseidon2(v[h], v[h]));
        }
        v
    })
}

/// Siblings from the leaf level up: enough to recompute the root from one leaf.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MerkleProof {
    pub index: u64,
    #[serde(with = "crate::field::serde_fr_vec")]
    pub siblings: Vec<Fr>,
}

impl MerkleProof {
    /// The root this proof gives for `leaf`.
    pub fn root_for(&self, leaf: Fr) -> Fr {
        let mut acc = leaf;
        for (level, sibling) in self.siblings.iter().enumerate() {
            acc = if (self.index >> level) & 1 == 0 {
                poseidon2(acc, *sibling)
            } else {
                poseidon2(*sibling, acc)
            };
        }
        acc
    }

    pub fn verify(&self, root: Fr, leaf: Fr) -> bool {
        self.siblings.len() <= usize::from(MAX_DEPTH)
            && (self.siblings.len() == 64 || self.index >> self.siblings.len() == 0)
            && self.root_for(leaf) == root
    }
}

/// One leaf write: what the circuit needs to check it (old leaf and path give the old root,
/// new leaf and the same path give the new root).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MerkleUpdate {
    pub proof: MerkleProof,
    #[serde(with = "crate::field::serde_fr")]
    pub old_leaf: Fr,
    #[serde(with = "crate::field::serde_fr")]
    pub new_leaf: Fr,
    #[serde(with = "crate::field::serde_fr")]
    pub old_root: Fr,
    #[serde(with = "crate::field::serde_fr")]
    pub new_root: Fr,
}

/// A sparse Merkle tree over a [`NodeStore`].
#[derive(Debug, Clone)]
pub struct SparseMerkleTree<S: NodeStore = MemoryStore> {
    depth: u8,
    root: Fr,
    store: S,
    empty: Arc<[Fr]>,
}

impl<S: NodeStore> SparseMerkleTree<S> {
    /// Opens the tree held by `store` (empty if the store has no root).
    pub fn open(depth: u8, store: S) -> Result<Self, MerkleError<S::Error>> {
        if depth == 0 || depth > MAX_DEPTH {
            return Err(MerkleError::BadDepth(depth));
        }
        let empty: Arc<[Fr]> = empty_roots()[..=usize::from(depth)].into();
        let root = store
            .get(NodeKey {
                level: depth,
                index: 0,
            })
            .map_err(MerkleError::Store)?
            .unwrap_or(empty[usize::from(depth)]);
        Ok(SparseMerkleTree {
            depth,
            root,
            store,
            empty,
        })
    }

    pub fn depth(&self) -> u8 {
        self.depth
    }

    pub fn root(&self) -> Fr {
        self.root
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    pub fn into_store(self) -> S {
        self.store
    }

    /// The number of leaves the tree can hold.
    pub fn capacity(&self) -> u64 {
        if self.depth >= 64 {
            u64::MAX
        } else {
            1u64 << self.depth
        }
    }

    fn check_index(&self, index: u64) -> Result<(), MerkleError<S::Error>> {
        if u32::from(self.depth) < 64 && index >> self.depth != 0 {
            return Err(MerkleError::IndexOutOfRange {
                index,
                depth: self.depth,
            });
        }
        Ok(())
    }

    fn node(&self, level: u8, index: u64) -> Result<Fr, MerkleError<S::Error>> {
        Ok(self
            .store
            .get(NodeKey { level, index })
            .map_err(MerkleError::Store)?
            .unwrap_or(self.empty[usize::from(level)]))
    }

    /// Stores `root` as the node at the top level and the tree's root.
    fn set_root(&mut self, root: Fr) -> Result<(), MerkleError<S::Error>> {
        let key = NodeKey {
            level: self.depth,
            index: 0,
        };
        self.store.put(key, root).map_err(MerkleError::Store)?;
        self.root = root;
        Ok(())
    }

    pub fn leaf(&self, index: u64) -> Result<Fr, MerkleError<S::Error>> {
        self.check_index(index)?;
        self.node(0, index)
    }

    pub fn proof(&self, index: u64) -> Result<MerkleProof, MerkleError<S::Error>> {
        self.check_index(index)?;
        let siblings = (0..self.depth)
            .map(|level| self.node(level, (index >> level) ^ 1))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MerkleProof { index, siblings })
    }

    /// Writes `leaf` at `index` and every node above it.
    pub fn update(&mut self, index: u64, leaf: Fr) -> Result<MerkleUpdate, MerkleError<S::Error>> {
        let proof = self.proof(index)?;
        let old_leaf = self.node(0, index)?;
        let old_root = self.root;
        let mut acc = leaf;
        self.store
            .put(NodeKey { level: 0, index }, acc)
            .map_err(MerkleError::Store)?;
        for (level, sibling) in proof.siblings.iter().enumerate() {
            let bit = (index >> level) & 1;
            acc = if bit == 0 {
                poseidon2(acc, *sibling)
            } else {
                poseidon2(*sibling, acc)
            };
            let key = NodeKey {
                level: level as u8 + 1,
                index: index >> (level + 1),
            };
            self.store.put(key, acc).map_err(MerkleError::Store)?;
        }
        self.root = acc;
        Ok(MerkleUpdate {
            proof,
            old_leaf,
            new_leaf: leaf,
            old_root,
            new_root: acc,
        })
    }
}

/// One step of [`SparseMerkleTree::run`]: a leaf write, or a read of a leaf's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathOp {
    Write { index: u64, leaf: Fr },
    Read { index: u64 },
}

impl PathOp {
    fn index(&self) -> u64 {
        match *self {
            PathOp::Write { index, .. } | PathOp::Read { index } => index,
        }
    }
}

/// What one [`PathOp`] gives: a write's update, or a read's path at its moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathResult {
    Write(MerkleUpdate),
    Read(MerkleProof),
}

/// Below this many operations a run hashes on the calling thread (a level's work is too small
/// to share).
const PARALLEL_RUN: usize = 64;

impl<S: NodeStore> SparseMerkleTree<S> {
    /// Does `ops` in order and returns what each gives: exactly what [`Self::update`] and
    /// [`Self::proof`] called one at a time give, every intermediate path and root included.
    ///
    /// The work is the same (a write hashes its whole path), but it is done a level at a time:
    /// the value of a write's node at level `l + 1` needs only its node at level `l` and its
    /// sibling there at the write's moment, which is the node as the latest earlier write
    /// through it left it (or as stored). So each level is one ordered scan that finds the
    /// siblings (no hashing) and then the level's hashes, independent of each other, on every
    /// core.
    pub fn run(&mut self, ops: &[PathOp]) -> Result<Vec<PathResult>, MerkleError<S::Error>> {
        use rayon::prelude::*;
        for op in ops {
            self.check_index(op.index())?;
        }
        let n = ops.len();
        let depth = usize::from(self.depth);
        // A write's node at the level being done (its leaf at level 0).
        let mut nodes: Vec<Fr> = ops
            .iter()
            .map(|op| match *op {
                PathOp::Write { leaf, .. } => leaf,
                PathOp::Read { .. } => Fr::from(0u64),
            })
            .collect();
        let mut siblings: Vec<Vec<Fr>> = vec![Vec::with_capacity(depth); n];
        let mut old_leaves = vec![Fr::from(0u64); n];
        let mut latest: HashMap<u64, Fr> = HashMap::new();
        for level in 0..self.depth {
            latest.clear();
            for (k, op) in ops.iter().enumerate() {
                let at = op.index() >> level;
                let sibling = match latest.get(&(at ^ 1)) {
                    Some(value) => *value,
                    None => self.node(level, at ^ 1)?,
                };
                siblings[k].push(sibling);
                if level == 0 {
                    old_leaves[k] = match latest.get(&at) {
                        Some(value) => *value,
                        None => self.node(0, at)?,
                    };
                }
                if let PathOp::Write { .. } = op {
                    latest.insert(at, nodes[k]);
                }
            }
            for (&index, &value) in &latest {
                self.store
                    .put(NodeKey { level, index }, value)
                    .map_err(MerkleError::Store)?;
            }
            let hash = |k: usize| match ops[k] {
                PathOp::Write { index, .. } => {
                    let sibling = siblings[k][usize::from(level)];
                    if (index >> level) & 1 == 0 {
                        poseidon2(nodes[k], sibling)
                    } else {
                        poseidon2(sibling, nodes[k])
                    }
                }
                PathOp::Read { .. } => Fr::from(0u64),
            };
            nodes = if n >= PARALLEL_RUN {
                (0..n).into_par_iter().map(hash).collect()
            } else {
                (0..n).map(hash).collect()
            };
        }
        let mut root = self.root;
        let mut results = Vec::with_capacity(n);
        for ((op, siblings), (node, old_leaf)) in ops
            .iter()
            .zip(siblings)
            .zip(nodes.into_iter().zip(old_leaves))
        {
            let proof = MerkleProof {
                index: op.index(),
                siblings,
            };
            results.push(match *op {
                PathOp::Read { .. } => PathResult::Read(proof),
                PathOp::Write { leaf, .. } => {
                    let old_root = root;
                    root = node;
                    PathResult::Write(MerkleUpdate {
                        proof,
                        old_leaf,
                        new_leaf: leaf,
                        old_root,
                        new_root: node,
                    })
                }
            });
        }
        if ops.iter().any(|op| matches!(op, PathOp::Write { .. })) {
            self.set_root(root)?;
        }
        Ok(results)
    }
}

impl<S: NodeStore> SparseMerkleTree<S> {
    /// Writes `leaves`, in strictly ascending index, as if one at a time in that order, and
    /// returns each write's path at its moment: its siblings once every smaller index is
    /// written and no larger one yet. That is the witness of a batch's account table, one
    /// update per touched account (`crate::table`), and the tree ends as those writes leave it.
    ///
    /// Every node above the written leaves is hashed once, the shared upper levels included,
    /// where writing one at a time hashes each path whole: account ids are dense, so the levels
    /// above the accounts in use are one path for the whole batch. A node's sibling at its
    /// write's moment needs no hashing: a left sibling covers only smaller indices, all written
    /// (its value after this level's writes), a right one only larger, none written (its value
    /// as stored). Each level's hashes are done on every core.
    pub fn write_sorted(
        &mut self,
        leaves: &[(u64, Fr)],
    ) -> Result<Vec<MerkleProof>, MerkleError<S::Error>> {
        use rayon::prelude::*;
        for pair in leaves.windows(2) {
            if pair[1].0 <= pair[0].0 {
                return Err(MerkleError::NotAscending {
                    index: pair[1].0,
                    previous: pair[0].0,
                });
            }
        }
        for (index, _) in leaves {
            self.check_index(*index)?;
        }
        if leaves.is_empty() {
            return Ok(Vec::new());
        }
        let depth = usize::from(self.depth);
        let mut siblings: Vec<Vec<Fr>> = vec![Vec::with_capacity(depth); leaves.len()];
        // The level's written nodes (ascending index, new values) and, for each leaf, where
        // its ancestor sits among them.
        let mut level: Vec<(u64, Fr)> = leaves.to_vec();
        let mut owner: Vec<usize> = (0..leaves.len()).collect();
        for height in 0..self.depth {
            // Each written node's sibling at its moment, read before this level is stored.
            let mut sibling = Vec::with_capacity(level.len());
            for (j, &(index, _)) in level.iter().enumerate() {
                let value = if index & 1 == 1 && j > 0 && level[j - 1].0 == index - 1 {
                    level[j - 1].1
                } else {
                    self.node(height, index ^ 1)?
                };
                sibling.push(value);
            }
            for (k, &j) in owner.iter().enumerate() {
                siblings[k].push(sibling[j]);
            }
            for &(index, value) in &level {
                self.store
                    .put(
                        NodeKey {
                            level: height,
                            index,
                        },
                        value,
                    )
                    .map_err(MerkleError::Store)?;
            }
            // The parents: a pair of written siblings makes one, hashed from both new values.
            let mut pairs: Vec<(u64, Fr, Fr)> = Vec::with_capacity(level.len());
            let mut parent_of = Vec::with_capacity(level.len());
            let mut j = 0;
            while j < level.len() {
                let (index, value) = level[j];
                if index & 1 == 0 && level.get(j + 1).is_some_and(|next| next.0 == index + 1) {
                    pairs.push((index >> 1, value, level[j + 1].1));
                    parent_of.extend([pairs.len() - 1; 2]);
                    j += 2;
                } else {
                    let (left, right) = if index & 1 == 0 {
                        (value, sibling[j])
                    } else {
                        (sibling[j], value)
                    };
                    pairs.push((index >> 1, left, right));
                    parent_of.push(pairs.len() - 1);
                    j += 1;
                }
            }
            let hash = |&(index, left, right): &(u64, Fr, Fr)| (index, poseidon2(left, right));
            level = if pairs.len() >= PARALLEL_RUN {
                pairs.par_iter().map(hash).collect()
            } else {
                pairs.iter().map(hash).collect()
            };
            for j in owner.iter_mut() {
                *j = parent_of[*j];
            }
        }
        self.set_root(level[0].1)?;
        Ok(leaves
            .iter()
            .zip(siblings)
            .map(|(&(index, _), siblings)| MerkleProof { index, siblings })
            .collect())
    }
}

impl SparseMerkleTree<MemoryStore> {
    /// An empty in-memory tree.
    pub fn new(depth: u8) -> Result<Self, MerkleError<Infallible>> {
        Self::open(depth, MemoryStore::default())
    }

    /// The tree holding `leaves` (index, value; later duplicates win), built bottom up: every
    /// node above a written leaf is hashed once, where writing the leaves one by one would hash
    /// each path whole (a dense run of `n` leaves costs about `n` hashes instead of
    /// `n * depth`). The nodes stored are those [`SparseMerkleTree::update`] would store.
    pub fn from_leaves(
        depth: u8,
        leaves: impl IntoIterator<Item = (u64, Fr)>,
    ) -> Result<Self, MerkleError<Infallible>> {
        let mut tree = Self::new(depth)?;
        let mut level: BTreeMap<u64, Fr> = BTreeMap::new();
        for (index, leaf) in leaves {
            tree.check_index(index)?;
            level.insert(index, leaf);
        }
        if level.is_empty() {
            return Ok(tree);
        }
        for height in 0..depth {
            let empty = tree.empty[usize::from(height)];
            let mut parents = BTreeMap::new();
            let mut nodes = level.iter().peekable();
            while let Some((&index, &value)) = nodes.next() {
                tree.store.nodes.insert(
                    NodeKey {
                        level: height,
                        index,
                    },
                    value,
                );
                let (left, right) = if index & 1 == 0 {
                    match nodes.peek() {
                        Some((&next, &sibling)) if next == index + 1 => {
                            tree.store.nodes.insert(
                                NodeKey {
                                    level: height,
                                    index: next,
                                },
                                sibling,
                            );
                            nodes.next();
                            (value, sibling)
                        }
                        _ => (value, empty),
                    }
                } else {
                    (empty, value)
                };
                parents.insert(index >> 1, poseidon2(left, right));
            }
            level = parents;
        }
        let root = level[&0];
        tree.store.nodes.insert(
            NodeKey {
                level: depth,
                index: 0,
            },
            root,
        );
        tree.root = root;
        Ok(tree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_matches_hash_chain() {
        let tree = SparseMerkleTree::new(3).expect("depth");
        let z = Fr::from(0u64);
        let h1 = poseidon2(z, z);
        let h2 = poseidon2(h1, h1);
        assert_eq!(tree.root(), poseidon2(h2, h2));
    }

    #[test]
    fn updates_agree_with_a_dense_recomputation() {
        let depth = 4u8;
        let mut tree = SparseMerkleTree::new(depth).expect("depth");
        let mut dense = vec![Fr::from(0u64); 16];
        for (step, index) in [3u64, 0, 15, 3, 7, 8].into_iter().enumerate() {
            let value = Fr::from(100 + step as u64);
            let update = tree.update(index, value).expect("update");
            dense[index as usize] = value;
            let mut level = dense.clone();
            while level.len() > 1 {
                level = level.chunks(2).map(|p| poseidon2(p[0], p[1])).collect();
            }
            assert_eq!(tree.root(), level[0]);
            assert_eq!(update.new_root, level[0]);
            assert!(update.proof.verify(update.old_root, update.old_leaf));
            assert!(update.proof.verify(update.new_root, value));
            assert!(tree.proof(index).expect("proof").verify(tree.root(), value));
        }
    }

    #[test]
    fn built_from_leaves_equals_written_one_by_one() {
        for (depth, leaves) in [
            (1u8, vec![(1u64, 7u64)]),
            (4, vec![(0, 1), (1, 2), (2, 3), (9, 4), (15, 5)]),
            (6, vec![(63, 1), (0, 2), (31, 3), (32, 4), (5, 5), (5, 6)]),
            (10, (0..37).map(|i| (i, 1000 + i)).collect()),
        ] {
            let leaves: Vec<(u64, Fr)> =
                leaves.into_iter().map(|(i, v)| (i, Fr::from(v))).collect();
            let mut written = SparseMerkleTree::new(depth).expect("depth");
            for (index, leaf) in &leaves {
                written.update(*index, *leaf).expect("update");
            }
            let built = SparseMerkleTree::from_leaves(depth, leaves.clone()).expect("build");
            assert_eq!(built.root(), written.root(), "depth {depth}");
            assert_eq!(built.store().len(), written.store().len(), "depth {depth}");
            for index in 0..(1u64 << depth).min(64) {
                assert_eq!(
                    built.proof(index).expect("proof"),
                    written.proof(index).expect("proof")
                );
            }
        }
        assert_eq!(
            SparseMerkleTree::from_leaves(5, []).expect("empty").root(),
            SparseMerkleTree::new(5).expect("depth").root()
        );
        assert!(matches!(
            SparseMerkleTree::from_leaves(3, [(8, Fr::from(1u64))]),
            Err(MerkleError::IndexOutOfRange { .. })
        ));
    }

    #[test]
    fn a_run_gives_what_updates_and_proofs_one_at_a_time_give() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        // Short runs hash on the calling thread, long ones level by level on every core; the
        // indices crowd a few subtrees so writes often share nodes and siblings.
        for (depth, len) in [(1u8, 5usize), (4, 20), (6, 40), (8, 300), (32, 200)] {
            let mut one_by_one = SparseMerkleTree::new(depth).expect("depth");
            for i in 0..10u64 {
                one_by_one
                    .update(i * 3 % (1 << depth.min(20)), Fr::from(i + 1))
                    .expect("update");
            }
            let mut in_a_run = one_by_one.clone();
            let span = 1u64 << depth.min(6);
            let ops: Vec<PathOp> = (0..len)
                .map(|_| {
                    let index = rng.gen_range(0..span);
                    if rng.gen_bool(0.3) {
                        PathOp::Read { index }
                    } else {
                        let leaf = Fr::from(rng.gen_range(0..4u64));
                        PathOp::Write { index, leaf }
                    }
                })
                .collect();
            let expected: Vec<PathResult> = ops
                .iter()
                .map(|op| match *op {
                    PathOp::Write { index, leaf } => {
                        PathResult::Write(one_by_one.update(index, leaf).expect("update"))
                    }
                    PathOp::Read { index } => {
                        PathResult::Read(one_by_one.proof(index).expect("proof"))
                    }
                })
                .collect();
            assert_eq!(in_a_run.run(&ops).expect("run"), expected, "depth {depth}");
            assert_eq!(in_a_run.root(), one_by_one.root());
            assert_eq!(
                in_a_run.store().leaves(),
                one_by_one.store().leaves(),
                "depth {depth}"
            );
            for index in 0..span {
                assert_eq!(
                    in_a_run.proof(index).expect("proof"),
                    one_by_one.proof(index).expect("proof")
                );
            }
        }
        let mut tree = SparseMerkleTree::new(3).expect("depth");
        let root = tree.root();
        assert!(tree.run(&[]).expect("nothing").is_empty());
        assert!(matches!(
            tree.run(&[PathOp::Write {
                index: 8,
                leaf: Fr::from(1u64)
            }]),
            Err(MerkleError::IndexOutOfRange { .. })
        ));
        assert_eq!(tree.root(), root, "a refused run changes nothing");
    }

    #[test]
    fn sorted_writes_give_what_writes_one_at_a_time_give() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(6);
        // Dense runs (neighbours share every level), sparse ones and the tree's two ends; long
        // runs hash their levels on every core.
        for (depth, len, span) in [
            (1u8, 2usize, 2u64),
            (3, 5, 8),
            (6, 30, 64),
            (8, 200, 256),
            (16, 300, 1 << 16),
            (32, 100, 5_000),
            (32, 40, 1 << 32),
        ] {
            let mut one_by_one = SparseMerkleTree::new(depth).expect("depth");
            for _ in 0..20 {
                let index = rng.gen_range(0..span);
                one_by_one
                    .update(index, Fr::from(rng.gen::<u64>()))
                    .expect("update");
            }
            let mut sorted = one_by_one.clone();
            let mut indices: BTreeMap<u64, Fr> = (0..len)
                .map(|_| (rng.gen_range(0..span), Fr::from(rng.gen_range(0..4u64))))
                .collect();
            indices.insert(0, Fr::from(7u64));
            indices.insert(span - 1, Fr::from(8u64));
            let leaves: Vec<(u64, Fr)> = indices.into_iter().collect();
            let expected: Vec<MerkleProof> = leaves
                .iter()
                .map(|&(index, leaf)| one_by_one.update(index, leaf).expect("update").proof)
                .collect();
            assert_eq!(sorted.write_sorted(&leaves).expect("write"), expected);
            assert_eq!(sorted.root(), one_by_one.root(), "depth {depth}");
            for &(index, _) in leaves.iter().take(50) {
                assert_eq!(
                    sorted.proof(index).expect("proof"),
                    one_by_one.proof(index).expect("proof"),
                    "the nodes stored, depth {depth}"
                );
            }
        }
        let mut tree = SparseMerkleTree::new(3).expect("depth");
        let root = tree.root();
        assert!(tree.write_sorted(&[]).expect("nothing").is_empty());
        let (one, two) = (Fr::from(1u64), Fr::from(2u64));
        assert!(matches!(
            tree.write_sorted(&[(2, one), (2, two)]),
            Err(MerkleError::NotAscending { .. })
        ));
        assert!(matches!(
            tree.write_sorted(&[(3, one), (1, two)]),
            Err(MerkleError::NotAscending { .. })
        ));
        assert!(matches!(
            tree.write_sorted(&[(1, one), (8, two)]),
            Err(MerkleError::IndexOutOfRange { .. })
        ));
        assert_eq!(tree.root(), root, "a refused write changes nothing");
    }

    #[test]
    fn proofs_reject_wrong_sibling_leaf_and_index() {
        let mut tree = SparseMerkleTree::new(5).expect("depth");
        tree.update(9, Fr::from(5u64)).expect("update");
        tree.update(10, Fr::from(6u64)).expect("update");
        let proof = tree.proof(9).expect("proof");
        assert!(proof.verify(tree.root(), Fr::from(5u64)));
        assert!(!proof.verify(tree.root(), Fr::from(6u64)));
        let mut bad = proof.clone();
        bad.siblings[2] += Fr::from(1u64);
        assert!(!bad.verify(tree.root(), Fr::from(5u64)));
        let moved = MerkleProof {
            index: 8,
            ..proof.clone()
        };
        assert!(!moved.verify(tree.root(), Fr::from(5u64)));
        let out_of_range = MerkleProof {
            index: 9 + 32,
            ..proof
        };
        assert!(!out_of_range.verify(tree.root(), Fr::from(5u64)));
        assert!(matches!(
            tree.update(32, Fr::from(1u64)),
            Err(MerkleError::IndexOutOfRange { .. })
        ));
    }
}
