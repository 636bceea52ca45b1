//! The order book of one market: price-time priority, in lots and ticks.
//!
//! The book decides *what would fill*; the native state machine decides *whether it may*
//! (signatures, fill limits, margin). The sequencer turns each [`Fill`] into a trade transaction.
//!
//! Semantics, shared by the fast book ([`OrderBook`]) and the reference book used to test it
//! (`reference::ReferenceBook`), and pinned by differential tests on random streams:
//!
//! 1. Every operation takes the current time `now`. It first expires every resting order whose
//!    expiry is before `now`, in `(expiry, arrival)` order, each reported as
//!    [`Event::Cancelled`] with [`CancelReason::Expired`].
//! 2. A new order is rejected when its size or price is zero, its `(account, order id)` is already
//!    resting, or it has expired. A reduce-only order must be on the side that shrinks the given
//!    position; its size is cut to the position.
//! 3. Post-only orders that would cross the best opposite price are rejected. Fill-or-kill orders
//!    are rejected unless matching (with their self-trade rule) would fill them whole; a rejected
//!    order changes nothing.
//! 4. Matching takes the best opposite level first, and within it the earliest order, at the
//!    resting order's price, while the limit allows. A resting order of the same account is a
//!    self-trade: [`SelfTradePrevention`] cancels the resting order (and goes on), the incoming
//!    one, or both.
//! 5. Before a fill is made, the caller's gate (the state machine: signatures, fill limits,
//!    margin) gives its [`Verdict`]: a refused maker is cancelled and matching goes on; a refused
//!    taker has its rest cancelled; a pause stops matching before the fill, changing nothing,
//!    and hands the incoming order's rest back ([`Paused`], not resting, not cancelled) for the
//!    caller to resume when it can take fills again (its batch was full: the caller seals it
//!    and begins the next, then resumes). A fill-or-kill order asks the gate about all its
//!    fills before any is made, and is rejected whole if one is refused or paused (the caller
//!    undoes the accepted ones).
//! 6. What is left rests (good-till-cancelled and post-only) or is cancelled (immediate-or-cancel
//!    and fill-or-kill).
//!
//! A *market* order is an immediate-or-cancel order whose limit is the trader's signed worst
//! price: every order zkperp accepts carries a signed limit, which is the trader's slippage bound.

mod fast;
pub mod reference;

pub use fast::OrderBook;

use serde::{Deserialize, Serialize};
use zkperp_state::order::Side;
use zkperp_state::units::{AccountId, OrderId};

/// An order's identity: the account and its own order id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OrderKey {
    pub account: AccountId,
    pub order_id: OrderId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    /// Rests until filled, cancelled or expired.
    GoodTillCancelled,
    /// Fills what it can now; the rest is cancelled.
    ImmediateOrCancel,
    /// Fills whole now, or is rejected.
    FillOrKill,
    /// Only rests: rejected if it would take liquidity.
    PostOnly,
}

/// What happens when an incoming order meets a resting order of its own account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelfTradePrevention {
    /// Cancel the resting order and keep matching.
    #[default]
    CancelResting,
    /// Cancel the rest of the incoming order.
    CancelIncoming,
    /// Cancel both.
    CancelBoth,
}

/// A new order as the book sees it (its signature and margin were checked before).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    pub key: OrderKey,
    pub side: Side,
    /// Limit price in ticks.
    pub price: u64,
    /// Size in lots.
    pub size: u64,
    pub time_in_force: TimeInForce,
    /// `Some(position)` for a reduce-only order: the account's position in this market (lots,
    /// positive long) when the order arrives.
    pub reduce_only: Option<i64>,
    /// Unix seconds after which the order may not fill.
    pub expiry: u64,
    pub self_trade: SelfTradePrevention,
}

