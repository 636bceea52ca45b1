//! The account table of a sealed batch (issue 18, design (b) of docs/design/da-v2/records.md):
//! every account the batch touched, once, in ascending id, with its leaf when the batch began,
//! its leaf when the batch ended (its salt stepped by the seal, `crate::record::step`), and the Merkle path for writing the second over the first when
//! the entries are written in id order, starting from the batch's starting tree.
//!
//! The batch circuit proves one tree update per entry instead of one per access (a market maker
//! in 300 trades of a batch pays for one path, not 300), and the data-availability record lists
//! the entries, so the L1 sees which accounts changed, in id order, never who traded with whom.
//!
//! The table is a pure function of the sealed batch: the receipts hold every account's leaf
//! before its first access and after its last, and the paths each access was given. A node of
//! such a path whose subtree holds no touched account keeps its value for the whole batch; with
//! those nodes and the touched leaves, the partial tree is rebuilt, checked against the batch's
//! starting root, and the entries are written in id order to take their paths.

use std::collections::{BTreeMap, HashMap};

use crate::batch::SealedBatch;
use crate::field::Fr;
use crate::leaf::AccountLeaf;
use crate::market::state_root;
use crate::merkle::{MerkleProof, NodeKey, NodeStore, SparseMerkleTree};
use crate::units::AccountId;

/// One touched account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableEntry {
    pub id: AccountId,
    /// The leaf when the batch began (`None`: the id was empty).
    pub before: Option<AccountLeaf>,
    /// The leaf when the batch ended (`None`: still empty, a refused request to a free id).
    pub after: Option<AccountLeaf>,
    /// Its path once every entry of a smaller id has been written.
    pub proof: MerkleProof,
    /// The salt the account had during the batch, before the seal stepped it (`after`'s salt
    /// is the stepped one): what its accesses saw, and a created account's placeholder holds.
    pub salt: Fr,
}

impl TableEntry {
    /// The leaf hash the entry writes (0 for an empty leaf).
    pub fn new_hash(&self) -> Fr {
        self.after
            .as_ref()
            .map_or(Fr::from(0u64), AccountLeaf::hash)
    }

    /// The leaf hash the entry replaces.
    pub fn old_hash(&self) -> Fr {
        self.before
            .as_ref()
            .map_or(Fr::from(0u64), AccountLeaf::hash)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("the receipts' paths rebuild root {rebuilt}, the batch began at {expected}")]
    StartRoot { rebuilt: Fr, expected: Fr },
    #[error("the table's writes end at state root {rebuilt}, the batch ended at {expected}")]
    EndRoot { rebuilt: Fr, expected: Fr },
    #[error("account {0}: its paths disagree on a node no access of the batch changes")]
    Paths(u64),
    #[error("account {0}: no receipt gives its path")]
    NoPath(u64),
    #[error("account {0} does not fit the account tree")]
    OutOfRange(u64),
}

/// Per touched account: its leaf before the first access, after the last, and the paths seen.
#[derive(Default)]
struct Touched {
    before: Option<Option<AccountLeaf>>,
    after: Option<Option<AccountLeaf>>,
    proofs: Vec<MerkleProof>,
}

