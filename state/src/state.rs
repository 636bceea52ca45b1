//! The exchange's state and the one way it changes: [`State::apply`] runs a transaction's rules
//! against a staged copy of what it touches, and only when every rule passes writes the staged
//! accounts back, in the order they were first touched (the order the circuit updates leaves).
//!
//! A change has two layers. The leaves in the clear (balances, positions, nonces, order slots)
//! change at once: every rule reads them. The trees (each account's orders tree, the account
//! tree) and the circuit's witness are hashed from a log of the writes: [`State::execute`]
//! changes the leaves only and leaves the tree work pending, and [`State::hash_pending`] (called
//! by the seal, [`State::end_batch`]) replays the pending writes in order through the orders
//! trees, giving exactly the receipts [`State::apply`] (execute, then hash) gives one at a time.
//! The account tree is written at the seal only, once per touched account (the batch's account
//! table, `crate::table`). The sequencer's matching path executes; the roots and the witness
//! are made once per batch, accounts' orders trees in parallel.
//!
//! The trees are a value of their own ([`crate::trees::Trees`]): [`State::end_batch`] is
//! [`State::close_batch`] (the fee credit and the batch's accounts, on the leaves) then
//! [`Trees::seal`], and a sequencer may lend its trees to a worker thread
//! ([`State::lend_trees`]) that seals each closed batch while the next one executes.
//!
//! ```text
//! state root = Poseidon(account tree root, markets hash)
//! markets hash = Poseidon(pack(market state_0), ..)   (pack: see MarketState::pack)
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::account::Account;
use crate::batch::{AppliedTx, SealedBatch, SlotKind};
use crate::domain::SigningDomain;
use crate::eddsa::PublicKey;
use crate::field::Fr;
use crate::leaf::{AccountLeaf, Position};
use crate::market::{MarketConfigError, MarketParams, MarketState};
use crate::merkle::{MemoryStore, MerkleError, MerkleUpdate, NodeStore, SparseMerkleTree};
use crate::order::{slot_index, OrderSlot};
use crate::pubdata::PubData;
use crate::trees::{ClosedBatch, PendingWrite, TreeWork, Trees};
use crate::tx::{Transaction, TxError};
use crate::units::{
    AccountId, Collateral, L1Address, MarketId, OrderId, RangeError, Timestamp, MAX_MARKETS,
};

/// The owner of a system account (insurance fund, fee account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemOwner {
    pub public_key: PublicKey,
    pub l1_address: L1Address,
}

/// The deployment's fixed configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateConfig {
    /// Depth of the account tree (tests use small depths; production 32).
    pub account_tree_depth: u8,
    /// Depth of each account's orders tree.
    pub order_tree_depth: u8,
    pub markets: Vec<MarketParams>,
    pub insurance_fund: SystemOwner,
    pub fee_account: SystemOwner,
    /// The deployment every signature is bound to (`crate::domain`). Absent from a
    /// configuration written before its rollup was deployed (the default: no deployment).
    #[serde(default)]
    pub domain: SigningDomain,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("account tree depth must be 2..=32, got {0}")]
    AccountTreeDepth(u8),
    #[error("order tree depth must be 1..=32, got {0}")]
    OrderTreeDepth(u8),
    #[error("between 1 and {MAX_MARKETS} markets are supported, got {0}")]
    MarketCount(usize),
    #[error(transparent)]
    Market(#[from] MarketConfigError),
}

impl StateConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(2..=32).contains(&self.account_tree_depth) {
            return Err(ConfigError::AccountTreeDepth(self.account_tree_depth));
        }
        if !(1..=32).contains(&self.order_tree_depth) {
            return Err(ConfigError::OrderTreeDepth(self.order_tree_depth));
        }
        if self.markets.is_empty() || self.markets.len() > MAX_MARKETS {
            return Err(ConfigError::MarketCount(self.markets.len()));
        }
        for m in &self.markets {
            m.validate()?;
        }
        Ok(())
    }

    pub fn market(&self, id: MarketId) -> Option<&MarketParams> {
        self.markets.get(id.index())
    }
}

/// Why the state could not be built or a batch could not start.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("batch time {new} is before the previous batch time {previous}")]
    TimeWentBackwards { previous: u64, new: u64 },
    #[error("node store: {0}")]
    Store(String),
    #[error("the batch's fees overflow the fee account: {0}")]
    FeeOverflow(RangeError),
    #[error("the snapshot cannot be restored: {0}")]
    Snapshot(String),
    #[error("the trees are with a seal worker")]
    TreesAway,
}

fn store_error<E: std::error::Error>(e: MerkleError<E>) -> StateError {
    StateError::Store(e.to_string())
}

/// One leaf write of a transaction, with what a circuit needs to check it. The account tree
/// is written once per account at the seal, not per write: the batch's account table
/// (`crate::table`) proves each account's first leaf and last, and the circuit's transcript
/// ties every write's leaves to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountWrite {
    pub account: AccountId,
    pub before: Option<AccountLeaf>,
    pub after: AccountLeaf,
    pub order_update: Option<MerkleUpdate>,
}

/// An account a transaction's rules read without writing it (a refused forced withdrawal's
/// account, the insurance fund a deleverage consults), as the batch had left it at the read:
/// what a circuit needs to prove the value it read (through the account table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRead {
    pub account: AccountId,
    /// `None`: no account has this id (its leaf is empty).
    pub leaf: Option<AccountLeaf>,
    /// Whether the id fits the tree (a refused request may name one beyond it, which reads
    /// nothing and has no table entry).
    pub in_tree: bool,
}

