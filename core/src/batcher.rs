//! The batch builder: it runs the sequencer's commands so that every batch it seals fits the
//! configured [`Shape`], the slots of the batch circuit that will prove it.
//!
//! A batch circuit has a fixed number of slots per transaction kind, in one fixed order
//! (`zkperp_state::batch`): oracle ticks, funding ticks, liquidations, deleverages, deposits,
//! forced withdrawals | trades | withdrawals, cancel orders. A sealed batch can be proven only
//! if its kinds never go backwards in that order and no kind exceeds its slots. Commands arrive
//! in any order, so each transaction is placed where the order allows:
//!
//! ```text
//!  batch:  [ start: o f l x d fw ]  [ trades: live, from the book ]  [ seal: w c ]  fees
//!              ^                            ^                             ^
//!   BeginBatch applies the held      each fill takes a slot; a     EndBatch, or a trade that
//!   start-of-batch txs, in slot      full batch is sealed and the  finds the batch full, applies
//!   order; a start kind arriving     next begun at the same time   the held withdrawals, then
//!   while its phase is open and      (a "roll") before the fill    the held cancels, as many as
//!   its slots free applies at once                                 fit, and seals
//! ```
//!
//! Rules, and why:
//!
//! 1. **Trades are live.** The book has matched; the state machine gates each fill as it is
//!    made, so a trade is never deferred. When the open batch has no free trade slot (or has
//!    passed its trade phase), the engine pauses the order before the fill and returns it;
//!    the builder seals the batch (held withdrawals and cancels first, as many as fit) and
//!    begins the next at the same timestamp, with the held start-of-batch transactions
//!    applied first, then resumes the order. One order's fills may so span batches, and a
//!    seal is always a step of this builder's loop, never a call from inside the matching.
//! 2. **Fill-or-kill fits one batch.** Its fills run under a state savepoint, and a savepoint
//!    cannot span a seal. Before it matches, its fills are counted from the book: if they do not
//!    fit what is left of the open batch, the batch is rolled first; if they exceed a whole
//!    batch's trade slots, the order is refused ([`OrderError::TooManyFills`]), changing nothing.
//! 3. **Start-of-batch kinds** (oracle and funding ticks, liquidations, deleverages, deposits,
//!    forced withdrawals) are applied at once when the batch is open, has not passed that kind,
//!    has a free slot of it, and holds no earlier one of it (so each kind stays first in, first
//!    out: the L1 queues must be consumed in order). Otherwise they are held, and applied when
//!    the next batch begins, in slot order, as many as fit; the rest wait for the batch after.
//!    Prices come first because everything in the batch is valued at them.
//! 4. **Withdrawals and cancel orders are held for the seal**, and applied just before the batch
//!    is sealed, withdrawals then cancels, as many as fit (the rest carried over). Neither is
//!    urgent for the book, and holding them keeps the trade phase open all batch long; a
//!    withdrawal is then checked against the margin the batch's trades left.
//! 5. **A cancel takes effect in the book at once.** Its signature and slot are checked against
//!    the state when it arrives, the order leaves the book, and only its state transaction waits
//!    for the seal. Until then the same order cannot be placed again
//!    ([`OrderError::CancelPending`]), so no fill of it can slip in before the cancel lands.
//! 6. **Between batches** (after `EndBatch`, before `BeginBatch`) orders are refused
//!    ([`OrderError::NoOpenBatch`]) and every transaction is held: nothing is ever applied
//!    outside a batch. `BeginBatch` while a batch is open, and `EndBatch` while none is, are
//!    refused.
//!
//! Held transactions are checked only when they are applied (their queue position, nonce and
//! margin may be valid only by then); a refusal then is reported like an application, so nothing
//! accepted is lost silently. Each result names its *ticket*: the sequence number of the command
//! that brought the transaction (its journal entry).
//!
//! Everything here is a function of the commands and their tickets: a replay of the journal
//! rebuilds the same held queues, the same batches, books and roots.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use rustc_hash::FxHashSet;
use zkperp_state::batch::{SealedBatch, Shape, SlotKind};
use zkperp_state::merkle::{MemoryStore, NodeStore};
use zkperp_state::order::SignedOrder;
use zkperp_state::state::{StateConfig, StateError};
use zkperp_state::tx::{CancelOrder, Transaction, TxError};
use zkperp_state::units::{AccountId, Timestamp};
use zkperp_state::State;

