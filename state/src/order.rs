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
        self.packed().map(Fr::from)
    }

    /// The two words as integers (both below 2^121).
    fn packed(&self) -> [u128; 2] {
        let word0 = u128::from(self.account.get())
            | u128::from(self.market.get()) << 32
            | u128::from(self.side.bit()) << 40
            | u128::from(self.max_fee.get()) << 41
            | u128::from(self.expiry.get()) << 61;
        let word1 = (self.size.get() as u128)
            | u128::from(self.limit_price.get()) << 40
            | u128::from(self.order_id.get()) << 80;
        [word0, word1]
    }

    /// The message the owner signs for `domain`'s deployment. Remembered for the last
    /// [`HASH_MEMO`] orders of the process: the sequencer hashes one order when its signature
    /// is checked, when the engine admits it and at each of its fills (the state machine checks
    /// both orders of a trade), and the hash is a function of the two words and the tag, which
    /// are the memo's key. A hit is a map lookup where the hash is a Poseidon permutation.
    pub fn hash(&self, domain: &SigningDomain) -> Fr {
        let tag = domain.tag(MessageKind::Order);
        let [w0, w1] = self.packed();
        hash_memo::get_or_insert((tag, w0, w1), || {
            poseidon([tag, Fr::from(w0), Fr::from(w1)])
        })
    }

    /// [`Order::hash`] computed, never remembered (the memo's tests and benchmarks).
    pub fn hash_uncached(&self, domain: &SigningDomain) -> Fr {
        let [w0, w1] = self.words();
        poseidon([domain.tag(MessageKind::Order), w0, w1])
    }
}

/// Order hashes remembered per process ([`Order::hash`]).
pub const HASH_MEMO: usize = 65_536;

mod hash_memo {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    use super::HASH_MEMO;
    use crate::field::Fr;

    /// The tag, then the two words: exactly the hash's inputs.
    pub(super) type Key = (Fr, u128, u128);

    const SHARDS: usize = 16;

    /// Independently locked shards; a full shard forgets everything before it takes the next
    /// order (no ages to track). Only hashes computed here are inserted, from their exact
    /// inputs, so nothing a trader sends can make a lookup answer anything but the hash.
    fn shards() -> &'static [Mutex<HashMap<Key, Fr>>] {
        static SHARDS_: OnceLock<Vec<Mutex<HashMap<Key, Fr>>>> = OnceLock::new();
        SHARDS_.get_or_init(|| {
            (0..SHARDS)
                .map(|_| Mutex::new(HashMap::with_capacity(HASH_MEMO / SHARDS)))
                .collect()
        })
    }

    pub(super) fn get_or_insert(key: Key, hash: impl FnOnce() -> Fr) -> Fr {
        // The order id's low bits spread a trader's orders over the shards.
        let shard = &shards()[(key.2 >> 80) as usize % SHARDS];
        if let Some(found) = shard.lock().ok().and_then(|m| m.get(&key).copied()) {
            return found;
        }
        let value = hash();
        if let Ok(mut map) = shard.lock() {
            if map.len() >= HASH_MEMO / SHARDS {
                map.clear();
            }
            map.insert(key, value);
        }
        value
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

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;
    use crate::units::L1Address;

    fn order(n: u64) -> Order {
        Order {
            account: AccountId::new(1 + n % 7).expect("id"),
            market: MarketId::new(n % 2).expect("market"),
            side: if n.is_multiple_of(3) {
                Side::Buy
            } else {
                Side::Sell
            },
            size: BaseLots::new(1 + i128::from(n * 7919 % 1_000_000)).expect("size"),
            limit_price: PriceTicks::new(1 + n * 104_729 % (1 << 39)).expect("price"),
            max_fee: Ppm::new(n % 1_000).expect("fee"),
            expiry: Timestamp::new(1_700_000_000 + n).expect("expiry"),
            order_id: OrderId::new(n).expect("order id"),
        }
    }

    /// The remembered hash is the computed one, for each deployment's tag: a repeat is
    /// answered from the memo, another domain's hash of the same order is its own.
    #[test]
    fn the_remembered_hash_is_the_computed_one_per_domain() {
        let other = SigningDomain {
            chain_id: 1,
            rollup: L1Address([7; 20]),
        };
        for n in 0..200 {
            let o = order(n);
            for domain in [SigningDomain::TEST, other] {
                let computed = o.hash_uncached(&domain);
                assert_eq!(o.hash(&domain), computed, "order {n}, first");
                assert_eq!(o.hash(&domain), computed, "order {n}, remembered");
            }
            assert_ne!(o.hash(&SigningDomain::TEST), o.hash(&other));
            let mut bigger = o;
            bigger.size = BaseLots::new(o.size.get() + 1).expect("size");
            assert_eq!(
                bigger.hash(&SigningDomain::TEST),
                bigger.hash_uncached(&SigningDomain::TEST)
            );
        }
    }
}
