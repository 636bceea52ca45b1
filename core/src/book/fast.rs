//! The book the exchange runs: orders in a slab with intrusive FIFO lists per price level, each
//! side's levels in a sorted vector with the best price last, an index from order key to slot,
//! and a min-heap of expiries.
//!
//! Why a sorted vector and not a tree of levels: activity concentrates at the touch, where
//! inserting or removing a level moves only the few levels better than it, and the best level is
//! always the last element (no pointer chasing). A level is found by binary search.
//!
//! Costs: placing or cancelling an order is O(log levels) plus one hash lookup; each fill is
//! O(1); expiry is O(log n) per expired order. Heap entries of orders already gone are skipped
//! when they surface and the heap is rebuilt once it holds twice the live orders, so cancelled
//! orders never accumulate.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use zkperp_state::order::Side;
use zkperp_state::units::AccountId;

use super::{
    accept_all, admit, crosses, CancelReason, Event, Fill, NewOrder, OrderKey, Paused,
    RejectReason, RestingOrder, SelfTradePrevention, Snapshot, TimeInForce, Verdict,
};

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Node {
    key: OrderKey,
    side: Side,
    price: u64,
    remaining: u64,
    expiry: u64,
    /// Arrival number: identifies the order in the expiry heap and orders cancel-all.
    seq: u64,
    prev: u32,
    next: u32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Level {
    head: u32,
    tail: u32,
}

/// One side's price levels, sorted so that the best price is last.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Ladder {
    /// `(rank, level)` ascending by rank; rank is the price for bids and `!price` for asks, so
    /// that "better" is always "greater".
    levels: Vec<(u64, Level)>,
}

impl Ladder {
    fn rank(side: Side, price: u64) -> u64 {
        match side {
            Side::Buy => price,
            Side::Sell => !price,
        }
    }

    fn find(&self, rank: u64) -> Result<usize, usize> {
        self.levels.binary_search_by(|(r, _)| r.cmp(&rank))
    }

    fn best(&self) -> Option<&(u64, Level)> {
        self.levels.last()
    }
}

/// One market's order book. It serialises whole (slab, free list, index, heap, arrival counter),
/// so a book restored from a snapshot matches exactly as the one it was taken from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OrderBook {
    nodes: Vec<Node>,
    free: Vec<u32>,
    bids: Ladder,
    asks: Ladder,
    index: FxHashMap<OrderKey, u32>,
    expiries: BinaryHeap<Reverse<(u64, u64, u32)>>,
    next_seq: u64,
}