/// What an applied transaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub reads: Vec<AccountRead>,
    pub writes: Vec<AccountWrite>,
    pub pubdata: Vec<PubData>,
}

impl Receipt {
    /// The accounts the transaction touched inside the tree, reads first: the entries it
    /// gives the account table (`crate::table`).
    pub fn accounts(&self) -> impl Iterator<Item = AccountId> + '_ {
        let reads = self.reads.iter().filter(|r| r.in_tree).map(|r| r.account);
        reads.chain(self.writes.iter().map(|w| w.account))
    }
}

/// The state of the exchange.
#[derive(Debug)]
pub struct State<S: NodeStore = MemoryStore> {
    config: Arc<StateConfig>,
    accounts: BTreeMap<AccountId, Account>,
    owners: HashMap<([u8; 32], L1Address), AccountId>,
    /// The hashes over the leaves; `None` while a seal worker holds them
    /// ([`State::lend_trees`]).
    trees: Option<Trees<S>>,
    /// Accounts whose leaves' `orders_root` and `salt` went stale while the trees were away:
    /// brought up to date when they come back ([`State::return_trees`]).
    stale: BTreeSet<AccountId>,
    /// The account tree's capacity and the root of an empty orders tree (known without it).
    capacity: u64,
    empty_orders_root: Fr,
    markets: Vec<MarketState>,
    next_account: u64,
    queues: Queues,
    now: Timestamp,
    /// The markets when the batch began (the account tree's part of its start is the tree as
    /// it is: it is written only at the seal).
    batch_start_markets: Vec<MarketState>,
    batches_sealed: u64,
    /// The batch's transactions whose tree work is done, with their receipts (the circuit's
    /// witness).
    batch_log: Vec<AppliedTx>,
    /// The batch's transactions after those, applied to the leaves, their tree work pending.
    pending: Vec<PendingTx>,
    /// The accounts the batch's transactions have read or written so far (its account table
    /// but the fee account: `SealedBatch::touched`).
    batch_touched: BTreeSet<AccountId>,
    /// Trading fees of the batch so far, credited to the fee account when it seals.
    pending_fees: i128,
    /// While a savepoint is open: how to undo each account write since.
    undo: Option<Vec<Undo>>,
}

/// How to undo one account write.
#[derive(Debug, Clone)]
struct Undo {
    account: AccountId,
    /// `None`: the write created the account.
    before: Option<AccountLeaf>,
    /// The orders-tree slot the write changed, with its previous value.
    order_slot: Option<(u64, OrderSlot)>,
}

/// A transaction applied to the leaves whose tree work waits for [`State::hash_pending`].
#[derive(Debug, Clone)]
struct PendingTx {
    tx: Transaction,
    work: TreeWork,
}

/// A point the state can return to with [`State::rollback`] (see [`State::savepoint`]).
#[derive(Debug, Clone)]
#[must_use = "a savepoint must be released or rolled back"]
pub struct Savepoint {
    undo_len: usize,
    markets: Vec<MarketState>,
    next_account: u64,
    queues: Queues,
    /// Transactions in the batch (hashed and pending) and of them hashed, at the savepoint.
    log_len: usize,
    hashed_len: usize,
    pending_fees: i128,
}

/// How many entries of each L1 queue the state has consumed. Each queued kind
/// ([`crate::tx::Kind::queue_index`]) has its own queue; the other kinds' counts stay 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Queues([u64; SlotKind::COUNT]);

impl Queues {
    /// The index of the next entry of `kind`'s queue.
    pub fn next(&self, kind: SlotKind) -> u64 {
        self.0[kind as usize]
    }

    fn consume(&mut self, kind: SlotKind) {
        self.0[kind as usize] += 1;
    }
}

/// One account in a [`StateSnapshot`]: its leaf in the clear and its orders tree's slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSnapshot {
    pub id: AccountId,
    pub leaf: AccountLeaf,
    /// The orders tree's written slots, in slot order.
    pub slots: Vec<(u64, OrderSlot)>,
}

/// The state between two batches, in the clear: what a sequencer snapshot stores. No tree is
/// stored: [`State::restore`] rebuilds every tree from the leaves and checks it gives `root`, so
/// a snapshot that does not match the state it claims is refused, not trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateSnapshot {
    /// The state root after `batches_sealed` batches.
    #[serde(with = "crate::field::serde_fr")]
    pub root: Fr,
    pub batches_sealed: u64,
    pub now: Timestamp,
    pub accounts: Vec<AccountSnapshot>,
    pub markets: Vec<MarketState>,
    pub next_account: u64,
    /// Entries consumed of each L1 queue.
    pub queues: Queues,
}

impl State<MemoryStore> {
    /// The genesis state in memory: the insurance fund at id 0 and the fee account at id 1.
    pub fn genesis(config: StateConfig) -> Result<Self, StateError> {
        Self::genesis_in(config, MemoryStore::default())
    }

