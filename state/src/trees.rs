//! The hashes over the leaves: the account tree, each account's orders tree and the salts
//! the seal steps. The state's leaves change as transactions execute; the trees follow from a
//! log of the writes ([`TreeWork`]), in order, and make each transaction's receipt (the
//! circuit's witness). They are a value of their own so that a seal worker can own them while
//! the sequencer goes on executing the next batch on the leaves: [`crate::state::State`]
//! closes a batch ([`crate::state::State::close_batch`], cheap: no hash), and
//! [`Trees::seal`] turns the [`ClosedBatch`] into the [`SealedBatch`] the prover takes.
//!
//! No rule reads a leaf's `orders_root` or `salt` (only a deposit that creates an account sets
//! its salt, and the seal steps it): the leaves in the clear may carry stale values of both
//! while the trees are away, and the trees put the right ones in every leaf they hash.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use crate::batch::{AppliedTx, SealedBatch};
use crate::domain::SigningDomain;
use crate::field::Fr;
use crate::leaf::AccountLeaf;
use crate::market::MarketState;
use crate::merkle::{
    MemoryStore, MerkleError, MerkleProof, MerkleUpdate, NodeStore, SparseMerkleTree,
};
use crate::order::OrderSlot;
use crate::record;
use crate::state::{AccountRead, AccountWrite, Receipt, StateError};
use crate::table::TableEntry;
use crate::tx::Transaction;
use crate::units::{AccountId, Timestamp};

fn store_error<E: std::error::Error>(e: MerkleError<E>) -> StateError {
    StateError::Store(e.to_string())
}

/// What a transaction did to the leaves, for the tree work that makes its receipt.
#[derive(Debug, Clone)]
pub(crate) struct TreeWork {
    /// The accounts the rules read, with their leaves then (`None`: no such account).
    pub reads: Vec<(AccountId, Option<AccountLeaf>)>,
    pub writes: Vec<PendingWrite>,
    pub pubdata: Vec<crate::pubdata::PubData>,
}

impl TreeWork {
    /// The accounts it touches inside the tree, reads first (as [`Receipt::accounts`]).
    pub fn accounts(&self, capacity: u64) -> impl Iterator<Item = AccountId> + '_ {
        let reads = self.reads.iter().map(|(id, _)| *id);
        let reads = reads.filter(move |id| id.index() < capacity);
        reads.chain(self.writes.iter().map(|w| w.account))
    }
}

/// One account write in the clear. Its leaves' `orders_root` and `salt` are the trees': the
/// hashing fills them in (the orders root from the orders tree as it replays the slot
/// writes, the salt from the trees' own record) unless the write sets the salt.
#[derive(Debug, Clone)]
pub(crate) struct PendingWrite {
    pub account: AccountId,
    pub before: Option<AccountLeaf>,
    pub after: AccountLeaf,
    pub order_write: Option<(u64, OrderSlot)>,
    /// The salt this write gives the account: the one a deposit creates it with. `None`: it
    /// keeps the salt it has (the seal steps it, [`Trees::seal`]).
    pub new_salt: Option<Fr>,
}

/// A batch closed on the leaves ([`crate::state::State::close_batch`]), its tree work not
/// done: everything [`Trees::seal`] needs to make its [`SealedBatch`].
#[derive(Debug, Clone)]
pub struct ClosedBatch {
    pub(crate) number: u64,
    pub(crate) timestamp: Timestamp,
    pub(crate) domain: SigningDomain,
    pub(crate) start_markets: Vec<MarketState>,
    pub(crate) markets: Vec<MarketState>,
    /// The batch's transactions already hashed, then those whose tree work is pending.
    pub(crate) hashed: Vec<AppliedTx>,
    pub(crate) pending: Vec<(Transaction, TreeWork)>,
    pub(crate) fees: i128,
    /// The fee account's credit.
    pub(crate) fee_write: TreeWork,
    /// Every touched account that exists, with its leaf at the close (ascending id): each
    /// steps its salt.
    pub(crate) touched: Vec<(AccountId, AccountLeaf)>,
}

