//! The rollup's state rebuilt from what the L1 holds, with no operator: each verified batch's
//! public data (the calldata of its `submitBatch`) and its blobs, in order from genesis. The
//! tree of leaf hashes follows from the records' hashes; after each batch it must give exactly
//! the root the L1 accepted, with the markets the payload carries, so a blob archive (or an
//! endpoint) that lies is caught at the batch it lies about. Every error names the batch (and
//! the account, where there is one).
//!
//! ```text
//! genesis     State::genesis(config): the system accounts' leaves, the initial markets
//! per batch   its number follows, its old root is ours;
//!             each blob's KZG commitment hashes to the versioned hash the proof claimed;
//!             the blobs' coefficients are the payload (crate::da, crate::blob);
//!             each record's hash goes to its id; state_root(tree, markets) == the new root
//! ```
//!
//! An owner follows their own leaf through the same payloads with their key
//! (`crate::da::Follower`), and proves an exit from [`Rebuilder::exit_witness`].

use crate::batch::Shape;
use crate::blob::{self, Blob, BlobError};
use crate::da::{Payload, PayloadError};
use crate::exit::ExitWitness;
use crate::field::Fr;
use crate::leaf::AccountLeaf;
use crate::market::{state_root, MarketState};
use crate::merkle::SparseMerkleTree;
use crate::pubdata::{PublicDataError, PublicDataView};
use crate::state::{State, StateConfig, StateError};
use crate::units::AccountId;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RebuildError {
    #[error("the genesis state: {0}")]
    Genesis(String),
    #[error("batch {batch}: its public data: {source}")]
    PublicData { batch: u64, source: PublicDataError },
    #[error("batch {got} given, batch {expected} expected next")]
    Gap { expected: u64, got: u64 },
    #[error("batch {batch} starts from another root than the rebuilt state's")]
    OldRoot { batch: u64 },
    #[error("batch {batch} claims {claims} blobs, its shape has {shape}, {given} were given")]
    BlobCount {
        batch: u64,
        claims: usize,
        shape: usize,
        given: usize,
    },
    #[error(
        "batch {batch}, blob {index}: not the blob the L1 verified (its versioned hash differs)"
    )]
    WrongBlob { batch: u64, index: usize },
    #[error("batch {batch}, blob {index}: {source}")]
    Blob {
        batch: u64,
        index: usize,
        source: BlobError,
    },
    #[error("batch {batch}: its payload: {source}")]
    Payload { batch: u64, source: PayloadError },
    #[error("batch {batch}: account {account}'s record does not fit the account tree")]
    Account { batch: u64, account: u64 },
    #[error("batch {batch}: the rebuilt state root is not the one the L1 accepted")]
    NewRoot { batch: u64 },
    #[error("account {account} has no leaf in the rebuilt tree, or not the one given")]
    Leaf { account: u64 },
    #[error("the checkpoint of batch {batch} does not hash to the root it names: {reason}")]
    Checkpoint { batch: u64, reason: String },
}

/// A rebuilt state at rest: the leaf hashes and markets after batch `batch`, whose state root
/// is `root`. What `wallet sync` keeps, so that the batches it holds need neither the operator
/// nor blobs the consensus nodes may have pruned. Loading recomputes the root from the leaves;
/// the next batch applied must start from it, and it is the L1's own, so a checkpoint from
/// anywhere is caught if it lies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub batch: u64,
    #[serde(with = "crate::field::serde_fr")]
    pub root: Fr,
    pub markets: Vec<MarketState>,
    /// Every non-empty leaf: its account id and hash.
    pub leaves: Vec<CheckpointLeaf>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckpointLeaf {
    pub id: u64,
    #[serde(with = "crate::field::serde_fr")]
    pub hash: Fr,
}

/// A batch the rebuild applied: its header and claims, and the payload its blobs carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuiltBatch {
    pub public: PublicDataView,
    pub payload: Payload,
}

/// The tree of leaf hashes and the markets, as of the last batch applied.
#[derive(Debug, Clone)]
pub struct Rebuilder {
    tree: SparseMerkleTree,
    markets: Vec<MarketState>,
    root: Fr,
    batch: u64,
}

