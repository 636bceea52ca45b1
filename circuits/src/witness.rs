//! Witness generation: a sealed batch of the native state machine, laid out in a shape's slots.
//!
//! Nothing here decides a rule. Every value comes from what the native `State::apply` recorded
//! (`SealedBatch`: each transaction with its `Receipt`, whose `AccountWrite`s carry the leaves
//! before and after and the Merkle paths at the moment of each write), so the circuit checks the
//! native execution rather than re-running a second copy of it. Unused slots get a fixed dummy
//! witness that the gadgets ignore (every rule is gated by the slot's `enabled` bit).

use std::sync::OnceLock;

use ark_r1cs_std::boolean::Boolean;
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::batch::{AppliedTx, SealedBatch, Shape, ShapeError, SlotKind};
use zkperp_state::da::Publication;
use zkperp_state::domain::SigningDomain;
use zkperp_state::eddsa::{PrivateKey, PublicKey, Signature};
use zkperp_state::field::Fr;
use zkperp_state::leaf::{AccountLeaf, Position};
use zkperp_state::market::MarketState;
use zkperp_state::merkle::MerkleProof;
use zkperp_state::order::OrderSlot;
use zkperp_state::state::{AccountRead, AccountWrite, StateConfig};
use zkperp_state::tx::Transaction;
use zkperp_state::units::{AccountId, Collateral, L1Address, Nonce, Timestamp};

use crate::batch::BatchVar;
use crate::leaf::LeafElements;
use crate::table::TableEntryWitness;
use crate::tx::Gadget;

