//! Random batches through the native state machine and the batch circuit: whatever the native
//! rules accept (price moves, funding, liquidations, deposits new and repeated, forced
//! withdrawals served and refused, trades, withdrawals, cancellations), sealed in batch order
//! and laid out in a shape with unused slots, satisfies the circuit with the native commitment
//! (which holds the native new root).
//!
//! Every stream runs twice: transaction by transaction through `State::apply` (the trees and the
//! receipt at once), and on a twin through `State::execute` (the leaves only, the trees hashed at
//! the seal) with savepoints rolled back along the way, as the sequencer runs. The two must seal
//! the same batches, witness and all. A third copy runs as a sequencer that seals off its lock:
//! its trees lent away for the whole stream (`State::lend_trees`, the seal worker's), each batch
//! closed on the leaves (`State::close_batch`) and sealed by the lent trees (`Trees::seal`),
//! its leaves' orders roots and salts stale meanwhile; it must seal the same batches too, and
//! with the trees back, be the same state.

use std::sync::Arc;

use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkperp_circuits::batch::BatchCircuit;
use zkperp_state::batch::{SealedBatch, Shape, SlotKind};
use zkperp_state::order::Side;
use zkperp_state::state::State;
use zkperp_state::testkit::*;
use zkperp_state::trees::Trees;
use zkperp_state::tx::{
    CancelOrder, Deleverage, ForcedWithdrawal, FundingTick, L1ForcedWithdrawal, Liquidation,
    Transaction,
};
use zkperp_state::units::{AccountId, FundingIndex, MarketId, OrderId};
use zkperp_state::Fr;

const SHAPE: Shape = Shape {
    oracle_ticks: 2,
    funding_ticks: 2,
    liquidations: 2,
    deleverages: 1,
    deposits: 3,
    forced_withdrawals: 2,
    forced_cancels: 1,
    forced_trades: 2,
    trades: 4,
    withdrawals: 2,
    cancels: 2,
    accounts: 0,
};

const TRADERS: usize = 5;

/// The stream's second run: the same transactions executed on the leaves, the trees hashed at
/// the seal, with rolled-back detours.
struct Twin {
    state: State,
    rng: ChaCha20Rng,
    /// The off-the-lock sequencer's state and its trees, lent for the stream.
    lent: State,
    trees: Trees,
}

impl Twin {
    /// Executes `tx` (the fixture has just applied it, or refused it with `accepted` false).
    /// Sometimes first takes a detour: a savepoint, this transaction and maybe an early hash of
    /// the pending work, rolled back; after it the twin must be where it was.
    fn follow(&mut self, tx: &Transaction, accepted: bool) {
        if self.rng.gen_bool(0.3) {
            let pending = self.state.pending_len();
            let sp = self.state.savepoint();
            let _ = self.state.execute(tx);
            if self.rng.gen_bool(0.3) {
                self.state.hash_pending().expect("hash");
            }
            self.state.rollback(sp).expect("rollback");
            assert!(self.state.pending_len() <= pending);
            // The same detour without its trees: nothing can be hashed.
            let sp = self.lent.savepoint();
            let _ = self.lent.execute(tx);
            self.lent.rollback(sp).expect("rollback without the trees");
        }
        assert_eq!(
            self.state.execute(tx).is_ok(),
            accepted,
            "execute and apply disagree on {tx:?}"
        );
        assert_eq!(
            self.lent.execute(tx).is_ok(),
            accepted,
            "the state without its trees disagrees on {tx:?}"
        );
        if self.rng.gen_bool(0.05) {
            self.state.hash_pending().expect("hash");
        }
    }
}

/// Applies `tx` if the native rules accept it and its kind has a free slot.
fn attempt(
    f: &mut Fixture,
    twin: &mut Twin,
    counts: &mut [usize; SlotKind::COUNT],
    tx: Transaction,
) -> bool {
    let kind = SlotKind::of(&tx);
    if counts[kind as usize] >= SHAPE.count(kind) {
        return false;
    }
    let ok = f.apply(tx.clone()).is_ok();
    twin.follow(&tx, ok);
    if ok {
        counts[kind as usize] += 1;
    }
    ok
}

