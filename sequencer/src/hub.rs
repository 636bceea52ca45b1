//! The hub: the one door through which commands reach the sequencer, so that what each command
//! did is recorded for the API's reads (orders, fills, trades, the books' price levels) and
//! published to subscribers (book deltas, trades, an account's orders and fills) in exactly the
//! order the sequencer did it.
//!
//! ```text
//!  API handlers, the devnet's drivers ──Hub::execute──> Sequencer::execute (journaled)
//!                                          │ book events of the command (fills, rests, cancels)
//!                                          v
//!                  Views: orders, fills, trades, price levels, a sequence number per book
//!                                          │
//!                                          └──> broadcast: FeedEvent (the WebSocket's source)
//! ```
//!
//! Locks are taken in one order, the sequencer's then the views', and a command's views are
//! updated and published before the sequencer's lock is released: a subscriber sees commands in
//! journal order, and a book snapshot read under the views' lock carries the sequence number of
//! the last delta it includes.
//!
//! [`Hub::open`] restores the views with the sequencer (from the snapshot it starts from, where
//! they are stored, then through every replayed command), so a restarted hub serves what it
//! served before. [`Hub::new`] over an already open sequencer rebuilds them from its books
//! (resting orders and levels only). The API keeps the recent past: [`HISTORY`] fills per
//! account and trades per market, and an account's closed orders beyond about [`HISTORY`]
//! (open orders are always kept).
//!
//! Book deltas carry the new total size of every price level a command changed (`0`: the level
//! is gone), with a per-market sequence number that grows by one per delta: a client applies
//! deltas to a snapshot with sequence `s` starting at `s + 1`, and resubscribes on a gap.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use crate::journal::JournalError;
use crate::sequencer::{Executed, Outcome, Sequencer, SequencerConfig, SequencerError};
use crate::snapshot::{SnapshotChoice, SnapshotMeta, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use zkperp_core::batcher::BatchEvent;
use zkperp_core::book::{CancelReason, Event, OrderKey, RejectReason, TimeInForce};
use zkperp_core::command::Command;
use zkperp_state::batch::SealedBatch;
use zkperp_state::domain::SigningDomain;
use zkperp_state::eddsa::PublicKey;
use zkperp_state::order::Side;
use zkperp_state::units::AccountId;

/// Fills kept per account and trades kept per market.
pub const HISTORY: usize = 1_000;
/// Feed events a slow subscriber may fall behind by before it misses some (and is told so).
pub const FEED_BUFFER: usize = 4_096;

/// Where an order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum OrderStatus {
    /// Resting in the book.
    Open,
    Filled,
    Cancelled {
        reason: CancelReason,
    },
    Rejected {
        reason: RejectReason,
    },
}

/// An order as the API shows it (sizes in lots, prices in ticks; the API adds decimals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderView {
    pub account: AccountId,
    pub order_id: u64,
    pub market: usize,
    pub side: Side,
    pub price: u64,
    pub size: u64,
    pub filled: u64,
    /// Resting size (0 unless open).
    pub remaining: u64,
    pub time_in_force: TimeInForce,
    pub expiry: u64,
    #[serde(flatten)]
    pub status: OrderStatus,
    /// The journal ticket of the command that placed it.
    pub ticket: u64,
}

/// Which side of a fill an account was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Maker,
    Taker,
}

/// One account's side of a fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillView {
    pub market: usize,
    pub order_id: u64,
    pub role: Role,
    /// This account's side.
    pub side: Side,
    pub price: u64,
    pub size: u64,
    /// The batch time when it was matched.
    pub time: u64,
    pub ticket: u64,
}

/// A public trade (no accounts: the L1 and other traders never learn who traded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeView {
    pub market: usize,
    pub price: u64,
    pub size: u64,
    pub taker_side: Side,
    pub time: u64,
    pub ticket: u64,
}

/// A price level's total resting size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Level {
    pub price: u64,
    pub size: u64,
}

/// What subscribers receive, in command order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum FeedEvent {
    /// The new totals of the levels one command changed (size 0: gone).
    Book {
        market: usize,
        seq: u64,
        bids: Vec<Level>,
        asks: Vec<Level>,
    },
    Trade(TradeView),
    /// An order of `account` changed (placed, filled, cancelled, rejected).
    Order(OrderView),
    Fill {
        account: AccountId,
        fill: FillView,
    },
}

