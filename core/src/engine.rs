//! The matching engine: signed orders in, state transitions out.
//!
//! ```text
//! SignedOrder ──> entry checks (account, key, signature, market, expiry) ──> pre-trade risk
//!      │                                                                         │
//!      └──────────────> OrderBook::submit_gated ── each proposed fill ──> Trade transaction
//!                                │                                     State::apply: Accept,
//!                                v                                     or refuse maker / taker
//!                         book events ──> open-order registry (what may still fill, per account)
//! ```
//!
//! Every change of the exchange's state goes through `State::apply`; the book only proposes.
//! A fill-or-kill order runs inside a state savepoint and is rolled back whole if any of its
//! fills is refused.
//!
//! Trades go into the batch being built, whose trade slots are limited ([`TradeSlots`]): before
//! each fill the engine asks whether the open batch has a free trade slot and, when it has none,
//! pauses the order ([`Submitted::Paused`]) and returns: the batch builder seals the batch and
//! begins the next as a step of its own loop, then resumes the order ([`Engine::resume_in`]),
//! so one order's fills may span batches and no seal happens inside the book's matching. A
//! savepoint cannot span a seal, so a fill-or-kill order's fills are counted before matching
//! and the order pauses before it matches when they do not fit what is left of the batch; an
//! order with more fills than a whole batch has trade slots is refused
//! ([`OrderError::TooManyFills`]).

use std::collections::BTreeSet;

use rustc_hash::FxHashMap;
use zkperp_state::margin::MarginError;
use zkperp_state::merkle::{MemoryStore, NodeStore};
use zkperp_state::order::SignedOrder;
use zkperp_state::state::{StateConfig, StateError, StateSnapshot};
use zkperp_state::tx::{CancelOrder, Role, Trade, TradeError, Transaction, TxError};
use zkperp_state::units::{notional, AccountId, Collateral, PPM_ONE};
use zkperp_state::State;

use crate::book::{
    self, CancelReason, Event, Fill, NewOrder, OrderBook, OrderKey, RejectReason,
    SelfTradePrevention, TimeInForce, Verdict,
};
use crate::risk::{check_order, Exposure, OpenExposure, RiskError};

/// Fees charged per fill, as fractions of the notional (capped by each order's signed maximum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeSchedule {
    pub maker_ppm: u32,
    pub taker_ppm: u32,
}

/// How the trader wants an order handled (not signed: it does not change what may fill).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderOptions {
    pub time_in_force: TimeInForce,
    pub reduce_only: bool,
    pub self_trade: SelfTradePrevention,
}

impl Default for OrderOptions {
    fn default() -> Self {
        OrderOptions {
            time_in_force: TimeInForce::GoodTillCancelled,
            reduce_only: false,
            self_trade: SelfTradePrevention::CancelResting,
        }
    }
}

/// Why an order was refused before reaching the book.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("account does not exist")]
    NoSuchAccount,
    #[error("unknown market")]
    UnknownMarket,
    #[error("the market has no mark price yet")]
    MarketNotOpen,
    #[error("signature does not verify")]
    BadSignature,
    #[error("the order has expired")]
    Expired,
    #[error("an order with this id is already open")]
    Duplicate,
    #[error("the order size must be positive")]
    NonPositiveSize,
    #[error(
        "the order's id is below its account's order floor: a forced cancel from L1 cancelled it"
    )]
    BelowFloor,
    #[error(transparent)]
    Risk(#[from] RiskError),
    #[error("the state machine refused a transaction: {0}")]
    State(#[from] TxError),
    #[error("no batch is open: orders wait for the next batch to begin")]
    NoOpenBatch,
    #[error("a cancel of this order is pending (it cannot be placed or cancelled again)")]
    CancelPending,
    #[error("a fill-or-kill order of {fills} fills cannot fit a batch of {slots} trade slots")]
    TooManyFills { fills: usize, slots: usize },
    #[error("the open batch could not be sealed to make room for trades: {0}")]
    Batch(String),
    #[error("trades are made only by the book, from signed orders")]
    TradeOutsideBook,
}

/// The trade slots of the batch being built, as the engine sees them. The batch builder
/// ([`crate::batcher`]) implements it with its shape; [`Unlimited`] runs the engine on its own.
pub trait TradeSlots<S: NodeStore> {
    /// Trades the open batch can still take (0 when none is open).
    fn free(&self, state: &State<S>) -> usize;
    /// Trades any one batch can take.
    fn capacity(&self) -> usize;
}

/// No limit on trades: every fill goes into the open batch (the engine on its own, in tests and
/// benchmarks).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlimited;

impl<S: NodeStore> TradeSlots<S> for Unlimited {
    fn free(&self, _: &State<S>) -> usize {
        usize::MAX
    }

    fn capacity(&self) -> usize {
        usize::MAX
    }
}

/// What submitting (or resuming) an order did.
#[derive(Debug)]
#[must_use = "a paused order waits for its caller to make room and resume it"]
pub enum Submitted {
    /// The order is done with: its events, every fill among them applied to the state.
    Done(Vec<Event>),
    /// The open batch has no trade slot for the order's next fill: seal it, begin the next,
    /// and resume the order ([`Engine::resume_in`]), or give it up ([`Engine::abandon`]).
    /// Boxed: a pause happens once a batch, the order's signature and book entry are large.
    Paused(Box<PausedOrder>),
}

/// An order waiting for trade slots: its entry checks passed, and its events so far (fills
/// applied, the open-order registry in step with them).
#[derive(Debug)]
pub struct PausedOrder {
    signed: SignedOrder,
    stage: Stage,
    events: Vec<Event>,
}

#[derive(Debug)]
enum Stage {
    /// A fill-or-kill order whose fills did not fit what was left of the batch: it has not
    /// matched yet.
    BeforeMatch(NewOrder),
    /// Matching, stopped before a fill.
    Matching(book::Paused),
}

/// An open order: the signed order and how much of it may still fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Open {
    signed: SignedOrder,
    remaining: u64,
}

