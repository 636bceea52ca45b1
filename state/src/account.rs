//! An account as the state holds it: its leaf and its order slots in the clear.
//!
//! The leaf and the slots change as soon as a transaction writes them. The hashes over them
//! live apart, in [`crate::trees::Trees`] (the account tree, each account's orders tree, the
//! salts the seal steps): the trees catch up when the state hashes its pending writes, so the
//! matching path never hashes a path, and a seal worker can own them while the matching goes
//! on. The leaf's `orders_root` and `salt` are the trees' business: no rule reads them, and
//! they are brought up to date when the trees are with the state (`State::trees`).

use std::collections::HashMap;

use crate::leaf::{AccountLeaf, Position};
use crate::order::OrderSlot;

#[derive(Debug, Clone)]
pub struct Account {
    pub leaf: AccountLeaf,
    slots: HashMap<u64, OrderSlot>,
}

impl Account {
    /// A new account with no orders (`empty_orders_root`: the root of an empty orders tree)
    /// and flat positions (cached at the current indices, so no funding is owed for the time
    /// before it existed).
    pub fn new(
        public_key: crate::eddsa::PublicKey,
        l1_address: crate::units::L1Address,
        salt: crate::field::Fr,
        positions: Vec<Position>,
        empty_orders_root: crate::field::Fr,
    ) -> Self {
        let leaf = AccountLeaf {
            public_key,
            l1_address,
            collateral: crate::units::Collateral::ZERO,
            nonce: crate::units::Nonce::default(),
            order_floor: crate::units::OrderId::default(),
            positions,
            orders_root: empty_orders_root,
            salt,
        };
        Account {
            leaf,
            slots: HashMap::new(),
        }
    }

    /// An account from its leaf and its orders tree's non-empty slots (a snapshot's record).
    /// That the slots give the leaf's `orders_root` is the trees' check
    /// (`crate::trees::Trees`).
    pub fn restore(leaf: AccountLeaf, slots: impl IntoIterator<Item = (u64, OrderSlot)>) -> Self {
        Account {
            leaf,
            slots: slots.into_iter().collect(),
        }
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

    /// Writes a slot in the clear; returns what it held. The orders tree is the trees'.
    pub(crate) fn set_order_slot(&mut self, slot: u64, value: OrderSlot) -> OrderSlot {
        self.slots.insert(slot, value).unwrap_or_default()
    }
}
