//! The reference book: the semantics of `book` written as plainly as possible (a list scanned
//! on every step), so the fast book can be tested against it on random streams. Not for use in
//! the exchange: every operation is linear in the number of resting orders.

use zkperp_state::order::Side;
use zkperp_state::units::AccountId;

use super::{
    accept_all, admit, crosses, CancelReason, Event, Fill, NewOrder, OrderKey, Paused,
    RejectReason, RestingOrder, SelfTradePrevention, Snapshot, TimeInForce, Verdict,
};

#[derive(Debug, Clone, Copy)]
struct Entry {
    seq: u64,
    side: Side,
    order: RestingOrder,
}

#[derive(Debug, Default)]
pub struct ReferenceBook {
    entries: Vec<Entry>,
    next_seq: u64,
}

impl ReferenceBook {
    pub fn new() -> Self {
        Self::default()
    }

    fn expire(&mut self, now: u64, events: &mut Vec<Event>) {
        let mut expired: Vec<Entry> = self
            .entries
            .iter()
            .copied()
            .filter(|e| e.order.expiry < now)
            .collect();
        expired.sort_by_key(|e| (e.order.expiry, e.seq));
        for e in expired {
            self.entries.retain(|x| x.seq != e.seq);
            events.push(Event::Cancelled {
                key: e.order.key,
                remaining: e.order.remaining,
                reason: CancelReason::Expired,
            });
        }
    }

    /// The opposite side's orders in priority order.
    fn priority(&self, taker: Side) -> Vec<Entry> {
        let mut v: Vec<Entry> = self
            .entries
            .iter()
            .copied()
            .filter(|e| e.side != taker)
            .collect();
        match taker {
            Side::Buy => v.sort_by_key(|e| (e.order.price, e.seq)),
            Side::Sell => v.sort_by_key(|e| (std::cmp::Reverse(e.order.price), e.seq)),
        }
        v
    }

    pub fn submit(&mut self, order: NewOrder, now: u64) -> Vec<Event> {
        // `accept_all` never pauses.
        self.submit_gated(order, now, &mut accept_all).0
    }

    pub fn submit_gated(
        &mut self,
        order: NewOrder,
        now: u64,
        gate: &mut impl FnMut(&Fill) -> Verdict,
    ) -> (Vec<Event>, Option<Paused>) {
        let mut events = Vec::new();
        self.expire(now, &mut events);
        let duplicate = self.entries.iter().any(|e| e.order.key == order.key);
        let size = match admit(&order, now, duplicate) {
            Ok(size) => size,
            Err(reason) => {
                events.push(Event::Rejected {
                    key: order.key,
                    reason,
                });
                return (events, None);
            }
        };
        let book = self.priority(order.side);
        if order.time_in_force == TimeInForce::PostOnly
            && book
                .first()
                .is_some_and(|e| crosses(order.side, order.price, e.order.price))
        {
            events.push(Event::Rejected {
                key: order.key,
                reason: RejectReason::WouldCross,
            });
            return (events, None);
        }
        let mut gate_each_fill = true;
        if order.time_in_force == TimeInForce::FillOrKill {
            let mut fills = Vec::new();
            let mut left = size;
            for e in &book {
                if !crosses(order.side, order.price, e.order.price) || left == 0 {
                    break;
                }
                if e.order.key.account == order.key.account {
                    if order.self_trade == SelfTradePrevention::CancelResting {
                        continue;
                    }
                    break;
                }
                let q = left.min(e.order.remaining);
                fills.push(Fill {
                    maker: e.order.key,
                    taker: order.key,
                    taker_side: order.side,
                    price: e.order.price,
                    size: q,
                });
                left -= q;
            }
            if left > 0 {
                events.push(Event::Rejected {
                    key: order.key,
                    reason: RejectReason::InsufficientLiquidity,
                });
                return (events, None);
            }
            if fills.iter().any(|f| gate(f) != Verdict::Accept) {
                events.push(Event::Rejected {
                    key: order.key,
                    reason: RejectReason::Refused,
                });
                return (events, None);
            }
            gate_each_fill = false;
        }
        let paused = self.match_taker(order, size, gate_each_fill, &mut events, gate);
        (events, paused)
    }

