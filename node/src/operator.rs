//! The operator's loop around the sequencer, shared by `zkperp devnet` (everything in one
//! process) and `zkperp node` (the sequencer, API and prover as one service of a deployment).
//!
//! Every batch period: seal the open batch and hand it to the prover; then open the next one at
//! the wall clock with what must come first in it: the oracle ticks (the median of the fresh
//! quotes in the oracle book), the funding ticks that are due, the liquidations and
//! deleveragings the new marks call for, and the new entries of the L1's deposit and forced
//! queues. Trading happens in between, through the hub.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use serde_json::json;
use zkperp_core::batcher::BatchEvent;
use zkperp_core::command::Command;
use zkperp_core::funding::{BookPrices, FundingSchedule};
use zkperp_core::oracle::OracleBook;
use zkperp_sequencer::follower::{deadline_alarm, DeadlineAlarm, Follower};
use zkperp_sequencer::hub::Hub;
use zkperp_sequencer::pipeline::{BatchStatus, Pipeline, PipelineError};
use zkperp_sequencer::sequencer::{Executed, Outcome};
use zkperp_state::batch::{SealedBatch, Shape, SlotKind};
use zkperp_state::field::fr_to_decimal;
use zkperp_state::state::StateConfig;
use zkperp_state::tx::Transaction;
use zkperp_state::units::{MarketId, PriceTicks, Timestamp};

/// Unix seconds by the wall clock.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// One JSON line on stdout: the services' event log, which tests and scripts read.
pub fn emit(line: serde_json::Value) {
    println!("{line}");
}

/// Locks `m`; a panic elsewhere under the lock leaves data that is still whole (every write
/// to it is one call), so a poisoned lock is used as it is.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The sequencer's driver between batches.
pub struct Operator {
    pub hub: Arc<Hub>,
    /// Quotes from the oracle signers (the API's `POST /v1/oracle/quotes`, or the devnet's
    /// local signers); each batch's ticks are made from it.
    pub oracle: Arc<Mutex<OracleBook>>,
    config: StateConfig,
    shape: Shape,
    funding: FundingSchedule,
    follower: Follower,
    /// Leave forced withdrawals unserved (the devnet's censoring operator).
    censor_forced: bool,
    to_prover: tokio::sync::mpsc::Sender<SealedBatch>,
    /// Every batch the hub seals, whichever command sealed it ([`Hub::sealed_batches`]).
    sealed: tokio::sync::mpsc::UnboundedReceiver<Arc<SealedBatch>>,
    /// The newest batch taken from `sealed` (or sealed before it was there).
    received: u64,
    outbox: Vec<SealedBatch>,
    /// Batches handed to the prover so far.
    pub sent: u64,
    /// Batches handed to the prover and not yet through it (shared with its task).
    in_flight: Arc<AtomicU64>,
    /// Set by the prover's task when the rollup refused a batch: nothing can land any more.
    halted: Arc<AtomicBool>,
    /// The prover's task ([`spawn_prover`]): the number of batches it verified.
    proving: Option<tokio::task::JoinHandle<Result<u64>>>,
    /// The timer seals no batch while this many are in flight (see [`Operator::seal`]).
    max_in_flight: u64,
    /// Whether the last seal was deferred (so `prover_behind` is said once per episode).
    deferring: bool,
    /// Warn this many L1 seconds before a forced request's deadline.
    forced_warn_secs: u64,
    /// The last deadline alarm raised (so each is said once, not every period).
    alarmed: Option<DeadlineAlarm>,
    /// The rollup's `maxBatchAge`: a batch applied later than this after its time is refused.
    max_batch_age: Option<u64>,
    /// The times of the batches handed to the prover and not through it yet, oldest first.
    unverified_times: std::collections::VecDeque<u64>,
    /// Whether sealing is paused for the age of the oldest unverified batch (said once).
    aging: bool,
}

/// Whether the oldest batch not yet through the prover, with time `oldest`, is old enough at
/// L1 time `l1_now` that no more batches may be sealed: half of the rollup's `max_batch_age`.
/// A batch proven later than `max_batch_age` after its time can never be applied, and every
/// batch after it is stuck behind it, so the node stops adding to the backlog with half the
/// window left for the prover to catch up (one more batch sealed then is older still when its
/// turn comes).
pub fn too_old_to_seal_behind(oldest: u64, l1_now: u64, max_batch_age: u64) -> bool {
    l1_now.saturating_sub(oldest) >= max_batch_age / 2
}

/// How long before an unanswered forced request's deadline the operator warns, by default: a
/// quarter of the devnet's and the default deployment's one-hour grace period.
pub const FORCED_WARN_SECS: u64 = 900;