impl SealedBatch {
    /// The batch's account table in a tree of `depth` levels: its touched accounts in
    /// ascending id (module docs).
    pub fn table(&self, depth: u8) -> Result<Vec<TableEntry>, TableError> {
        let mut touched: BTreeMap<AccountId, Touched> = BTreeMap::new();
        let no_reads = Vec::new();
        let fee_write = [self.fee_write.clone()];
        let accesses = self
            .txs
            .iter()
            .map(|a| (&a.receipt.reads[..], &a.receipt.writes[..]))
            .chain(std::iter::once((&no_reads[..], &fee_write[..])))
            .chain(std::iter::once((&no_reads[..], &self.salt_steps[..])));
        for (reads, writes) in accesses {
            // A transaction's reads see the state before its writes.
            for read in reads {
                let t = touched.entry(read.account).or_default();
                t.before.get_or_insert_with(|| read.leaf.clone());
                if let Some(p) = &read.proof {
                    t.proofs.push(p.clone());
                }
            }
            for write in writes {
                let t = touched.entry(write.account).or_default();
                t.before.get_or_insert_with(|| write.before.clone());
                t.after = Some(Some(write.after.clone()));
                t.proofs.push(write.update.proof.clone());
            }
        }
        let capacity = 1u64 << depth;
        if let Some(id) = touched.keys().find(|id| id.index() >= capacity) {
            // A refused request may name an id beyond the tree: it reads nothing and has no
            // entry (the circuit makes its access void).
            if touched[id].after.is_some() {
                return Err(TableError::OutOfRange(id.get()));
            }
        }
        touched.retain(|id, _| id.index() < capacity);
        let hash =
            |leaf: &Option<AccountLeaf>| leaf.as_ref().map_or(Fr::from(0u64), AccountLeaf::hash);
        let indices: Vec<u64> = touched.keys().map(|id| id.index()).collect();
        // Whether the subtree under `key` holds a touched account.
        let holds_touched = |key: NodeKey| {
            let from = key.index << key.level;
            let to = (key.index + 1) << key.level;
            indices
                .get(indices.partition_point(|&i| i < from))
                .is_some_and(|&i| i < to)
        };
        let mut constant: HashMap<NodeKey, Fr> = HashMap::new();
        let mut tree = SparseMerkleTree::new(depth).expect("a valid depth");
        for (id, t) in &touched {
            if t.proofs.is_empty() {
                return Err(TableError::NoPath(id.get()));
            }
            for proof in &t.proofs {
                for (level, sibling) in proof.siblings.iter().enumerate() {
                    let key = NodeKey {
                        level: level as u8,
                        index: (proof.index >> level) ^ 1,
                    };
                    if holds_touched(key) {
                        continue;
                    }
                    // Nothing under it changes in the batch: every path must agree on it.
                    if *constant.entry(key).or_insert(*sibling) != *sibling {
                        return Err(TableError::Paths(id.get()));
                    }
                    tree.store_mut().put(key, *sibling).expect("in memory");
                }
            }
        }
        for (id, t) in &touched {
            let before = t.before.clone().flatten();
            tree.update(id.index(), hash(&before)).expect("in range");
        }
        if tree.root() != self.start_accounts_root {
            return Err(TableError::StartRoot {
                rebuilt: tree.root(),
                expected: self.start_accounts_root,
            });
        }
        let batch_salts: HashMap<AccountId, Fr> = self
            .salt_steps
            .iter()
            .filter_map(|w| Some((w.account, w.before.as_ref()?.salt)))
            .collect();
        let mut entries = Vec::with_capacity(touched.len());
        for (id, t) in touched {
            let before = t.before.flatten();
            let after = t.after.unwrap_or_else(|| before.clone());
            let salt = batch_salts.get(&id).copied().unwrap_or_else(|| {
                after
                    .as_ref()
                    .or(before.as_ref())
                    .map_or(Fr::from(0u64), |l| l.salt)
            });
            let proof = tree.proof(id.index()).expect("in range");
            tree.update(id.index(), hash(&after)).expect("in range");
            entries.push(TableEntry {
                id,
                before,
                after,
                proof,
                salt,
            });
        }
        let end = state_root(tree.root(), &self.markets);
        if end != self.new_root {
            return Err(TableError::EndRoot {
                rebuilt: end,
                expected: self.new_root,
            });
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    #[test]
    fn the_table_rewrites_the_batch_in_id_order() {
        let mut f = Fixture::new(3);
        f.deposit(0, 1_000_000_000);
        f.deposit(1, 2_000_000_000);
        f.deposit(2, 500_000_000);
        let first = f.state.end_batch().expect("seal");
        // Every account is created by this batch: all entries start empty.
        let table = first
            .table(f.state.config().account_tree_depth)
            .expect("table");
        assert!(table.windows(2).all(|w| w[0].id < w[1].id));
        assert!(table
            .iter()
            .filter(|e| e.id != AccountId::FEES)
            .all(|e| e.before.is_none()));

        f.state.begin_batch(ts(START + 60)).expect("begin");
        f.trade(0, 1, btc(), 1_000, 500_000).expect("trade");
        f.trade(2, 1, btc(), 500, 500_000).expect("trade");
        f.trade(0, 2, btc(), 300, 500_000).expect("trade");
        let second = f.state.end_batch().expect("seal");
        let depth = f.state.config().account_tree_depth;
        let table = second.table(depth).expect("table");
        // Three traders and the fee account, once each, however many trades touched them.
        let ids: Vec<u64> = table.iter().map(|e| e.id.get()).collect();
        let mut expected: Vec<u64> = (0..3).map(|t| f.id(t).get()).collect();
        expected.push(AccountId::FEES.get());
        expected.sort();
        assert_eq!(ids, expected);
        for e in &table {
            let account = f
                .state
                .accounts()
                .find(|(id, _)| **id == e.id)
                .expect("exists")
                .1;
            assert_eq!(e.after.as_ref(), Some(&account.leaf), "the final leaf");
        }
        // Replaying the entries with their paths goes from the start root to the end root.
        let mut root = second.start_accounts_root;
        for e in &table {
            assert!(e.proof.verify(root, e.old_hash()));
            root = e.proof.root_for(e.new_hash());
        }
        assert_eq!(root, f.state.accounts_root());
    }

    #[test]
    fn a_receipt_that_lies_about_a_path_is_caught() {
        let mut f = Fixture::new(2);
        f.deposit(0, 1_000_000_000);
        f.deposit(1, 1_000_000_000);
        f.state.end_batch().expect("seal");
        f.state.begin_batch(ts(START + 60)).expect("begin");
        f.trade(0, 1, btc(), 1_000, 500_000).expect("trade");
        let mut batch = f.state.end_batch().expect("seal");
        let depth = f.state.config().account_tree_depth;
        batch.txs[0].receipt.writes[0].update.proof.siblings[depth as usize - 1] = Fr::from(9u64);
        assert!(matches!(
            batch.table(depth),
            Err(TableError::StartRoot { .. } | TableError::Paths(_))
        ));
    }
}
