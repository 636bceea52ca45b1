//! Orders as traders sign them, and the orders tree that records how much of each is filled.
//!
//! ```text
//! word0 = account | market << 32 | side << 40 | max_fee_ppm << 41 | expiry << 61     (101 bits)
//! word1 = size | limit_price << 40 | order_id << 80                                  (120 bits)
//! order hash = Poseidon(tag(Order), word0, word1)        signed with EdDSA-Poseidon
//! ```
//! The orders tree of an account has `2^order_tree_depth` slots; order `id` uses slot
//! `id mod 2^depth`, whose value packs `(order_id, filled)` as `order_id << 40 | filled` (0 is an
//! empty slot). A slot holding a *smaller* id is free for the new order; one holding a *larger*
//! id means this order was superseded and can never fill again; so a trader reuses slots by
//! increasing ids, and no order fills beyond its size or after it is superseded.

use serde::{Deserialize, Serialize};

use crate::domain::{MessageKind, SigningDomain};
use crate::eddsa::Signature;
use crate::field::Fr;
use crate::poseidon::poseidon;
use crate::units::{AccountId, BaseLots, MarketId, OrderId, Ppm, PriceTicks, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn bit(self) -> u64 {
        match self {
            Side::Buy => 0,
            Side::Sell => 1,
        }
    }

    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// +1 for a buy (the position grows), -1 for a sell.
    pub fn sign(self) -> i128 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
}

/// A limit order as signed by its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub account: AccountId,
    pub market: MarketId,
    pub side: Side,
    /// Total size in lots, positive.
    pub size: BaseLots,
    /// Worst acceptable price: the most a buyer pays, the least a seller takes.
    pub limit_price: PriceTicks,
    /// Largest fee per fill, as a fraction of the fill's notional.
    pub max_fee: Ppm,
    /// The order cannot fill in a batch whose time is later than this.
    pub expiry: Timestamp,
    pub order_id: OrderId,
}

impl Order {
    pub fn words(&self) -> [Fr; 2] {
        let word0 = u128::from(self.account.get())
            | u128::from(self.market.get()) << 32
            | u128::from(self.side.bit()) << 40
            | u128::from(self.max_fee.get()) << 41
            | u128::from(self.expiry.get()) << 61;
        let word1 = (self.size.get() as u128)
            | u128::from(self.limit_price.get()) << 40
            | u128::from(self.order_id.get()) << 80;
        [Fr::from(word0), Fr::from(word1)]
    }

    /// The message the owner signs for `domain`'s deployment.
    pub fn hash(&self, domain: &SigningDomain) -> Fr {
        let [w0, w1] = self.words();
        poseidon([domain.tag(MessageKind::Order), w0, w1])
    }
}

/// An order with its owner's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedOrder {
    pub order: Order,
    pub signature: Signature,
}

/// One slot of an orders tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OrderSlot {
    pub order_id: OrderId,
    /// Lots filled so far, `0 <= filled <= size`.
    pub filled: BaseLots,
}

impl OrderSlot {
    pub fn pack(&self) -> Fr {
        Fr::from(u128::from(self.order_id.get()) << 40 | self.filled.get() as u128)
    }

    /// The slot a packed leaf holds (`None` for anything `pack` cannot produce).
    pub fn unpack(packed: &Fr) -> Option<OrderSlot> {
        let bytes = crate::field::fr_to_be_bytes(packed);
        if bytes[..16].iter().any(|b| *b != 0) {
            return None;
        }
        let v = u128::from_be_bytes(bytes[16..].try_into().ok()?);
        let order_id = OrderId::new(u64::try_from(v >> 40).ok()?).ok()?;
        let filled = BaseLots::new((v & ((1 << 40) - 1)) as i128).ok()?;
        let slot = OrderSlot { order_id, filled };
        (slot.pack() == *packed).then_some(slot)
    }
}

/// The slot an order id occupies.
pub fn slot_index(order_id: OrderId, depth: u8) -> u64 {
    order_id.get() & ((1u64 << depth) - 1)
}

/// How much of `order` is already filled given its slot, or `None` if it was superseded.
pub fn filled_so_far(slot: &OrderSlot, order_id: OrderId) -> Option<BaseLots> {
    use std::cmp::Ordering;
    match slot.order_id.cmp(&order_id) {
        Ordering::Equal => Some(slot.filled),
        Ordering::Less => Some(BaseLots::ZERO),
        Ordering::Greater => None,
    }
}