use crate::book::{Event, OrderKey};
use crate::command::Command;
use crate::cost_basis::CostBasis;
use crate::engine::{
    Engine, EngineSnapshot, FeeSchedule, OrderError, OrderOptions, Submitted, TradeSlots,
};
use crate::liquidation::LiquidationIndex;
use crate::sealer::{SealSink, Sealer};

/// What a command did itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Book events of a submitted order; every fill among them is applied (in the batch that
    /// was open, or in the next ones if the order rolled batches: see [`Executed::events`]).
    Book(Vec<Event>),
    /// The cancelled order left the book (its events; none if it was not resting); the
    /// cancel-order transaction is held for the seal.
    Cancelled(Vec<Event>),
    /// Refused before the book or the state machine.
    Refused(OrderError),
    /// Applied at once, in the open batch.
    Applied,
    /// Held; its result comes later as a [`BatchEvent`] with this command's ticket.
    Held,
    /// Refused by the state machine.
    TxRefused(TxError),
    BatchStarted,
    /// The batch was sealed: it is among [`Executed::events`].
    BatchSealed,
    /// A batch command out of place: time going backwards, a begin while a batch is open, an
    /// end while none is, or a seal the state machine refused.
    BatchRefused(String),
}

/// What a command caused besides its own outcome, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchEvent {
    /// A transaction held from the command `ticket` was applied in the open batch.
    Applied { ticket: u64, kind: SlotKind },
    /// A transaction held from the command `ticket` was refused when its turn came; it is
    /// dropped.
    Refused {
        ticket: u64,
        kind: SlotKind,
        error: TxError,
    },
    /// The book dropped orders the state no longer lets fill: a forced cancel from L1 raised
    /// their account's order floor past them (the book's events, as for a cancel).
    Book(Vec<Event>),
    /// A batch was sealed: by `EndBatch`, or by a trade that found the open batch full (the next
    /// batch then began at once, at the same time).
    Sealed(std::sync::Arc<SealedBatch>),
    /// A batch was closed, as for `Sealed`, and handed to the seal worker
    /// ([`Batcher::seal_off_thread`]): the sealed batch, with this number, reaches the worker's
    /// sink.
    Closed(u64),
    /// The open batch could not be sealed to make room for a trade; the fill was refused.
    SealFailed(String),
}

/// The result of one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    /// The command's sequence number: the ticket its held transaction is reported under.
    pub ticket: u64,
    pub outcome: Outcome,
    pub events: Vec<BatchEvent>,
}

impl Executed {
    /// The batches this command sealed, in order.
    pub fn sealed(&self) -> impl Iterator<Item = &SealedBatch> {
        self.sealed_shared().map(|batch| batch.as_ref())
    }

    /// The numbers of the batches this command sealed or closed for the seal worker, in order.
    pub fn batch_numbers(&self) -> impl Iterator<Item = u64> + '_ {
        self.events.iter().filter_map(|e| match e {
            BatchEvent::Sealed(batch) => Some(batch.batch_number),
            BatchEvent::Closed(number) => Some(*number),
            _ => None,
        })
    }

    /// The batches this command sealed, in order, shared (a sink keeps them without copying
    /// their witnesses).
    pub fn sealed_shared(&self) -> impl Iterator<Item = &std::sync::Arc<SealedBatch>> {
        self.events.iter().filter_map(|e| match e {
            BatchEvent::Sealed(batch) => Some(batch),
            _ => None,
        })
    }
}

