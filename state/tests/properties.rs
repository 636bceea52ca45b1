//! Property tests over random sequences of deposits, trades, price moves, funding, liquidations,
//! deleveraging and withdrawals:
//! - collateral is conserved: the sum over all accounts (traders, fee account, insurance fund),
//!   with pending funding settled, equals deposits minus withdrawals, always;
//! - every market's positions sum to zero;
//! - no order is ever filled beyond its size;
//! - after every accepted trade or withdrawal, each party is well margined (initial fractions)
//!   or strictly reduced its risk without lowering value/risk (checked by a second, separate
//!   computation here, not by the crate's margin module);
//! - a refused transaction leaves the state root unchanged, and every leaf in the tree is the
//!   hash of its account.

use std::collections::HashMap;

use num_bigint::BigInt;
use proptest::prelude::*;
use zkperp_state::leaf::AccountLeaf;
use zkperp_state::market::{MarketParams, MarketState};
use zkperp_state::order::Side;
use zkperp_state::testkit::*;
use zkperp_state::tx::{
    Deleverage, ForcedWithdrawal, FundingTick, L1ForcedWithdrawal, Liquidation, Transaction,
};
use zkperp_state::units::{AccountId, FundingIndex, MarketId};

#[derive(Debug, Clone)]
enum Op {
    Deposit {
        trader: usize,
        usd: u64,
    },
    /// `size_pct`: percent of what the buyer's free margin allows (over 100 must be refused).
    Trade {
        buyer: usize,
        seller: usize,
        market: u8,
        size_pct: i128,
        price_bp: i64,
        fee_ppm: i128,
    },
    Price {
        market: u8,
        move_bp: i64,
    },
    Funding {
        market: u8,
        secs: u64,
        cap_pct: i128,
    },
    Withdraw {
        trader: usize,
        usd_cents: u64,
    },
    Forced {
        trader: usize,
        usd_cents: u64,
    },
    Liquidate {
        trader: usize,
        market: u8,
        pct: i128,
    },
    Deleverage {
        trader: usize,
        counter: usize,
        market: u8,
        pct: i128,
        deficit_pct: i128,
    },
}

const TRADERS: usize = 4;

fn op() -> impl Strategy<Value = Op> {
    let t = 0..TRADERS;
    prop_oneof![
        1 => (t.clone(), 1u64..5_000).prop_map(|(trader, usd)| Op::Deposit { trader, usd }),
        6 => (t.clone(), t.clone(), 0u8..2, 1i128..=110, -300i64..300, 0i128..1_200).prop_map(
            |(buyer, seller, market, size_pct, price_bp, fee_ppm)| Op::Trade { buyer, seller, market, size_pct, price_bp, fee_ppm }
        ),
        3 => (0u8..2, -1_500i64..1_500).prop_map(|(market, move_bp)| Op::Price { market, move_bp }),
        1 => (0u8..2, 0u64..20_000, -120i128..120).prop_map(|(market, secs, cap_pct)| Op::Funding { market, secs, cap_pct }),
        1 => (t.clone(), 1u64..200_000).prop_map(|(trader, usd_cents)| Op::Withdraw { trader, usd_cents }),
        1 => (t.clone(), 1u64..200_000).prop_map(|(trader, usd_cents)| Op::Forced { trader, usd_cents }),
        3 => (t.clone(), 0u8..2, 1i128..=100).prop_map(|(trader, market, pct)| Op::Liquidate { trader, market, pct }),
        2 => (t.clone(), t, 0u8..2, 1i128..=100, -20i128..120).prop_map(
            |(trader, counter, market, pct, deficit_pct)| Op::Deleverage { trader, counter, market, pct, deficit_pct }
        ),
    ]
}

/// TV and TR*1e6 with funding settled, computed independently of the crate's margin module.
fn value_and_risk(
    leaf: &AccountLeaf,
    markets: &[MarketState],
    params: &[MarketParams],
    initial: bool,
) -> (i128, i128) {
    let mut tv = leaf.collateral.get();
    let mut tr = 0i128;
    for ((p, m), c) in leaf.positions.iter().zip(markets).zip(params) {
        tv -= p.size.get() * (m.funding_index.get() - p.funding_index.get());
        let n = p.size.get() * i128::from(m.mark_price.get()) * i128::from(c.tick_value.get());
        tv += n;
        // The highest margin tier the position reaches, else the base fraction.
        let lots = p.size.get().unsigned_abs() as u64;
        let fraction = match (
            initial,
            c.margin_tiers.iter().rev().find(|t| t.from_lots <= lots),
        ) {
            (true, Some(t)) => t.initial_margin.get(),
            (false, Some(t)) => t.maintenance_margin.get(),
            (true, None) => c.initial_margin.get(),
            (false, None) => c.maintenance_margin.get(),
        };
        tr += n.abs() * i128::from(fraction);
    }
    (tv, tr)
}