impl ClosedBatch {
    /// The batch's number (1 for the first after genesis).
    pub fn number(&self) -> u64 {
        self.number
    }

    /// How many transactions it holds.
    pub fn len(&self) -> usize {
        self.hashed.len() + self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every account it writes or steps: those whose leaves' `orders_root` and `salt` the seal
    /// changes.
    pub fn accounts(&self) -> impl Iterator<Item = AccountId> + '_ {
        let pending = self.pending.iter().flat_map(|(_, w)| &w.writes);
        let writes = pending.chain(&self.fee_write.writes).map(|w| w.account);
        writes.chain(self.touched.iter().map(|(id, _)| *id))
    }
}

/// The account tree, every account's orders tree and every account's salt.
#[derive(Debug, Clone)]
pub struct Trees<S: NodeStore = MemoryStore> {
    tree: SparseMerkleTree<S>,
    /// Orders trees of the accounts that ever wrote a slot (the others' is empty).
    orders: HashMap<AccountId, SparseMerkleTree>,
    salts: HashMap<AccountId, Fr>,
    order_depth: u8,
    empty_orders: Fr,
}

impl<S: NodeStore> Trees<S> {
    /// The trees over `tree` (the account tree, as it is) with no orders tree written and no
    /// salt known yet.
    pub(crate) fn new(tree: SparseMerkleTree<S>, order_depth: u8) -> Result<Self, StateError> {
        let empty_orders = SparseMerkleTree::new(order_depth)
            .map_err(store_error)?
            .root();
        Ok(Trees {
            tree,
            orders: HashMap::new(),
            salts: HashMap::new(),
            order_depth,
            empty_orders,
        })
    }

    /// The root of an empty orders tree.
    pub fn empty_orders_root(&self) -> Fr {
        self.empty_orders
    }

    pub fn account_tree(&self) -> &SparseMerkleTree<S> {
        &self.tree
    }

    pub(crate) fn account_tree_mut(&mut self) -> &mut SparseMerkleTree<S> {
        &mut self.tree
    }

    pub fn accounts_root(&self) -> Fr {
        self.tree.root()
    }

    /// The root of `id`'s orders tree.
    pub fn orders_root(&self, id: AccountId) -> Fr {
        self.orders.get(&id).map_or(self.empty_orders, |t| t.root())
    }

    /// `id`'s salt, if the trees know the account.
    pub fn salt(&self, id: AccountId) -> Option<Fr> {
        self.salts.get(&id).copied()
    }

    /// Records an account the trees did not make (genesis, a restore): its salt and, if it
    /// has any order slot, its orders tree.
    pub(crate) fn adopt(&mut self, id: AccountId, salt: Fr, orders: Option<SparseMerkleTree>) {
        self.salts.insert(id, salt);
        match orders {
            Some(tree) => self.orders.insert(id, tree),
            None => self.orders.remove(&id),
        };
    }

    /// Forgets an account whose creation is undone.
    pub(crate) fn forget(&mut self, id: AccountId) {
        self.salts.remove(&id);
        self.orders.remove(&id);
    }