impl FeedEvent {
    /// The account whose private channel carries this event, if any.
    pub fn account(&self) -> Option<AccountId> {
        match self {
            FeedEvent::Order(o) => Some(o.account),
            FeedEvent::Fill { account, .. } => Some(*account),
            _ => None,
        }
    }

    /// The market whose public channels carry this event, if any.
    pub fn market(&self) -> Option<usize> {
        match self {
            FeedEvent::Book { market, .. } => Some(*market),
            FeedEvent::Trade(t) => Some(t.market),
            _ => None,
        }
    }
}

/// A market's price levels and its delta sequence number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookLevels {
    pub seq: u64,
    /// Price to total size; bids are read best (highest) first.
    pub bids: BTreeMap<u64, u64>,
    pub asks: BTreeMap<u64, u64>,
}

impl BookLevels {
    fn side(&mut self, side: Side) -> &mut BTreeMap<u64, u64> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Bids best first, then asks best first, at most `depth` of each.
    pub fn top(&self, depth: usize) -> (Vec<Level>, Vec<Level>) {
        let level = |(price, size): (&u64, &u64)| Level {
            price: *price,
            size: *size,
        };
        (
            self.bids.iter().rev().take(depth).map(level).collect(),
            self.asks.iter().take(depth).map(level).collect(),
        )
    }
}

/// What the API derives from commands. Stored with the sequencer's snapshots (CBOR), so a
/// restart from a snapshot serves what a replay from genesis would.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct Views {
    orders: HashMap<OrderKey, OrderView>,
    /// Every order of an account still known, oldest first.
    by_account: HashMap<AccountId, Vec<OrderKey>>,
    fills: HashMap<AccountId, VecDeque<FillView>>,
    trades: Vec<VecDeque<TradeView>>,
    books: Vec<BookLevels>,
}

fn push_bounded<T>(q: &mut VecDeque<T>, item: T) {
    if q.len() == HISTORY {
        q.pop_front();
    }
    q.push_back(item);
}