    /// The state a [`State::snapshot`] recorded, under `config` (the deployment's, which the
    /// snapshot does not carry). Every tree is rebuilt from the leaves, bottom up; the result
    /// must give the recorded root, and every account must be consistent with `config`.
    pub fn restore(config: StateConfig, snapshot: StateSnapshot) -> Result<Self, StateError> {
        config.validate()?;
        let bad = |why: String| StateError::Snapshot(why);
        if snapshot.markets.len() != config.markets.len() {
            return Err(bad(format!(
                "it has {} markets, the configuration {}",
                snapshot.markets.len(),
                config.markets.len()
            )));
        }
        let mut accounts = BTreeMap::new();
        let mut owners = HashMap::new();
        let mut leaves = Vec::with_capacity(snapshot.accounts.len());
        // Each account's orders tree and leaf hash are its own: rebuilt on every core.
        let next_account = snapshot.next_account;
        let (markets, order_depth) = (config.markets.len(), config.order_tree_depth);
        type Rebuilt = (AccountId, Account, Option<SparseMerkleTree>, Fr);
        let rebuilt: Vec<Rebuilt> = snapshot
            .accounts
            .into_par_iter()
            .map(|AccountSnapshot { id, leaf, slots }| {
                if id.index() >= next_account {
                    return Err(bad(format!("account {id} is at or past the next id")));
                }
                if leaf.positions.len() != markets {
                    return Err(bad(format!(
                        "account {id} has the wrong number of positions"
                    )));
                }
                let orders =
                    Trees::<MemoryStore>::orders_tree(order_depth, &slots, leaf.orders_root)
                        .map_err(|why| bad(format!("account {id}: {why}")))?;
                let hash = leaf.hash();
                Ok((id, Account::restore(leaf, slots), orders, hash))
            })
            .collect::<Result<_, StateError>>()?;
        let mut adopted = Vec::with_capacity(rebuilt.len());
        for (id, account, orders, hash) in rebuilt {
            leaves.push((id.index(), hash));
            adopted.push((id, account.leaf.salt, orders));
            owners
                .entry((account.leaf.public_key.pack(), account.leaf.l1_address))
                .and_modify(|first: &mut AccountId| *first = (*first).min(id))
                .or_insert(id);
            if accounts.insert(id, account).is_some() {
                return Err(bad(format!("account {id} appears twice")));
            }
        }
        for (id, owner) in [
            (AccountId::INSURANCE_FUND, &config.insurance_fund),
            (AccountId::FEES, &config.fee_account),
        ] {
            let ok = accounts.get(&id).is_some_and(|a| {
                a.leaf.public_key == owner.public_key && a.leaf.l1_address == owner.l1_address
            });
            if !ok {
                return Err(bad(format!(
                    "system account {id} is not the configuration's"
                )));
            }
        }
        let tree = SparseMerkleTree::from_leaves(config.account_tree_depth, leaves)
            .map_err(|e| bad(e.to_string()))?;
        let mut trees = Trees::new(tree, config.order_tree_depth)?;
        for (id, salt, orders) in adopted {
            trees.adopt(id, salt, orders);
        }
        let mut state = State {
            accounts,
            owners,
            next_account: snapshot.next_account,
            queues: snapshot.queues,
            now: snapshot.now,
            batches_sealed: snapshot.batches_sealed,
            ..State::empty(config, trees, snapshot.markets)
        };
        if state.root() != snapshot.root {
            return Err(bad(
                "its accounts and markets do not give the state root it records".into(),
            ));
        }
        state.mark_batch_start();
        Ok(state)
    }
}

impl<S: NodeStore> State<S> {
    /// No account, no batch yet, the clock at zero: where genesis and a restore start from
    /// (the batch's start is marked by the caller once the state is whole).
    fn empty(config: StateConfig, trees: Trees<S>, markets: Vec<MarketState>) -> Self {
        State {
            config: Arc::new(config),
            accounts: BTreeMap::new(),
            owners: HashMap::new(),
            capacity: trees.account_tree().capacity(),
            empty_orders_root: trees.empty_orders_root(),
            trees: Some(trees),
            stale: BTreeSet::new(),
            markets,
            next_account: 0,
            queues: Queues::default(),
            now: Timestamp::default(),
            batch_start_markets: Vec::new(),
            batches_sealed: 0,
            batch_log: Vec::new(),
            pending: Vec::new(),
            batch_touched: BTreeSet::new(),
            pending_fees: 0,
            undo: None,
        }
    }

    /// The genesis state over an empty node store.
    pub fn genesis_in(config: StateConfig, store: S) -> Result<Self, StateError> {
        config.validate()?;
        let tree = SparseMerkleTree::open(config.account_tree_depth, store).map_err(store_error)?;
        let markets = vec![MarketState::default(); config.markets.len()];
        let trees = Trees::new(tree, config.order_tree_depth)?;
        let mut state = State::empty(config, trees, markets);
        // System accounts have a zero salt: their balances are public on purpose.
        for owner in [
            state.config.insurance_fund.clone(),
            state.config.fee_account.clone(),
        ] {
            let id = AccountId::new(state.next_account).expect("ids 0 and 1 fit");
            let account = state.new_account(owner.public_key, owner.l1_address, Fr::from(0u64));
            state
                .owners
                .insert((owner.public_key.pack(), owner.l1_address), id);
            let hash = account.leaf.hash();
            state.accounts.insert(id, account);
            let trees = state.trees.as_mut().expect("a new state has its trees");
            trees.adopt(id, Fr::from(0u64), None);
            trees
                .account_tree_mut()
                .update(id.index(), hash)
                .map_err(store_error)?;
            state.next_account += 1;
        }
        state.mark_batch_start();
        Ok(state)
    }

    fn new_account(&self, pk: PublicKey, l1: L1Address, salt: Fr) -> Account {
        let positions = self
            .markets
            .iter()
            .map(|m| Position {
                size: Default::default(),
                funding_index: m.funding_index,
            })
            .collect();
        Account::new(pk, l1, salt, positions, self.empty_orders_root)
    }

    pub fn config(&self) -> &StateConfig {
        &self.config
    }

    pub fn account(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(&id)
    }

    pub fn accounts(&self) -> impl Iterator<Item = (&AccountId, &Account)> {
        self.accounts.iter()
    }