impl Rebuilder {
    /// The state before batch 1 of a deployment of `config`.
    pub fn genesis(config: StateConfig) -> Result<Self, RebuildError> {
        let state =
            State::genesis(config).map_err(|e: StateError| RebuildError::Genesis(e.to_string()))?;
        Ok(Rebuilder {
            tree: state.account_tree().clone(),
            markets: state.markets().to_vec(),
            root: state_root(state.accounts_root(), state.markets()),
            batch: 0,
        })
    }

    /// The state `checkpoint` holds, for a tree of `depth` levels: refused unless its leaves and
    /// markets give the root it names.
    pub fn load(depth: u8, checkpoint: &Checkpoint) -> Result<Self, RebuildError> {
        let refused = |reason: String| RebuildError::Checkpoint {
            batch: checkpoint.batch,
            reason,
        };
        let tree =
            SparseMerkleTree::from_leaves(depth, checkpoint.leaves.iter().map(|l| (l.id, l.hash)))
                .map_err(|e| refused(e.to_string()))?;
        let root = state_root(tree.root(), &checkpoint.markets);
        if root != checkpoint.root {
            return Err(refused("its leaves and markets give another root".into()));
        }
        Ok(Rebuilder {
            tree,
            markets: checkpoint.markets.clone(),
            root,
            batch: checkpoint.batch,
        })
    }