impl Views {
    fn empty(markets: usize) -> Self {
        Views {
            trades: vec![VecDeque::new(); markets],
            books: vec![BookLevels::default(); markets],
            ..Views::default()
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing plain data to a vector cannot fail.
        let _ = ciborium::into_writer(self, &mut out);
        out
    }

    fn decode(bytes: &[u8], markets: usize) -> Result<Self, String> {
        let views: Views = ciborium::from_reader(bytes).map_err(|e| e.to_string())?;
        if views.books.len() != markets || views.trades.len() != markets {
            return Err(format!("they are views of {} markets", views.books.len()));
        }
        Ok(views)
    }

    fn from_books(seq: &Sequencer) -> Self {
        let markets = seq.engine().state().config().markets.len();
        let mut views = Views::empty(markets);
        for m in 0..markets {
            let Some(book) = seq.engine().book(m) else {
                continue;
            };
            let snapshot = book.snapshot();
            for (side, resting) in [(Side::Buy, &snapshot.bids), (Side::Sell, &snapshot.asks)] {
                for r in resting {
                    *views.books[m].side(side).entry(r.price).or_default() += r.remaining;
                    views.track(OrderView {
                        account: r.key.account,
                        order_id: r.key.order_id.get(),
                        market: m,
                        side,
                        price: r.price,
                        // Its size before the restart is in the journal, not the book.
                        size: r.remaining,
                        filled: 0,
                        remaining: r.remaining,
                        time_in_force: TimeInForce::GoodTillCancelled,
                        expiry: r.expiry,
                        status: OrderStatus::Open,
                        ticket: 0,
                    });
                }
            }
        }
        views
    }

    fn track(&mut self, order: OrderView) {
        let key = OrderKey {
            account: order.account,
            order_id: zkperp_state::units::OrderId::new(order.order_id).unwrap_or_default(),
        };
        if self.orders.insert(key, order).is_none() {
            let keys = self.by_account.entry(order.account).or_default();
            keys.push(key);
            // Closed orders beyond the history are forgotten, the oldest first, in steps of
            // HISTORY so the cost is amortised; open orders are always kept.
            if keys.len() > 2 * HISTORY {
                let mut excess = keys.len() - HISTORY;
                let orders = &mut self.orders;
                keys.retain(|k| {
                    let closed = orders.get(k).is_none_or(|o| o.status != OrderStatus::Open);
                    if excess > 0 && closed {
                        orders.remove(k);
                        excess -= 1;
                        return false;
                    }
                    true
                });
            }
        }
    }

    /// Applies one command's book events; returns the feed events, in order.
    /// Records what one executed command did (`incoming`: the order it submitted, if any)
    /// and returns the feed events to publish.
    fn record(
        &mut self,
        executed: &Executed,
        incoming: Option<OrderView>,
        time: u64,
    ) -> Vec<FeedEvent> {
        let mut events: Vec<Event> = match &executed.outcome {
            Outcome::Book(events) | Outcome::Cancelled(events) => events.clone(),
            _ => Vec::new(),
        };
        // Orders the book dropped because a forced cancel raised their account's floor.
        for event in &executed.events {
            if let BatchEvent::Book(dropped) = event {
                events.extend_from_slice(dropped);
            }
        }
        let incoming = match executed.outcome {
            Outcome::Book(_) => incoming.map(|o| OrderView {
                ticket: executed.ticket,
                ..o
            }),
            _ => None,
        };
        if incoming.is_none() && events.is_empty() {
            return Vec::new();
        }
        self.apply(incoming, &events, time, executed.ticket)
    }

    fn apply(
        &mut self,
        incoming: Option<OrderView>,
        events: &[Event],
        time: u64,
        ticket: u64,
    ) -> Vec<FeedEvent> {
        let mut out = Vec::new();
        let mut changed: BTreeMap<(usize, bool, u64), ()> = BTreeMap::new();
        let mut taker = incoming;
        let mut level = |views: &mut Views, m: usize, side: Side, price: u64, delta: i128| {
            let book = views.books[m].side(side);
            let size = i128::from(book.get(&price).copied().unwrap_or(0)) + delta;
            if size <= 0 {
                book.remove(&price);
            } else {
                book.insert(price, size as u64);
            }
            changed.insert((m, side == Side::Buy, price), ());
        };
        for event in events {
            match event {
                Event::Fill(fill) => {
                    let maker_side = fill.taker_side.opposite();
                    let mut maker_market = None;
                    if let Some(maker) = self.orders.get_mut(&fill.maker) {
                        maker.filled += fill.size;
                        maker.remaining = maker.remaining.saturating_sub(fill.size);
                        if maker.remaining == 0 {
                            maker.status = OrderStatus::Filled;
                        }
                        maker_market = Some(maker.market);
                        out.push(FeedEvent::Order(*maker));
                    }
                    let market = maker_market.or(taker.map(|t| t.market)).unwrap_or_default();
                    if market < self.books.len() {
                        level(self, market, maker_side, fill.price, -i128::from(fill.size));
                    }
                    if let Some(t) = taker.as_mut() {
                        t.filled += fill.size;
                    }
                    let trade = TradeView {
                        market,
                        price: fill.price,
                        size: fill.size,
                        taker_side: fill.taker_side,
                        time,
                        ticket,
                    };
                    if let Some(q) = self.trades.get_mut(market) {
                        push_bounded(q, trade);
                    }
                    out.push(FeedEvent::Trade(trade));
                    for (key, role, side) in [
                        (fill.maker, Role::Maker, maker_side),
                        (fill.taker, Role::Taker, fill.taker_side),
                    ] {
                        let view = FillView {
                            market,
                            order_id: key.order_id.get(),
                            role,
                            side,
                            price: fill.price,
                            size: fill.size,
                            time,
                            ticket,
                        };
                        push_bounded(self.fills.entry(key.account).or_default(), view);
                        out.push(FeedEvent::Fill {
                            account: key.account,
                            fill: view,
                        });
                    }
                }
                Event::Rested { key, remaining } => {
                    if let Some(t) = taker.as_mut().filter(|t| t.key() == *key) {
                        t.remaining = *remaining;
                        t.status = OrderStatus::Open;
                        let (m, side, price) = (t.market, t.side, t.price);
                        level(self, m, side, price, i128::from(*remaining));
                    }
                }
                Event::Cancelled {
                    key,
                    remaining,
                    reason,
                } => {
                    if let Some(t) = taker.as_mut().filter(|t| t.key() == *key) {
                        // The incoming order's rest: it never rested.
                        t.status = OrderStatus::Cancelled { reason: *reason };
                    } else if let Some(o) = self.orders.get_mut(key) {
                        o.remaining = 0;
                        o.status = OrderStatus::Cancelled { reason: *reason };
                        let (m, side, price, o) = (o.market, o.side, o.price, *o);
                        level(self, m, side, price, -i128::from(*remaining));
                        out.push(FeedEvent::Order(o));
                    }
                }
                Event::Rejected { key, reason } => {
                    if let Some(t) = taker.as_mut().filter(|t| t.key() == *key) {
                        t.status = OrderStatus::Rejected { reason: *reason };
                    }
                }
            }
        }
        if let Some(mut t) = taker {
            if t.status == OrderStatus::Open && t.remaining == 0 && t.filled > 0 {
                t.status = OrderStatus::Filled;
            } else if t.status == OrderStatus::Open && t.remaining == 0 {
                // Neither rested, filled nor reported: the book took nothing.
                t.status = OrderStatus::Cancelled {
                    reason: CancelReason::Unfilled,
                };
            }
            if t.filled == t.size {
                t.status = OrderStatus::Filled;
            }
            self.track(t);
            out.push(FeedEvent::Order(t));
        }
        // One delta per market touched, after the command's other events.
        let mut markets: BTreeMap<usize, (Vec<Level>, Vec<Level>)> = BTreeMap::new();
        for (m, bid, price) in changed.into_keys() {
            let book = &self.books[m];
            let size = if bid { &book.bids } else { &book.asks }
                .get(&price)
                .copied()
                .unwrap_or(0);
            let entry = markets.entry(m).or_default();
            let side = if bid { &mut entry.0 } else { &mut entry.1 };
            side.push(Level { price, size });
        }
        for (market, (mut bids, asks)) in markets {
            bids.reverse();
            let book = &mut self.books[market];
            book.seq += 1;
            out.push(FeedEvent::Book {
                market,
                seq: book.seq,
                bids,
                asks,
            });
        }
        out
    }
}

/// The view of an order a command submits (filled in by the views once it has run).
fn order_view(command: &Command) -> Option<OrderView> {
    match command {
        Command::Submit { order, options } => Some(OrderView {
            account: order.order.account,
            order_id: order.order.order_id.get(),
            market: order.order.market.index(),
            side: order.order.side,
            price: order.order.limit_price.get(),
            size: u64::try_from(order.order.size.get()).unwrap_or(0),
            filled: 0,
            remaining: 0,
            time_in_force: options.time_in_force,
            expiry: order.order.expiry.get(),
            status: OrderStatus::Open,
            ticket: 0,
        }),
        _ => None,
    }
}

impl OrderView {
    pub fn key(&self) -> OrderKey {
        OrderKey {
            account: self.account,
            order_id: zkperp_state::units::OrderId::new(self.order_id).unwrap_or_default(),
        }
    }
}

/// How [`Hub::open`] starts and when the hub writes snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// The snapshot a restart may start from.
    pub start: SnapshotChoice,
    /// When to write snapshots from now on (`None`: never).
    pub snapshots: Option<SnapshotPolicy>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            start: SnapshotChoice::Latest,
            snapshots: Some(SnapshotPolicy::default()),
        }
    }
}