fn margin_rule_holds(before: (i128, i128), after: (i128, i128)) -> bool {
    if after.0 * 1_000_000 >= after.1 {
        return true;
    }
    after.1 < before.1 && BigInt::from(after.0) * before.1 >= BigInt::from(before.0) * after.1
}

struct Run {
    f: Fixture,
    withdrawn: i128,
    fills: HashMap<(AccountId, u64), (i128, i128)>,
    forced: u64,
}

impl Run {
    fn leaf(&self, id: AccountId) -> AccountLeaf {
        self.f.state.account(id).expect("account").leaf.clone()
    }

    fn summary(&self, id: AccountId, initial: bool) -> (i128, i128) {
        value_and_risk(
            &self.leaf(id),
            self.f.state.markets(),
            &self.f.state.config().markets,
            initial,
        )
    }

    /// The trader `t` (if `worst` is false) or the trader furthest below maintenance margin.
    fn pick(&self, t: usize, worst: bool) -> Option<AccountId> {
        if !worst {
            return self.f.traders[t].id;
        }
        (0..TRADERS)
            .filter_map(|t| self.f.traders[t].id)
            .min_by_key(|id| {
                let (tv, tr) = self.summary(*id, false);
                tv * 1_000_000 - tr
            })
    }

    fn try_apply(&mut self, tx: Transaction) -> bool {
        let clear = self.f.clear();
        match self.f.state.apply(&tx) {
            Ok(_) => true,
            Err(_) => {
                assert_eq!(self.f.clear(), clear, "refused {tx:?} changed the state");
                false
            }
        }
    }