/// Why a batch builder cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatcherError {
    #[error("the shape {shape} has no {kind} slot: such transactions could never be applied")]
    NoSlots { shape: String, kind: &'static str },
    #[error("the state has an open batch with transactions: start from genesis or a sealed batch")]
    BatchInProgress,
}

/// A transaction waiting for its place, with the ticket of the command that brought it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Held {
    ticket: u64,
    tx: Transaction,
}

/// The batch being built: the shape, whether a batch is open, and what is held for later.
#[derive(Debug)]
struct Slots<S: NodeStore> {
    shape: Shape,
    open: bool,
    /// Held transactions per kind (indexed by `SlotKind as usize`), first in, first out.
    held: [VecDeque<Held>; SlotKind::ALL.len()],
    /// Orders with a held cancel.
    cancels: FxHashSet<OrderKey>,
    /// Events of the command being executed.
    events: Vec<BatchEvent>,
    /// Entry prices after every sealed batch.
    cost_basis: CostBasis,
    /// The L1 queues' entries taken in so far.
    cursors: QueueCursors,
    /// Accounts whose order floor a forced cancel raised during the command being executed:
    /// their orders below it leave the book when the command ends.
    floors_raised: Vec<AccountId>,
    /// The secret that draws each sealed batch's decoys (idle accounts refreshed to fill its
    /// account table, `State::decoys`); `None`: no padding.
    padding: Option<[u8; 32]>,
    /// The seal worker, once the batches are sealed off the caller's thread
    /// ([`Batcher::seal_off_thread`]).
    sealer: Option<Sealer<S>>,
    /// The accounts below maintenance, kept as marks and leaves change (derived from the
    /// state: not in a snapshot, rebuilt on first use). Behind a lock so that the liquidation
    /// engine can be asked through a shared reference, as every reader of the state is.
    liquidations: Mutex<LiquidationIndex>,
}

/// The L1 queues' cursors: per queued kind, the next index not yet taken in (every queue entry
/// the follower brought is journaled, so what the journal holds is what was read).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueueCursors(std::collections::BTreeMap<SlotKind, u64>);

impl QueueCursors {
    /// The next index of `kind`'s queue not yet taken in.
    pub fn next(&self, kind: SlotKind) -> u64 {
        self.0.get(&kind).copied().unwrap_or(0)
    }

    fn observe(&mut self, tx: &Transaction) {
        if let Some(index) = tx.queue_index() {
            let next = self.0.entry(tx.kind()).or_default();
            *next = (*next).max(index + 1);
        }
    }
}

/// The batch builder between batches: the engine's snapshot and everything held for later.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BatcherSnapshot {
    pub engine: EngineSnapshot,
    /// Held transactions per kind, in [`SlotKind::ALL`] order.
    held: Vec<Vec<Held>>,
    cost_basis: CostBasis,
    pub cursors: QueueCursors,
}

fn key_of_cancel(cancel: &CancelOrder) -> OrderKey {
    OrderKey {
        account: cancel.account,
        order_id: cancel.order_id,
    }
}

impl<S: NodeStore> Slots<S> {
    /// Transactions of `kind` the open batch can still take: 0 when no batch is open or the
    /// batch has passed `kind`; no more than its slots and its account table leave. The
    /// state's batch log is the record of what the batch holds (a rolled-back fill-or-kill
    /// leaves no trace in it).
    fn room(&self, state: &State<S>, kind: SlotKind) -> usize {
        if !self.open {
            return 0;
        }
        // The account table: each transaction may bring as many new accounts as its kind
        // touches (a conservative bound: near a full table, a transaction whose accounts are
        // already in it waits for the next batch too).
        let table_room = match kind.accounts() {
            0 => usize::MAX,
            n => {
                self.shape
                    .table_len()
                    .saturating_sub(state.batch_accounts())
                    / n
            }
        };
        let mut used = 0;
        for tx in state.batch_txs().rev() {
            match SlotKind::of(tx).cmp(&kind) {
                std::cmp::Ordering::Greater => return 0,
                std::cmp::Ordering::Less => break,
                std::cmp::Ordering::Equal => used += 1,
            }
        }
        self.shape.count(kind).saturating_sub(used).min(table_room)
    }