/// What [`Hub::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The snapshot the hub started from (`None`: genesis).
    pub restored: Option<SnapshotMeta>,
    /// Snapshots it could not use, with why.
    pub skipped: Vec<(SnapshotMeta, String)>,
    /// Commands replayed after the snapshot.
    pub replayed: u64,
}

/// Writes a snapshot with `views` if one is due. The commands are already journaled and
/// acknowledged, so a failure costs only a longer replay at the next restart: it is logged.
fn snapshot_if_due(seq: &mut Sequencer, views: &Views) {
    match seq.snapshot_if_due(|| views.encode()) {
        Ok(Some(meta)) => tracing::info!(
            position = meta.position,
            batches = meta.batches_sealed,
            bytes = meta.bytes,
            "snapshot written"
        ),
        Ok(None) => {}
        Err(e) => tracing::warn!("snapshot not written: {e}"),
    }
}

/// Commands a group commit takes at most: bounds the time the first of them waits.
pub const MAX_GROUP: usize = 1_024;

/// The sequencer behind its one door, with the views and the feed.
#[derive(Debug)]
pub struct Hub {
    sequencer: Arc<Mutex<Sequencer>>,
    views: Mutex<Views>,
    feed: broadcast::Sender<Arc<FeedEvent>>,
    queue: Mutex<Queue>,
    /// Signalled when a group is done: its callers' results are in the queue.
    group_done: Condvar,
    /// Account keys, for checking signatures outside the sequencer's lock
    /// ([`Hub::check_signature`]). An account's key is fixed when the account is created, so
    /// an entry never goes stale; filled on first use.
    keys: RwLock<HashMap<AccountId, PublicKey>>,
    domain: SigningDomain,
    /// Traders' commands admitted and not yet answered ([`Hub::admit`]), and the most there
    /// may be.
    in_flight: Arc<AtomicUsize>,
    intake_limit: AtomicUsize,
}

