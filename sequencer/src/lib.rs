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
//! The deterministic core (books, risk, the engine, the batch builder, oracle, funding and
//! liquidation policy, the seal worker) is the `zkperp-core` crate; this crate is the service
//! around it, which does the I/O:
//!
//! * [`hub`]: the one door through which commands reach the sequencer: the bounded intake,
//!   signature checks on a pool before the lock, group commit, and each command's effects
//!   recorded as the API's views and published in journal order. The API reads views and
//!   forwards commands; nothing else.
//! * [`journal`]: every accepted command, synced to RocksDB before it is acknowledged; its
//!   database (journal, snapshots and their index, the sequencer's secrets) is laid out there.
//! * [`sequencer`]: journal first, then the batch builder; a restart replays the journal.
//! * [`gate`]: holds each batch the seal worker sealed until the command that closed it is in
//!   the journal.
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
//! * [`storage`]: the one RocksDB every part above keeps its tables in, as column families,
//!   opened once and shared ([`storage::Storage`]).
//! * [`store`]: [`RocksNodeStore`], the `NodeStore` over RocksDB, and the on-disk node layout.
//! * [`tree`]: [`PersistentTree`], a tree that changes only by whole, durable batches and checks
//!   its metadata against its nodes when opened.
//!
//! The binary `merkle-crash-writer` exists for the crash test (`tests/crash.rs`), which kills it
//! with SIGKILL mid-stream and checks that the database reopens at exactly the last commit.

pub mod archive;
pub mod follower;
pub mod gate;
pub mod hub;
pub mod journal;
pub mod pipeline;
pub mod proving;
pub mod sequencer;
pub mod snapshot;
pub mod storage;
pub mod store;
pub mod tree;
pub mod verified;

pub use store::{Corruption, RocksNodeStore, StoreError};
pub use tree::{PersistentTree, TreeError};