    fn hold(&mut self, ticket: u64, tx: Transaction) {
        if let Transaction::CancelOrder(cancel) = &tx {
            self.cancels.insert(key_of_cancel(cancel));
        }
        self.held[SlotKind::of(&tx) as usize].push_back(Held { ticket, tx });
    }

    /// Notes the account of an applied forced cancel (its orders below the floor leave the
    /// book once the command is done).
    fn note_floor(&mut self, tx: &Transaction) {
        if let Transaction::ForcedCancel(fc) = tx {
            self.floors_raised.push(fc.request.account);
        }
    }

    /// Applies held transactions of `kind`, oldest first, while the batch has room for them.
    fn apply_held(&mut self, state: &mut State<S>, kind: SlotKind) {
        while self.room(state, kind) > 0 {
            let Some(Held { ticket, tx }) = self.held[kind as usize].pop_front() else {
                break;
            };
            if let Transaction::CancelOrder(cancel) = &tx {
                self.cancels.remove(&key_of_cancel(cancel));
            }
            let event = match state.execute(&tx) {
                Ok(_) => {
                    self.note_floor(&tx);
                    BatchEvent::Applied { ticket, kind }
                }
                Err(error) => BatchEvent::Refused {
                    ticket,
                    kind,
                    error,
                },
            };
            self.events.push(event);
        }
    }

    /// Begins a batch at `timestamp` and applies the held start-of-batch transactions.
    fn begin(&mut self, state: &mut State<S>, timestamp: Timestamp) -> Result<(), StateError> {
        state.begin_batch(timestamp)?;
        self.open = true;
        for kind in SlotKind::ALL.into_iter().filter(|k| *k < SlotKind::Trade) {
            self.apply_held(state, kind);
        }
        Ok(())
    }

    /// Applies the held withdrawals, then the held cancels, as many as fit, and seals.
    fn seal(&mut self, state: &mut State<S>) -> Result<(), StateError> {
        self.apply_held(state, SlotKind::Withdrawal);
        self.apply_held(state, SlotKind::CancelOrder);
        if let Some(secret) = &self.padding {
            // Every batch lists as many accounts as its table holds: the decoys are idle
            // accounts, refreshed, indistinguishable from ones that traded (issue 18).
            let room = self
                .shape
                .table_len()
                .saturating_sub(state.batch_accounts());
            let decoys = state.decoys(secret, room);
            state.pad_batch(decoys);
        }
        lock(&self.liquidations).sealing(state);
        let event = match self.sealer.as_mut() {
            Some(sealer) => {
                let basis = self.cost_basis.with(state.batch_txs());
                let number = sealer.seal(state)?;
                self.cost_basis = basis;
                BatchEvent::Closed(number)
            }
            None => {
                let batch = state.end_batch()?;
                self.cost_basis
                    .record_all(batch.txs.iter().map(|applied| &applied.tx));
                BatchEvent::Sealed(std::sync::Arc::new(batch))
            }
        };
        self.open = false;
        self.events.push(event);
        Ok(())
    }
}

impl<S: NodeStore> TradeSlots<S> for Slots<S> {
    fn free(&self, state: &State<S>) -> usize {
        self.room(state, SlotKind::Trade)
    }

    fn capacity(&self) -> usize {
        self.shape.count(SlotKind::Trade)
    }
}