impl Open {
    /// What it could still fill.
    fn exposure(&self) -> Exposure {
        let order = &self.signed.order;
        Exposure {
            market: order.market.index(),
            side: order.side,
            size: self.remaining,
            price: order.limit_price.get(),
        }
    }
}

/// The engine over a state and one book per market.
#[derive(Debug)]
pub struct Engine<S: NodeStore> {
    state: State<S>,
    books: Vec<OrderBook>,
    open: FxHashMap<OrderKey, Open>,
    /// Each account's open orders, by id.
    by_account: FxHashMap<AccountId, BTreeSet<OrderKey>>,
    /// What each account's open orders could still fill (the risk check's input).
    exposure: FxHashMap<AccountId, OpenExposure>,
    fees: FeeSchedule,
}

/// The engine between batches: the state in the clear, the books whole, the open orders.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EngineSnapshot {
    pub state: StateSnapshot,
    books: Vec<OrderBook>,
    open: Vec<(OrderKey, Open)>,
    by_account: Vec<(AccountId, Vec<OrderKey>)>,
}

impl<S: NodeStore> Engine<S> {
    /// The engine as [`Engine::restore`] rebuilds it; `None` inside a batch (see
    /// [`State::snapshot`]). The registry's maps are written sorted by key.
    pub fn snapshot(&self) -> Option<EngineSnapshot> {
        let mut open: Vec<_> = self.open.iter().map(|(k, o)| (*k, *o)).collect();
        open.sort_unstable_by_key(|(k, _)| *k);
        let mut by_account: Vec<_> = self
            .by_account
            .iter()
            .map(|(a, keys)| (*a, keys.iter().copied().collect()))
            .collect();
        by_account.sort_unstable_by_key(|(a, _)| *a);
        Some(EngineSnapshot {
            state: self.state.snapshot()?,
            books: self.books.clone(),
            open,
            by_account,
        })
    }
}

impl Engine<MemoryStore> {
    /// The engine a snapshot recorded, under the deployment's `config` and `fees`.
    pub fn restore(
        config: StateConfig,
        fees: FeeSchedule,
        snapshot: EngineSnapshot,
    ) -> Result<Self, StateError> {
        let state = State::restore(config, snapshot.state)?;
        if snapshot.books.len() != state.config().markets.len() {
            return Err(StateError::Snapshot(format!(
                "it has {} books for {} markets",
                snapshot.books.len(),
                state.config().markets.len()
            )));
        }
        let open: FxHashMap<OrderKey, Open> = snapshot.open.into_iter().collect();
        let resting: usize = snapshot.books.iter().map(OrderBook::len).sum();
        if resting != open.len() {
            return Err(StateError::Snapshot(format!(
                "its books hold {resting} orders and its registry {}",
                open.len()
            )));
        }
        let mut exposure: FxHashMap<AccountId, OpenExposure> = FxHashMap::default();
        for (key, o) in &open {
            exposure.entry(key.account).or_default().add(&o.exposure());
        }
        Ok(Engine {
            state,
            books: snapshot.books,
            open,
            by_account: snapshot
                .by_account
                .into_iter()
                .map(|(a, keys)| (a, keys.into_iter().collect()))
                .collect(),
            exposure,
            fees,
        })
    }
}