/// What [`Operator::seal`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seal {
    /// The open batch (if any) is sealed and with the prover: the next may open.
    Sealed,
    /// The prover is behind: nothing sealed, the open batch stays open.
    Deferred,
    /// The prover has stopped taking batches.
    ProverStopped,
}

/// Sealed batches the prover may be behind by before the timer stops sealing (the default of
/// `zkperp node --max-unproven`, and the devnet's).
pub const MAX_IN_FLIGHT: u64 = 4;

impl Operator {
    #[allow(clippy::too_many_arguments)]
    /// `sealed` is the hub's sink of sealed batches ([`Hub::sealed_batches`]), taken before
    /// anything can seal one (before the API serves): every batch in it goes to the prover.
    pub fn new(
        hub: Arc<Hub>,
        sealed: tokio::sync::mpsc::UnboundedReceiver<Arc<SealedBatch>>,
        oracle: Arc<Mutex<OracleBook>>,
        config: StateConfig,
        shape: Shape,
        funding: FundingSchedule,
        follower: Follower,
        censor_forced: bool,
        pipeline: Pipeline,
        want: u64,
        max_in_flight: u64,
    ) -> Self {
        let (to_prover, proving) = tokio::sync::mpsc::channel::<SealedBatch>(64);
        let halted = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(AtomicU64::new(0));
        let proving = spawn_prover(pipeline, proving, want, halted.clone(), in_flight.clone());
        let received = hub.with_sequencer(|s| s.engine().state().batches_sealed());
        Operator {
            hub,
            sealed,
            received,
            oracle,
            config,
            shape,
            funding,
            follower,
            censor_forced,
            to_prover,
            outbox: Vec::new(),
            sent: 0,
            in_flight,
            halted,
            proving: Some(proving),
            max_in_flight: max_in_flight.max(1),
            deferring: false,
            forced_warn_secs: FORCED_WARN_SECS,
            alarmed: None,
            max_batch_age: None,
            unverified_times: std::collections::VecDeque::new(),
            aging: false,
        }
    }

    /// Pauses sealing while the oldest unverified batch is older than half of `secs`, the
    /// rollup's `maxBatchAge` ([`too_old_to_seal_behind`]).
    pub fn with_max_batch_age(mut self, secs: u64) -> Self {
        self.max_batch_age = Some(secs);
        self
    }

    /// Warns `secs` L1 seconds before a forced request's deadline instead of
    /// [`FORCED_WARN_SECS`].
    pub fn with_forced_warning(mut self, secs: u64) -> Self {
        self.forced_warn_secs = secs;
        self
    }

    /// Watches the first entry due of the L1 queues the rollup has not seen served (a forced
    /// request unanswered or a deposit unconsumed, as of the last poll) against the L1's
    /// clock: `forced_deadline` once it is within the warning window, `forced_overdue` once
    /// its deadline has passed and anyone may freeze the rollup (`queue` says which). Each is said once per request. Called every period, whether or not batches
    /// still land: a prover or an L1 that stopped is exactly when the deadline comes closer.
    pub async fn watch_forced(&mut self) {
        let Some(due) = self.follower.oldest_unanswered() else {
            self.alarmed = None;
            return;
        };
        let Ok(now) = self.follower.chain_time().await else {
            return; // an L1 that does not answer is reported by the next poll
        };
        let Some(alarm) = deadline_alarm(due, now, self.forced_warn_secs) else {
            return;
        };
        let same = matches!(
            (self.alarmed, alarm),
            (Some(DeadlineAlarm::Near { due: a, .. }), DeadlineAlarm::Near { due: b, .. })
                | (Some(DeadlineAlarm::Overdue { due: a, .. }), DeadlineAlarm::Overdue { due: b, .. })
                if a == b
        );
        if same {
            return;
        }
        self.alarmed = Some(alarm);
        match alarm {
            DeadlineAlarm::Near { due, secs_left } => {
                tracing::warn!(target: "operator", queue = due.queue.name(), request = due.index, secs_left, "an L1 request's deadline is near");
                emit(json!({
                    "event": "forced_deadline", "queue": due.queue.name(), "request": due.index,
                    "deadline": due.deadline, "secs_left": secs_left,
                }));
            }
            DeadlineAlarm::Overdue { due, secs_over } => {
                tracing::error!(target: "operator", queue = due.queue.name(), request = due.index, secs_over, "an L1 request is overdue: anyone may freeze the rollup");
                emit(json!({
                    "event": "forced_overdue", "queue": due.queue.name(), "request": due.index,
                    "deadline": due.deadline, "secs_over": secs_over,
                }));
            }
        }
    }