impl<S: NodeStore> Slots<S> {
    /// Seals the open batch and begins the next at the same time, after which the trade slots
    /// are free again: what the builder does for an order the full batch paused.
    fn roll(&mut self, state: &mut State<S>) -> Result<(), StateError> {
        if self.open {
            if let Err(e) = self.seal(state) {
                self.events.push(BatchEvent::SealFailed(e.to_string()));
                return Err(e);
            }
        }
        let now = state.now();
        self.begin(state, now)
    }
}

impl Batcher<MemoryStore> {
    /// The builder a snapshot recorded, for batches of `shape` (the journal's, which the
    /// snapshot does not carry), with no batch open.
    pub fn restore(
        config: StateConfig,
        fees: FeeSchedule,
        shape: Shape,
        snapshot: BatcherSnapshot,
    ) -> Result<Self, StateError> {
        let mut batcher = Batcher::new(Engine::restore(config, fees, snapshot.engine)?, shape)
            .map_err(|e| StateError::Snapshot(e.to_string()))?;
        if snapshot.held.len() != SlotKind::ALL.len() {
            return Err(StateError::Snapshot(
                "its held queues are not one per kind".into(),
            ));
        }
        for (kind, queue) in SlotKind::ALL.into_iter().zip(snapshot.held) {
            for held in queue {
                if SlotKind::of(&held.tx) != kind {
                    return Err(StateError::Snapshot(format!(
                        "a held transaction of ticket {} is in the {} queue",
                        held.ticket,
                        kind.name()
                    )));
                }
                batcher.slots.hold(held.ticket, held.tx);
            }
        }
        batcher.slots.cost_basis = snapshot.cost_basis;
        batcher.slots.cursors = snapshot.cursors;
        Ok(batcher)
    }
}

/// Refuses a shape without a slot of every kind: transactions of a kind without one would
/// wait forever, and an L1 queue's entry never served lets anyone freeze the rollup. What
/// [`Batcher::new`] checks, and what `zkperp deploy` checks before it makes keys for a shape.
pub fn check_shape(shape: &Shape) -> Result<(), BatcherError> {
    match SlotKind::ALL.into_iter().find(|k| shape.count(*k) == 0) {
        Some(kind) => Err(BatcherError::NoSlots {
            shape: shape.id(),
            kind: kind.name(),
        }),
        None => Ok(()),
    }
}

/// The engine with its batches built to a shape: the sequencer's deterministic core.
#[derive(Debug)]
pub struct Batcher<S: NodeStore> {
    engine: Engine<S>,
    slots: Slots<S>,
}

impl<S: NodeStore> Batcher<S> {
    /// A builder of batches of `shape` over `engine`, with no batch open (the first
    /// `BeginBatch` opens one). The shape needs a slot of every kind, or transactions of a kind
    /// without one would wait forever (a forced withdrawal never served freezes the rollup).
    pub fn new(engine: Engine<S>, shape: Shape) -> Result<Self, BatcherError> {
        check_shape(&shape)?;
        if engine.state().batch_len() != 0 {
            return Err(BatcherError::BatchInProgress);
        }
        Ok(Batcher {
            engine,
            slots: Slots {
                shape,
                open: false,
                held: Default::default(),
                cancels: FxHashSet::default(),
                events: Vec::new(),
                cost_basis: CostBasis::default(),
                cursors: QueueCursors::default(),
                floors_raised: Vec::new(),
                padding: None,
                sealer: None,
                liquidations: Mutex::new(LiquidationIndex::new()),
            },
        })
    }

    pub fn engine(&self) -> &Engine<S> {
        &self.engine
    }

    /// The L1 queues' cursors the commands so far imply.
    pub fn cursors(&self) -> QueueCursors {
        self.slots.cursors.clone()
    }

    /// The builder as [`Batcher::restore`] rebuilds it: only between batches (`None` while one
    /// is open).
    pub fn snapshot(&self) -> Option<BatcherSnapshot> {
        if self.slots.open {
            return None;
        }
        Some(BatcherSnapshot {
            engine: self.engine.snapshot()?,
            held: self
                .slots
                .held
                .iter()
                .map(|q| q.iter().cloned().collect())
                .collect(),
            cost_basis: self.slots.cost_basis.clone(),
            cursors: self.slots.cursors.clone(),
        })
    }

