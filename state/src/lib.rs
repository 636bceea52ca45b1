//! # zkperp-state: the native state machine
//!
//! The exchange's specification in code. Pure: no I/O, no async, no constraint types. The
//! sequencer runs it to decide what happens; the circuits (`zkperp-circuits`) enforce the same
//! rules gadget by gadget, each in a file of the same name; the exit prover reads its leaves.
//!
//! ```text
//!   L1 deposits, forced requests ─┐
//!   signed orders (matched) ──────┼─> Transaction ─> State::execute ─> the leaves change; the
//!   signed quotes, funding ───────┘                     │               tree work is pending
//!                                                       v
//!                 State::end_batch: hash_pending ─> Receipts (leaf writes, orders-tree
//!                                                   paths) + the account table (one path
//!                                                   per account): the witness ─> SealedBatch
//!                                                   ─(Shape)─> BatchPublicData and payload
//!                                                   (roots, slot-ordered L1 records, records)
//! ```
//!
//! [`State::apply`] (execute, then hash at once, returning the receipt) is the same function
//! one transaction at a time: the tests' and the specification's form.
//!
//! Layers, bottom up: [`field`] (strict decoding), [`poseidon`], [`babyjubjub`], [`eddsa`],
//! [`merkle`]; [`domain`] (what every signature is bound to); then the exchange: [`units`] (every width, once), [`market`], [`leaf`] (the leaf
//! encoding), [`order`], [`margin`], [`funding`]; then [`state`] and one module per transaction
//! kind in [`tx`]; [`pubdata`] encodes what the L1 sees.

pub mod account;
pub mod babyjubjub;
pub mod batch;
pub mod blob;
pub mod cipher;
pub mod da;
pub mod domain;
pub mod eddsa;
pub mod exit;
pub mod field;
pub mod funding;
pub mod layout;
pub mod leaf;
pub mod limits;
pub mod margin;
pub mod market;
pub mod merkle;
pub mod order;
pub mod poseidon;
pub mod pubdata;
pub mod rebuild;
pub mod record;
pub mod state;
pub mod table;
pub mod testkit;
pub mod trees;
pub mod tx;
pub mod units;

pub use field::Fr;
pub use state::{Receipt, State, StateConfig};
pub use tx::{Transaction, TxError};
