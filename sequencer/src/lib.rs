//! The zkperp sequencer: it orders transactions into batches, applies them with the native state
//! machine (`zkperp-state`, the specification) and keeps the resulting state on disk so a crash
//! loses no acknowledged batch.
//!
//! So far this crate holds the persistence of the state tree:
//!
//! ```text
//!   update_many(&[(leaf index, leaf)])
//!          |
//!          v
//!   PersistentTree ---- SparseMerkleTree<RocksNodeStore>   (zkperp-state: hashing, proofs)
//!          |                      |
//!          |  commit(root,        |  get: overlay, then RocksDB
//!          |   commit_count)      |  put: overlay only
//!          v                      v
//!   RocksDB: one WriteBatch of {every node written, metadata}, written with sync = true
//! ```
//!
//! * [`book`]: the order book of one market (price-time priority, every order type), and a plain
//!   reference book it is tested against.
//! * [`engine`]: signed orders in, state transitions out: entry checks, risk, the book, and the
//!   state machine gating every fill.
//! * [`batcher`]: the batch builder: runs commands so that every sealed batch fits the batch
//!   circuit's shape (trades live, start-of-batch kinds and seal-time kinds held for their place).
//! * [`command`]: what can change the sequencer's state (a batch boundary, an order, a cancel,
//!   a transaction), as the batcher runs it and the journal records it.
//! * [`journal`]: every accepted command, synced to RocksDB before it is acknowledged; its
//!   database (journal, snapshots and their index, the sequencer's secrets) is laid out there.
//! * [`sequencer`]: journal first, then the batch builder; a restart replays the journal.
//! * [`sealer`]: the seal off the sequencer's lock: a worker thread that owns the state's trees
//!   and seals each closed batch while the next executes, and the gate that passes a sealed
//!   batch on only once the command that closed it is journaled.
//! * [`snapshot`]: the builder between batches, stored every so many batches, so a restart
//!   replays only the journal after the newest usable snapshot.
//! * [`follower`]: the L1's deposit and forced-withdrawal queues, from the rollup's events, as
//!   transactions in queue order.
//! * [`pipeline`]: sealed batches proven through the [`proving`] queue, submitted to the rollup
//!   in order, each step's status persisted in RocksDB ([`pipeline::BatchStore`]).
//! * [`proving`]: the proving queue: sealed batches leased to provers (threads of this
//!   process, or remote machines through the prover API), every proof checked before it is
//!   accepted.
//! * [`verified`]: the accounts tree, leaves and markets of the last L1-verified batch, so the
//!   API can serve exit witnesses against the rollup's root.
//! * [`oracle`]: signed oracle quotes checked on arrival, the latest per key kept, and at each
//!   batch start the oracle tick the state machine accepts (the middle `quorum` fresh quotes);
//!   local signers over a price path for the devnet.
//! * [`funding`]: a funding tick per market every interval, from the book's premium over the
//!   mark, capped so the state machine always accepts it.
//! * [`liquidation`]: the liquidation engine's policy: which account, market and counterparty
//!   next (the state machine checks the rules).
//! * [`cost_basis`]: what each trader's open position cost, so deleveraging takes the most
//!   profitable opposite positions first.
//! * [`risk`]: pre-trade risk, refusing at entry an order the account could not afford if it and
//!   its other open orders filled at their limits.
//! * [`store`]: [`RocksNodeStore`], the `NodeStore` over RocksDB, and the on-disk node layout.
//! * [`tree`]: [`PersistentTree`], a tree that changes only by whole, durable batches and checks
//!   its metadata against its nodes when opened.
//!
//! The binary `merkle-crash-writer` exists for the crash test (`tests/crash.rs`), which kills it
//! with SIGKILL mid-stream and checks that the database reopens at exactly the last commit.

pub mod archive;
pub mod batcher;
pub mod book;
pub mod command;
pub mod cost_basis;
pub mod engine;
pub mod follower;
pub mod funding;
pub mod journal;
pub mod liquidation;
pub mod oracle;
pub mod pipeline;
pub mod proving;
pub mod risk;
pub mod sealer;
pub mod sequencer;
pub mod snapshot;
pub mod store;
pub mod testkit;
pub mod tree;
pub mod verified;

pub use store::{Corruption, RocksNodeStore, StoreError};
pub use tree::{PersistentTree, TreeError};