    pub fn shape(&self) -> &Shape {
        &self.slots.shape
    }

    /// Whether a batch is open (between `BeginBatch` and its seal).
    pub fn is_open(&self) -> bool {
        self.slots.open
    }

    /// Entry prices of every trader's open position, the open batch's fills included (for the
    /// liquidation engine's choice of whom to deleverage).
    pub fn cost_basis(&self) -> CostBasis {
        let log = self.engine.state().batch_txs();
        self.slots.cost_basis.with(log)
    }

    /// The liquidation engine's next transaction: the riskiest account below maintenance it
    /// can deal with ([`crate::liquidation`]), found without evaluating every account.
    pub fn next_liquidation(&self) -> Option<Transaction> {
        lock(&self.slots.liquidations).next_step(self.engine.state(), &self.slots.cost_basis)
    }

    /// Pads every batch sealed from now on with decoys drawn by `secret` (see
    /// `State::decoys`): the sequencer keeps the secret with its journal, so a replay pads
    /// exactly as the first run did.
    pub fn set_padding_secret(&mut self, secret: [u8; 32]) {
        self.slots.padding = Some(secret);
    }

    /// Seals every batch from now on off the caller's thread: closing a batch is a step on
    /// the leaves, and a worker that owns the trees hashes it and sends the sealed batch to
    /// `sink`, in order ([`crate::sealer`]). Commands then report [`BatchEvent::Closed`]
    /// where they reported [`BatchEvent::Sealed`]. Roots and snapshots need the trees back:
    /// [`Batcher::settle_seals`]. A worker already there seals what it was handed first.
    pub fn seal_off_thread(&mut self, sink: SealSink) -> Result<(), StateError>
    where
        S: Send + 'static,
    {
        self.settle_seals()?;
        let sealer = Sealer::spawn(sink)
            .map_err(|e| StateError::Store(format!("the seal worker did not start: {e}")))?;
        self.slots.sealer = Some(sealer);
        Ok(())
    }

    /// Seals every batch from now on in place again: the worker seals what it was handed and
    /// stops, and the trees come back.
    pub fn seal_in_place(&mut self) -> Result<(), StateError> {
        self.settle_seals()?;
        self.slots.sealer = None;
        Ok(())
    }

    /// Waits for the seal worker to seal every batch closed so far and takes the trees back
    /// (a no-op without one, or with nothing away).
    pub fn settle_seals(&mut self) -> Result<(), StateError> {
        match self.slots.sealer.as_mut() {
            Some(sealer) => sealer.settle(self.engine.state_mut()),
            None => Ok(()),
        }
    }

    /// Every held transaction with its ticket, in the order it will be applied: by kind in
    /// batch order, oldest first within a kind.
    pub fn held(&self) -> impl Iterator<Item = (u64, &Transaction)> {
        self.slots
            .held
            .iter()
            .flatten()
            .map(|held| (held.ticket, &held.tx))
    }

    /// Runs one command; `ticket` is its sequence number in the journal. Deterministic: the
    /// same commands with the same tickets give the same results.
    pub fn execute(&mut self, ticket: u64, command: &Command) -> Executed {
        let outcome = match command {
            Command::BeginBatch { timestamp } => self.begin(*timestamp),
            Command::EndBatch => self.end(),
            Command::Submit { order, options } => self.submit(*order, *options),
            Command::Cancel { cancel } => self.cancel(ticket, cancel),
            Command::Apply { tx } => {
                self.slots.cursors.observe(tx);
                self.apply(ticket, tx)
            }
        };
        for account in std::mem::take(&mut self.slots.floors_raised) {
            let dropped = self.engine.drop_below_floor(account);
            if !dropped.is_empty() {
                self.slots.events.push(BatchEvent::Book(dropped));
            }
        }
        Executed {
            ticket,
            outcome,
            events: std::mem::take(&mut self.slots.events),
        }
    }

