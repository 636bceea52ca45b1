//! The state as of the last batch the L1 verified: every account's leaf and Merkle path, kept
//! so the API can serve a trader the exit witness they would need after a freeze.
//!
//! The sequencer's live state runs ahead of the L1 by the batches still being proven; an exit
//! must be proven against the rollup's `stateRoot`, the last *verified* root. So a second
//! accounts tree, in RocksDB, is moved forward only by verified batches: each batch's account
//! writes (their final leaves) and its sealed markets are committed in one synced write with
//! the tree's nodes, the batch number and the leaves in the clear, and the result must be the
//! batch's `new_root` or nothing is written. After a crash the store is at a whole batch.
//!
//! ```text
//!   meta  verified/batch                 -> u64 (big-endian)
//!         verified/markets               -> JSON [MarketState]
//!         verified/leaf/<id, 8 bytes BE> -> JSON AccountLeaf
//!   merkle_nodes                         -> the accounts tree (crate::tree)
//! ```

use std::path::Path;

use zkperp_state::batch::SealedBatch;
use zkperp_state::exit::ExitWitness;
use zkperp_state::leaf::AccountLeaf;
use zkperp_state::market::{state_root, MarketState};
use zkperp_state::merkle::MerkleProof;
use zkperp_state::state::StateConfig;
use zkperp_state::units::AccountId;
use zkperp_state::{Fr, State};

use crate::tree::{PersistentTree, TreeError};

const BATCH_KEY: &[u8] = b"verified/batch";
const MARKETS_KEY: &[u8] = b"verified/markets";
const LEAF_PREFIX: &[u8] = b"verified/leaf/";

#[derive(Debug, thiserror::Error)]
pub enum VerifiedError {
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error("verified state: {0}")]
    Corrupt(String),
    #[error("batch {got} does not follow the verified batch {at}")]
    OutOfOrder { at: u64, got: u64 },
    #[error("batch {number} starts from root {batch} but the verified root is {ours}")]
    WrongOldRoot {
        number: u64,
        batch: String,
        ours: String,
    },
    #[error("batch {number}: its writes give root {got}, not its new root {expected}")]
    WrongNewRoot {
        number: u64,
        expected: String,
        got: String,
    },
    #[error("no account {0} at the verified batch")]
    NoSuchAccount(AccountId),
}

/// A leaf and its path at the verified batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLeaf {
    pub batch: u64,
    pub leaf: AccountLeaf,
    pub proof: MerkleProof,
}

fn leaf_key(id: AccountId) -> Vec<u8> {
    [LEAF_PREFIX, &id.get().to_be_bytes()].concat()
}

/// The accounts tree, leaves and markets of the last verified batch, on disk.
#[derive(Debug)]
pub struct VerifiedState {
    tree: PersistentTree,
    batch: u64,
    markets: Vec<MarketState>,
}

impl VerifiedState {
    /// Opens the store at `path`, or creates it at the genesis state of `config` (batch 0: the
    /// insurance fund and the fee account, the genesis markets).
    pub fn open(path: &Path, config: &StateConfig) -> Result<Self, VerifiedError> {
        let mut tree = PersistentTree::open(path, config.account_tree_depth)?;
        let store = tree.store();
        match store.meta(BATCH_KEY).map_err(TreeError::from)? {
            Some(bytes) => {
                let batch = bytes
                    .as_slice()
                    .try_into()
                    .map(u64::from_be_bytes)
                    .map_err(|_| VerifiedError::Corrupt("batch number".into()))?;
                let markets = store
                    .meta(MARKETS_KEY)
                    .map_err(TreeError::from)?
                    .ok_or_else(|| VerifiedError::Corrupt("markets missing".into()))?;
                let markets = serde_json::from_slice(&markets)
                    .map_err(|e| VerifiedError::Corrupt(format!("markets: {e}")))?;
                Ok(VerifiedState {
                    tree,
                    batch,
                    markets,
                })
            }
            None => {
                let genesis = State::genesis(config.clone())
                    .map_err(|e| VerifiedError::Corrupt(format!("genesis: {e}")))?;
                let leaves: Vec<(AccountId, AccountLeaf)> = genesis
                    .accounts()
                    .map(|(id, account)| (*id, account.leaf.clone()))
                    .collect();
                let markets = genesis.markets().to_vec();
                commit(&mut tree, 0, &leaves, &markets)?;
                let state = VerifiedState {
                    tree,
                    batch: 0,
                    markets,
                };
                if state.root() != genesis.root() {
                    return Err(VerifiedError::Corrupt(
                        "the genesis tree differs from the state machine's".into(),
                    ));
                }
                Ok(state)
            }
        }
    }

    /// The last verified batch (0: genesis).
    pub fn batch(&self) -> u64 {
        self.batch
    }

    pub fn markets(&self) -> &[MarketState] {
        &self.markets
    }