fn key_of(signed: &SignedOrder) -> OrderKey {
    OrderKey {
        account: signed.order.account,
        order_id: signed.order.order_id,
    }
}

impl<S: NodeStore> Engine<S> {
    pub fn new(state: State<S>, fees: FeeSchedule) -> Self {
        let books = (0..state.config().markets.len())
            .map(|_| OrderBook::new())
            .collect();
        Engine {
            state,
            books,
            open: FxHashMap::default(),
            by_account: FxHashMap::default(),
            exposure: FxHashMap::default(),
            fees,
        }
    }

    pub fn state(&self) -> &State<S> {
        &self.state
    }

    /// For the batch builder, which applies held transactions and begins and seals batches.
    pub(crate) fn state_mut(&mut self) -> &mut State<S> {
        &mut self.state
    }

    /// For transactions that do not come through the book (deposits, oracle and funding ticks,
    /// liquidations): the state machine is still the only way in. Applied to the leaves; the
    /// trees are hashed when the batch seals.
    pub fn apply(&mut self, tx: &Transaction) -> Result<(), TxError> {
        self.state.execute(tx)
    }

    pub fn begin_batch(
        &mut self,
        timestamp: zkperp_state::units::Timestamp,
    ) -> Result<(), zkperp_state::state::StateError> {
        self.state.begin_batch(timestamp)
    }

    pub fn end_batch(
        &mut self,
    ) -> Result<zkperp_state::batch::SealedBatch, zkperp_state::state::StateError> {
        self.state.end_batch()
    }

    /// Every book's resting orders (for comparing engines and serving the API).
    pub fn snapshots(&self) -> Vec<crate::book::Snapshot> {
        self.books.iter().map(OrderBook::snapshot).collect()
    }

    pub fn book(&self, market: usize) -> Option<&OrderBook> {
        self.books.get(market)
    }

    /// Admits, risk-checks and matches a signed order. The events say what the book did (a
    /// rejection by the book is among them); every fill among them has been applied to the state.
    pub fn submit(
        &mut self,
        signed: SignedOrder,
        options: OrderOptions,
    ) -> Result<Vec<Event>, OrderError> {
        // With no limit on trades an order never pauses; were it to, resuming it is right.
        let mut step = self.submit_in(signed, options, &Unlimited)?;
        loop {
            match step {
                Submitted::Done(events) => return Ok(events),
                Submitted::Paused(paused) => step = self.resume_in(paused, &Unlimited)?,
            }
        }
    }

    /// As [`Engine::submit`], with every trade placed in `slots`: a fill that finds the open
    /// batch full pauses the order, and so does a fill-or-kill order whose fills do not fit
    /// what is left of it (one that no batch could hold is refused). The caller makes room and
    /// resumes it ([`Engine::resume_in`]).
    pub fn submit_in(
        &mut self,
        signed: SignedOrder,
        options: OrderOptions,
        slots: &impl TradeSlots<S>,
    ) -> Result<Submitted, OrderError> {
        let order = signed.order;
        let key = key_of(&signed);
        let market = order.market.index();
        let now = self.state.now().get();
        if self.state.config().markets.get(market).is_none() {
            return Err(OrderError::UnknownMarket);
        }
        if self.state.markets()[market].mark_price.get() == 0 {
            return Err(OrderError::MarketNotOpen);
        }
        let account = self
            .state
            .account(order.account)
            .ok_or(OrderError::NoSuchAccount)?;
        account
            .leaf
            .public_key
            .verify(order.hash(&self.state.config().domain), &signed.signature)
            .map_err(|_| OrderError::BadSignature)?;
        if order.expiry.get() < now {
            return Err(OrderError::Expired);
        }
        if self.open.contains_key(&key) {
            return Err(OrderError::Duplicate);
        }
        if order.size.get() <= 0 {
            return Err(OrderError::NonPositiveSize);
        }
        if order.order_id < account.leaf.order_floor {
            return Err(OrderError::BelowFloor);
        }
        let size = order.size.get() as u64;
        let position = account.leaf.positions[market].size.get() as i64;
        if !options.reduce_only {
            let new = Exposure {
                market,
                side: order.side,
                size,
                price: order.limit_price.get(),
            };
            let none = OpenExposure::default();
            check_order(
                &account.leaf,
                self.state.markets(),
                &self.state.config().markets,
                self.exposure.get(&order.account).unwrap_or(&none),
                &new,
            )?;
        }
        let new = NewOrder {
            key,
            side: order.side,
            price: order.limit_price.get(),
            size,
            time_in_force: options.time_in_force,
            reduce_only: options.reduce_only.then_some(position),
            expiry: order.expiry.get(),
            self_trade: options.self_trade,
        };

        if new.time_in_force == TimeInForce::FillOrKill {
            // Its fills are applied under one savepoint, which a seal would break: room for all
            // of them in the open batch is made before any is made.
            if let Some(fills) = self.books[market].fill_or_kill_fills(&new, now) {
                if fills > slots.capacity() {
                    return Err(OrderError::TooManyFills {
                        fills,
                        slots: slots.capacity(),
                    });
                }
                if fills > slots.free(&self.state) {
                    return Ok(Submitted::Paused(Box::new(PausedOrder {
                        signed,
                        stage: Stage::BeforeMatch(new),
                        events: Vec::new(),
                    })));
                }
            }
        }
        self.run(signed, Stage::BeforeMatch(new), Vec::new(), slots)
    }