    /// Whether the prover's task has ended (it verified the batches it was to, or the channel
    /// closed).
    pub fn prover_finished(&self) -> bool {
        self.proving.as_ref().is_none_or(|p| p.is_finished())
    }

    /// Whether the rollup refused a batch: no later batch can land, so none is sealed (the
    /// API keeps serving, for exits).
    pub fn halted(&self) -> bool {
        self.halted.load(Ordering::SeqCst)
    }

    /// Stops handing batches to the prover and waits for it to finish those it has; returns
    /// how many it verified.
    pub async fn finish(mut self) -> Result<u64> {
        let proving = self.proving.take();
        drop(self); // closes the channel: the prover's task ends after the batches it holds
        match proving {
            Some(task) => task.await?,
            None => Ok(0),
        }
    }

    /// Runs `command` through the hub (journaled before this returns). Every batch it seals
    /// (as every batch a trader's order seals through the API) waits in the hub's sink for
    /// [`Operator::flush`].
    pub fn exec(&mut self, command: Command) -> Result<Executed> {
        Ok(self.hub.execute(command)?)
    }

    /// Queues `batch` for the prover as if just sealed (a restart's batches still owed to L1).
    pub fn resend(&mut self, batch: SealedBatch) {
        self.outbox.push(batch);
    }