    /// The first account of `(pk, l1)` (an owner may open more, by depositing to a new account).
    pub fn account_by_owner(&self, pk: &PublicKey, l1: &L1Address) -> Option<AccountId> {
        self.owners.get(&(pk.pack(), *l1)).copied()
    }

    pub fn markets(&self) -> &[MarketState] {
        &self.markets
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The index of the next entry of `kind`'s L1 queue to consume.
    pub fn queue_next(&self, kind: SlotKind) -> u64 {
        self.queues.next(kind)
    }

    /// The trees, unless a seal worker holds them ([`State::lend_trees`]).
    pub fn trees(&self) -> Option<&Trees<S>> {
        self.trees.as_ref()
    }

    fn trees_here(&self) -> &Trees<S> {
        self.trees
            .as_ref()
            .expect("the trees are lent to a seal worker: return them before reading roots")
    }

    fn trees_mut(&mut self) -> Result<&mut Trees<S>, StateError> {
        self.trees.as_mut().ok_or(StateError::TreesAway)
    }

    /// The account tree. Panics while the trees are lent ([`State::lend_trees`]).
    pub fn account_tree(&self) -> &SparseMerkleTree<S> {
        self.trees_here().account_tree()
    }

    /// Panics while the trees are lent ([`State::lend_trees`]).
    pub fn accounts_root(&self) -> Fr {
        self.trees_here().accounts_root()
    }

    pub fn markets_hash(&self) -> Fr {
        crate::market::markets_hash(&self.markets)
    }

    /// The state root the L1 tracks. The account tree is written once per account at the seal
    /// (`crate::table`), so inside a batch its part is the root the batch began at; the
    /// markets' part is current. Panics while the trees are lent ([`State::lend_trees`]).
    pub fn root(&self) -> Fr {
        crate::market::state_root(self.accounts_root(), &self.markets)
    }

    /// Starts a batch at `timestamp` (never earlier than the last one).
    pub fn begin_batch(&mut self, timestamp: Timestamp) -> Result<(), StateError> {
        if timestamp < self.now {
            return Err(StateError::TimeWentBackwards {
                previous: self.now.get(),
                new: timestamp.get(),
            });
        }
        self.now = timestamp;
        self.mark_batch_start();
        self.batch_log.clear();
        self.pending.clear();
        self.batch_touched.clear();
        Ok(())
    }

    fn mark_batch_start(&mut self) {
        self.batch_start_markets = self.markets.clone();
    }

    /// Trading fees of the open batch, not yet credited to the fee account.
    pub fn pending_fees(&self) -> i128 {
        self.pending_fees
    }

    /// The batches sealed so far.
    pub fn batches_sealed(&self) -> u64 {
        self.batches_sealed
    }

    /// Everything [`State::restore`] needs to rebuild this state. Only between batches and
    /// with the trees here: the open batch's witness (its log, its fees, a savepoint) is not
    /// part of a snapshot, so with any of them pending, or the trees lent, this is `None`.
    pub fn snapshot(&self) -> Option<StateSnapshot> {
        if self.batch_len() != 0
            || self.pending_fees != 0
            || self.undo.is_some()
            || self.trees.is_none()
        {
            return None;
        }
        Some(StateSnapshot {
            root: self.root(),
            batches_sealed: self.batches_sealed,
            now: self.now,
            accounts: self
                .accounts
                .iter()
                .map(|(id, account)| AccountSnapshot {
                    id: *id,
                    leaf: account.leaf.clone(),
                    slots: account.order_slots(),
                })
                .collect(),
            markets: self.markets.clone(),
            next_account: self.next_account,
            queues: self.queues,
        })
    }

    /// The open batch's transactions so far, in order.
    pub fn batch_txs(&self) -> impl DoubleEndedIterator<Item = &Transaction> + '_ {
        let hashed = self.batch_log.iter().map(|applied| &applied.tx);
        hashed.chain(self.pending.iter().map(|p| &p.tx))
    }