/// The traders' commands the hub admits at once by default. Beyond it the API answers 429: a
/// queue that grows without bound only turns overload into latency for everyone. With batches
/// sealed off the sequencer's lock (`Hub::sealed_batches`), the intake no longer has to carry
/// a seal's pause: at half the saturation rate with 256-trade batches the most commands in at
/// once was 23-38, and offered twice the saturation rate 256 places refused 2% of the orders
/// and answered the rest in 25-33 ms at the median (the `overload` bench,
/// docs/PERFORMANCE.md). It was 1,024 while the seal held the lock for 180 ms per 256 trades,
/// and then 256 overflowed at half load.
pub const INTAKE_LIMIT: usize = 256;

/// A place in the hub's bounded intake ([`Hub::admit`]), given back when dropped.
#[derive(Debug)]
pub struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Commands waiting for the next group commit, and the results of the last ones.
#[derive(Debug, Default)]
struct Queue {
    next_id: u64,
    waiting: Vec<(u64, Command)>,
    done: HashMap<u64, Result<Executed, SequencerError>>,
    /// A caller is committing a group: the others wait for it.
    leading: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every write under these locks is a whole command: what a panic elsewhere left is
    // consistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Hub {
    /// A hub over `sequencer`, its views rebuilt from the sequencer's books.
    pub fn new(sequencer: Sequencer) -> Self {
        let views = Views::from_books(&sequencer);
        Self::with_views(sequencer, views)
    }

    /// Opens the sequencer's journal in the database `at`: from the snapshot `options.start` allows (the
    /// builder and the views stored with it), then the commands after it, replayed through the
    /// views (orders with their history, recent fills and trades, the books' delta sequence
    /// numbers continuing where they were); `observe` sees each replayed command too, and
    /// `sealed` each batch the replay seals, in order (sealed off the replaying thread:
    /// [`crate::sequencer::Opening::replay`]). What a restarted process serves is
    /// then what it served before it stopped. From now on the hub writes snapshots (with its
    /// views) as `options.snapshots` says.
    pub fn open(
        at: impl crate::storage::At,
        config: &SequencerConfig,
        options: OpenOptions,
        mut observe: impl FnMut(&Command, &Executed),
        sealed: crate::gate::BatchSink,
    ) -> Result<(Self, Opened), SequencerError> {
        let markets = config.state.markets.len();
        let storage = at.storage().map_err(JournalError::from)?;
        let mut opening = Sequencer::opening(&storage, config, options.start)?;
        let mut skipped = opening.skipped().to_vec();
        let views = match (opening.restored().cloned(), opening.extras()) {
            (None, _) => Ok(Views::empty(markets)),
            (Some(meta), Some(bytes)) => Views::decode(bytes, markets)
                .map_err(|why| (meta, format!("its API views do not decode: {why}"))),
            (Some(meta), None) => Err((meta, "it holds no API views".to_string())),
        };
        let mut views = match views {
            Ok(views) => views,
            Err(refused) => {
                // The builder without its views is not what the API served: start over.
                skipped.push(refused);
                drop(opening);
                opening = Sequencer::opening(&storage, config, SnapshotChoice::Genesis)?;
                Views::empty(markets)
            }
        };
        let restored = opening.restored().cloned();
        let mut replayed = 0;
        let mut sequencer = opening.replay(
            |command, batcher, done| {
                replayed += 1;
                let time = batcher.engine().state().now().get();
                // Replayed events were published before the restart: nothing goes to the feed.
                let _ = views.record(done, order_view(command), time);
                observe(command, done);
            },
            sealed,
        )?;
        sequencer.set_snapshot_policy(options.snapshots);
        let opened = Opened {
            restored,
            skipped,
            replayed,
        };
        Ok((Self::with_views(sequencer, views), opened))
    }