    /// Goes on with an order [`Engine::submit_in`] paused, once the caller made room (it sealed
    /// the full batch and began the next). The order goes on as if it had never stopped; a
    /// fill-or-kill order that still does not fit is refused whole by its gate.
    pub fn resume_in(
        &mut self,
        paused: Box<PausedOrder>,
        slots: &impl TradeSlots<S>,
    ) -> Result<Submitted, OrderError> {
        let PausedOrder {
            signed,
            stage,
            events,
        } = *paused;
        self.run(signed, stage, events, slots)
    }

    /// Gives up a paused order when no room could be made (the seal failed): a fill-or-kill
    /// order that had not matched is refused with `why`; an order stopped while matching keeps
    /// the fills it made and has its rest cancelled, as when the state machine refuses it.
    pub fn abandon(
        &mut self,
        paused: Box<PausedOrder>,
        why: String,
    ) -> Result<Vec<Event>, OrderError> {
        let PausedOrder {
            signed,
            stage,
            mut events,
        } = *paused;
        match stage {
            Stage::BeforeMatch(_) => Err(OrderError::Batch(why)),
            Stage::Matching(rest) => {
                let cancelled = Event::Cancelled {
                    key: rest.key(),
                    remaining: rest.remaining(),
                    reason: CancelReason::Refused,
                };
                self.record(&signed, std::slice::from_ref(&cancelled));
                events.push(cancelled);
                Ok(events)
            }
        }
    }

    /// Matches (or resumes matching) an admitted order, each fill gated by the state machine
    /// and by the batch's free trade slots; `events` are the order's events so far, already
    /// recorded in the open-order registry.
    fn run(
        &mut self,
        signed: SignedOrder,
        stage: Stage,
        mut events: Vec<Event>,
        slots: &impl TradeSlots<S>,
    ) -> Result<Submitted, OrderError> {
        let market = signed.order.market.index();
        let now = self.state.now().get();
        let fill_or_kill = match &stage {
            Stage::BeforeMatch(new) => new.time_in_force == TimeInForce::FillOrKill,
            Stage::Matching(_) => false,
        };
        let savepoint = fill_or_kill.then(|| self.state.savepoint());
        let from = events.len();
        let mut named = Vec::new();
        let paused = {
            let (state, open, fees) = (&mut self.state, &self.open, self.fees);
            let named = &mut named;
            let mut gate = |fill: &Fill| {
                if slots.free(state) == 0 {
                    // Under a fill-or-kill savepoint a pause would have to span a seal: room
                    // was made before it matched, so this refusal only guards the invariant.
                    return if fill_or_kill {
                        Verdict::RefuseTaker
                    } else {
                        Verdict::Pause
                    };
                }
                gate_fill(state, open, fees, &signed, fill, named)
            };
            match stage {
                Stage::BeforeMatch(new) => {
                    self.books[market].submit_gated(new, now, &mut events, &mut gate)
                }
                Stage::Matching(rest) => {
                    self.books[market].resume_gated(rest, now, &mut events, &mut gate)
                }
            }
        };
        if let Some(sp) = savepoint {
            if matches!(
                events.last(),
                Some(Event::Rejected {
                    reason: RejectReason::Refused,
                    ..
                })
            ) {
                self.state
                    .rollback(sp)
                    .map_err(|e| OrderError::State(TxError::Storage(e.to_string())))?;
            } else {
                self.state.release(sp);
            }
        }
        name_refusals(&mut events[from..], &named);
        self.record(&signed, &events[from..]);
        Ok(match paused {
            Some(rest) => Submitted::Paused(Box::new(PausedOrder {
                signed,
                stage: Stage::Matching(rest),
                events,
            })),
            None => Submitted::Done(events),
        })
    }

