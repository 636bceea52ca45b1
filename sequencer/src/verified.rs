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
//! Every batch's tree stays readable too: the tree's commits are versioned by batch number
//! ([`PersistentTree::update_many_versioned`]), and each batch's changed leaves and its markets
//! are kept under the batch number, so [`VerifiedState::exit_witness_at`] serves any account's
//! leaf and path after any verified batch, for the API (`?batch=n`) and for auditors.
//!
//! ```text
//!   meta  verified/batch                            -> u64 (big-endian)
//!         verified/markets                          -> JSON [MarketState]
//!         verified/leaf/<id, 8 bytes BE>            -> JSON AccountLeaf
//!         verified/history_from                     -> u64: the first batch with history
//!         verified/markets_at/<batch BE>            -> JSON [MarketState] after that batch
//!         verified/leaf_at/<id BE>/<batch BE>       -> JSON AccountLeaf, written by that batch
//!   merkle_nodes                                    -> the accounts tree (crate::tree)
//!   merkle_history                                  -> its nodes by batch (crate::store)
//! ```

use zkperp_state::batch::SealedBatch;
use zkperp_state::exit::ExitWitness;
use zkperp_state::leaf::AccountLeaf;
use zkperp_state::market::{state_root, MarketState};
use zkperp_state::merkle::MerkleProof;
use zkperp_state::state::StateConfig;
use zkperp_state::units::AccountId;
use zkperp_state::{Fr, State};

use crate::storage::At;
use crate::tree::{PersistentTree, TreeError};

const BATCH_KEY: &[u8] = b"verified/batch";
const MARKETS_KEY: &[u8] = b"verified/markets";
const LEAF_PREFIX: &[u8] = b"verified/leaf/";
const HISTORY_FROM_KEY: &[u8] = b"verified/history_from";
const MARKETS_AT_PREFIX: &[u8] = b"verified/markets_at/";
const LEAF_AT_PREFIX: &[u8] = b"verified/leaf_at/";

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
    #[error("batch {batch} is not verified yet (the last verified batch is {at})")]
    NotVerified { batch: u64, at: u64 },
    #[error("batch {batch} predates this store's history, which starts at batch {from}")]
    NoHistory { batch: u64, from: u64 },
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

fn leaf_at_prefix(id: AccountId) -> Vec<u8> {
    [LEAF_AT_PREFIX, &id.get().to_be_bytes(), b"/"].concat()
}

fn leaf_at_key(id: AccountId, batch: u64) -> Vec<u8> {
    [leaf_at_prefix(id).as_slice(), &batch.to_be_bytes()].concat()
}

fn markets_at_key(batch: u64) -> Vec<u8> {
    [MARKETS_AT_PREFIX, &batch.to_be_bytes()].concat()
}

fn decode_u64(bytes: &[u8], what: &str) -> Result<u64, VerifiedError> {
    bytes
        .try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| VerifiedError::Corrupt(what.into()))
}

/// The accounts tree, leaves and markets of the last verified batch, on disk.
#[derive(Debug)]
pub struct VerifiedState {
    tree: PersistentTree,
    batch: u64,
    markets: Vec<MarketState>,
    /// The first batch whose tree is kept (`None`: a store made before history was kept).
    history_from: Option<u64>,
}