    /// The open batch's transactions from its `from`-th on, in order (a reader following the
    /// batch pays for the new ones only).
    pub fn batch_txs_since(&self, from: usize) -> impl Iterator<Item = &Transaction> + '_ {
        let (hashed, pending) = self.batch_since(from);
        hashed
            .iter()
            .map(|a| &a.tx)
            .chain(pending.iter().map(|p| &p.tx))
    }

    /// The open batch's transactions from its `from`-th on: those hashed, then those pending.
    fn batch_since(&self, from: usize) -> (&[AppliedTx], &[PendingTx]) {
        let hashed = &self.batch_log[from.min(self.batch_log.len())..];
        let from = from.saturating_sub(self.batch_log.len());
        (hashed, &self.pending[from.min(self.pending.len())..])
    }

    /// How many transactions the open batch has so far.
    pub fn batch_len(&self) -> usize {
        self.batch_log.len() + self.pending.len()
    }

    /// How many of the open batch's transactions wait for their tree work
    /// ([`State::hash_pending`]).
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// The accounts whose leaves the open batch's transactions wrote, from its `from`-th
    /// transaction on (each transaction's, in order, repeats included): what changed since a
    /// reader looked at the batch's first `from`. Cheap for any `from`: a reader that follows
    /// the batch pays for the new transactions only.
    pub fn batch_writes_since(&self, from: usize) -> impl Iterator<Item = AccountId> + '_ {
        let (hashed, pending) = self.batch_since(from);
        let hashed = hashed
            .iter()
            .flat_map(|a| a.receipt.writes.iter().map(|w| w.account));
        hashed.chain(
            pending
                .iter()
                .flat_map(|p| p.work.writes.iter().map(|w| w.account)),
        )
    }

    /// The accounts the open batch touches: its transactions' and, at the seal, the fee
    /// account (the entries of its account table, `crate::table`).
    pub fn batch_accounts(&self) -> usize {
        self.batch_touched.len() + usize::from(!self.batch_touched.contains(&AccountId::FEES))
    }

    /// Adds idle accounts to the open batch's account table as decoys (issue 18): at the seal
    /// each is refreshed like every touched account (its salt stepped, its unchanged leaf
    /// published under a new hash and a fresh ciphertext), so an observer cannot tell it from
    /// an account that traded. Ids that do not exist, system accounts (their salts are public)
    /// and accounts already in the batch are skipped; returns how many were added.
    pub fn pad_batch(&mut self, ids: impl IntoIterator<Item = AccountId>) -> usize {
        let mut added = 0;
        for id in ids {
            let system = id == AccountId::INSURANCE_FUND || id == AccountId::FEES;
            if !system && self.accounts.contains_key(&id) && self.batch_touched.insert(id) {
                added += 1;
            }
        }
        added
    }

    /// Up to `room` idle accounts (existing, not system, not in the open batch) for the batch
    /// about to be sealed, drawn by `secret`: all of them when there are no more than `room`,
    /// else a uniform draw keyed by the secret and the batch number. Deterministic, so a replay
    /// of the journal pads exactly as the first run did; unpredictable without the secret.
    pub fn decoys(&self, secret: &[u8; 32], room: usize) -> Vec<AccountId> {
        use sha2::{Digest, Sha256};
        let first = 2u64;
        let idle = |id: &AccountId| {
            id.index() >= first
                && !self.batch_touched.contains(id)
                && self.accounts.contains_key(id)
        };
        // Counted from the batch's touched accounts, not by walking every account.
        let below = self
            .accounts
            .keys()
            .take_while(|id| id.index() < first)
            .count();
        let touched = self.batch_touched.iter();
        let touched = touched
            .filter(|id| id.index() >= first && self.accounts.contains_key(id))
            .count();
        let count = self.accounts.len() - below - touched;
        if count <= room {
            return self.accounts.keys().copied().filter(idle).collect();
        }
        let span = self.next_account.saturating_sub(first);
        let number = self.batches_sealed + 1;
        let mut chosen = BTreeSet::new();
        // Rejection sampling over the ids ever made; each draw is independent of the others.
        for draw in 0u64.. {
            if chosen.len() == room || draw >= 64 * room as u64 + 64 {
                break;
            }
            let digest = Sha256::new()
                .chain_update(secret)
                .chain_update(number.to_be_bytes())
                .chain_update(draw.to_be_bytes())
                .finalize();
            let word = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
            let Ok(id) = AccountId::new(first + word % span) else {
                continue;
            };
            if idle(&id) {
                chosen.insert(id);
            }
        }
        chosen.into_iter().collect()
    }

    fn note_touched(touched: &mut BTreeSet<AccountId>, receipt: &Receipt) {
        touched.extend(receipt.accounts());
    }

    /// Seals the batch: credits its trading fees to the fee account (one write, always made, so
    /// every batch ends with the same step), steps the salt of every account the batch touched
    /// (`crate::record`: what keys their data-availability records) and returns everything its
    /// proof and public data need. [`State::close_batch`] then [`Trees::seal`], with the trees
    /// here; the leaves' orders roots and salts follow the trees.
    pub fn end_batch(&mut self) -> Result<SealedBatch, StateError> {
        self.trees_mut()?;
        let closed = self.close_batch()?;
        let accounts: BTreeSet<AccountId> = closed.accounts().collect();
        let sealed = self.trees_mut()?.seal(closed)?;
        self.refresh(accounts);
        Ok(sealed)
    }

    /// Closes the batch on the leaves: credits its trading fees to the fee account's leaf,
    /// counts the batch sealed and opens the next at the same time, and returns the closed
    /// batch's tree work for [`Trees::seal`] (here, or on a seal worker that holds the trees:
    /// [`State::lend_trees`]). No hashing: the cost follows the batch's accounts, not paths.
    pub fn close_batch(&mut self) -> Result<ClosedBatch, StateError> {
        let fees = self.pending_fees;
        let fee_leaf = {
            let account = self
                .accounts
                .get(&AccountId::FEES)
                .ok_or_else(|| StateError::Store("the fee account is missing".into()))?;
            let mut leaf = account.leaf.clone();
            leaf.collateral = leaf
                .collateral
                .checked_add(fees)
                .map_err(StateError::FeeOverflow)?;
            leaf
        };
        let fee_write = self.commit_leaves(Effects {
            accounts: vec![Staged {
                id: AccountId::FEES,
                leaf: fee_leaf,
                order_write: None,
            }],
            markets: None,
            queues: self.queues,
            fees: 0,
            reads: Vec::new(),
            pubdata: Vec::new(),
        });
        self.pending_fees = 0;
        // Every touched account that exists steps its salt at the seal (the fee account is
        // touched by the settlement above).
        self.batch_touched.insert(AccountId::FEES);
        let touched = std::mem::take(&mut self.batch_touched)
            .into_iter()
            .filter_map(|id| Some((id, self.accounts.get(&id)?.leaf.clone())))
            .collect();
        let closed = ClosedBatch {
            number: self.batches_sealed + 1,
            timestamp: self.now,
            domain: self.config.domain,
            start_markets: std::mem::take(&mut self.batch_start_markets),
            markets: self.markets.clone(),
            hashed: std::mem::take(&mut self.batch_log),
            pending: std::mem::take(&mut self.pending)
                .into_iter()
                .map(|p| (p.tx, p.work))
                .collect(),
            fees,
            fee_write,
            touched,
        };
        if self.trees.is_none() {
            self.stale.extend(closed.accounts());
        }
        self.batches_sealed += 1;
        self.mark_batch_start();
        Ok(closed)
    }

    /// Hands the trees to a seal worker: from now on [`State::close_batch`] closes batches for
    /// it to seal ([`Trees::seal`], in order), and nothing that needs a root or a path may be
    /// asked of this state until [`State::return_trees`]. `None` if they are away already or
    /// a savepoint is open (rolling back hashed work needs them). Transactions of the open
    /// batch hashed here are fine: the account tree is as the batch began until its seal.
    pub fn lend_trees(&mut self) -> Option<Trees<S>> {
        if self.undo.is_some() {
            return None;
        }
        self.trees.take()
    }

    /// Takes the trees back from a seal worker that sealed every batch closed since
    /// [`State::lend_trees`]: the leaves' orders roots and salts are brought up to date.
    pub fn return_trees(&mut self, trees: Trees<S>) {
        self.trees = Some(trees);
        let stale = std::mem::take(&mut self.stale);
        self.refresh(stale);
    }

    /// Brings `ids`' leaves' orders roots and salts up to date from the trees, or, while they
    /// are away, notes them stale.
    fn refresh(&mut self, ids: impl IntoIterator<Item = AccountId>) {
        let Some(trees) = self.trees.as_ref() else {
            self.stale.extend(ids);
            return;
        };
        for id in ids {
            if let (Some(account), Some(salt)) = (self.accounts.get_mut(&id), trees.salt(id)) {
                account.leaf.salt = salt;
                account.leaf.orders_root = trees.orders_root(id);
            }
        }
    }

    /// Runs every rule of `tx` against the current state without changing it: what
    /// [`State::apply`] would answer.
    pub fn check(&self, tx: &Transaction) -> Result<(), TxError> {
        let mut ctx = Ctx::new(self);
        crate::tx::execute(&mut ctx, tx)
    }

    /// Applies one transaction: all its rules pass and the state changes, or it is refused with
    /// a typed error and the state is exactly as before. The orders trees and the receipt are
    /// made at once ([`State::execute`], then [`State::hash_pending`]); the account tree
    /// follows at the seal.
    pub fn apply(&mut self, tx: &Transaction) -> Result<Receipt, TxError> {
        self.execute(tx)?;
        self.hash_pending()
            .map_err(|e| TxError::Storage(e.to_string()))?;
        Ok(self
            .batch_log
            .last()
            .expect("the transaction was just hashed")
            .receipt
            .clone())
    }

    /// Applies one transaction to the leaves: all its rules pass and the leaves, markets and
    /// queues change, or it is refused with a typed error and nothing changes. The trees, the
    /// roots and the receipt wait for [`State::hash_pending`] (the seal calls it).
    pub fn execute(&mut self, tx: &Transaction) -> Result<(), TxError> {
        let effects = {
            let mut ctx = Ctx::new(self);
            crate::tx::execute(&mut ctx, tx)?;
            ctx.into_effects()
        };
        let work = self.commit_leaves(effects);
        self.batch_touched.extend(work.accounts(self.capacity));
        self.pending.push(PendingTx {
            tx: tx.clone(),
            work,
        });
        Ok(())
    }

    /// Does the tree work of every pending transaction, in order ([`Trees`]): each write's
    /// orders-tree update and the leaves' orders roots and salts, and so each transaction's
    /// receipt (the account tree waits for the seal). Fails while the trees are lent
    /// ([`State::lend_trees`]).
    pub fn hash_pending(&mut self) -> Result<(), StateError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.trees_mut()?;
        let (txs, work): (Vec<Transaction>, Vec<TreeWork>) = std::mem::take(&mut self.pending)
            .into_iter()
            .map(|p| (p.tx, p.work))
            .unzip();
        let written: BTreeSet<AccountId> = work
            .iter()
            .flat_map(|w| w.writes.iter().map(|w| w.account))
            .collect();
        let receipts = self.trees_mut()?.hash_work(work)?;
        self.refresh(written);
        self.batch_log.extend(
            txs.into_iter()
                .zip(receipts)
                .map(|(tx, receipt)| AppliedTx { tx, receipt }),
        );
        Ok(())
    }

    /// Opens a savepoint: every transaction applied after it can be undone with
    /// [`State::rollback`] (the sequencer uses this to apply a fill-or-kill order's fills as one
    /// unit). Savepoints nest; each must be released or rolled back.
    pub fn savepoint(&mut self) -> Savepoint {
        let undo = self.undo.get_or_insert_with(Vec::new);
        Savepoint {
            undo_len: undo.len(),
            markets: self.markets.clone(),
            next_account: self.next_account,
            queues: self.queues,
            log_len: self.batch_len(),
            hashed_len: self.batch_log.len(),
            pending_fees: self.pending_fees,
        }
    }

    /// Keeps everything applied since `sp`.
    pub fn release(&mut self, sp: Savepoint) {
        if sp.undo_len == 0 {
            self.undo = None;
        }
    }

    /// Returns the state to exactly what it was at `sp`: the same leaves, orders trees, roots,
    /// markets, queues and batch records. The trees are untouched since `sp` unless something
    /// hashed inside it; then everything is hashed and the orders-tree writes are undone with
    /// the leaves (the trees end as at `sp` with its pending transactions hashed; the account
    /// tree is only written at the seal).
    pub fn rollback(&mut self, sp: Savepoint) -> Result<(), StateError> {
        let trees_changed = self.batch_log.len() > sp.hashed_len;
        if trees_changed {
            self.hash_pending()?;
        }
        let mut trees = if trees_changed {
            Some(self.trees.take().ok_or(StateError::TreesAway)?)
        } else {
            None
        };
        let entries = match self.undo.as_mut() {
            Some(undo) if undo.len() >= sp.undo_len => undo.split_off(sp.undo_len),
            _ => Vec::new(),
        };
        for entry in entries.into_iter().rev() {
            let id = entry.account;
            match entry.before {
                Some(leaf) => {
                    let Some(account) = self.accounts.get_mut(&id) else {
                        continue;
                    };
                    if let Some((slot, old)) = entry.order_slot {
                        account.set_order_slot(slot, old);
                        if let Some(trees) = trees.as_mut() {
                            trees.hash_order_slot(id, slot, old)?;
                        }
                    }
                    account.leaf = leaf;
                    if let Some(trees) = trees.as_ref() {
                        account.leaf.orders_root = trees.orders_root(id);
                    }
                }
                None => {
                    if let Some(account) = self.accounts.remove(&id) {
                        let pair = (account.leaf.public_key.pack(), account.leaf.l1_address);
                        if self.owners.get(&pair) == Some(&id) {
                            self.owners.remove(&pair);
                        }
                    }
                    if let Some(trees) = trees.as_mut() {
                        trees.forget(id);
                    }
                }
            }
        }
        if trees.is_some() {
            self.trees = trees;
        }
        self.markets = sp.markets;
        self.next_account = sp.next_account;
        self.queues = sp.queues;
        if self.batch_log.len() >= sp.log_len {
            self.batch_log.truncate(sp.log_len);
            self.pending.clear();
        } else {
            self.pending.truncate(sp.log_len - self.batch_log.len());
        }
        self.batch_touched.clear();
        for applied in &self.batch_log {
            Self::note_touched(&mut self.batch_touched, &applied.receipt);
        }
        let capacity = self.capacity;
        for p in &self.pending {
            self.batch_touched.extend(p.work.accounts(capacity));
        }
        self.pending_fees = sp.pending_fees;
        if sp.undo_len == 0 {
            self.undo = None;
        }
        Ok(())
    }

    /// Writes a transaction's effects to the leaves, markets and queues, and returns its record
    /// for the tree work.
    fn commit_leaves(&mut self, effects: Effects) -> TreeWork {
        let reads = effects
            .reads
            .into_iter()
            .map(|id| (id, self.accounts.get(&id).map(|a| a.leaf.clone())))
            .collect();
        if let Some(markets) = effects.markets {
            self.markets = markets;
        }
        self.queues = effects.queues;
        self.pending_fees += effects.fees;
        let mut writes = Vec::with_capacity(effects.accounts.len());
        for staged in effects.accounts {
            let id = staged.id;
            let (before, new_salt, account) = match self.accounts.get_mut(&id) {
                Some(account) => (Some(account.leaf.clone()), None, account),
                None => {
                    let account = self.new_account(
                        staged.leaf.public_key,
                        staged.leaf.l1_address,
                        staged.leaf.salt,
                    );
                    // The pair's first account: a later one (a deposit that asked for a new
                    // account) does not replace it.
                    self.owners
                        .entry((staged.leaf.public_key.pack(), staged.leaf.l1_address))
                        .or_insert(id);
                    self.next_account = self.next_account.max(id.index() + 1);
                    let salt = Some(staged.leaf.salt);
                    (None, salt, self.accounts.entry(id).or_insert(account))
                }
            };
            let previous = staged
                .order_write
                .map(|(slot, value)| (slot, account.set_order_slot(slot, value)));
            if let Some(undo) = self.undo.as_mut() {
                undo.push(Undo {
                    account: id,
                    before: before.clone(),
                    order_slot: previous,
                });
            }
            let mut leaf = staged.leaf;
            leaf.orders_root = account.leaf.orders_root;
            account.leaf = leaf.clone();
            writes.push(PendingWrite {
                account: id,
                before,
                after: leaf,
                order_write: staged.order_write,
                new_salt,
            });
        }
        TreeWork {
            reads,
            writes,
            pubdata: effects.pubdata,
        }
    }
}