    fn step(&mut self, op: &Op) {
        let has = |r: &Run, t: usize| r.f.traders[t].id.is_some();
        match *op {
            Op::Deposit { trader, usd } => {
                self.f.deposit(trader, usd * 1_000_000);
            }
            Op::Trade {
                buyer,
                seller,
                market,
                size_pct,
                price_bp,
                fee_ppm,
            } => {
                if !has(self, buyer) || !has(self, seller) {
                    return;
                }
                let m = MarketId::new(u64::from(market)).expect("id");
                let mark = self.f.state.markets()[m.index()].mark_price.get() as i64;
                let params = &self.f.state.config().markets[m.index()];
                let per_lot_risk = i128::from(mark as u64)
                    * i128::from(params.tick_value.get())
                    * i128::from(params.initial_margin.get());
                let (tv, tr) = self.summary(self.f.id(buyer), true);
                let size = ((tv * 1_000_000 - tr).max(0) / per_lot_risk * size_pct / 100)
                    .clamp(1, (1 << 39) - 10);
                let price = (mark + mark * price_bp / 10_000).max(1) as u64;
                let maker = self.f.order(buyer, m, Side::Buy, size + 5, price);
                let taker = self.f.order(seller, m, Side::Sell, size, price);
                let notional = size
                    * i128::from(price)
                    * i128::from(self.f.state.config().markets[m.index()].tick_value.get());
                let fee = notional * fee_ppm / 1_000_000;
                let tx = Fixture::trade_tx_with_fees(maker, taker, size, price, fee, fee);
                let parties = [maker.order.account, taker.order.account];
                let before: Vec<_> = parties.iter().map(|id| self.summary(*id, true)).collect();
                if self.try_apply(tx) {
                    for (i, id) in parties.iter().enumerate() {
                        assert!(
                            margin_rule_holds(before[i], self.summary(*id, true)),
                            "trade left {id} under-margined"
                        );
                    }
                    for o in [maker.order, taker.order] {
                        let e = self
                            .fills
                            .entry((o.account, o.order_id.get()))
                            .or_insert((0, o.size.get()));
                        e.0 += size;
                        assert!(e.0 <= e.1, "order overfilled");
                    }
                    // The same pair can never fill past the taker's size.
                    let again = Fixture::trade_tx_with_fees(maker, taker, 1, price, 0, 0);
                    assert!(!self.try_apply(again), "a fully filled order filled again");
                }
            }
            Op::Price { market, move_bp } => {
                let m = MarketId::new(u64::from(market)).expect("id");
                let mark = self.f.state.markets()[m.index()].mark_price.get() as i64;
                let price = (mark + mark * move_bp / 10_000).max(10) as u64;
                self.f.set_price(m, price);
            }
            Op::Funding {
                market,
                secs,
                cap_pct,
            } => {
                self.f.advance(secs);
                let m = MarketId::new(u64::from(market)).expect("id");
                let s = self.f.state.markets()[m.index()];
                let p = &self.f.state.config().markets[m.index()];
                let elapsed = self.f.state.now().get() - s.last_funding.get();
                let cap = i128::from(p.max_funding_rate.get())
                    * i128::from(s.mark_price.get())
                    * i128::from(p.tick_value.get())
                    * i128::from(elapsed.min((1 << 20) - 1))
                    / 1_000_000_000;
                let step = cap * cap_pct / 100;
                let index = s.funding_index.get() + step;
                let tx = Transaction::FundingTick(FundingTick {
                    market: m,
                    index: FundingIndex::new(index).expect("index"),
                });
                let accepted = self.try_apply(tx);
                // The step, not the percentage: a cap under 100 units (little time elapsed)
                // rounds 101% of it down to the cap itself, which is allowed.
                assert_eq!(accepted, step.abs() <= cap, "the cap decides, exactly");
                if cap >= 100 {
                    assert_eq!(accepted, cap_pct.abs() <= 100);
                }
            }
            Op::Withdraw { trader, usd_cents } => {
                if !has(self, trader) {
                    return;
                }
                let id = self.f.id(trader);
                let before = self.summary(id, true);
                let units = usd_cents * 10_000;
                if self.try_apply(self.f.withdrawal_tx(trader, units)) {
                    self.withdrawn += i128::from(units);
                    assert!(
                        margin_rule_holds(before, self.summary(id, true)),
                        "withdrawal left {id} under-margined"
                    );
                    assert!(self.summary(id, true).0 * 1_000_000 >= self.summary(id, true).1);
                }
            }
            Op::Forced { trader, usd_cents } => {
                if !has(self, trader) {
                    return;
                }
                let id = self.f.id(trader);
                let units = usd_cents * 10_000;
                let tx = Transaction::ForcedWithdrawal(ForcedWithdrawal {
                    request: L1ForcedWithdrawal {
                        index: self.forced,
                        account: id,
                        requester: self.f.traders[trader].l1,
                        amount: amount(units),
                    },
                });
                let receipt = self
                    .f
                    .state
                    .apply(&tx)
                    .expect("forced requests are always answered");
                self.forced += 1;
                let paid = match receipt.pubdata.as_slice() {
                    [zkperp_state::pubdata::PubData::ForcedWithdrawal(
                        zkperp_state::tx::forced_withdrawal::ForcedWithdrawalRecord {
                            amount,
                            paid,
                            ..
                        },
                    )] => {
                        assert!(paid <= amount, "never more than asked");
                        paid.get()
                    }
                    other => panic!("unexpected public data {other:?}"),
                };
                // Paid in full or in part, the account stays at or above its initial margin.
                self.withdrawn += i128::from(paid);
                if paid > 0 {
                    assert!(self.summary(id, true).0 * 1_000_000 >= self.summary(id, true).1);
                }
            }
            Op::Liquidate {
                trader,
                market,
                pct,
            } => {
                // Half the time the random trader, half the time the one furthest below
                // maintenance (as the sequencer's liquidation engine would pick).
                let Some(id) = self.pick(trader, pct % 2 == 0) else {
                    return;
                };
                let m = MarketId::new(u64::from(market)).expect("id");
                let (tv, tr) = self.summary(id, false);
                let pos = self.leaf(id).positions[m.index()].size.get().abs();
                let size = (pos * pct / 100).max(1);
                let tx = Transaction::Liquidation(Liquidation {
                    account: id,
                    market: m,
                    size: lots(size),
                    fee: coll(0),
                });
                let accepted = self.try_apply(tx);
                if accepted {
                    assert!(tv * 1_000_000 < tr, "liquidated a healthy account");
                    assert!(
                        self.leaf(id).positions[m.index()].size.get().abs() < pos,
                        "position did not shrink"
                    );
                }
            }
            Op::Deleverage {
                trader,
                counter,
                market,
                pct,
                deficit_pct,
            } => {
                let Some(a) = self.pick(trader, pct % 2 == 0) else {
                    return;
                };
                let m = MarketId::new(u64::from(market)).expect("id");
                // The counterparty: random, or the most valuable opposite position.
                let side = self.leaf(a).positions[m.index()].size.get().signum();
                let opposite = (0..TRADERS)
                    .filter(|t| has(self, *t))
                    .map(|t| self.f.id(t))
                    .filter(|id| self.leaf(*id).positions[m.index()].size.get().signum() == -side)
                    .max_by_key(|id| self.summary(*id, false).0);
                let b = match (deficit_pct % 2 == 0, opposite) {
                    (true, Some(b)) => b,
                    _ if has(self, counter) => self.f.id(counter),
                    _ => return,
                };
                let pa = self.leaf(a).positions[m.index()].size.get();
                let size = (pa.abs() * pct / 100).max(1);
                let (tv_before, _) = self.summary(a, false);
                let (counter_before, _) = self.summary(b, false);
                let tx = Transaction::Deleverage(Deleverage {
                    deleveraged: a,
                    deleverager: b,
                    market: m,
                    size: lots(size),
                });
                if self.try_apply(tx) {
                    assert!(tv_before < 0, "deleveraged a solvent account");
                    let (tv_after, _) = self.summary(a, false);
                    let (counter_after, _) = self.summary(b, false);
                    assert!(tv_before <= tv_after && tv_after <= 0);
                    assert_eq!(
                        tv_after - tv_before,
                        counter_before - counter_after,
                        "what the bankrupt account gains, its counterparty pays"
                    );
                }
            }
        }
    }