    fn with_views(sequencer: Sequencer, views: Views) -> Self {
        let domain = sequencer.engine().state().config().domain;
        Hub {
            sequencer: Arc::new(Mutex::new(sequencer)),
            views: Mutex::new(views),
            feed: broadcast::channel(FEED_BUFFER).0,
            queue: Mutex::new(Queue::default()),
            group_done: Condvar::new(),
            keys: RwLock::new(HashMap::new()),
            domain,
            in_flight: Arc::new(AtomicUsize::new(0)),
            intake_limit: AtomicUsize::new(INTAKE_LIMIT),
        }
    }

    /// Every batch sealed from now on, in order, whichever command sealed it: the node's
    /// `EndBatch`, or a trader's order whose fills found the open batch full and rolled it
    /// over inside the API call. The one consumer (the operator, which proves them) takes
    /// them from here, never from the results of its own commands, or a batch a trader's
    /// order sealed would never reach the prover and the next one would not chain on the L1.
    ///
    /// From this call on the batches are sealed off the sequencer's lock
    /// ([`Sequencer::seal_off_thread`]): a command that ends a batch holds the lock for its
    /// close, the trees are hashed on a worker while the next commands run, and each batch
    /// arrives here once it is sealed and the command that closed it is journaled. Commands
    /// report the batches they closed ([`Executed::batch_numbers`]). Batches sealed before the
    /// call (a replay at open) are not sent: [`Hub::open`]'s `observe` sees those. A second
    /// call replaces the first receiver.
    pub fn sealed_batches(
        &self,
    ) -> Result<tokio::sync::mpsc::UnboundedReceiver<Arc<SealedBatch>>, SequencerError> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        lock(&self.sequencer).seal_off_thread(Box::new(move |batch| {
            // No receiver: nobody takes batches any more (the node is stopping).
            let _ = tx.send(batch);
        }))?;
        Ok(rx)
    }

    /// Waits until every batch closed so far is sealed and in the sink, and the state's roots
    /// can be read ([`Sequencer::settle_seals`]); under the sequencer's lock.
    pub fn settle_seals(&self) -> Result<(), SequencerError> {
        lock(&self.sequencer).settle_seals()
    }

    /// A place for one trader's command in the bounded intake, held until it is answered;
    /// `None` when [`Hub::intake_limit`] commands are already in: the caller refuses it (the
    /// API answers 429 with `Retry-After`). Commands of the node itself (L1 events, ticks,
    /// batch boundaries) do not take a place: they are never refused for load.
    pub fn admit(&self) -> Option<Admission> {
        let limit = self.intake_limit.load(Ordering::Acquire);
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Admission(self.in_flight.clone()))
    }

    /// Traders' commands admitted and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// The most traders' commands admitted at once ([`INTAKE_LIMIT`] unless set).
    pub fn intake_limit(&self) -> usize {
        self.intake_limit.load(Ordering::Acquire)
    }

    pub fn set_intake_limit(&self, limit: usize) {
        self.intake_limit.store(limit, Ordering::Release);
    }

    /// This hub with a feed that holds `events` for a slow subscriber ([`FEED_BUFFER`] unless
    /// set): one further behind is told it lagged and dropped (`crate::ws`). Set before anyone
    /// subscribes.
    pub fn with_feed_buffer(mut self, events: usize) -> Self {
        self.feed = broadcast::channel(events.max(1)).0;
        self
    }

    /// Checks the signature `command` carries (an order's, a cancel's) against its account's
    /// key, on the calling thread, before the command queues for the sequencer's lock. A
    /// signature that verifies is remembered (`PublicKey::verify`), so the sequencer's own
    /// check of it under the lock, and the state machine's in every fill, are memo lookups
    /// that also confirm the key is still the account's. `Some(false)`: it does not verify
    /// against the account's key, and never will (an account's key does not change); `None`:
    /// nothing to check here (no signature, or no such account yet: the sequencer answers).
    pub fn check_signature(&self, command: &Command) -> Option<bool> {
        self.check_signatures(&[command])[0]
    }

    /// [`Hub::check_signature`] for many commands at once, through the batch path
    /// (`zkperp_state::eddsa::verify_batch`: the same answers, about half the arithmetic per
    /// signature for a burst of 64 or more).
    pub fn check_signatures(&self, commands: &[&Command]) -> Vec<Option<bool>> {
        let signed: Vec<_> = commands
            .iter()
            .map(|command| {
                let (account, message, signature) = command.signed(&self.domain)?;
                Some((self.key_of(account)?, message, signature))
            })
            .collect();
        let items: Vec<_> = signed
            .iter()
            .flatten()
            .map(|(key, message, signature)| (key, *message, *signature))
            .collect();
        let mut answers = zkperp_state::eddsa::verify_batch(&items).into_iter();
        signed
            .iter()
            .map(|s| {
                s.as_ref()
                    .map(|_| answers.next().is_some_and(|answer| answer.is_ok()))
            })
            .collect()
    }

    /// An account's key, from the directory or (the first time) the sequencer's state.
    fn key_of(&self, account: AccountId) -> Option<PublicKey> {
        let known = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&account)
            .copied();
        if known.is_some() {
            return known;
        }
        let key = self.with_sequencer(|seq| {
            seq.engine()
                .state()
                .account(account)
                .map(|a| a.leaf.public_key)
        })?;
        self.keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(account, key);
        Some(key)
    }

    /// Executes `command`, journals it, records what it did and publishes it; returns once it
    /// is on disk.
    ///
    /// Group commit: callers that arrive while a group is being committed wait, and the first
    /// of them then commits them all as the next group (in arrival order, one synced journal
    /// write, [`Sequencer::execute_group`]). Views and the feed change only after the group's
    /// write, so no subscriber sees what a crash could still undo.
    pub fn execute(&self, command: Command) -> Result<Executed, SequencerError> {
        let mut queue = lock(&self.queue);
        let id = queue.next_id;
        queue.next_id += 1;
        queue.waiting.push((id, command));
        loop {
            if let Some(result) = queue.done.remove(&id) {
                return result;
            }
            if queue.leading {
                queue = self
                    .group_done
                    .wait(queue)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            queue.leading = true;
            let take = queue.waiting.len().min(MAX_GROUP);
            let group: Vec<(u64, Command)> = queue.waiting.drain(..take).collect();
            drop(queue);
            let ids: Vec<u64> = group.iter().map(|(id, _)| *id).collect();
            // A panic in a command must not leave the group's callers waiting for ever: they
            // are told, and the sequencer has halted (see `Sequencer::execute_group`).
            let results =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.commit_group(group)))
                    .unwrap_or_else(|_| {
                        let halted = || SequencerError::Halted("a command panicked".into());
                        ids.into_iter().map(|id| (id, Err(halted()))).collect()
                    });
            queue = lock(&self.queue);
            queue.done.extend(results);
            queue.leading = false;
            self.group_done.notify_all();
        }
    }

    /// Executes and journals one group under the sequencer's lock, then updates the views and
    /// publishes, still under it (so the feed follows journal order).
    fn commit_group(
        &self,
        group: Vec<(u64, Command)>,
    ) -> Vec<(u64, Result<Executed, SequencerError>)> {
        let (ids, commands): (Vec<u64>, Vec<Command>) = group.into_iter().unzip();
        let incoming: Vec<Option<OrderView>> = commands.iter().map(order_view).collect();
        let mut times = Vec::with_capacity(commands.len());
        let mut seq = lock(&self.sequencer);
        let executed = match seq.execute_group(commands, |batcher, _| {
            times.push(batcher.engine().state().now().get());
        }) {
            Ok(executed) => executed,
            Err(e) => {
                // Nothing of the group is on disk: each caller is told, none acknowledged.
                let reason = e.to_string();
                return ids
                    .into_iter()
                    .map(|id| (id, Err(SequencerError::Halted(reason.clone()))))
                    .collect();
            }
        };
        {
            let mut views = lock(&self.views);
            for ((done, incoming), time) in executed.iter().zip(incoming).zip(times) {
                for event in views.record(done, incoming, time) {
                    // No subscriber is not an error.
                    let _ = self.feed.send(Arc::new(event));
                }
            }
            snapshot_if_due(&mut seq, &views);
        }
        drop(seq);
        ids.into_iter().zip(executed.into_iter().map(Ok)).collect()
    }

    /// As [`Hub::execute`], but only if `check` passes on the sequencer as it is just before
    /// (under the same lock: nothing comes in between); a refusal journals nothing.
    pub fn execute_checked<E>(
        &self,
        command: Command,
        check: impl FnOnce(&Sequencer) -> Result<(), E>,
    ) -> Result<Result<Executed, E>, SequencerError> {
        let incoming = order_view(&command);
        let mut seq = lock(&self.sequencer);
        if let Err(e) = check(&seq) {
            return Ok(Err(e));
        }
        let executed = seq.execute(command)?;
        let time = seq.engine().state().now().get();
        let mut views = lock(&self.views);
        for event in views.record(&executed, incoming, time) {
            // No subscriber is not an error.
            let _ = self.feed.send(Arc::new(event));
        }
        snapshot_if_due(&mut seq, &views);
        drop(views);
        drop(seq);
        Ok(Ok(executed))
    }

    /// Runs `f` on the sequencer (reads; commands go through [`Hub::execute`]).
    pub fn with_sequencer<R>(&self, f: impl FnOnce(&Sequencer) -> R) -> R {
        f(&lock(&self.sequencer))
    }

    /// Every feed event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FeedEvent>> {
        self.feed.subscribe()
    }

    /// A market's levels (with the sequence number of the last delta they include) and a
    /// receiver of every feed event after them: nothing is missed between the two.
    pub fn book_and_subscribe(
        &self,
        market: usize,
    ) -> Option<(BookLevels, broadcast::Receiver<Arc<FeedEvent>>)> {
        let views = lock(&self.views);
        let book = views.books.get(market)?.clone();
        Some((book, self.feed.subscribe()))
    }

    pub fn book(&self, market: usize) -> Option<BookLevels> {
        lock(&self.views).books.get(market).cloned()
    }

    /// An order, if the hub has seen it (placed since start, or resting at start).
    pub fn order(&self, key: &OrderKey) -> Option<OrderView> {
        lock(&self.views).orders.get(key).copied()
    }

    /// An account's orders, oldest first.
    pub fn orders(&self, account: AccountId) -> Vec<OrderView> {
        let views = lock(&self.views);
        views
            .by_account
            .get(&account)
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| views.orders.get(k).copied())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An account's recent fills, oldest first.
    pub fn fills(&self, account: AccountId) -> Vec<FillView> {
        lock(&self.views)
            .fills
            .get(&account)
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    /// A market's recent trades, oldest first.
    pub fn trades(&self, market: usize) -> Vec<TradeView> {
        lock(&self.views)
            .trades
            .get(market)
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(account: u64, order_id: u64, status: OrderStatus) -> OrderView {
        OrderView {
            account: AccountId::new(account).expect("id"),
            order_id,
            market: 0,
            side: Side::Buy,
            price: 100,
            size: 1,
            filled: 0,
            remaining: u64::from(status == OrderStatus::Open),
            time_in_force: TimeInForce::GoodTillCancelled,
            expiry: 0,
            status,
            ticket: order_id,
        }
    }

    /// An account's closed orders beyond the history are forgotten, oldest first; its open
    /// orders, however old, and other accounts' orders are kept.
    #[test]
    fn closed_orders_beyond_the_history_are_forgotten_open_ones_kept() {
        let mut views = Views::empty(1);
        let filled = OrderStatus::Filled;
        views.track(order(7, 1, OrderStatus::Open));
        views.track(order(8, 1, filled));
        for id in 2..=(2 * HISTORY as u64) {
            views.track(order(7, id, filled));
        }
        let keys = &views.by_account[&AccountId::new(7).expect("id")];
        assert_eq!(
            keys.len(),
            2 * HISTORY,
            "not pruned until it passes twice the history"
        );
        views.track(order(7, 2 * HISTORY as u64 + 1, filled));
        let keys = &views.by_account[&AccountId::new(7).expect("id")];
        assert_eq!(keys.len(), HISTORY);
        assert_eq!(keys[0].order_id.get(), 1, "the open order stays, first");
        assert_eq!(
            keys[1].order_id.get(),
            HISTORY as u64 + 3,
            "the oldest closed ones went"
        );
        assert_eq!(views.orders.len(), HISTORY + 1, "and their views with them");
        assert!(views.orders.values().any(|o| o.account.get() == 8));
        // The views survive their snapshot encoding exactly.
        assert_eq!(Views::decode(&views.encode(), 1).expect("decodes"), views);
        assert!(
            Views::decode(&views.encode(), 2).is_err(),
            "views of one market, not two"
        );
    }
}