/// Why a sealed batch cannot become a witness.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    #[error(transparent)]
    Shape(#[from] ShapeError),
    #[error("slot {slot}: the receipt does not have the writes a {kind} makes")]
    Receipt { slot: usize, kind: &'static str },
    #[error(transparent)]
    Payload(#[from] zkperp_state::da::PayloadSourceError),
}

/// A receipt that does not hold what its kind's witness needs (the slot is added by the
/// caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptError;

/// An account as a write found it: its id, its leaf before the write and the path to it.
#[derive(Debug, Clone)]
pub struct AccountWitness {
    pub id: AccountId,
    pub leaf: AccountLeaf,
}

/// An orders-tree slot before a write, and the path to it.
#[derive(Debug, Clone)]
pub struct OrderSlotWitness {
    pub slot: OrderSlot,
    pub proof: MerkleProof,
}

macro_rules! declare_slot_witness {
    ($($variant:ident($ty:ident) $module:ident $field:ident $letter:literal,)*) => {
        /// One slot's witness, by kind: a transaction's, or its kind's dummy.
        // Trades dominate batches; boxing them would allocate per slot to save space in rarer
        // kinds.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone)]
        pub enum SlotWitness {
            $($variant(<zkperp_state::tx::$ty as Gadget>::Witness),)*
        }

        impl SlotWitness {
            /// The witness of a slot holding `applied`.
            pub fn of(
                config: &StateConfig,
                batch: &SealedBatch,
                applied: &AppliedTx,
            ) -> Result<Self, ReceiptError> {
                Ok(match &applied.tx {
                    $(Transaction::$variant(tx) => SlotWitness::$variant(
                        <zkperp_state::tx::$ty as Gadget>::witness(config, batch, tx, applied)?,
                    ),)*
                })
            }

            /// The witness of an unused slot of `kind`: values the gadget ignores.
            pub fn dummy(config: &StateConfig, kind: SlotKind) -> Self {
                match kind {
                    $(SlotKind::$variant => SlotWitness::$variant(
                        <zkperp_state::tx::$ty as Gadget>::dummy(config),
                    ),)*
                }
            }

            /// The slot's kind.
            pub fn kind(&self) -> SlotKind {
                match self {
                    $(SlotWitness::$variant(_) => SlotKind::$variant,)*
                }
            }

            /// Runs the slot's gadget.
            pub fn synthesize(
                &self,
                b: &mut BatchVar,
                enabled: &Boolean<Fr>,
            ) -> Result<(), SynthesisError> {
                match self {
                    $(SlotWitness::$variant(w) => {
                        <zkperp_state::tx::$ty as Gadget>::synthesize(b, w, enabled)
                    })*
                }
            }
        }
    };
}

zkperp_state::for_each_kind!(declare_slot_witness);

#[derive(Debug, Clone)]
pub struct Slot {
    pub enabled: bool,
    pub witness: SlotWitness,
    /// Its reads take the witness's leaves even where the batch's earlier accesses left other
    /// values (by default a read follows them: see `BatchVar::read_leaf`). For tests playing a
    /// dishonest prover who claims a leaf.
    pub pinned: bool,
}

/// Everything the batch circuit is given.
#[derive(Debug, Clone)]
pub struct BatchWitness {
    pub batch_number: u64,
    /// `ρ_b`, which keys the salt steps (`zkperp_state::record::batch_rho`).
    pub rho: u128,
    pub timestamp: Timestamp,
    pub domain: SigningDomain,
    pub start_accounts_root: Fr,
    pub start_markets: Vec<MarketState>,
    pub slots: Vec<Slot>,
    /// The fee account before the fee settlement (the circuit sums the fees itself).
    pub fee_account: AccountWitness,
    /// The account table: the batch's touched accounts in id order, then unused entries.
    pub table: Vec<TableEntryWitness>,
    /// The versioned hash of each of the batch's blobs (`zkperp_state::da::Publication`).
    pub versioned_hashes: Vec<[u8; 32]>,
}

impl BatchWitness {
    /// The witness of `batch` in `shape`'s slots, whose blobs are `publication`'s (the batch's
    /// `SealedBatch::publish` in that shape).
    pub fn new(
        config: &StateConfig,
        shape: &Shape,
        batch: &SealedBatch,
        publication: &Publication,
    ) -> Result<Self, WitnessError> {
        let mut slots = Vec::new();
        for (i, (kind, applied)) in batch.slots(shape)?.into_iter().enumerate() {
            let receipt_error = || WitnessError::Receipt {
                slot: i,
                kind: kind.name(),
            };
            let Some(applied) = applied else {
                slots.push(Slot {
                    enabled: false,
                    witness: SlotWitness::dummy(config, kind),
                    pinned: false,
                });
                continue;
            };
            let witness = SlotWitness::of(config, batch, applied).map_err(|_| receipt_error())?;
            slots.push(Slot {
                enabled: true,
                witness,
                pinned: false,
            });
        }
        Ok(BatchWitness {
            batch_number: batch.batch_number,
            rho: batch.rho,
            timestamp: batch.timestamp,
            domain: batch.domain,
            start_accounts_root: batch.start_accounts_root,
            start_markets: batch.start_markets.clone(),
            slots,
            fee_account: account_witness(&batch.fee_write).ok_or(WitnessError::Receipt {
                slot: usize::MAX,
                kind: "fee settlement",
            })?,
            table: table_witness(config, shape, batch)?,
            versioned_hashes: publication
                .blobs
                .iter()
                .map(|b| b.claim.versioned_hash)
                .collect(),
        })
    }

    /// A witness of the right shape whose values do not matter: what key generation synthesizes.
    pub fn dummy(config: &StateConfig, shape: &Shape) -> Result<Self, WitnessError> {
        let slots = shape
            .slots()
            .map(|kind| Slot {
                enabled: false,
                witness: SlotWitness::dummy(config, kind),
                pinned: false,
            })
            .collect();
        Ok(BatchWitness {
            batch_number: 0,
            rho: 0,
            timestamp: Timestamp::default(),
            domain: config.domain,
            start_accounts_root: Fr::from(0u64),
            start_markets: vec![MarketState::default(); config.markets.len()],
            slots,
            fee_account: dummy_account(config),
            table: vec![unused_entry(config); shape.table_len()],
            versioned_hashes: vec![[0u8; 32]; shape.blobs(config.markets.len())],
        })
    }
}

/// A placeholder leaf for an id with no account: `imm_of`'s key, address and salt (the ones the
/// batch gives it when it creates it), a default state.
pub fn placeholder_leaf(markets: usize, imm_of: Option<&AccountLeaf>) -> AccountLeaf {
    let mut leaf = dummy_leaf_of(markets);
    if let Some(i) = imm_of {
        leaf.public_key = i.public_key;
        leaf.l1_address = i.l1_address;
        leaf.salt = i.salt;
    }
    leaf
}

/// The account table's witness for `batch` in `shape`: its entries, then unused ones.
pub fn table_witness(
    config: &StateConfig,
    shape: &Shape,
    batch: &SealedBatch,
) -> Result<Vec<TableEntryWitness>, WitnessError> {
    let markets = config.markets.len();
    let mut entries: Vec<TableEntryWitness> = batch
        .table
        .iter()
        .map(|e| table_entry(markets, e))
        .collect();
    if entries.len() > shape.table_len() {
        return Err(WitnessError::Shape(ShapeError::TooManyAccounts {
            count: entries.len(),
            capacity: shape.table_len(),
        }));
    }
    entries.resize(shape.table_len(), unused_entry(config));
    Ok(entries)
}

/// The witness of one entry of the native table (placeholders for empty leaves).
pub fn table_entry(markets: usize, e: &zkperp_state::table::TableEntry) -> TableEntryWitness {
    TableEntryWitness {
        id: Some(e.id),
        before: {
            let (existed, leaf) = e.before.clone().map_or_else(
                || {
                    let mut leaf = placeholder_leaf(markets, e.after.as_ref());
                    leaf.salt = e.salt;
                    (false, leaf)
                },
                |l| (true, l),
            );
            (existed, leaf.public_key, LeafElements::of(&leaf))
        },
        after: e.after.as_ref().map_or_else(
            || (false, LeafElements::of(&placeholder_leaf(markets, None))),
            |l| (true, LeafElements::of(l)),
        ),
        proof: e.proof.clone(),
    }
}

/// An unused table entry.
pub fn unused_entry(config: &StateConfig) -> TableEntryWitness {
    let leaf = dummy_leaf(config);
    TableEntryWitness {
        id: None,
        after: (false, LeafElements::of(&leaf)),
        before: (false, leaf.public_key, LeafElements::of(&leaf)),
        proof: zero_proof(config.account_tree_depth),
    }
}

pub(crate) fn account_witness(w: &AccountWrite) -> Option<AccountWitness> {
    Some(AccountWitness {
        id: w.account,
        leaf: w.before.clone()?,
    })
}

/// An account a transaction read without necessarily writing it (a forced request's): whether
/// it exists, and its leaf (a placeholder when it does not) with the path to its id (zeros
/// when the id is beyond the tree).
pub(crate) fn read_witness(config: &StateConfig, read: &AccountRead) -> (bool, AccountWitness) {
    let witness = AccountWitness {
        id: read.account,
        leaf: read.leaf.clone().unwrap_or_else(|| dummy_leaf(config)),
    };
    (read.leaf.is_some(), witness)
}

/// A key and signature for dummy witnesses (a fixed key: the values are never checked).
pub(crate) fn dummy_key() -> &'static (PublicKey, Signature) {
    static KEY: OnceLock<(PublicKey, Signature)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = PrivateKey::from_bytes([7u8; 32]);
        (key.public_key(), key.sign(Fr::from(0u64)))
    })
}