    /// The state root of the verified batch: the rollup's `stateRoot`.
    pub fn root(&self) -> Fr {
        state_root(self.tree.root(), &self.markets)
    }

    /// Moves to `batch`, which must be the next one and start at this root. Returns false (and
    /// changes nothing) for a batch already applied.
    pub fn apply(&mut self, batch: &SealedBatch) -> Result<bool, VerifiedError> {
        if batch.batch_number <= self.batch {
            return Ok(false);
        }
        if batch.batch_number != self.batch + 1 {
            return Err(VerifiedError::OutOfOrder {
                at: self.batch,
                got: batch.batch_number,
            });
        }
        if batch.old_root != self.root() {
            return Err(VerifiedError::WrongOldRoot {
                number: batch.batch_number,
                batch: batch.old_root.to_string(),
                ours: self.root().to_string(),
            });
        }
        // The final leaf of each written account, in the order first written.
        let mut leaves: Vec<(AccountId, AccountLeaf)> = Vec::new();
        let writes = batch
            .txs
            .iter()
            .flat_map(|t| t.receipt.writes.iter())
            .chain(std::iter::once(&batch.fee_write));
        for w in writes {
            match leaves.iter_mut().find(|(id, _)| *id == w.account) {
                Some(entry) => entry.1 = w.after.clone(),
                None => leaves.push((w.account, w.after.clone())),
            }
        }
        // Checked before anything is written: the batch's last write (the fee settlement)
        // carries the accounts root after all its writes, so a batch that does not reach its
        // own new root is refused with the disk untouched; after the commit, this tree must
        // reach that same accounts root.
        let accounts_root = batch.fee_write.update.new_root;
        let expected = state_root(accounts_root, &batch.markets);
        if expected != batch.new_root {
            return Err(VerifiedError::WrongNewRoot {
                number: batch.batch_number,
                expected: batch.new_root.to_string(),
                got: expected.to_string(),
            });
        }
        let root = commit(&mut self.tree, batch.batch_number, &leaves, &batch.markets)?;
        if root != accounts_root {
            return Err(VerifiedError::Corrupt(format!(
                "batch {} committed accounts root {root}, its writes say {accounts_root}",
                batch.batch_number
            )));
        }
        self.batch = batch.batch_number;
        self.markets = batch.markets.clone();
        Ok(true)
    }

    /// The leaf of `id` and its path at the verified batch.
    pub fn leaf(&self, id: AccountId) -> Result<VerifiedLeaf, VerifiedError> {
        let bytes = self
            .tree
            .store()
            .meta(&leaf_key(id))
            .map_err(TreeError::from)?
            .ok_or(VerifiedError::NoSuchAccount(id))?;
        let leaf: AccountLeaf = serde_json::from_slice(&bytes)
            .map_err(|e| VerifiedError::Corrupt(format!("leaf {id}: {e}")))?;
        let proof = self.tree.proof(id.get())?;
        if self.tree.leaf(id.get())? != leaf.hash() {
            return Err(VerifiedError::Corrupt(format!(
                "leaf {id} differs from its tree entry"
            )));
        }
        Ok(VerifiedLeaf {
            batch: self.batch,
            leaf,
            proof,
        })
    }

    /// What the account's owner needs to prove an exit against the rollup's root.
    pub fn exit_witness(&self, id: AccountId) -> Result<ExitWitness, VerifiedError> {
        let v = self.leaf(id)?;
        Ok(ExitWitness {
            account: id,
            leaf: v.leaf,
            siblings: v.proof.siblings,
            accounts_root: self.tree.root(),
            markets: self.markets.clone(),
        })
    }
}

/// Commits `leaves` (hashes into the tree, preimages as metadata), the markets and the batch
/// number in one synced write; returns the accounts root.
fn commit(
    tree: &mut PersistentTree,
    batch: u64,
    leaves: &[(AccountId, AccountLeaf)],
    markets: &[MarketState],
) -> Result<Fr, VerifiedError> {
    let updates: Vec<(u64, Fr)> = leaves
        .iter()
        .map(|(id, leaf)| (id.get(), leaf.hash()))
        .collect();
    let encoded: Vec<(Vec<u8>, Vec<u8>)> = leaves
        .iter()
        .map(|(id, leaf)| {
            serde_json::to_vec(leaf)
                .map(|json| (leaf_key(*id), json))
                .map_err(|e| VerifiedError::Corrupt(format!("leaf {id}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let markets_json =
        serde_json::to_vec(markets).map_err(|e| VerifiedError::Corrupt(e.to_string()))?;
    let batch_bytes = batch.to_be_bytes();
    let mut extra: Vec<(&[u8], &[u8])> = vec![
        (BATCH_KEY, &batch_bytes[..]),
        (MARKETS_KEY, &markets_json[..]),
    ];
    extra.extend(encoded.iter().map(|(k, v)| (k.as_slice(), v.as_slice())));
    Ok(tree.update_many_with_meta(&updates, &extra)?)
}
