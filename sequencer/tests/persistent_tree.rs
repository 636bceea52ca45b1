//! The persisted tree against the in-memory one, across reopening, rollback, and damaged
//! databases.

use std::collections::BTreeMap;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use zkperp_sequencer::storage::Storage;
use zkperp_sequencer::store::{encode_node_key, NODES_CF};
use zkperp_sequencer::{Corruption, PersistentTree, RocksNodeStore, StoreError, TreeError};
use zkperp_state::field::{fr_to_le_bytes, Fr};
use zkperp_state::merkle::{NodeKey, NodeStore, SparseMerkleTree};

const DEPTH: u8 = 32;

fn random_batch(rng: &mut ChaCha8Rng) -> Vec<(u64, Fr)> {
    let len = rng.gen_range(0..=20);
    (0..len)
        .map(|_| {
            // Half the writes hit a few hot leaves (overwrites, shared paths), half go anywhere.
            let index = if rng.gen_bool(0.5) {
                rng.gen_range(0..64)
            } else {
                rng.gen_range(0..1u64 << DEPTH)
            };
            let leaf = if rng.gen_bool(0.05) {
                Fr::from(0u64)
            } else {
                Fr::from(rng.gen::<u128>())
            };
            (index, leaf)
        })
        .collect()
}

#[test]
fn persisted_roots_equal_the_in_memory_tree_across_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = ChaCha8Rng::seed_from_u64(0x7a6b_7065_7270);
    let mut memory = SparseMerkleTree::new(DEPTH).expect("depth");
    let mut leaves = BTreeMap::new();
    let mut tree = PersistentTree::open(dir.path(), DEPTH).expect("create");
    assert_eq!(tree.root(), memory.root());
    assert_eq!(tree.commit_count(), 0);

    for batch_number in 1..=60u64 {
        let batch = random_batch(&mut rng);
        for &(index, leaf) in &batch {
            memory.update(index, leaf).expect("in-memory update");
            leaves.insert(index, leaf);
        }
        let root = tree.update_many(&batch).expect("update_many");
        assert_eq!(root, memory.root(), "batch {batch_number}");
        assert_eq!(tree.root(), memory.root());
        assert_eq!(tree.commit_count(), batch_number);
        if batch_number % 15 == 0 {
            drop(tree);
            tree = PersistentTree::open(dir.path(), DEPTH).expect("reopen");
            assert_eq!(tree.root(), memory.root(), "after reopen at {batch_number}");
            assert_eq!(tree.commit_count(), batch_number);
        }
    }

    let stored: BTreeMap<u64, Fr> = tree
        .stored_leaves()
        .expect("scan")
        .collect::<Result<_, _>>()
        .expect("leaves");
    assert_eq!(stored, leaves);
    for (&index, &leaf) in &leaves {
        assert_eq!(tree.leaf(index).expect("leaf"), leaf);
        let proof = tree.proof(index).expect("proof");
        assert_eq!(proof, memory.proof(index).expect("in-memory proof"));
        assert!(proof.verify(tree.root(), leaf));
    }
}

/// Commits one batch and returns (root, leaves written).
fn committed_tree(path: &Path) -> (Fr, Vec<(u64, Fr)>) {
    let mut tree = PersistentTree::open(path, DEPTH).expect("create");
    let batch = vec![(5, Fr::from(50u64)), (1 << 20, Fr::from(60u64))];
    let root = tree.update_many(&batch).expect("commit");
    (root, batch)
}

#[test]
fn rollback_discards_every_uncommitted_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (root, batch) = committed_tree(dir.path());

    let store = RocksNodeStore::open(dir.path()).expect("store");
    let mut raw = SparseMerkleTree::open(DEPTH, store).expect("open");
    assert_eq!(raw.root(), root);
    raw.update(5, Fr::from(51u64)).expect("update");
    raw.update(6, Fr::from(61u64)).expect("update");
    assert_ne!(raw.root(), root);
    assert_eq!(raw.store().pending_nodes(), 33 + 2); // two paths that meet above level 1
    assert_eq!(raw.leaf(5).expect("leaf"), Fr::from(51u64)); // reads see the overlay

    raw.store_mut().rollback();
    assert_eq!(raw.store().pending_nodes(), 0);
    let leaf5 = NodeKey { level: 0, index: 5 };
    let leaf6 = NodeKey { level: 0, index: 6 };
    let root_key = NodeKey {
        level: DEPTH,
        index: 0,
    };
    assert_eq!(raw.store().get(leaf5).expect("get"), Some(batch[0].1));
    assert_eq!(raw.store().get(leaf6).expect("get"), None);
    assert_eq!(raw.store().get(root_key).expect("get"), Some(root));
    let reopened = SparseMerkleTree::open(DEPTH, raw.into_store()).expect("reopen");
    assert_eq!(reopened.root(), root);
}

#[test]
fn uncommitted_nodes_do_not_survive_closing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (root, _) = committed_tree(dir.path());
    {
        let store = RocksNodeStore::open(dir.path()).expect("store");
        let mut raw = SparseMerkleTree::open(DEPTH, store).expect("open");
        raw.update(7, Fr::from(70u64)).expect("update");
        // Dropped without commit.
    }
    let tree = PersistentTree::open(dir.path(), DEPTH).expect("reopen");
    assert_eq!(tree.root(), root);
    assert_eq!(tree.commit_count(), 1);
    assert_eq!(tree.leaf(7).expect("leaf"), Fr::from(0u64));
}