    fn begin(&mut self, timestamp: Timestamp) -> Outcome {
        if self.slots.open {
            return Outcome::BatchRefused("a batch is open: it must be ended first".into());
        }
        match self.slots.begin(self.engine.state_mut(), timestamp) {
            Ok(()) => Outcome::BatchStarted,
            Err(e) => Outcome::BatchRefused(e.to_string()),
        }
    }

    fn end(&mut self) -> Outcome {
        if !self.slots.open {
            return Outcome::BatchRefused("no batch is open".into());
        }
        match self.slots.seal(self.engine.state_mut()) {
            Ok(()) => Outcome::BatchSealed,
            Err(e) => Outcome::BatchRefused(e.to_string()),
        }
    }

    fn submit(&mut self, order: SignedOrder, options: OrderOptions) -> Outcome {
        if !self.slots.open {
            return Outcome::Refused(OrderError::NoOpenBatch);
        }
        let key = OrderKey {
            account: order.order.account,
            order_id: order.order.order_id,
        };
        if self.slots.cancels.contains(&key) {
            return Outcome::Refused(OrderError::CancelPending);
        }
        // The engine pauses an order the open batch has no trade slot for; sealing that batch
        // and beginning the next is this loop's step, never a side effect of the matching.
        let mut step = self.engine.submit_in(order, options, &self.slots);
        loop {
            step = match step {
                Ok(Submitted::Done(events)) => return Outcome::Book(events),
                Err(e) => return Outcome::Refused(e),
                Ok(Submitted::Paused(paused)) => match self.slots.roll(self.engine.state_mut()) {
                    Ok(()) => self.engine.resume_in(paused, &self.slots),
                    Err(e) => {
                        return match self.engine.abandon(paused, e.to_string()) {
                            Ok(events) => Outcome::Book(events),
                            Err(e) => Outcome::Refused(e),
                        }
                    }
                },
            };
        }
    }

    fn cancel(&mut self, ticket: u64, cancel: &CancelOrder) -> Outcome {
        if self.slots.cancels.contains(&key_of_cancel(cancel)) {
            return Outcome::Refused(OrderError::CancelPending);
        }
        match self.engine.cancel_in_book(cancel) {
            Ok(events) => {
                self.slots.hold(ticket, Transaction::CancelOrder(*cancel));
                Outcome::Cancelled(events)
            }
            Err(e) => Outcome::Refused(e),
        }
    }

    fn apply(&mut self, ticket: u64, tx: &Transaction) -> Outcome {
        let kind = SlotKind::of(tx);
        match tx {
            Transaction::Trade(_) => return Outcome::Refused(OrderError::TradeOutsideBook),
            // A cancel is a cancel however it comes: it leaves the book now.
            Transaction::CancelOrder(cancel) => return self.cancel(ticket, cancel),
            _ => {}
        }
        let state = self.engine.state_mut();
        let now = kind < SlotKind::Trade
            && self.slots.held[kind as usize].is_empty()
            && self.slots.room(state, kind) > 0;
        if !now {
            self.slots.hold(ticket, tx.clone());
            return Outcome::Held;
        }
        match state.execute(tx) {
            Ok(()) => {
                self.slots.note_floor(tx);
                Outcome::Applied
            }
            Err(e) => Outcome::TxRefused(e),
        }
    }
}

/// The index behind its lock. A panic while it was held may have left it half-updated: it is
/// then emptied, to be rebuilt from the state on its next use.
fn lock(index: &Mutex<LiquidationIndex>) -> MutexGuard<'_, LiquidationIndex> {
    index.lock().unwrap_or_else(|poisoned| {
        let mut guard = poisoned.into_inner();
        *guard = LiquidationIndex::new();
        index.clear_poison();
        guard
    })
}
