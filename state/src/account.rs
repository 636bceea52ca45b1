//! An account as the state holds it: its leaf in the clear plus its orders tree.
//!
//! The slots in the clear change as soon as a transaction writes them; the orders tree (and
//! with it the leaf's `orders_root`) catches up when the state hashes its pending writes
//! (`State::hash_pending`, at the latest when the batch seals), so the matching path never
//! hashes a path.

use std::collections::HashMap;

use crate::leaf::{AccountLeaf, Position};
use crate::merkle::SparseMerkleTree;
use crate::order::OrderSlot;

#[derive(Debug, Clone)]
pub struct Account {
    pub leaf: AccountLeaf,
    orders: SparseMerkleTree,
    slots: HashMap<u64, OrderSlot>,
}

impl Account {
    /// A new account with no orders and flat positions (cached at the current indices, so no
    /// funding is owed for the time before it existed).
    pub fn new(
        public_key: crate::eddsa::PublicKey,
        l1_address: crate::units::L1Address,
        salt: crate::field::Fr,
        positions: Vec<Position>,
        order_tree_depth: u8,
    ) -> Self {
        let orders =
            SparseMerkleTree::new(order_tree_depth).expect("depth validated by StateConfig");
        let leaf = AccountLeaf {
            public_key,
            l1_address,
            collateral: crate::units::Collateral::ZERO,
            nonce: crate::units::Nonce::default(),
            order_floor: crate::units::OrderId::default(),
            positions,
            orders_root: orders.root(),
            salt,
        };
        Account {
            leaf,
            orders,
            slots: HashMap::new(),
        }
    }

    /// An account from its leaf and its orders tree's non-empty slots (a snapshot's record):
    /// the tree is rebuilt and must give the leaf's `orders_root`.
    pub fn restore(
        leaf: AccountLeaf,
        slots: impl IntoIterator<Item = (u64, OrderSlot)>,
        order_tree_depth: u8,
    ) -> Result<Self, String> {
        let slots: HashMap<u64, OrderSlot> = slots.into_iter().collect();
        let orders = SparseMerkleTree::from_leaves(
            order_tree_depth,
            slots.iter().map(|(slot, value)| (*slot, value.pack())),
        )
        .map_err(|e| e.to_string())?;
        if orders.root() != leaf.orders_root {
            return Err("its order slots do not give its leaf's orders root".into());
        }
        Ok(Account {
            leaf,
            orders,
            slots,
        })
    }

    /// The orders tree's written slots, in slot order.
    pub fn order_slots(&self) -> Vec<(u64, OrderSlot)> {
        let mut slots: Vec<_> = self.slots.iter().map(|(k, v)| (*k, *v)).collect();
        slots.sort_unstable_by_key(|(k, _)| *k);
        slots
    }

    pub fn order_slot(&self, slot: u64) -> OrderSlot {
        self.slots.get(&slot).copied().unwrap_or_default()
    }

    /// Writes a slot in the clear; returns what it held. The orders tree is not touched:
    /// [`Account::hash_order_slot`] brings it up to date.
    pub(crate) fn set_order_slot(&mut self, slot: u64, value: OrderSlot) -> OrderSlot {
        self.slots.insert(slot, value).unwrap_or_default()
    }

    /// Writes a slot into the orders tree; returns the tree's update (for the circuit witness).
    pub(crate) fn hash_order_slot(
        &mut self,
        slot: u64,
        value: OrderSlot,
    ) -> crate::merkle::MerkleUpdate {
        self.orders
            .update(slot, value.pack())
            .expect("slot index is reduced mod 2^depth")
    }

    pub fn orders_root(&self) -> crate::field::Fr {
        self.orders.root()
    }
}