fn random_batch(
    f: &mut Fixture,
    twin: &mut Twin,
    rng: &mut ChaCha20Rng,
    forced: &mut u64,
    n: usize,
    crash: std::ops::Range<f64>,
) -> SealedBatch {
    let now = f.state.now().get() + rng.gen_range(10..120);
    f.state.begin_batch(ts(now)).expect("time");
    twin.state.begin_batch(ts(now)).expect("time");
    twin.lent.begin_batch(ts(now)).expect("time");
    let mut counts = [0usize; SlotKind::COUNT];
    for m in 0..2u64 {
        let market = MarketId::new(m).expect("market");
        if n % 3 == 1 || rng.gen_bool(0.8) {
            let mark = f.state.markets()[market.index()].mark_price.get();
            // Batches 1 and 4 bring a crash or a squeeze (9-12%, so that leveraged accounts get
            // liquidated, or 20-25% to make them bankrupt); small moves otherwise.
            let step = if n % 3 == 1 {
                rng.gen_range(crash.clone()) * if rng.gen_bool(0.5) { 1.0 } else { -1.0 }
            } else {
                rng.gen_range(-0.02..0.02)
            };
            let next = (mark as f64 * (1.0 + step)) as u64;
            // Every fourth batch's ETH tick has a quote 5% off: the oracles disagree (reduce-only).
            let off = if m == 1 && n % 4 == 3 { next / 20 } else { 0 };
            let tx = f.oracle_tick_tx(market, [next - 5 - off, next, next + rng.gen_range(0..9)]);
            attempt(f, twin, &mut counts, tx);
        }
    }
    for m in 0..2u64 {
        let market = MarketId::new(m).expect("market");
        let index = f.state.markets()[market.index()].funding_index.get();
        let tx = Transaction::FundingTick(FundingTick {
            market,
            index: FundingIndex::new(index + rng.gen_range(-40..40)).expect("index"),
        });
        attempt(f, twin, &mut counts, tx);
    }
    for t in 0..TRADERS {
        if let Some(id) = f.traders[t].id {
            if f.is_liquidatable(id) {
                for m in 0..2u64 {
                    let market = MarketId::new(m).expect("market");
                    let size = f.position(id, market).abs();
                    if size > 0 && rng.gen_bool(0.5) {
                        // Against another trader: the rules decide whether the fund could
                        // have absorbed it instead.
                        let other = f.traders[rng.gen_range(0..TRADERS)].id;
                        if let Some(deleverager) = other.filter(|o| *o != id) {
                            let tx = Transaction::Deleverage(Deleverage {
                                deleveraged: id,
                                deleverager,
                                market,
                                size: lots(rng.gen_range(1..=size)),
                            });
                            attempt(f, twin, &mut counts, tx);
                        }
                    }
                    let size = f.position(id, market).abs();
                    if size > 0 {
                        let tx = Transaction::Liquidation(Liquidation {
                            account: id,
                            market,
                            size: lots(rng.gen_range(1..=size)),
                            fee: coll(0),
                        });
                        attempt(f, twin, &mut counts, tx);
                    }
                }
            }
        }
    }
    for _ in 0..rng.gen_range(0..=3) {
        let t = rng.gen_range(0..TRADERS);
        let tx = f.deposit_tx(t, rng.gen_range(1..3_000) * 1_000_000);
        if attempt(f, twin, &mut counts, tx.clone()) {
            f.deposits += 1;
            if let Transaction::Deposit(d) = tx {
                f.deposited += i128::from(d.request.amount.get());
            }
            if f.traders[t].id.is_none() {
                let key = f.traders[t].key.public_key();
                f.traders[t].id = f.state.account_by_owner(&key, &f.traders[t].l1);
            }
        }
    }
    for _ in 0..rng.gen_range(0..=2) {
        let t = rng.gen_range(0..TRADERS);
        let account = f.traders[t]
            .id
            .unwrap_or(AccountId::new(rng.gen_range(0..40)).expect("id"));
        let requester = f.traders[rng.gen_range(0..TRADERS)].l1;
        let tx = Transaction::ForcedWithdrawal(ForcedWithdrawal {
            request: L1ForcedWithdrawal {
                index: *forced,
                account,
                requester,
                amount: amount(rng.gen_range(0..200) * 1_000_000),
            },
        });
        if attempt(f, twin, &mut counts, tx) {
            *forced += 1;
        }
    }
    if rng.gen_bool(0.5) {
        // Served or refused (a stranger, an account that may not exist), raising a floor that
        // later orders (numbered upwards) may or may not be below.
        let t = rng.gen_range(0..TRADERS);
        let account = f.traders[t]
            .id
            .unwrap_or(AccountId::new(rng.gen_range(0..40)).expect("id"));
        let requester = f.traders[rng.gen_range(0..TRADERS)].l1;
        let below = f.traders[t].next_order.saturating_sub(rng.gen_range(0..3));
        let index = f.state.queue_next(SlotKind::ForcedCancel);
        attempt(
            f,
            twin,
            &mut counts,
            Fixture::forced_cancel_tx(index, account, requester, below),
        );
    }
    let funded: Vec<usize> = (0..TRADERS)
        .filter(|&t| f.traders[t].id.is_some())
        .collect();
    for _ in 0..rng.gen_range(0..=2) {
        // Served, or refused: an account that does not exist, a stranger's key, a size past the
        // margin rule or past the position width.
        let (a, b) = (rng.gen_range(0..TRADERS), rng.gen_range(0..TRADERS));
        if a == b || f.traders[a].id.is_none() || f.traders[b].id.is_none() {
            continue;
        }
        let market = MarketId::new(rng.gen_range(0..2)).expect("market");
        let mark = f.state.markets()[market.index()].mark_price.get();
        let size = match rng.gen_range(0..6) {
            0 => (1i128 << 40) - 1,
            1 => rng.gen_range(3_000..10_000),
            _ => rng.gen_range(1..500),
        };
        let side = if rng.gen_bool(0.5) {
            Side::Buy
        } else {
            Side::Sell
        };
        let index = f.state.queue_next(SlotKind::ForcedTrade);
        let Transaction::ForcedTrade(mut tx) =
            f.forced_trade_tx(index, (a, b), market, side, size, mark)
        else {
            unreachable!("a forced trade")
        };
        match rng.gen_range(0..8) {
            0 => tx.request.signer = f.traders[rng.gen_range(0..TRADERS)].l1,
            1 => tx.request.requester = f.traders[rng.gen_range(0..TRADERS)].l1,
            2 => tx.request.account_b = AccountId::new(rng.gen_range(2..40)).expect("id"),
            _ => {}
        }
        if tx.request.account_a != tx.request.account_b {
            attempt(f, twin, &mut counts, Transaction::ForcedTrade(tx));
        }
    }
    if funded.len() >= 2 {
        for _ in 0..10 {
            let b = funded[rng.gen_range(0..funded.len())];
            let s = funded[rng.gen_range(0..funded.len())];
            if b == s {
                continue;
            }
            let market = MarketId::new(rng.gen_range(0..2)).expect("market");
            let mark = f.state.markets()[market.index()].mark_price.get();
            let price = (mark as f64 * (1.0 + rng.gen_range(-0.01..0.01))) as u64;
            let size = rng.gen_range(1..3_000);
            let buy = f.order(
                b,
                market,
                Side::Buy,
                size + rng.gen_range(0..50),
                price + 10,
            );
            let sell = f.order(s, market, Side::Sell, size, price - 10);
            let (maker, taker) = if rng.gen_bool(0.5) {
                (buy, sell)
            } else {
                (sell, buy)
            };
            let fee = rng.gen_range(0..100);
            let tx = Fixture::trade_tx_with_fees(maker, taker, size, price, fee, fee / 2);
            attempt(f, twin, &mut counts, tx);
        }
        for _ in 0..2 {
            let t = funded[rng.gen_range(0..funded.len())];
            let tx = f.withdrawal_tx(t, rng.gen_range(1..300) * 1_000_000);
            if attempt(f, twin, &mut counts, tx) {
                // counted natively by collateral; nothing to track here
            }
        }
        for _ in 0..2 {
            let t = funded[rng.gen_range(0..funded.len())];
            let account = f.id(t);
            let order_id = OrderId::new(rng.gen_range(1..30)).expect("id");
            let tx = Transaction::CancelOrder(CancelOrder {
                account,
                order_id,
                signature: f.traders[t].key.sign(CancelOrder::message(
                    &zkperp_state::domain::SigningDomain::TEST,
                    account,
                    order_id,
                )),
            });
            attempt(f, twin, &mut counts, tx);
        }
    }
    let batch = f.state.end_batch().expect("seal");
    let twin_batch = twin.state.end_batch().expect("the twin seals");
    assert!(
        batch == twin_batch,
        "batch {n}: hashing at the seal gave another batch than hashing each transaction"
    );
    let closed = twin.lent.close_batch().expect("closes without its trees");
    let lent_batch = twin.trees.seal(closed).expect("the lent trees seal");
    assert!(
        batch == lent_batch,
        "batch {n}: sealing off the lock gave another batch than sealing in place"
    );
    assert_eq!(twin.state.root(), f.state.root());
    batch
}