    pub fn resume_gated(
        &mut self,
        paused: Paused,
        now: u64,
        gate: &mut impl FnMut(&Fill) -> Verdict,
    ) -> (Vec<Event>, Option<Paused>) {
        let mut events = Vec::new();
        self.expire(now, &mut events);
        let paused = self.match_taker(paused.order, paused.remaining, true, &mut events, gate);
        (events, paused)
    }

    fn match_taker(
        &mut self,
        order: NewOrder,
        mut remaining: u64,
        gate_each_fill: bool,
        events: &mut Vec<Event>,
        gate: &mut impl FnMut(&Fill) -> Verdict,
    ) -> Option<Paused> {
        let book = self.priority(order.side);
        let mut stopped = false;
        for e in book {
            if remaining == 0 || !crosses(order.side, order.price, e.order.price) {
                break;
            }
            if e.order.key.account == order.key.account {
                if order.self_trade != SelfTradePrevention::CancelIncoming {
                    self.remove(e.seq);
                    events.push(Event::Cancelled {
                        key: e.order.key,
                        remaining: e.order.remaining,
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
                remaining = 0;
                stopped = true;
                break;
            }
            let q = remaining.min(e.order.remaining);
            let fill = Fill {
                maker: e.order.key,
                taker: order.key,
                taker_side: order.side,
                price: e.order.price,
                size: q,
            };
            match if gate_each_fill {
                gate(&fill)
            } else {
                Verdict::Accept
            } {
                Verdict::Accept => {}
                Verdict::RefuseMaker => {
                    self.remove(e.seq);
                    events.push(Event::Cancelled {
                        key: e.order.key,
                        remaining: e.order.remaining,
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
                    stopped = true;
                    break;
                }
                Verdict::Pause => return Some(Paused { order, remaining }),
            }
            events.push(Event::Fill(fill));
            remaining -= q;
            let entry = self
                .entries
                .iter_mut()
                .find(|x| x.seq == e.seq)
                .expect("resting");
            entry.order.remaining -= q;
            if entry.order.remaining == 0 {
                self.remove(e.seq);
            }
        }
        if remaining > 0 && !stopped {
            match order.time_in_force {
                TimeInForce::GoodTillCancelled | TimeInForce::PostOnly => {
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    self.entries.push(Entry {
                        seq,
                        side: order.side,
                        order: RestingOrder {
                            key: order.key,
                            price: order.price,
                            remaining,
                            expiry: order.expiry,
                        },
                    });
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

    fn remove(&mut self, seq: u64) {
        self.entries.retain(|x| x.seq != seq);
    }

    pub fn cancel(&mut self, key: OrderKey, now: u64) -> Vec<Event> {
        let mut events = Vec::new();
        self.expire(now, &mut events);
        match self.entries.iter().position(|e| e.order.key == key) {
            Some(i) => {
                let e = self.entries.remove(i);
                events.push(Event::Cancelled {
                    key,
                    remaining: e.order.remaining,
                    reason: CancelReason::User,
                });
            }
            None => events.push(Event::Rejected {
                key,
                reason: RejectReason::NotFound,
            }),
        }
        events
    }

    pub fn cancel_all(&mut self, account: AccountId, now: u64) -> Vec<Event> {
        let mut events = Vec::new();
        self.expire(now, &mut events);
        let mut mine: Vec<Entry> = self
            .entries
            .iter()
            .copied()
            .filter(|e| e.order.key.account == account)
            .collect();
        mine.sort_by_key(|e| e.seq);
        for e in mine {
            self.remove(e.seq);
            events.push(Event::Cancelled {
                key: e.order.key,
                remaining: e.order.remaining,
                reason: CancelReason::User,
            });
        }
        events
    }

    pub fn expire_now(&mut self, now: u64) -> Vec<Event> {
        let mut events = Vec::new();
        self.expire(now, &mut events);
        events
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            bids: self.priority(Side::Sell).iter().map(|e| e.order).collect(),
            asks: self.priority(Side::Buy).iter().map(|e| e.order).collect(),
        }
    }
}