    /// Hands the outbox to the prover, in order; false once the prover has stopped.
    /// Every batch closed by a journaled command so far is waited for: the hub seals them off
    /// its lock, so one `EndBatch` just closed may still be hashing.
    pub async fn flush(&mut self) -> bool {
        let closed = self.hub.with_sequencer(|s| s.journaled_batches());
        loop {
            let batch = if self.received < closed {
                match self.sealed.recv().await {
                    Some(batch) => batch,
                    // The seal worker stopped: nothing more will be sealed.
                    None => return false,
                }
            } else {
                match self.sealed.try_recv() {
                    Ok(batch) => batch,
                    Err(_) => break,
                }
            };
            self.received = self.received.max(batch.batch_number);
            emit(json!({
                "event": "sealed",
                "batch": batch.batch_number,
                "transactions": batch.txs.len(),
                "new_root": fr_to_decimal(&batch.new_root),
            }));
            self.outbox.push(Arc::unwrap_or_clone(batch));
        }
        for batch in std::mem::take(&mut self.outbox) {
            self.sent += 1;
            self.unverified_times.push_back(batch.timestamp.get());
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            if self.to_prover.send(batch).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Seals the open batch, if any, and hands it to the prover. Seals nothing while the
    /// prover is `max_in_flight` batches behind: the open batch stays open and keeps filling
    /// (a full batch still rolls over on its own), so the batch rate follows the proving rate
    /// instead of queueing mostly-empty batches faster than they can be proven.
    ///
    /// The bound trades two risks: the L1 lagging the sequencer without limit (withdrawals
    /// wait, and a forced request could miss its deadline and freeze the rollup) against
    /// marks and liquidations, which move only at batch boundaries, going stale while the
    /// prover catches up. Neither is acceptable for long: the cure is proving capacity.
    ///
    /// Nor does it seal while the oldest batch the prover has not finished is older than half
    /// the rollup's `maxBatchAge` (L1 time): `sealing_paused` says so once, `sealing_resumed`
    /// when it is through.
    pub async fn seal(&mut self) -> Result<Seal> {
        let behind = self.in_flight.load(Ordering::SeqCst);
        // The prover finishes batches in order: the unfinished ones are the newest `behind`.
        while self.unverified_times.len() as u64 > behind {
            self.unverified_times.pop_front();
        }
        if let (Some(max), Some(&oldest)) = (self.max_batch_age, self.unverified_times.front()) {
            // The L1's clock is the one the rollup judges by; the wall clock if it is silent.
            let l1_now = self.follower.chain_time().await.unwrap_or_else(|_| now());
            if too_old_to_seal_behind(oldest, l1_now, max) {
                if !self.aging {
                    emit(json!({
                        "event": "sealing_paused", "reason": "batch_age",
                        "oldest_unverified_time": oldest, "l1_time": l1_now,
                        "max_batch_age": max, "in_flight": behind,
                    }));
                    self.aging = true;
                }
                return Ok(Seal::Deferred);
            }
        }
        if self.aging {
            emit(json!({"event": "sealing_resumed", "reason": "batch_age"}));
            self.aging = false;
        }
        if behind >= self.max_in_flight {
            if !self.deferring {
                emit(json!({"event": "prover_behind", "in_flight": behind}));
                self.deferring = true;
            }
            return Ok(Seal::Deferred);
        }
        self.deferring = false;
        if self.hub.with_sequencer(|s| s.batcher().is_open()) {
            self.exec(Command::EndBatch)?;
        }
        Ok(if self.flush().await {
            Seal::Sealed
        } else {
            Seal::ProverStopped
        })
    }

    /// The next batch's time: the wall clock, never before the state's.
    pub fn clock(&self) -> Result<Timestamp> {
        let t = now().max(self.hub.with_sequencer(|s| s.engine().state().now().get()));
        Ok(Timestamp::new(t)?)
    }

    /// Opens the next batch at `at`: oracle and funding ticks first (held, so the batch applies
    /// them before anything carried over), then the batch begins, then the liquidations the
    /// new marks trigger and the L1 queues' new entries.
    pub async fn open_batch(&mut self, at: Timestamp) -> Result<()> {
        let markets = self
            .hub
            .with_sequencer(|s| s.engine().state().markets().to_vec());
        let ticks = lock(&self.oracle).ticks(at, &markets);
        let last_trades: Vec<Option<PriceTicks>> = (0..self.config.markets.len())
            .map(|m| {
                let trades = self.hub.trades(m);
                trades.last().and_then(|t| PriceTicks::new(t.price).ok())
            })
            .collect();
        let (funding_ticks, marks) = self.hub.with_sequencer(|seq| {
            let state = seq.engine().state();
            // The markets as the batch will see them after its oracle ticks.
            let mut markets = state.markets().to_vec();
            for tick in &ticks {
                markets[tick.market.index()].mark_price =
                    tick.quotes[tick.quotes.len() / 2].quote.price;
            }
            let funding_ticks: Vec<_> = markets
                .iter()
                .enumerate()
                .filter_map(|(m, market)| {
                    let prices = match seq.engine().book(m) {
                        Some(book) => BookPrices::of(book, last_trades[m]),
                        None => BookPrices::default(),
                    };
                    let id = MarketId::new(m as u64).ok()?;
                    self.funding
                        .tick(id, &self.config.markets[m], market, at, &prices)
                })
                // One slot per tick in the shape: a market left out stays due for the next.
                .take(usize::from(self.shape.funding_ticks))
                .collect();
            (funding_ticks, markets)
        });
        for tick in ticks {
            let market = tick.market.index();
            let done = self.exec(Command::Apply {
                tx: Transaction::OracleTick(tick),
            })?;
            emit(json!({
                "event": "mark", "market": market,
                "price": marks[market].mark_price.get(), "ticket": done.ticket,
            }));
        }
        for tick in funding_ticks {
            let market = tick.market.index();
            let index = tick.index.get();
            let done = self.exec(Command::Apply {
                tx: Transaction::FundingTick(tick),
            })?;
            emit(json!({
                "event": "funding", "market": market,
                "index": index.to_string(), "ticket": done.ticket,
            }));
        }
        let begun = self.exec(Command::BeginBatch { timestamp: at })?;
        for event in &begun.events {
            match event {
                BatchEvent::Applied { ticket, kind } => {
                    emit(json!({"event": "applied", "ticket": ticket, "kind": kind.name()}));
                }
                BatchEvent::Refused {
                    ticket,
                    kind,
                    error,
                } => emit(json!({
                    "event": "refused", "ticket": ticket,
                    "kind": kind.name(), "reason": error.to_string(),
                })),
                _ => {}
            }
        }
        for _ in 0..(self.shape.liquidations + self.shape.deleverages) {
            let step = self.hub.with_sequencer(|s| s.batcher().next_liquidation());
            let Some(tx) = step else {
                break;
            };
            let kind = tx.kind().name();
            let done = self.exec(Command::Apply { tx })?;
            emit(json!({"event": kind, "outcome": format!("{:?}", done.outcome)}));
            if !matches!(done.outcome, Outcome::Applied) {
                break;
            }
        }
        // An L1 that cannot be reached now is asked again next batch: the cursors stay.
        let queued = match self.follower.poll(&mut rand::rngs::OsRng).await {
            Ok(txs) => txs,
            Err(e) => {
                emit(json!({"event": "l1_unreachable", "reason": e.to_string()}));
                Vec::new()
            }
        };
        for tx in queued {
            // A test switch: an operator that ignores every forced request (any queued kind
            // but deposits), to walk the freeze.
            if self.censor_forced && tx.kind() != SlotKind::Deposit {
                emit(json!({"event": "censored", "tx": tx.kind().name()}));
                continue;
            }
            let done = self.exec(Command::Apply { tx: tx.clone() })?;
            emit(json!({
                "event": "l1", "tx": tx.kind().name(), "outcome": format!("{:?}", done.outcome),
            }));
        }
        Ok(())
    }
}

/// The longest wait between two attempts to reach an L1 that does not answer.
const MAX_L1_RETRY: Duration = Duration::from_secs(30);

/// The prover's side: each batch from `sealed`, in order, proven and submitted by `pipeline`,
/// one `verified` event each. An L1 that does not answer is asked again (with backoff) for as
/// long as it takes. Returns the number verified, after `want` of them (0: never). A
/// batch the rollup refuses (it froze, or a forced request is overdue) sets `halted` and stops
/// the proving: nothing after it can land, while the API stays up for exits.
///
/// Each batch is offered to the provers as it arrives ([`Pipeline::offering`]), so that with
/// several provers consecutive batches are proven at once; they are submitted in order. When
/// the task ends it closes the proving queue, which stops the local provers.
fn spawn_prover(
    pipeline: Pipeline,
    sealed: tokio::sync::mpsc::Receiver<SealedBatch>,
    want: u64,
    halted: Arc<AtomicBool>,
    in_flight: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<Result<u64>> {
    let mut sealed = pipeline.offering(sealed);
    tokio::spawn(async move {
        let done = prove_in_order(&pipeline, &mut sealed, want, &halted, &in_flight).await;
        pipeline.provers().close();
        Ok(done)
    })
}

async fn prove_in_order(
    pipeline: &Pipeline,
    sealed: &mut tokio::sync::mpsc::UnboundedReceiver<SealedBatch>,
    want: u64,
    halted: &AtomicBool,
    in_flight: &AtomicU64,
) -> u64 {
    let mut done = 0u64;
    while let Some(batch) = sealed.recv().await {
        let number = batch.batch_number;
        let mut wait = Duration::from_secs(1);
        let result = loop {
            match pipeline.process(batch.clone()).await {
                // The L1 did not answer (a transport or RPC failure, not a revert): the
                // batch is still good, and its proof is stored. Ask again, more slowly.
                Err(PipelineError::L1 { source, .. }) => {
                    emit(json!({
                        "event": "l1_retry", "batch": number,
                        "reason": source.to_string(), "in_secs": wait.as_secs(),
                    }));
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_L1_RETRY);
                }
                other => break other,
            }
        };
        in_flight.fetch_sub(1, Ordering::SeqCst);
        let record = match result {
            Ok(record) => record,
            Err(e) => {
                emit(json!({"event": "halted", "batch": number, "reason": e.to_string()}));
                halted.store(true, Ordering::SeqCst);
                pipeline.provers().close();
                while sealed.recv().await.is_some() {}
                break;
            }
        };
        let (gas, tx) = match &record.status {
            BatchStatus::Verified { gas, tx, .. } => (*gas, tx.clone()),
            _ => (None, String::new()),
        };
        emit(json!({
            "event": "verified",
            "batch": record.number,
            "new_root": record.new_root,
            "transactions": record.transactions,
            "l1_tx": tx,
            "gas": gas,
        }));
        done += 1;
        if want != 0 && done >= want {
            break;
        }
    }
    done
}

/// Listens for SIGINT and SIGTERM from now on; the future resolves with the signal's name.
pub fn shutdown_signal() -> Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        }
    })
}

/// Runs `service` on a two-worker runtime until it ends or the process gets SIGINT or SIGTERM.
/// A signal drops the service wherever it is: every command is already journaled, and a
/// proof still running on a blocking thread cannot be interrupted and is abandoned.
pub fn run_until_signal(service: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let shutdown = shutdown_signal()?;
        tokio::select! {
            result = service => result,
            signal = shutdown => {
                emit(json!({"event": "stopped", "reason": signal}));
                Ok(())
            }
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_pauses_at_half_the_batch_age_window() {
        let day = 86_400;
        assert!(!too_old_to_seal_behind(1_000, 1_000, day), "a fresh batch");
        assert!(!too_old_to_seal_behind(1_000, 1_000 + day / 2 - 1, day));
        assert!(
            too_old_to_seal_behind(1_000, 1_000 + day / 2, day),
            "half the window"
        );
        assert!(
            too_old_to_seal_behind(1_000, 1_000 + 2 * day, day),
            "long past"
        );
        assert!(
            !too_old_to_seal_behind(5_000, 1_000, day),
            "an L1 clock behind the batch's is no age"
        );
    }
}