    /// Cancels an open order with its owner's signed cancel: the state marks the slot, so the
    /// order can never fill again, and the book drops it.
    pub fn cancel(&mut self, cancel: CancelOrder) -> Result<Vec<Event>, OrderError> {
        self.state.execute(&Transaction::CancelOrder(cancel))?;
        Ok(self.drop_from_book(&cancel))
    }

    /// Checks a signed cancel against the state without applying it (the signature is the
    /// account's, the slot is not superseded), then drops the order from the book at once. The
    /// caller applies the cancel-order transaction later: the batch builder holds it for the
    /// seal, and until then the book no longer proposes the order.
    pub fn cancel_in_book(&mut self, cancel: &CancelOrder) -> Result<Vec<Event>, OrderError> {
        self.state.check(&Transaction::CancelOrder(*cancel))?;
        Ok(self.drop_from_book(cancel))
    }

    /// Drops from the book every open order of `account` whose id is below the account's order
    /// floor (a forced cancel from L1 raised it): the state refuses their fills now, so the book
    /// must not keep proposing them. Returns the book's events.
    pub fn drop_below_floor(&mut self, account: AccountId) -> Vec<Event> {
        let Some(floor) = self.state.account(account).map(|a| a.leaf.order_floor) else {
            return Vec::new();
        };
        let below: Vec<OrderKey> = self
            .by_account
            .get(&account)
            .map(|keys| {
                keys.range(
                    ..OrderKey {
                        account,
                        order_id: floor,
                    },
                )
                .copied()
                .collect()
            })
            .unwrap_or_default();
        let now = self.state.now().get();
        let mut events = Vec::new();
        for key in below {
            if let Some(open) = self.open.get(&key).copied() {
                let dropped = self.books[open.signed.order.market.index()].cancel(key, now);
                self.record(&open.signed, &dropped);
                events.extend(dropped);
            }
        }
        events
    }

    fn drop_from_book(&mut self, cancel: &CancelOrder) -> Vec<Event> {
        let key = OrderKey {
            account: cancel.account,
            order_id: cancel.order_id,
        };
        let now = self.state.now().get();
        let mut events = Vec::new();
        if let Some(open) = self.open.get(&key).copied() {
            events = self.books[open.signed.order.market.index()].cancel(key, now);
            self.record(&open.signed, &events);
        }
        events
    }

    /// Keeps the registry of open orders in step with the book's events.
    fn record(&mut self, incoming: &SignedOrder, events: &[Event]) {
        for e in events {
            match *e {
                Event::Rested { key, remaining } => {
                    let open = Open {
                        signed: *incoming,
                        remaining,
                    };
                    self.exposure
                        .entry(key.account)
                        .or_default()
                        .add(&open.exposure());
                    self.open.insert(key, open);
                    self.by_account.entry(key.account).or_default().insert(key);
                }
                Event::Fill(f) => {
                    if let Some(o) = self.open.get_mut(&f.maker) {
                        o.remaining -= f.size;
                        let filled = Exposure {
                            size: f.size,
                            ..o.exposure()
                        };
                        let done = o.remaining == 0;
                        if let Some(exposure) = self.exposure.get_mut(&f.maker.account) {
                            exposure.remove(&filled);
                        }
                        if done {
                            self.forget(f.maker);
                        }
                    }
                }
                Event::Cancelled { key, .. } => self.forget(key),
                Event::Rejected { .. } => {}
            }
        }
    }

    fn forget(&mut self, key: OrderKey) {
        let Some(open) = self.open.remove(&key) else {
            return;
        };
        if let Some(keys) = self.by_account.get_mut(&key.account) {
            keys.remove(&key);
            if keys.is_empty() {
                self.by_account.remove(&key.account);
            }
        }
        if let Some(exposure) = self.exposure.get_mut(&key.account) {
            exposure.remove(&open.exposure());
            if exposure.is_empty() {
                self.exposure.remove(&key.account);
            }
        }
    }
}

