//! The zkperp sequencer's deterministic core: everything that decides what the exchange does
//! with a command, and nothing that waits for the world. No async runtime, no database, no L1
//! client: the service (`zkperp-sequencer`) journals each command, hands it to the core, and
//! carries what the core produced (sealed batches, book events) to the prover, the L1 and the
//! API. A replay of the journal through the core is the exchange as it was.
//!
//! ```text
//!   Command ──> Batcher::execute ──> Engine::submit_in ──> OrderBook::submit_gated
//!                    │                                        each fill asks the gate: the state
//!                    │                                        machine, and a free trade slot
//!                    │<── Submitted::Paused (no free slot: the book stopped before the fill)
//!                    │    the batcher seals the full batch and begins the next, a step of its
//!                    │    own loop, then Engine::resume_in: the rest of the order matches
//!                    v
//!   Executed { outcome, events: [Sealed | Closed, held transactions applied, ...] }
//! ```
//!
//! * [`book`]: the order book of one market (price-time priority, every order type), and a plain
//!   reference book it is tested against.
//! * [`engine`]: signed orders in, state transitions out: entry checks, risk, the book, and the
//!   state machine gating every fill.
//! * [`batcher`]: the batch builder: runs commands so that every sealed batch fits the batch
//!   circuit's shape (trades live, start-of-batch kinds and seal-time kinds held for their place).
//! * [`command`]: what can change the sequencer's state (a batch boundary, an order, a cancel,
//!   a transaction), as the batcher runs it and the journal records it.
//! * [`config`]: what the core is started with (state configuration, fees, the batch shape).
//! * [`sealer`]: the seal off the sequencer's thread: a worker that owns the state's trees and
//!   seals each closed batch while the next executes.
//! * [`oracle`]: signed oracle quotes checked on arrival, the latest per key kept, and at each
//!   batch start the oracle tick the state machine accepts (the middle `quorum` fresh quotes);
//!   local signers over a price path for the devnet.
//! * [`funding`]: a funding tick per market every interval, from the book's premium over the
//!   mark, capped so the state machine always accepts it.
//! * [`liquidation`]: the liquidation engine's policy: which account, market and counterparty
//!   next (the state machine checks the rules).
//! * [`cost_basis`]: what each trader's open position cost, so deleveraging takes the most
//!   profitable opposite positions first.
//! * [`risk`]: pre-trade risk, refusing at entry an order the account could not afford if it and
//!   its other open orders filled at their limits.
//! * [`testkit`]: a deterministic command stream for crash tests and benchmarks.

pub mod batcher;
pub mod book;
pub mod command;
pub mod config;
pub mod cost_basis;
pub mod engine;
pub mod funding;
pub mod liquidation;
pub mod oracle;
pub mod risk;
pub mod sealer;
pub mod testkit;