    fn check_invariants(&self) {
        // Funding settles lazily, so conservation holds for collateral with pending funding
        // settled: what each account would hold if it were touched now.
        let markets = self.f.state.markets();
        let settled: i128 = self
            .f
            .state
            .accounts()
            .map(|(_, a)| {
                let pending: i128 = a
                    .leaf
                    .positions
                    .iter()
                    .zip(markets)
                    .map(|(p, m)| p.size.get() * (m.funding_index.get() - p.funding_index.get()))
                    .sum();
                a.leaf.collateral.get() - pending
            })
            .sum::<i128>()
            + self.f.state.pending_fees();
        assert_eq!(
            settled,
            self.f.deposited - self.withdrawn,
            "collateral not conserved"
        );
        for m in 0..2u64 {
            let market = MarketId::new(m).expect("id");
            assert_eq!(self.f.open_interest_balance(market), 0);
            assert_eq!(
                i128::from(self.f.state.markets()[market.index()].open_interest),
                self.f.longs(market),
                "open interest is not the sum of longs"
            );
        }
    }

    /// Seals the batch and starts the next at the same time: the table is one chain of writes
    /// from the batch's start to its end, and the tree then holds every leaf in the clear.
    fn seal(&mut self) {
        let batch = self.f.state.end_batch().expect("seal");
        batch.check_table().expect("one chain of writes");
        let tree = self.f.state.account_tree();
        for (id, account) in self.f.state.accounts() {
            assert_eq!(tree.leaf(id.index()).expect("leaf"), account.leaf.hash());
        }
        let now = self.f.state.now();
        self.f.state.begin_batch(now).expect("begin");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    #[test]
    fn random_sequences_conserve_collateral_and_respect_margin(
        fund_usd in prop_oneof![Just(0u64), Just(100), Just(1_000_000)],
        ops in proptest::collection::vec(op(), 20..80),
    ) {
        let mut f = Fixture::new(TRADERS);
        if fund_usd > 0 {
            f.fund_deposit(fund_usd * 1_000_000);
        }
        for t in 0..TRADERS {
            f.deposit(t, 1_000_000_000);
        }
        let mut run = Run { f, withdrawn: 0, fills: HashMap::new(), forced: 0 };
        for (i, op) in ops.iter().enumerate() {
            run.step(op);
            run.check_invariants();
            if i % 16 == 15 {
                run.seal();
            }
        }
        run.seal();
    }
}