impl VerifiedState {
    /// Opens the verified state in the sequencer's database `at`, or creates it at the genesis
    /// state of `config` (batch 0: the insurance fund and the fee account, the genesis markets).
    pub fn open(at: impl At, config: &StateConfig) -> Result<Self, VerifiedError> {
        let mut tree = PersistentTree::open(at, config.account_tree_depth)?;
        let store = tree.store();
        match store.meta(BATCH_KEY).map_err(TreeError::from)? {
            Some(bytes) => {
                let batch = decode_u64(&bytes, "batch number")?;
                let history_from = store
                    .meta(HISTORY_FROM_KEY)
                    .map_err(TreeError::from)?
                    .map(|b| decode_u64(&b, "history start"))
                    .transpose()?;
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
                    history_from,
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
                    history_from: Some(0),
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
        // The final leaf of each account the batch lists, from its account table (ascending
        // id, each once: the table is what the circuit proves the batch wrote). An entry with
        // no leaf after (a refused request to a free id) leaves the tree as it was.
        let leaves: Vec<(AccountId, AccountLeaf)> = batch
            .table
            .iter()
            .filter_map(|e| e.after.clone().map(|leaf| (e.id, leaf)))
            .collect();
        // Checked before anything is written: the batch's last write (a salt step) carries the
        // accounts root after all its writes, so a batch that does not reach its own new root
        // is refused with the disk untouched; after the commit, this tree must reach that same
        // accounts root.
        let accounts_root = batch.end_accounts_root();
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

    /// The leaf of `id` and its path after verified batch `batch`, and that batch's accounts
    /// root and markets.
    pub fn leaf_at(
        &self,
        id: AccountId,
        batch: u64,
    ) -> Result<(VerifiedLeaf, Fr, Vec<MarketState>), VerifiedError> {
        if batch > self.batch {
            return Err(VerifiedError::NotVerified {
                batch,
                at: self.batch,
            });
        }
        match self.history_from {
            Some(from) if batch >= from => {}
            from => {
                return Err(VerifiedError::NoHistory {
                    batch,
                    from: from.unwrap_or(self.batch + 1),
                })
            }
        }
        let store = self.tree.store();
        let (_, bytes) = store
            .meta_at_or_before(&leaf_at_prefix(id), &leaf_at_key(id, batch))
            .map_err(TreeError::from)?
            .ok_or(VerifiedError::NoSuchAccount(id))?;
        let leaf: AccountLeaf = serde_json::from_slice(&bytes)
            .map_err(|e| VerifiedError::Corrupt(format!("leaf {id} at batch {batch}: {e}")))?;
        let (_, markets) = store
            .meta_at_or_before(MARKETS_AT_PREFIX, &markets_at_key(batch))
            .map_err(TreeError::from)?
            .ok_or_else(|| VerifiedError::Corrupt(format!("no markets at batch {batch}")))?;
        let markets: Vec<MarketState> = serde_json::from_slice(&markets)
            .map_err(|e| VerifiedError::Corrupt(format!("markets at batch {batch}: {e}")))?;
        let (hash, proof, accounts_root) = self.tree.proof_at(id.get(), batch)?;
        if hash != leaf.hash() || proof.root_for(hash) != accounts_root {
            return Err(VerifiedError::Corrupt(format!(
                "leaf {id} at batch {batch} differs from its tree entry"
            )));
        }
        Ok((VerifiedLeaf { batch, leaf, proof }, accounts_root, markets))
    }

    /// The state root after verified batch `batch` (the rollup's `stateRoot` then).
    pub fn root_at(&self, batch: u64) -> Result<Fr, VerifiedError> {
        if batch == self.batch {
            return Ok(self.root());
        }
        // Account 0 (the insurance fund) exists from genesis: its path gives the root.
        let fund = AccountId::new(0).map_err(|e| VerifiedError::Corrupt(e.to_string()))?;
        let (_, accounts_root, markets) = self.leaf_at(fund, batch)?;
        Ok(state_root(accounts_root, &markets))
    }

    /// [`VerifiedState::exit_witness`] after verified batch `batch`: valid against that batch's
    /// root (an exit needs the last verified batch's; this serves history and audits).
    pub fn exit_witness_at(&self, id: AccountId, batch: u64) -> Result<ExitWitness, VerifiedError> {
        let (v, accounts_root, markets) = self.leaf_at(id, batch)?;
        Ok(ExitWitness {
            account: id,
            leaf: v.leaf,
            siblings: v.proof.siblings,
            accounts_root,
            markets,
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
    let mut encoded: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(2 * leaves.len() + 2);
    for (id, leaf) in leaves {
        let json = serde_json::to_vec(leaf)
            .map_err(|e| VerifiedError::Corrupt(format!("leaf {id}: {e}")))?;
        encoded.push((leaf_at_key(*id, batch), json.clone()));
        encoded.push((leaf_key(*id), json));
    }
    let markets_json =
        serde_json::to_vec(markets).map_err(|e| VerifiedError::Corrupt(e.to_string()))?;
    encoded.push((markets_at_key(batch), markets_json.clone()));
    encoded.push((MARKETS_KEY.to_vec(), markets_json));
    encoded.push((BATCH_KEY.to_vec(), batch.to_be_bytes().to_vec()));
    if batch == 0 {
        // A new store: its history starts at genesis.
        encoded.push((HISTORY_FROM_KEY.to_vec(), 0u64.to_be_bytes().to_vec()));
    }
    let extra: Vec<(&[u8], &[u8])> = encoded
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    Ok(tree.update_many_versioned(&updates, &extra, batch)?)
}
