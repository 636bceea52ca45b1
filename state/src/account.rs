//! An account as the state holds it: its leaf in the clear plus its orders tree.

use std::collections::HashMap;

use crate::leaf::{AccountLeaf, Position};
use crate::merkle::{MerkleProof, SparseMerkleTree};
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

    pub fn order_slot(&self, slot: u64) -> OrderSlot {
        self.slots.get(&slot).copied().unwrap_or_default()
    }

    pub fn order_proof(&self, slot: u64) -> MerkleProof {
        self.orders
            .proof(slot)
            .expect("slot index is reduced mod 2^depth")
    }

    /// Writes a slot; returns the orders tree's update (for the circuit witness).
    pub(crate) fn write_order_slot(
        &mut self,
        slot: u64,
        value: OrderSlot,
    ) -> crate::merkle::MerkleUpdate {
        self.slots.insert(slot, value);
        let update = self
            .orders
            .update(slot, value.pack())
            .expect("slot index is reduced mod 2^depth");
        self.leaf.orders_root = update.new_root;
        update
    }

    pub fn orders_root(&self) -> crate::field::Fr {
        self.orders.root()
    }
}