/// One account as a transaction stages it.
#[derive(Debug)]
pub(crate) struct Staged {
    pub id: AccountId,
    pub leaf: AccountLeaf,
    pub order_write: Option<(u64, OrderSlot)>,
}

#[derive(Debug)]
pub(crate) struct Effects {
    accounts: Vec<Staged>,
    markets: Option<Vec<MarketState>>,
    queues: Queues,
    fees: i128,
    reads: Vec<AccountId>,
    pubdata: Vec<PubData>,
}

/// A transaction's view of the state: reads go through to the state, writes are staged.
#[derive(Debug)]
pub struct Ctx<'a, S: NodeStore> {
    state: &'a State<S>,
    accounts: Vec<Staged>,
    markets: Option<Vec<MarketState>>,
    queues: Queues,
    next_account: u64,
    fees: i128,
    reads: Vec<AccountId>,
    pubdata: Vec<PubData>,
}

/// The transaction named an account that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("account {0} does not exist")]
pub struct NoSuchAccount(pub AccountId);

impl<'a, S: NodeStore> Ctx<'a, S> {
    fn new(state: &'a State<S>) -> Self {
        Ctx {
            state,
            accounts: Vec::new(),
            markets: None,
            queues: state.queues,
            next_account: state.next_account,
            fees: 0,
            reads: Vec::new(),
            pubdata: Vec::new(),
        }
    }