/// A refused fill's order and the rule it broke, where the trader can act on the rule (a
/// market's risk limits), as the reason its cancel gives: the book cancels or rejects it as
/// `Refused`, and [`name_refusals`] names the rule instead.
type Named = (OrderKey, CancelReason);

/// Names, in the book's events, the rule each refusal of `named` broke.
fn name_refusals(events: &mut [Event], named: &[Named]) {
    let why = |key: &OrderKey| named.iter().rev().find(|(k, _)| k == key).map(|n| n.1);
    for event in events {
        match event {
            Event::Cancelled { key, reason, .. } if *reason == CancelReason::Refused => {
                if let Some(rule) = why(key) {
                    *reason = rule;
                }
            }
            Event::Rejected { key, reason } if *reason == RejectReason::Refused => {
                if let Some(rule) = why(key).and_then(rejected_for) {
                    *reason = rule;
                }
            }
            _ => {}
        }
    }
}

/// A fill-or-kill order's reason for the rule a resting order's cancel names.
fn rejected_for(rule: CancelReason) -> Option<RejectReason> {
    match rule {
        CancelReason::PositionLimit => Some(RejectReason::PositionLimit),
        CancelReason::OpenInterestCap => Some(RejectReason::OpenInterestCap),
        CancelReason::MarketReduceOnly => Some(RejectReason::MarketReduceOnly),
        _ => None,
    }
}

/// Turns a proposed fill into a trade and lets the state machine decide; a refusal for a
/// market's risk limit is added to `named`.
fn gate_fill<S: NodeStore>(
    state: &mut State<S>,
    open: &FxHashMap<OrderKey, Open>,
    fees: FeeSchedule,
    taker: &SignedOrder,
    fill: &Fill,
    named: &mut Vec<Named>,
) -> Verdict {
    let Some(maker) = open.get(&fill.maker).map(|o| o.signed) else {
        return Verdict::RefuseMaker;
    };
    let Some(params) = state.config().markets.get(maker.order.market.index()) else {
        return Verdict::RefuseTaker;
    };
    let (Ok(size), Ok(price)) = (
        zkperp_state::units::BaseLots::new(i128::from(fill.size)),
        zkperp_state::units::PriceTicks::new(fill.price),
    ) else {
        return Verdict::RefuseTaker;
    };
    let value = notional(size, price, params.tick_value);
    let fee = |schedule: u32, max: u64| {
        let ppm = i128::from(schedule).min(i128::from(max));
        Collateral::new(value * ppm / i128::from(PPM_ONE)).unwrap_or(Collateral::ZERO)
    };
    let trade = Trade {
        maker,
        taker: *taker,
        size,
        price,
        maker_fee: fee(fees.maker_ppm, maker.order.max_fee.get()),
        taker_fee: fee(fees.taker_ppm, taker.order.max_fee.get()),
    };
    match state.execute(&Transaction::Trade(trade)) {
        Ok(_) => Verdict::Accept,
        Err(TxError::Trade(e)) => {
            let role = blame(&e);
            let key = match role {
                Role::Maker => fill.maker,
                Role::Taker => fill.taker,
            };
            match e {
                TradeError::PositionLimit(..) => named.push((key, CancelReason::PositionLimit)),
                TradeError::OpenInterestCap(_) => named.push((key, CancelReason::OpenInterestCap)),
                TradeError::ReduceOnly(..) => named.push((key, CancelReason::MarketReduceOnly)),
                _ => {}
            }
            match role {
                Role::Maker => Verdict::RefuseMaker,
                Role::Taker => Verdict::RefuseTaker,
            }
        }
        Err(_) => Verdict::RefuseTaker,
    }
}

/// Which order a refused trade is the fault of.
fn blame(e: &TradeError) -> Role {
    match e {
        TradeError::PriceOutsideLimit(r)
        | TradeError::Expired(r)
        | TradeError::NoSuchAccount(r)
        | TradeError::BadSignature(r)
        | TradeError::Superseded(r)
        | TradeError::BelowFloor(r)
        | TradeError::Overfill(r)
        | TradeError::BadFee(r)
        | TradeError::Range(r, _)
        | TradeError::PositionLimit(r, _)
        | TradeError::ReduceOnly(r, _)
        | TradeError::Margin(r, MarginError { .. }) => *r,
        _ => Role::Taker,
    }
}