    /// Writes a slot into `id`'s orders tree; returns the tree's update (for the witness).
    pub(crate) fn hash_order_slot(
        &mut self,
        id: AccountId,
        slot: u64,
        value: OrderSlot,
    ) -> Result<MerkleUpdate, StateError> {
        let depth = self.order_depth;
        let tree = match self.orders.entry(id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(SparseMerkleTree::new(depth).map_err(store_error)?)
            }
        };
        tree.update(slot, value.pack()).map_err(store_error)
    }

    /// The orders tree holding `slots`, checked to give `root`.
    pub(crate) fn orders_tree(
        order_depth: u8,
        slots: &[(u64, OrderSlot)],
        root: Fr,
    ) -> Result<Option<SparseMerkleTree>, String> {
        let tree = SparseMerkleTree::from_leaves(
            order_depth,
            slots.iter().map(|(slot, value)| (*slot, value.pack())),
        )
        .map_err(|e| e.to_string())?;
        if tree.root() != root {
            return Err("its order slots do not give its leaf's orders root".into());
        }
        Ok((!slots.is_empty()).then_some(tree))
    }

    /// Seals a closed batch: its pending tree work, in order, then the fee account's credit,
    /// then every touched account's salt step keyed by the batch (`crate::record`), then the
    /// account tree, once per touched account in ascending id (the batch's account table,
    /// `crate::table`), and returns everything its proof and public data need. What
    /// [`crate::state::State::end_batch`] returns for the same batch.
    pub fn seal(&mut self, closed: ClosedBatch) -> Result<SealedBatch, StateError> {
        // The batches are sealed in order and the account tree is written only here: it is as
        // this batch began.
        let start_accounts_root = self.tree.root();
        let old_root = crate::market::state_root(start_accounts_root, &closed.start_markets);
        let (txs, work): (Vec<Transaction>, Vec<TreeWork>) = closed.pending.into_iter().unzip();
        let receipts = self.hash_work(work)?;
        let mut applied = closed.hashed;
        applied.extend(
            txs.into_iter()
                .zip(receipts)
                .map(|(tx, receipt)| AppliedTx { tx, receipt }),
        );
        let fee_write = self
            .hash_work(vec![closed.fee_write])?
            .pop()
            .and_then(|mut r| r.writes.pop())
            .ok_or_else(|| StateError::Store("the fee credit made no write".into()))?;
        let number = closed.number;
        // Every touched account that exists as the batch leaves it, before the salts step: its
        // leaf in the clear with the orders root and salt the trees now hold.
        let mut finals: BTreeMap<AccountId, AccountLeaf> = BTreeMap::new();
        for (id, mut leaf) in closed.touched {
            leaf.salt = self.salt(id).ok_or_else(|| {
                StateError::Store(format!("account {id} has no salt in the trees"))
            })?;
            leaf.orders_root = self.orders_root(id);
            finals.insert(id, leaf);
        }
        // The table's accounts: every access inside the tree and every decoy, each with its
        // leaf before the batch (a decoy's is its final one: nothing changed it).
        let mut firsts: BTreeMap<AccountId, Option<AccountLeaf>> = BTreeMap::new();
        for receipt in applied.iter().map(|a| &a.receipt) {
            // A transaction's reads see the state before its writes.
            for read in receipt.reads.iter().filter(|r| r.in_tree) {
                firsts
                    .entry(read.account)
                    .or_insert_with(|| read.leaf.clone());
            }
            for write in &receipt.writes {
                firsts
                    .entry(write.account)
                    .or_insert_with(|| write.before.clone());
            }
        }
        firsts
            .entry(fee_write.account)
            .or_insert_with(|| fee_write.before.clone());
        for (id, leaf) in &finals {
            firsts.entry(*id).or_insert_with(|| Some(leaf.clone()));
        }
        let hash = |leaf: Option<&AccountLeaf>| leaf.map_or(Fr::from(0u64), AccountLeaf::hash);
        // Each entry's leaf hash before the batch (checked against the tree) and before the
        // step (what ρ_b commits to), on every core.
        let entries: Vec<(AccountId, &Option<AccountLeaf>)> =
            firsts.iter().map(|(id, leaf)| (*id, leaf)).collect();
        let hashes: Vec<(Fr, Fr)> = entries
            .par_iter()
            .map(|(id, before)| (hash(before.as_ref()), hash(finals.get(id))))
            .collect();
        for ((id, _), (before, _)) in entries.iter().zip(&hashes) {
            let held = self.tree.leaf(id.index()).map_err(store_error)?;
            if held != *before {
                return Err(StateError::Store(format!(
                    "account {id}: its leaf before batch {number} is not the account tree's"
                )));
            }
        }
        let rho = record::batch_rho(
            record::final_leaves(entries.iter().zip(&hashes).map(|((id, _), h)| (*id, h.1))),
            number,
        );
        let mut salt_steps = Vec::with_capacity(finals.len());
        for (id, leaf) in finals {
            let mut after = leaf.clone();
            after.salt = record::step(leaf.salt, number, id, rho);
            self.salts.insert(id, after.salt);
            salt_steps.push(AccountWrite {
                account: id,
                before: Some(leaf),
                after,
                order_update: None,
            });
        }
        // The account tree: each entry's final leaf, once, in ascending id.
        let mut stepped = salt_steps.iter().map(|w| (w.account, w)).peekable();
        let mut table: Vec<TableEntry> = entries
            .iter()
            .map(|(id, before)| {
                let step = stepped.next_if(|(at, _)| at == id).map(|(_, w)| w);
                TableEntry {
                    id: *id,
                    before: (*before).clone(),
                    after: step.map(|w| w.after.clone()),
                    proof: MerkleProof {
                        index: id.index(),
                        siblings: Vec::new(),
                    },
                    // The salt its accesses saw (0: no account, before or after).
                    salt: step
                        .and_then(|w| w.before.as_ref())
                        .map_or(Fr::from(0u64), |leaf| leaf.salt),
                }
            })
            .collect();
        let writes: Vec<(u64, Fr)> = table
            .par_iter()
            .map(|e| (e.id.index(), e.new_hash()))
            .collect();
        let proofs = self.tree.write_sorted(&writes).map_err(store_error)?;
        for (entry, proof) in table.iter_mut().zip(proofs) {
            entry.proof = proof;
        }
        Ok(SealedBatch {
            old_root,
            new_root: crate::market::state_root(self.tree.root(), &closed.markets),
            batch_number: number,
            timestamp: closed.timestamp,
            domain: closed.domain,
            start_accounts_root,
            start_markets: closed.start_markets,
            markets: closed.markets,
            txs: applied,
            fees: closed.fees,
            fee_write,
            rho,
            salt_steps,
            table,
        })
    }

    /// Does the tree work of `pending`, in order: each write's orders-tree update and its
    /// leaves' orders roots and salts, and so each transaction's receipt. The account tree
    /// waits for the seal, which writes each account once ([`Trees::seal`]).
    ///
    /// The orders trees are independent of each other (a write's new orders root depends only
    /// on its own account's slot writes): one account per task across the cores.
    pub(crate) fn hash_work(&mut self, pending: Vec<TreeWork>) -> Result<Vec<Receipt>, StateError> {
        /// Where a write sits in `pending`: its transaction, its place among the writes.
        type At = (usize, usize);
        // Each account's writes, in order; the salts every write starts from.
        let mut by_account: BTreeMap<AccountId, Vec<At>> = BTreeMap::new();
        for (t, p) in pending.iter().enumerate() {
            for (w, write) in p.writes.iter().enumerate() {
                by_account.entry(write.account).or_default().push((t, w));
            }
        }
        for id in by_account.keys() {
            let first = by_account[id][0];
            let write = &pending[first.0].writes[first.1];
            if write.before.is_some() && !self.salts.contains_key(id) {
                return Err(StateError::Store(format!(
                    "a pending write names account {id}, which the trees do not know"
                )));
            }
        }
        // Orders trees: one task per account. Each write gets its orders root before and
        // after and its salts.
        struct Hashed {
            at: At,
            root_before: Fr,
            salt_before: Fr,
            order_update: Option<MerkleUpdate>,
            after: AccountLeaf,
        }
        let depth = self.order_depth;
        // The touched accounts' orders trees leave the map while their tasks own them.
        // An account's id, its orders tree and salt (as the trees hold them), its writes.
        type Task = (AccountId, Option<SparseMerkleTree>, Option<Fr>, Vec<At>);
        let work: Vec<Task> = by_account
            .into_iter()
            .map(|(id, at)| {
                (
                    id,
                    self.orders.remove(&id),
                    self.salts.get(&id).copied(),
                    at,
                )
            })
            .collect();
        type Done = (AccountId, Option<SparseMerkleTree>, Option<Fr>);
        let (hashed, done): (Vec<Vec<Hashed>>, Vec<Done>) = work
            .into_par_iter()
            .map(|(id, mut orders, mut salt, at)| {
                let mut out = Vec::with_capacity(at.len());
                for (t, w) in at {
                    let write = &pending[t].writes[w];
                    let root_of = |o: &Option<SparseMerkleTree>| {
                        o.as_ref().map_or(self.empty_orders, |t| t.root())
                    };
                    let root_before = root_of(&orders);
                    let salt_before = salt.unwrap_or(write.after.salt);
                    let order_update = match write.order_write {
                        Some((slot, value)) => {
                            let tree = match orders.as_mut() {
                                Some(tree) => tree,
                                None => orders
                                    .insert(SparseMerkleTree::new(depth).expect("depth validated")),
                            };
                            Some(
                                tree.update(slot, value.pack())
                                    .expect("slot index is reduced mod 2^depth"),
                            )
                        }
                        None => None,
                    };
                    if let Some(new) = write.new_salt {
                        salt = Some(new);
                    }
                    let mut after = write.after.clone();
                    after.orders_root = root_of(&orders);
                    after.salt = salt.unwrap_or(after.salt);
                    out.push(Hashed {
                        at: (t, w),
                        root_before,
                        salt_before,
                        order_update,
                        after,
                    });
                }
                (out, (id, orders, salt))
            })
            .unzip();
        // Reads see the account of the moment: its last write before the read or, before its
        // first write of this run, as it was before the run.
        let mut last: HashMap<AccountId, (Fr, Fr)> = HashMap::new();
        let mut slots: Vec<Vec<Option<Hashed>>> = pending
            .iter()
            .map(|p| p.writes.iter().map(|_| None).collect())
            .collect();
        for h in hashed.into_iter().flatten() {
            let (t, w) = h.at;
            last.entry(pending[t].writes[w].account)
                .or_insert((h.root_before, h.salt_before));
            slots[t][w] = Some(h);
        }
        for (id, orders, salt) in done {
            if let Some(tree) = orders {
                self.orders.insert(id, tree);
            }
            if let Some(salt) = salt {
                self.salts.insert(id, salt);
            }
        }
        let capacity = self.tree.capacity();
        let mut receipts = Vec::with_capacity(pending.len());
        for (p, hashed) in pending.into_iter().zip(slots) {
            let mut receipt = Receipt {
                reads: Vec::with_capacity(p.reads.len()),
                writes: Vec::with_capacity(p.writes.len()),
                pubdata: p.pubdata,
            };
            for (id, leaf) in p.reads {
                let leaf = leaf.map(|mut leaf| {
                    // Not written in this run before the read: as the trees held it.
                    let (root, salt) = last.get(&id).copied().unwrap_or_else(|| {
                        (self.orders_root(id), self.salt(id).unwrap_or(leaf.salt))
                    });
                    leaf.orders_root = root;
                    leaf.salt = salt;
                    leaf
                });
                receipt.reads.push(AccountRead {
                    account: id,
                    leaf,
                    in_tree: id.index() < capacity,
                });
            }
            for (write, h) in p.writes.into_iter().zip(hashed) {
                let h = h.expect("every write was hashed");
                let before = write.before.map(|mut leaf| {
                    leaf.orders_root = h.root_before;
                    leaf.salt = h.salt_before;
                    leaf
                });
                last.insert(write.account, (h.after.orders_root, h.after.salt));
                receipt.writes.push(AccountWrite {
                    account: write.account,
                    before,
                    after: h.after,
                    order_update: h.order_update,
                });
            }
            receipts.push(receipt);
        }
        Ok(receipts)
    }
}