    fn into_effects(self) -> Effects {
        Effects {
            accounts: self.accounts,
            markets: self.markets,
            queues: self.queues,
            fees: self.fees,
            reads: self.reads,
            pubdata: self.pubdata,
        }
    }

    pub fn config(&self) -> &'a StateConfig {
        &self.state.config
    }

    pub fn now(&self) -> Timestamp {
        self.state.now
    }

    pub fn markets(&self) -> &[MarketState] {
        self.markets.as_deref().unwrap_or(&self.state.markets)
    }

    pub fn markets_mut(&mut self) -> &mut Vec<MarketState> {
        self.markets
            .get_or_insert_with(|| self.state.markets.clone())
    }

    /// The index of the next entry of `kind`'s L1 queue to consume.
    pub fn queue_next(&self, kind: SlotKind) -> u64 {
        self.queues.next(kind)
    }

    pub(crate) fn consume_queue(&mut self, kind: SlotKind) {
        self.queues.consume(kind);
    }

    /// Adds trading fees for the fee account, credited when the batch seals. The batch's total
    /// must stay within the collateral width (checked against the fee account's balance).
    pub fn add_fees(&mut self, fees: i128) -> Result<(), RangeError> {
        let balance = self
            .state
            .accounts
            .get(&AccountId::FEES)
            .map_or(Collateral::ZERO, |a| a.leaf.collateral);
        let total = self.state.pending_fees + self.fees + fees;
        balance.checked_add(total)?;
        self.fees += fees;
        Ok(())
    }

    pub fn publish(&mut self, record: PubData) {
        self.pubdata.push(record);
    }

    /// A copy of an account's current leaf (staged or committed), without staging it.
    pub fn peek(&self, id: AccountId) -> Option<AccountLeaf> {
        self.accounts
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.leaf.clone())
            .or_else(|| self.state.accounts.get(&id).map(|a| a.leaf.clone()))
    }

    /// As [`Self::peek`], recording that the rules read this account (committed state: the
    /// receipt carries its leaf and path for the circuit). Only for accounts the transaction
    /// does not write.
    pub fn read(&mut self, id: AccountId) -> Option<AccountLeaf> {
        debug_assert!(
            self.accounts.iter().all(|s| s.id != id),
            "a read of an account this transaction wrote"
        );
        if !self.reads.contains(&id) {
            self.reads.push(id);
        }
        self.state.accounts.get(&id).map(|a| a.leaf.clone())
    }

    /// Stages an account for writing (first touch fixes its place in the write order).
    pub fn account(&mut self, id: AccountId) -> Result<&mut AccountLeaf, NoSuchAccount> {
        let pos = match self.accounts.iter().position(|s| s.id == id) {
            Some(pos) => pos,
            None => {
                let account = self.state.accounts.get(&id).ok_or(NoSuchAccount(id))?;
                self.accounts.push(Staged {
                    id,
                    leaf: account.leaf.clone(),
                    order_write: None,
                });
                self.accounts.len() - 1
            }
        };
        Ok(&mut self.accounts[pos].leaf)
    }

    /// The account owned by `(pk, l1)`, if any (committed or created by this transaction).
    pub fn account_by_owner(&self, pk: &PublicKey, l1: &L1Address) -> Option<AccountId> {
        self.state.account_by_owner(pk, l1).or_else(|| {
            self.accounts
                .iter()
                .find(|s| s.leaf.public_key == *pk && s.leaf.l1_address == *l1)
                .map(|s| s.id)
        })
    }

    /// Creates an account at the next free id; `None` when the tree is full.
    /// The id `2^32 - 1` is never created: on the L1 it means "a new account"
    /// (`DepositTarget::NEW_ACCOUNT`).
    pub fn create_account(&mut self, pk: PublicKey, l1: L1Address, salt: Fr) -> Option<AccountId> {
        let capacity = self
            .state
            .capacity
            .min(u64::from(crate::tx::DepositTarget::NEW_ACCOUNT));
        if self.next_account >= capacity {
            return None;
        }
        let id = AccountId::new(self.next_account).ok()?;
        self.next_account += 1;
        let mut leaf = self.state.new_account(pk, l1, salt).leaf;
        leaf.positions = self
            .markets()
            .iter()
            .map(|m| Position {
                size: Default::default(),
                funding_index: m.funding_index,
            })
            .collect();
        self.accounts.push(Staged {
            id,
            leaf,
            order_write: None,
        });
        Some(id)
    }

    /// The current slot of `order_id` in `id`'s orders tree.
    pub fn order_slot(&self, id: AccountId, order_id: OrderId) -> OrderSlot {
        let slot = slot_index(order_id, self.state.config.order_tree_depth);
        if let Some((s, value)) = self
            .accounts
            .iter()
            .find(|s| s.id == id)
            .and_then(|s| s.order_write)
        {
            if s == slot {
                return value;
            }
        }
        self.state
            .accounts
            .get(&id)
            .map(|a| a.order_slot(slot))
            .unwrap_or_default()
    }

    /// Stages a slot write and the account's new orders root. One slot write per account per
    /// transaction (a trade has one order per account).
    pub fn write_order_slot(
        &mut self,
        id: AccountId,
        value: OrderSlot,
    ) -> Result<(), NoSuchAccount> {
        let slot = slot_index(value.order_id, self.state.config.order_tree_depth);
        self.account(id)?;
        let staged = self
            .accounts
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or(NoSuchAccount(id))?;
        debug_assert!(
            staged.order_write.is_none(),
            "one order slot write per account per transaction"
        );
        // The leaf's orders root follows when the tree work is done (`State::hash_pending`).
        staged.order_write = Some((slot, value));
        Ok(())
    }
}