impl OrderBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of resting orders.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn best_bid(&self) -> Option<u64> {
        self.bids.best().map(|(rank, _)| *rank)
    }

    pub fn best_ask(&self) -> Option<u64> {
        self.asks.best().map(|(rank, _)| !*rank)
    }

    fn ladder(&mut self, side: Side) -> &mut Ladder {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// The best level a taker on `side` meets (the lowest ask for a buyer, the highest bid for a
    /// seller), with its price.
    fn best_opposite(&self, taker: Side) -> Option<(u64, Level)> {
        match taker {
            Side::Buy => self.asks.best().map(|(r, l)| (!*r, *l)),
            Side::Sell => self.bids.best().map(|(r, l)| (*r, *l)),
        }
    }

    /// The opposite side's levels, best first, with their prices.
    fn opposite_levels(&self, taker: Side) -> impl Iterator<Item = (u64, &Level)> {
        let (ladder, maker) = match taker {
            Side::Buy => (&self.asks, Side::Sell),
            Side::Sell => (&self.bids, Side::Buy),
        };
        ladder
            .levels
            .iter()
            .rev()
            .map(move |(r, l)| (Ladder::rank(maker, *r), l))
    }

    fn alloc(&mut self, node: Node) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                self.nodes[slot as usize] = node;
                slot
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn insert(&mut self, key: OrderKey, side: Side, price: u64, remaining: u64, expiry: u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = self.alloc(Node {
            key,
            side,
            price,
            remaining,
            expiry,
            seq,
            prev: NIL,
            next: NIL,
        });
        let rank = Ladder::rank(side, price);
        let ladder = self.ladder(side);
        match ladder.find(rank) {
            Ok(i) => {
                let level = &mut ladder.levels[i].1;
                let tail = level.tail;
                level.tail = slot;
                self.nodes[tail as usize].next = slot;
                self.nodes[slot as usize].prev = tail;
            }
            Err(i) => ladder.levels.insert(
                i,
                (
                    rank,
                    Level {
                        head: slot,
                        tail: slot,
                    },
                ),
            ),
        }
        self.index.insert(key, slot);
        self.expiries.push(Reverse((expiry, seq, slot)));
        if self.expiries.len() > 2 * self.index.len() + 1024 {
            self.compact_expiries();
        }
    }

    /// Drops heap entries of orders that are no longer resting.
    fn compact_expiries(&mut self) {
        let live: Vec<_> = self
            .index
            .values()
            .map(|slot| {
                let n = &self.nodes[*slot as usize];
                Reverse((n.expiry, n.seq, *slot))
            })
            .collect();
        self.expiries = BinaryHeap::from(live);
    }

    /// Unlinks a resting order and frees its slot.
    fn remove(&mut self, slot: u32) -> Node {
        let node = self.nodes[slot as usize];
        if node.prev != NIL {
            self.nodes[node.prev as usize].next = node.next;
        }
        if node.next != NIL {
            self.nodes[node.next as usize].prev = node.prev;
        }
        let ladder = self.ladder(node.side);
        let i = ladder
            .find(Ladder::rank(node.side, node.price))
            .expect("a resting order's level exists");
        let level = &mut ladder.levels[i].1;
        if level.head == slot && level.tail == slot {
            ladder.levels.remove(i);
        } else if level.head == slot {
            level.head = node.next;
        } else if level.tail == slot {
            level.tail = node.prev;
        }
        self.index.remove(&node.key);
        self.free.push(slot);
        node
    }

    fn expire(&mut self, now: u64, events: &mut Vec<Event>) {
        while let Some(Reverse((expiry, seq, slot))) = self.expiries.peek().copied() {
            if expiry >= now {
                break;
            }
            self.expiries.pop();
            let live = self.nodes.get(slot as usize).is_some_and(|n| n.seq == seq)
                && self.index.get(&self.nodes[slot as usize].key) == Some(&slot);
            if live {
                let node = self.remove(slot);
                events.push(Event::Cancelled {
                    key: node.key,
                    remaining: node.remaining,
                    reason: CancelReason::Expired,
                });
            }
        }
    }

    /// The fills a fill-or-kill order would make at `now`, walking the book without changing it
    /// (orders due to expire at `now` are passed over, as `expire` would remove them); `None`
    /// when they would not fill it whole.
    fn plan(&self, order: &NewOrder, size: u64, now: u64) -> Option<Vec<Fill>> {
        let mut fills = Vec::new();
        let mut left = size;
        for (price, level) in self.opposite_levels(order.side) {
            if !crosses(order.side, order.price, price) {
                break;
            }
            let mut slot = level.head;
            while slot != NIL && left > 0 {
                let node = &self.nodes[slot as usize];
                if node.expiry < now {
                    // Expired: gone before matching starts.
                } else if node.key.account == order.key.account {
                    if order.self_trade != SelfTradePrevention::CancelResting {
                        return None;
                    }
                } else {
                    let q = left.min(node.remaining);
                    fills.push(Fill {
                        maker: node.key,
                        taker: order.key,
                        taker_side: order.side,
                        price,
                        size: q,
                    });
                    left -= q;
                }
                slot = node.next;
            }
            if left == 0 {
                return Some(fills);
            }
        }
        None
    }

    /// How many fills the fill-or-kill `order` would make if submitted at `now` (each a trade
    /// for the gate), or `None` when the book would reject it. Changes nothing: the engine asks
    /// before matching, so that all of the order's fills can be placed in one batch.
    pub fn fill_or_kill_fills(&self, order: &NewOrder, now: u64) -> Option<usize> {
        if order.time_in_force != TimeInForce::FillOrKill {
            return None;
        }
        let duplicate = self
            .index
            .get(&order.key)
            .is_some_and(|slot| self.nodes[*slot as usize].expiry >= now);
        let size = admit(order, now, duplicate).ok()?;
        self.plan(order, size, now).map(|fills| fills.len())
    }

    /// Places `order` at time `now`; the events say what happened, in order.
    pub fn submit(&mut self, order: NewOrder, now: u64) -> Vec<Event> {
        let mut events = Vec::new();
        self.submit_into(order, now, &mut events);
        events
    }

    /// As [`OrderBook::submit`], appending to `events` (no allocation on the hot path).
    pub fn submit_into(&mut self, order: NewOrder, now: u64, events: &mut Vec<Event>) {
        // `accept_all` never pauses.
        let _ = self.submit_gated(order, now, events, &mut accept_all);
    }

    /// Places `order`, asking `gate` about every fill before it is made (rule 5 of the module).
    /// `Some` when the gate paused it: resume it with [`OrderBook::resume_gated`].
    #[must_use = "a paused order is neither resting nor cancelled until it is resumed"]
    pub fn submit_gated(
        &mut self,
        order: NewOrder,
        now: u64,
        events: &mut Vec<Event>,
        gate: &mut impl FnMut(&Fill) -> Verdict,
    ) -> Option<Paused> {
        self.expire(now, events);
        let size = match admit(&order, now, self.index.contains_key(&order.key)) {
            Ok(size) => size,
            Err(reason) => {
                events.push(Event::Rejected {
                    key: order.key,
                    reason,
                });
                return None;
            }
        };
        if order.time_in_force == TimeInForce::PostOnly
            && self
                .best_opposite(order.side)
                .is_some_and(|(p, _)| crosses(order.side, order.price, p))
        {
            events.push(Event::Rejected {
                key: order.key,
                reason: RejectReason::WouldCross,
            });
            return None;
        }
        let mut gate_each_fill = true;
        if order.time_in_force == TimeInForce::FillOrKill {
            let Some(fills) = self.plan(&order, size, now) else {
                events.push(Event::Rejected {
                    key: order.key,
                    reason: RejectReason::InsufficientLiquidity,
                });
                return None;
            };
            if fills.iter().any(|f| gate(f) != Verdict::Accept) {
                events.push(Event::Rejected {
                    key: order.key,
                    reason: RejectReason::Refused,
                });
                return None;
            }
            gate_each_fill = false;
        }
        self.match_taker(order, size, gate_each_fill, events, gate)
    }

    /// Matches the rest of an order a gate paused (rule 5), at time `now`: as if its
    /// matching had not stopped, after expiring what expired meanwhile.
    #[must_use = "a paused order is neither resting nor cancelled until it is resumed"]
    pub fn resume_gated(
        &mut self,
        paused: Paused,
        now: u64,
        events: &mut Vec<Event>,
        gate: &mut impl FnMut(&Fill) -> Verdict,
    ) -> Option<Paused> {
        self.expire(now, events);
        self.match_taker(paused.order, paused.remaining, true, events, gate)
    }

    /// Matching (rules 4 to 6) of `order`'s `remaining` lots.
    fn match_taker(
        &mut self,
        order: NewOrder,
        mut remaining: u64,
        gate_each_fill: bool,
        events: &mut Vec<Event>,
        gate: &mut impl FnMut(&Fill) -> Verdict,
    ) -> Option<Paused> {
        while remaining > 0 {
            let Some((price, level)) = self.best_opposite(order.side) else {
                break;
            };
            if !crosses(order.side, order.price, price) {
                break;
            }
            let slot = level.head;
            let maker = self.nodes[slot as usize];
            if maker.key.account == order.key.account {
                if order.self_trade != SelfTradePrevention::CancelIncoming {
                    self.remove(slot);
                    events.push(Event::Cancelled {
                        key: maker.key,
                        remaining: maker.remaining,
                        reason: CancelReason::SelfTrade,
                    });
                }
                if order.self_trade == SelfTradePrevention::CancelResting {
                    continue;
                }
                events.push(Event::Cancelled {
                    key: order.key,
                    remaining,
                    reason: CancelReason::SelfTrade,
                });
                return None;
            }
            let q = remaining.min(maker.remaining);
            let fill = Fill {
                maker: maker.key,
                taker: order.key,
                taker_side: order.side,
                price,
                size: q,
            };
            match if gate_each_fill {
                gate(&fill)
            } else {
                Verdict::Accept
            } {
                Verdict::Accept => {}
                Verdict::RefuseMaker => {
                    self.remove(slot);
                    events.push(Event::Cancelled {
                        key: maker.key,
                        remaining: maker.remaining,
                        reason: CancelReason::Refused,
                    });
                    continue;
                }
                Verdict::RefuseTaker => {
                    events.push(Event::Cancelled {
                        key: order.key,
                        remaining,
                        reason: CancelReason::Refused,
                    });
                    return None;
                }
                Verdict::Pause => return Some(Paused { order, remaining }),
            }
            events.push(Event::Fill(fill));
            remaining -= q;
            if q == maker.remaining {
                self.remove(slot);
            } else {
                self.nodes[slot as usize].remaining -= q;
            }
        }
        if remaining > 0 {
            match order.time_in_force {
                TimeInForce::GoodTillCancelled | TimeInForce::PostOnly => {
                    self.insert(order.key, order.side, order.price, remaining, order.expiry);
                    events.push(Event::Rested {
                        key: order.key,
                        remaining,
                    });
                }
                TimeInForce::ImmediateOrCancel | TimeInForce::FillOrKill => {
                    events.push(Event::Cancelled {
                        key: order.key,
                        remaining,
                        reason: CancelReason::Unfilled,
                    });
                }
            }
        }
        None
    }

    pub fn cancel(&mut self, key: OrderKey, now: u64) -> Vec<Event> {
        let mut events = Vec::new();
        self.cancel_into(key, now, &mut events);
        events
    }

    /// As [`OrderBook::cancel`], appending to `events`.
    pub fn cancel_into(&mut self, key: OrderKey, now: u64, events: &mut Vec<Event>) {
        self.expire(now, events);
        match self.index.get(&key).copied() {
            Some(slot) => {
                let node = self.remove(slot);
                events.push(Event::Cancelled {
                    key,
                    remaining: node.remaining,
                    reason: CancelReason::User,
                });
            }
            None => events.push(Event::Rejected {
                key,
                reason: RejectReason::NotFound,
            }),
        }
    }

    /// Cancels every resting order of `account`, oldest first.
    pub fn cancel_all(&mut self, account: AccountId, now: u64) -> Vec<Event> {
        let mut events = Vec::new();
        self.expire(now, &mut events);
        let mut mine: Vec<(u64, u32)> = self
            .index
            .iter()
            .filter(|(key, _)| key.account == account)
            .map(|(_, slot)| (self.nodes[*slot as usize].seq, *slot))
            .collect();
        mine.sort_unstable();
        for (_, slot) in mine {
            let node = self.remove(slot);
            events.push(Event::Cancelled {
                key: node.key,
                remaining: node.remaining,
                reason: CancelReason::User,
            });
        }
        events
    }

    /// Expires what is due at `now` without placing anything.
    pub fn expire_now(&mut self, now: u64) -> Vec<Event> {
        let mut events = Vec::new();
        self.expire(now, &mut events);
        events
    }

    pub fn snapshot(&self) -> Snapshot {
        let side = |ladder: &Ladder| {
            let mut out = Vec::new();
            for (_, level) in ladder.levels.iter().rev() {
                let mut slot = level.head;
                while slot != NIL {
                    let n = &self.nodes[slot as usize];
                    out.push(RestingOrder {
                        key: n.key,
                        price: n.price,
                        remaining: n.remaining,
                        expiry: n.expiry,
                    });
                    slot = n.next;
                }
            }
            out
        };
        Snapshot {
            bids: side(&self.bids),
            asks: side(&self.asks),
        }
    }
}