#[test]
fn random_native_batches_satisfy_the_circuit() {
    // The native runs first (milliseconds a batch), then the circuits, which take seconds
    // each and are independent: synthesized on every core.
    let mut total = [0usize; SlotKind::COUNT];
    // Forced trades refused and served.
    let mut forced_trades = [0usize; 2];
    let mut jobs = Vec::new();
    for seed in [1u64, 2, 3] {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        // BTC's band (30%) lets a crash through in one tick, so accounts go bankrupt; ETH's
        // (15%) clamps its largest moves, so bound marks are exercised.
        let mut f = Fixture::configured(TRADERS, |c| {
            c.account_tree_depth = 5;
            c.order_tree_depth = 3;
            c.markets[0].mark_band = zkperp_state::units::Ppm::new(300_000).expect("ppm");
            c.markets[1].mark_band = zkperp_state::units::Ppm::new(150_000).expect("ppm");
        });
        // The third stream's fund is too small to absorb a bankrupt account, and its price
        // moves make some: deleverages.
        f.fund_deposit(if seed == 3 { 1_000_000 } else { 2_000_000_000 });
        for t in 0..TRADERS - 1 {
            f.deposit(t, 1_000_000_000);
        }
        // Two accounts near the initial margin, one long and one short, for the price moves to
        // push below maintenance.
        f.trade(0, 1, btc(), 1_800, 500_000)
            .expect("leveraged pair");
        f.state.end_batch().expect("genesis batch");
        let config = Arc::new(f.state.config().clone());
        let snapshot = f.state.snapshot().expect("between batches");
        let mut lent = State::restore((*config).clone(), snapshot.clone()).expect("restore");
        let trees = lent.lend_trees().expect("between batches");
        let mut twin = Twin {
            state: State::restore((*config).clone(), snapshot).expect("restore"),
            rng: ChaCha20Rng::seed_from_u64(seed + 100),
            lent,
            trees,
        };
        let mut forced = 0;
        let mut kinds = [0usize; SlotKind::COUNT];
        for n in 0..5 {
            let crash = if seed == 3 { 0.20..0.25 } else { 0.09..0.12 };
            let batch = random_batch(&mut f, &mut twin, &mut rng, &mut forced, n, crash);
            for a in &batch.txs {
                kinds[SlotKind::of(&a.tx) as usize] += 1;
                if let [zkperp_state::pubdata::PubData::ForcedTrade(r)] = &a.receipt.pubdata[..] {
                    forced_trades[usize::from(r.served)] += 1;
                }
            }
            jobs.push((seed, n, config.clone(), batch));
        }
        // The trees back: the leaves' stale orders roots and salts brought up to date, the
        // state is the one sealed in place.
        twin.lent.return_trees(twin.trees.clone());
        assert_eq!(twin.lent.root(), f.state.root());
        let lent = twin
            .lent
            .snapshot()
            .expect("between batches, its trees back");
        assert!(
            Some(lent) == f.state.snapshot(),
            "seed {seed}: the state that sealed off the lock is another state"
        );
        eprintln!("seed {seed}: transactions per kind (o f l x d fw fc ft t w c) {kinds:?}");
        total.iter_mut().zip(kinds).for_each(|(t, k)| *t += k);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((seed, n, config, batch)) = jobs.get(i) else {
                    return;
                };
                let circuit = BatchCircuit::new(config.clone(), SHAPE, batch).expect("witness");
                let cs = ConstraintSystem::<Fr>::new_ref();
                circuit.generate_constraints(cs.clone()).expect("synthesis");
                assert!(
                    cs.is_satisfied().expect("satisfiability"),
                    "seed {seed} batch {n}: {:?}; kinds {:?}",
                    cs.which_is_unsatisfied(),
                    batch
                        .txs
                        .iter()
                        .map(|a| SlotKind::of(&a.tx))
                        .collect::<Vec<_>>()
                );
            });
        }
    });
    // The random runs reach every kind (deleveraging in the third, whose fund is exhausted),
    // and fill some kinds' slots while leaving others empty.
    assert!(
        forced_trades.iter().all(|&n| n > 0),
        "forced trades refused and served: {forced_trades:?}"
    );
    for kind in SlotKind::ALL {
        assert!(
            total[kind as usize] > 0,
            "no {} in the random batches",
            kind.name()
        );
    }
}