#[test]
fn a_rejected_batch_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (root, _) = committed_tree(dir.path());
    let mut tree = PersistentTree::open(dir.path(), DEPTH).expect("open");
    let bad = [(9, Fr::from(90u64)), (1 << DEPTH, Fr::from(1u64))];
    assert!(matches!(
        tree.update_many(&bad),
        Err(TreeError::IndexOutOfRange { index, depth: DEPTH }) if index == 1 << DEPTH
    ));
    assert_eq!(tree.root(), root);
    assert_eq!(tree.commit_count(), 1);
    assert_eq!(tree.store().pending_nodes(), 0);
    assert_eq!(tree.leaf(9).expect("leaf"), Fr::from(0u64));
    // And the next batch commits on top of the old root, not of a half-applied one.
    let mut memory = SparseMerkleTree::new(DEPTH).expect("depth");
    for (index, leaf) in [(5, 50u64), (1 << 20, 60), (9, 91)] {
        memory.update(index, Fr::from(leaf)).expect("update");
    }
    let new_root = tree.update_many(&[(9, Fr::from(91u64))]).expect("commit");
    assert_eq!(new_root, memory.root());
    assert_eq!(tree.commit_count(), 2);
}

#[test]
fn an_empty_batch_is_a_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (root, _) = committed_tree(dir.path());
    let mut tree = PersistentTree::open(dir.path(), DEPTH).expect("open");
    assert_eq!(tree.update_many(&[]).expect("commit"), root);
    drop(tree);
    let tree = PersistentTree::open(dir.path(), DEPTH).expect("reopen");
    assert_eq!((tree.root(), tree.commit_count()), (root, 2));
}

#[test]
fn opening_with_another_depth_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(PersistentTree::open(dir.path(), 16).expect("create"));
    assert!(matches!(
        PersistentTree::open(dir.path(), DEPTH),
        Err(TreeError::DepthMismatch {
            stored: 16,
            requested: DEPTH
        })
    ));
    assert!(matches!(
        PersistentTree::open(dir.path(), 0),
        Err(TreeError::BadDepth(0))
    ));
    PersistentTree::open(dir.path(), 16).expect("same depth opens");
}

/// Overwrites one committed node with raw bytes, as a damaged disk might.
fn poke_node(path: &Path, key: NodeKey, bytes: &[u8]) {
    let storage = Storage::open(path).expect("db");
    let db = storage.db();
    let cf = db.cf_handle(NODES_CF).expect("nodes cf");
    db.put_cf(cf, encode_node_key(key), bytes).expect("put");
}

#[test]
fn a_non_canonical_node_is_corruption_not_reduced() {
    let dir = tempfile::tempdir().expect("tempdir");
    committed_tree(dir.path());
    let leaf5 = NodeKey { level: 0, index: 5 };
    // r + 50 would reduce to the leaf's true value 50; it must be refused instead.
    let r_plus_50 = {
        let mut bytes = [0u8; 32];
        let r_le = [
            0x01, 0x00, 0x00, 0xf0, 0x93, 0xf5, 0xe1, 0x43, 0x91, 0x70, 0xb9, 0x79, 0x48, 0xe8,
            0x33, 0x28, 0x5d, 0x58, 0x81, 0x81, 0xb6, 0x45, 0x50, 0xb8, 0x29, 0xa0, 0x31, 0xe1,
            0x72, 0x4e, 0x64, 0x30,
        ];
        bytes.copy_from_slice(&r_le);
        bytes[0] += 50;
        bytes
    };
    for damaged in [
        &r_plus_50[..],
        &[0xff; 32][..],
        &fr_to_le_bytes(&Fr::from(50u64))[..31],
    ] {
        poke_node(dir.path(), leaf5, damaged);
        let tree = PersistentTree::open(dir.path(), DEPTH).expect("root is intact");
        let err = tree.leaf(5).expect_err("damaged leaf must not read");
        assert!(err.is_corruption(), "{err}");
        assert!(matches!(
            err,
            TreeError::Store(StoreError::Corrupt(Corruption::NodeValue { key, .. })) if key == leaf5
        ));
        assert!(tree.proof(4).is_err(), "leaf 5 is leaf 4's sibling");
        assert!(tree
            .stored_leaves()
            .expect("scan")
            .any(|item| item.is_err()));
    }
}

#[test]
fn a_root_node_that_disagrees_with_the_metadata_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    committed_tree(dir.path());
    let root_key = NodeKey {
        level: DEPTH,
        index: 0,
    };
    poke_node(dir.path(), root_key, &fr_to_le_bytes(&Fr::from(1u64)));
    let err = PersistentTree::open(dir.path(), DEPTH).expect_err("must not open");
    assert!(
        matches!(
            err,
            TreeError::Store(StoreError::Corrupt(Corruption::RootMismatch { node_root, .. }))
                if node_root == Fr::from(1u64)
        ),
        "{err}"
    );
}

#[test]
fn nodes_without_metadata_are_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut store = RocksNodeStore::open(dir.path()).expect("store");
        store
            .put(NodeKey { level: 0, index: 3 }, Fr::from(3u64))
            .expect("put");
        store.commit(&[]).expect("commit");
    }
    let err = PersistentTree::open(dir.path(), DEPTH).expect_err("must not open");
    assert!(
        matches!(
            err,
            TreeError::Store(StoreError::Corrupt(Corruption::NodesWithoutMeta))
        ),
        "{err}"
    );
}