    /// The state at rest.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            batch: self.batch,
            root: self.root,
            markets: self.markets.clone(),
            leaves: self
                .tree
                .store()
                .leaves()
                .into_iter()
                .map(|(id, hash)| CheckpointLeaf { id, hash })
                .collect(),
        }
    }

    /// The last batch applied (0: none).
    pub fn batch(&self) -> u64 {
        self.batch
    }

    /// The state root as of the last batch applied: the L1's root for it.
    pub fn root(&self) -> Fr {
        self.root
    }

    pub fn markets(&self) -> &[MarketState] {
        &self.markets
    }

    pub fn tree(&self) -> &SparseMerkleTree {
        &self.tree
    }

    /// Applies the next batch, proven in `shape`, from its public data and its blobs (in the
    /// transaction's order), checking each against the other and the result against the root
    /// the public data names; returns what the batch published. On an error nothing changes.
    pub fn apply(
        &mut self,
        shape: &Shape,
        pubdata: &[u8],
        blobs: &[Blob],
    ) -> Result<RebuiltBatch, RebuildError> {
        let number = self.batch + 1;
        let public = PublicDataView::parse(pubdata).map_err(|source| RebuildError::PublicData {
            batch: number,
            source,
        })?;
        if public.batch_number != number {
            return Err(RebuildError::Gap {
                expected: number,
                got: public.batch_number,
            });
        }
        if public.old_root != self.root {
            return Err(RebuildError::OldRoot { batch: number });
        }
        let markets = self.markets.len();
        let len = crate::da::payload_len(shape, markets);
        let count = shape.blobs(markets);
        if public.blobs.len() != count || blobs.len() != count {
            return Err(RebuildError::BlobCount {
                batch: number,
                claims: public.blobs.len(),
                shape: count,
                given: blobs.len(),
            });
        }
        let mut elements = Vec::with_capacity(len);
        for (index, (b, claim)) in blobs.iter().zip(&public.blobs).enumerate() {
            let blob_error = |source| RebuildError::Blob {
                batch: number,
                index,
                source,
            };
            let commitment = b.commitment().map_err(blob_error)?;
            if blob::versioned_hash(&commitment) != claim.versioned_hash {
                return Err(RebuildError::WrongBlob {
                    batch: number,
                    index,
                });
            }
            let here =
                (len - index * blob::FIELD_ELEMENTS_PER_BLOB).min(blob::FIELD_ELEMENTS_PER_BLOB);
            elements.extend(blob::decode(b, here).map_err(blob_error)?);
        }
        let payload =
            Payload::parse(&elements, shape, markets).map_err(|source| RebuildError::Payload {
                batch: number,
                source,
            })?;
        let mut tree = self.tree.clone();
        for r in payload.records.iter().flatten() {
            tree.update(r.id.get(), r.hash)
                .map_err(|_| RebuildError::Account {
                    batch: number,
                    account: r.id.get(),
                })?;
        }
        let root = state_root(tree.root(), &payload.markets);
        if root != public.new_root {
            return Err(RebuildError::NewRoot { batch: number });
        }
        self.tree = tree;
        self.markets = payload.markets.clone();
        self.root = root;
        self.batch = number;
        Ok(RebuiltBatch { public, payload })
    }

    /// What an exit proof of account `id`, whose leaf is `leaf` (from the owner's records),
    /// needs against the rebuilt state: refused unless the tree holds exactly that leaf.
    pub fn exit_witness(
        &self,
        id: AccountId,
        leaf: &AccountLeaf,
    ) -> Result<ExitWitness, RebuildError> {
        let missing = || RebuildError::Leaf { account: id.get() };
        let proof = self.tree.proof(id.get()).map_err(|_| missing())?;
        if proof.root_for(leaf.hash()) != self.tree.root() {
            return Err(missing());
        }
        Ok(ExitWitness {
            account: id,
            leaf: leaf.clone(),
            siblings: proof.siblings,
            accounts_root: self.tree.root(),
            markets: self.markets.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::da::{Followed, Owned};
    use crate::testkit::*;
    use crate::units::Nonce;

    /// Three batches, each posted as the L1 holds it: its public data and its blobs.
    struct Posted {
        f: Fixture,
        shape: Shape,
        batches: Vec<(Vec<u8>, Vec<Blob>)>,
    }

    fn posted() -> Posted {
        let mut f = Fixture::new(3);
        let shape: Shape = "o2-d3-t1-w1-a6".parse().expect("shape");
        let mut batches = Vec::new();
        let post = |f: &mut Fixture| {
            let sealed = f.state.end_batch().expect("seal");
            let published = sealed.publish(&shape).expect("fits");
            let blobs = published.blobs.iter().map(|b| b.blob.clone()).collect();
            (published.public.to_bytes(), blobs)
        };
        f.deposit(0, 1_000_000_000);
        f.deposit(1, 2_000_000_000);
        f.deposit(2, 500_000_000);
        batches.push(post(&mut f));
        f.state.begin_batch(ts(START + 60)).expect("begin");
        let buy = f.order(0, btc(), crate::order::Side::Buy, 10, 502_000);
        let sell = f.order(1, btc(), crate::order::Side::Sell, 10, 500_000);
        f.apply(Fixture::trade_tx(sell, buy, 10, 501_000))
            .expect("trade");
        batches.push(post(&mut f));
        f.state.begin_batch(ts(START + 120)).expect("begin");
        let w = f.withdrawal_tx(2, 1_000_000);
        f.apply(w).expect("withdrawal");
        batches.push(post(&mut f));
        Posted { f, shape, batches }
    }

    /// From genesis, the public data and the blobs alone give every root the L1 accepted; each
    /// trader finds their account among the creations with nothing but their key, follows it to
    /// exactly the leaf the state holds, and gets an exit witness that opens the last root.
    #[test]
    fn the_state_is_rebuilt_from_public_data_and_blobs_alone() {
        let p = posted();
        let config = p.f.state.config().clone();
        let markets = config.markets.len();
        let mut rebuild = Rebuilder::genesis(config).expect("genesis");
        let mut owners: Vec<Owned> =
            p.f.traders
                .iter()
                .map(|t| Owned::new(t.key.clone(), t.l1, markets))
                .collect();
        for (pubdata, blobs) in &p.batches {
            let batch = rebuild.apply(&p.shape, pubdata, blobs).expect("applies");
            let (number, rho) = (batch.public.batch_number, batch.public.rho);
            for owner in &mut owners {
                owner.follow(number, rho, &batch.payload).expect("follows");
            }
            // At rest and back after every batch: the same state, the same accounts.
            let depth = p.f.state.config().account_tree_depth;
            let back = Rebuilder::load(depth, &rebuild.checkpoint()).expect("loads");
            assert_eq!(back.root(), rebuild.root());
            assert_eq!(back.batch(), rebuild.batch());
            rebuild = back;
            for (t, owner) in owners.iter_mut().enumerate() {
                let trader = &p.f.traders[t];
                let json = serde_json::to_string(&owner.save()).expect("json");
                let saved: Vec<Followed> = serde_json::from_str(&json).expect("parses");
                *owner = Owned::load(trader.key.clone(), trader.l1, markets, number, &saved)
                    .expect("loads");
            }
        }
        assert_eq!(rebuild.batch(), 3);
        assert_eq!(
            rebuild.root(),
            state_root(p.f.state.accounts_root(), p.f.state.markets())
        );
        for (t, owner) in owners.iter().enumerate() {
            let found = owner.accounts();
            assert_eq!(found.len(), 1, "trader {t} owns one account");
            let id = p.f.id(t);
            assert_eq!(owner.find(Some(id.get())).map(|f| f.account()), Some(id));
            assert_eq!(found[0].account(), id);
            let (_, leaf) = found[0].leaf().expect("a leaf");
            assert_eq!(leaf, &p.f.state.account(id).expect("account").leaf);
            let witness = rebuild.exit_witness(id, leaf).expect("witness");
            assert_eq!(witness.state_root(), rebuild.root());
        }
        // A checkpoint with one leaf changed, or a market's state, names a root it does not
        // hash to.
        let depth = p.f.state.config().account_tree_depth;
        let mut lying = rebuild.checkpoint();
        lying.leaves[3].hash += Fr::from(1u64);
        assert!(matches!(
            Rebuilder::load(depth, &lying),
            Err(RebuildError::Checkpoint { batch: 3, .. })
        ));
        let mut lying = rebuild.checkpoint();
        lying.markets[0] = MarketState::default();
        assert!(matches!(
            Rebuilder::load(depth, &lying),
            Err(RebuildError::Checkpoint { batch: 3, .. })
        ));
        // A follower saved at another batch is not resumed as if it were current.
        let trader = &p.f.traders[0];
        assert!(matches!(
            Owned::load(trader.key.clone(), trader.l1, markets, 2, &owners[0].save()),
            Err(crate::da::FollowError::Gap { last: 3, batch: 3 })
        ));
        // A leaf the tree does not hold gets no witness.
        let mut other = p.f.state.account(p.f.id(0)).expect("account").leaf.clone();
        other.nonce = Nonce::new(other.nonce.get() + 1).expect("nonce");
        assert_eq!(
            rebuild.exit_witness(p.f.id(0), &other).map(|_| ()),
            Err(RebuildError::Leaf {
                account: p.f.id(0).get()
            })
        );
    }

    /// An archive or endpoint that lies is caught at the batch it lies about, and the rebuild
    /// keeps its state: a blob with a changed cell, a blob missing, batches out of order, a
    /// batch meant for another shape.
    #[test]
    fn a_lying_archive_is_caught_at_its_batch() {
        let p = posted();
        let mut rebuild = Rebuilder::genesis(p.f.state.config().clone()).expect("genesis");
        let (pubdata, blobs) = &p.batches[0];
        let mut bytes = blobs[0].as_bytes().to_vec();
        bytes[31] ^= 1;
        let changed = Blob::from_bytes(&bytes).expect("still canonical");
        assert_eq!(
            rebuild.apply(&p.shape, pubdata, &[changed]).map(|_| ()),
            Err(RebuildError::WrongBlob { batch: 1, index: 0 })
        );
        assert!(matches!(
            rebuild.apply(&p.shape, pubdata, &[]),
            Err(RebuildError::BlobCount {
                batch: 1,
                given: 0,
                ..
            })
        ));
        let (second, second_blobs) = &p.batches[1];
        assert_eq!(
            rebuild.apply(&p.shape, second, second_blobs).map(|_| ()),
            Err(RebuildError::Gap {
                expected: 1,
                got: 2
            })
        );
        let other: Shape = "o2-d3-t1-w1-a7".parse().expect("shape");
        assert!(matches!(
            rebuild.apply(&other, pubdata, blobs),
            Err(RebuildError::Payload { batch: 1, .. })
        ));
        assert_eq!(rebuild.batch(), 0, "nothing applied");
        rebuild
            .apply(&p.shape, pubdata, blobs)
            .expect("the true batch");
        // Batch 1 again: its number is not the next.
        assert!(matches!(
            rebuild.apply(&p.shape, pubdata, blobs),
            Err(RebuildError::Gap {
                expected: 2,
                got: 1
            })
        ));
    }
}
