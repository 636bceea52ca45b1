//! The account table of a sealed batch (issue 18, design (b) of docs/design/da-v2/records.md):
//! every account the batch touched, once, in ascending id, with its leaf when the batch began,
//! its leaf when the batch ended (its salt stepped by the seal, `crate::record::step`), and the
//! Merkle path for writing the second over the first when the entries are written in id order,
//! starting from the batch's starting tree.
//!
//! The batch circuit proves one tree update per entry instead of one per access (a market maker
//! in 300 trades of a batch pays for one path, not 300), and the data-availability record lists
//! the entries, so the L1 sees which accounts changed, in id order, never who traded with whom.
//!
//! The sequencer's seal makes the same cut (issue 20): the account tree is written only through
//! the table, once per account per batch (`crate::trees::Trees::seal`, with
//! [`crate::merkle::SparseMerkleTree::write_sorted`] hashing each node above the entries once),
//! and no receipt carries an account-tree path.

use serde::{Deserialize, Serialize};

use crate::batch::SealedBatch;
use crate::field::Fr;
use crate::leaf::AccountLeaf;
use crate::market::state_root;
use crate::merkle::MerkleProof;
use crate::units::AccountId;

/// One touched account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    #[serde(with = "crate::field::serde_fr")]
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
    #[error("entry {index} (account {id}) does not follow account {previous} in ascending id")]
    Order {
        index: usize,
        id: u64,
        previous: u64,
    },
    #[error("account {0}: its path does not open its leaf before the batch in the tree so far")]
    Opening(u64),
    #[error("the table's writes end at state root {rebuilt}, the batch ended at {expected}")]
    EndRoot { rebuilt: Fr, expected: Fr },
}

impl SealedBatch {
    /// Checks the account table is one chain of writes from the batch's starting accounts root
    /// to its new root: ascending ids, each entry's path opening its `before` leaf in the tree
    /// the smaller entries left and writing its `after` leaf. What the batch circuit proves of
    /// the table (with the transcript tying it to the accesses), natively; it costs two paths
    /// per entry, so the seal does not call it.
    pub fn check_table(&self) -> Result<(), TableError> {
        let mut root = self.start_accounts_root;
        for (index, pair) in self.table.windows(2).enumerate() {
            if pair[1].id <= pair[0].id {
                return Err(TableError::Order {
                    index: index + 1,
                    id: pair[1].id.get(),
                    previous: pair[0].id.get(),
                });
            }
        }
        for e in &self.table {
            if e.proof.index != e.id.index() || !e.proof.verify(root, e.old_hash()) {
                return Err(TableError::Opening(e.id.get()));
            }
            root = e.proof.root_for(e.new_hash());
        }
        let end = state_root(root, &self.markets);
        if end != self.new_root {
            return Err(TableError::EndRoot {
                rebuilt: end,
                expected: self.new_root,
            });
        }
        Ok(())
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
        first.check_table().expect("one chain of writes");
        let table = &first.table;
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
        second.check_table().expect("one chain of writes");
        let table = &second.table;
        // Three traders and the fee account, once each, however many trades touched them.
        let ids: Vec<u64> = table.iter().map(|e| e.id.get()).collect();
        let mut expected: Vec<u64> = (0..3).map(|t| f.id(t).get()).collect();
        expected.push(AccountId::FEES.get());
        expected.sort();
        assert_eq!(ids, expected);
        for e in table {
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
        for e in table {
            assert!(e.proof.verify(root, e.old_hash()));
            root = e.proof.root_for(e.new_hash());
        }
        assert_eq!(root, f.state.accounts_root());
    }

    #[test]
    fn a_table_that_is_not_one_chain_of_writes_is_caught() {
        let mut f = Fixture::new(3);
        for t in 0..3 {
            f.deposit(t, 1_000_000_000);
        }
        f.state.end_batch().expect("seal");
        f.state.begin_batch(ts(START + 60)).expect("begin");
        f.trade(0, 1, btc(), 1_000, 500_000).expect("trade");
        f.trade(2, 1, btc(), 500, 500_000).expect("trade");
        let batch = f.state.end_batch().expect("seal");
        batch.check_table().expect("as sealed");
        type Tamper = fn(&mut SealedBatch);
        let cases: [(&str, Tamper); 5] = [
            ("a sibling", |b| {
                *b.table[1].proof.siblings.last_mut().expect("a path") += Fr::from(1u64)
            }),
            ("a leaf before", |b| {
                b.table[0].before.as_mut().expect("exists").salt += Fr::from(1u64)
            }),
            ("a leaf after", |b| {
                b.table[2].after.as_mut().expect("exists").salt += Fr::from(1u64)
            }),
            ("the order", |b| b.table.swap(0, 1)),
            ("an entry left out", |b| {
                b.table.remove(1);
            }),
        ];
        for (what, tamper) in cases {
            let mut bad = batch.clone();
            tamper(&mut bad);
            assert!(bad.check_table().is_err(), "{what}");
        }
    }
}