/// A match between a resting order (maker) and an incoming one (taker), at the maker's price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    pub maker: OrderKey,
    pub taker: OrderKey,
    /// The taker's side.
    pub taker_side: Side,
    pub price: u64,
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    ZeroSizeOrPrice,
    Duplicate,
    Expired,
    /// A reduce-only order that would not reduce the position.
    ReduceOnly,
    /// A post-only order that would take liquidity.
    WouldCross,
    /// A fill-or-kill order that cannot fill whole.
    InsufficientLiquidity,
    /// A fill-or-kill order one of whose fills the gate refused.
    Refused,
    /// A fill-or-kill order one of whose fills would take its position past the market's
    /// position limit (the engine names the rule the gate's refusal broke).
    PositionLimit,
    /// A fill-or-kill order one of whose fills would take the market's open interest past its
    /// cap.
    OpenInterestCap,
    /// A fill-or-kill order one of whose fills would open risk while the market is reduce-only
    /// (its oracles disagree).
    MarketReduceOnly,
    /// Cancel of an order that is not resting.
    NotFound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The owner cancelled it.
    User,
    Expired,
    SelfTrade,
    /// The unfilled rest of an immediate-or-cancel order.
    Unfilled,
    /// The gate (the state machine) refused a fill with this order.
    Refused,
    /// A fill would have taken the order's position past the market's position limit.
    PositionLimit,
    /// A fill would have taken the market's open interest past its cap.
    OpenInterestCap,
    /// A fill would have opened risk while the market is reduce-only (its oracles disagree).
    MarketReduceOnly,
}

/// The gate's answer to a fill the book proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// The fill is made (the gate has applied it).
    Accept,
    /// The resting order may not fill: cancel it and go on matching.
    RefuseMaker,
    /// The incoming order may not fill: cancel its rest.
    RefuseTaker,
    /// Not now: stop matching before this fill and hand the incoming order's rest back
    /// ([`Paused`]); nothing about this fill changes.
    Pause,
}

/// An incoming order whose matching a gate paused: admitted, partly matched, neither resting
/// nor cancelled. The book that paused it matches its rest when it is resumed
/// ([`OrderBook::resume_gated`]); every event of the order so far was reported already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paused {
    order: NewOrder,
    remaining: u64,
}

impl Paused {
    pub fn key(&self) -> OrderKey {
        self.order.key
    }

    /// Lots still to match.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }
}

/// A gate that accepts every fill: the book on its own.
pub fn accept_all(_: &Fill) -> Verdict {
    Verdict::Accept
}

/// What an operation did, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Fill(Fill),
    /// The order now rests with `remaining` lots.
    Rested {
        key: OrderKey,
        remaining: u64,
    },
    Cancelled {
        key: OrderKey,
        remaining: u64,
        reason: CancelReason,
    },
    Rejected {
        key: OrderKey,
        reason: RejectReason,
    },
}

/// A resting order in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestingOrder {
    pub key: OrderKey,
    pub price: u64,
    pub remaining: u64,
    pub expiry: u64,
}

/// Both sides, best price first, time priority within a price.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub bids: Vec<RestingOrder>,
    pub asks: Vec<RestingOrder>,
}

/// `true` when an incoming order at `limit` on `side` may trade at `price`.
pub(crate) fn crosses(side: Side, limit: u64, price: u64) -> bool {
    match side {
        Side::Buy => price <= limit,
        Side::Sell => price >= limit,
    }
}

/// The common entry checks of rule 2; returns the size to work with.
pub(crate) fn admit(order: &NewOrder, now: u64, duplicate: bool) -> Result<u64, RejectReason> {
    if order.size == 0 || order.price == 0 {
        return Err(RejectReason::ZeroSizeOrPrice);
    }
    if duplicate {
        return Err(RejectReason::Duplicate);
    }
    if order.expiry < now {
        return Err(RejectReason::Expired);
    }
    match order.reduce_only {
        None => Ok(order.size),
        Some(position) => {
            let reduces = match order.side {
                Side::Buy => position < 0,
                Side::Sell => position > 0,
            };
            if reduces {
                Ok(order.size.min(position.unsigned_abs()))
            } else {
                Err(RejectReason::ReduceOnly)
            }
        }
    }
}