pub(crate) fn dummy_leaf(config: &StateConfig) -> AccountLeaf {
    dummy_leaf_of(config.markets.len())
}

/// The placeholder leaf with `markets` positions.
pub(crate) fn dummy_leaf_of(markets: usize) -> AccountLeaf {
    AccountLeaf {
        public_key: dummy_key().0,
        l1_address: L1Address([0; 20]),
        collateral: Collateral::ZERO,
        nonce: Nonce::default(),
        order_floor: zkperp_state::units::OrderId::default(),
        positions: vec![Position::default(); markets],
        orders_root: Fr::from(0u64),
        salt: Fr::from(0u64),
    }
}

pub(crate) fn zero_proof(depth: u8) -> MerkleProof {
    MerkleProof {
        index: 0,
        siblings: vec![Fr::from(0u64); usize::from(depth)],
    }
}

pub(crate) fn dummy_account(config: &StateConfig) -> AccountWitness {
    AccountWitness {
        id: AccountId::INSURANCE_FUND,
        leaf: dummy_leaf(config),
    }
}

/// The most quotes any market's oracle tick takes: the oracle slot's width.
pub fn max_quorum(config: &StateConfig) -> usize {
    config
        .markets
        .iter()
        .map(|m| usize::from(m.oracle_quorum))
        .max()
        .unwrap_or(0)
}
