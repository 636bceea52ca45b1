//! Entry prices: what each trader's open position cost, so the liquidation engine can deleverage
//! the most profitable opposite positions first (PROTOCOL.md section 5).
//!
//! The state machine keeps no entry price: a fill moves collateral by the notional and the
//! position by the lots (StarkEx's model), so a position's profit is not in its leaf. The
//! sequencer sees every transaction that moves a position, and keeps per account and market the
//! position's lots and its cost in lot-ticks (lots times price), by the average-cost rule:
//!
//! ```text
//! fill that opens or grows the position   cost += lots * price
//! fill that shrinks it                    cost *= new lots / old lots   (the average entry stays)
//! fill that flips it                      cost  = new lots * price      (closed, then opened)
//! liquidation, deleverage                 shrink the liquidated and deleveraged positions
//! profit at the mark                      lots * mark - cost            (x tick value: collateral)
//! ```
//!
//! Funding is paid in collateral and does not move the entry. The insurance fund and the fee
//! account are never deleveraged, so they are not tracked (the fund's positions come from
//! liquidations, whose price is the mark, not in the transaction).
//!
//! Widths: |lots| < 2^40 and price < 2^40 (state/src/units.rs), so a cost is below 2^80 and a
//! cost times lots below 2^120: i128 holds every step.
//!
//! The [`crate::batcher::Batcher`] records each sealed batch's transactions and adds the open
//! batch's on demand, so a rolled-back fill-or-kill (which leaves the batch log) never counts,
//! and a journal replay rebuilds the entries with everything else. Which counterparty is
//! deleveraged is the sequencer's policy; the proof checks only what is local to the accounts.

use rustc_hash::FxHashMap;
use zkperp_state::order::Side;
use zkperp_state::tx::Transaction;
use zkperp_state::units::AccountId;

/// One open position as the sequencer saw it built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// Lots, positive long (equal to the leaf's position size).
    pub lots: i128,
    /// What the open lots cost, in lot-ticks, signed like `lots`.
    pub cost: i128,
}

impl Entry {
    /// A fill of `lots` (signed: positive buys) at `price` ticks.
    fn fill(&mut self, lots: i128, price: i128) {
        let new = self.lots + lots;
        if self.lots == 0 || self.lots.signum() == lots.signum() {
            self.cost += lots * price;
        } else if new == 0 || new.signum() == self.lots.signum() {
            self.cost = self.cost * new / self.lots;
        } else {
            self.cost = new * price;
        }
        self.lots = new;
    }

    /// The position shrinks toward zero by `lots` (a liquidation or deleverage).
    fn shrink(&mut self, lots: i128) {
        let new = self.lots - self.lots.signum() * lots.min(self.lots.abs());
        if self.lots != 0 {
            self.cost = self.cost * new / self.lots;
        }
        self.lots = new;
    }

    /// Profit at `mark`, in lot-ticks (times the market's tick value: collateral units).
    pub fn profit(&self, mark: u64) -> i128 {
        self.lots * i128::from(mark) - self.cost
    }
}

/// The entries of every trader's open positions.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CostBasis {
    entries: FxHashMap<(AccountId, usize), Entry>,
}

fn tracked(id: AccountId) -> bool {
    id != AccountId::INSURANCE_FUND && id != AccountId::FEES
}

impl CostBasis {
    /// The position of `account` in market `m` (zero if it has none).
    pub fn entry(&self, account: AccountId, m: usize) -> Entry {
        self.entries.get(&(account, m)).copied().unwrap_or_default()
    }

    /// Every tracked position that is open.
    pub fn open(&self) -> impl Iterator<Item = (AccountId, usize, Entry)> + '_ {
        self.entries
            .iter()
            .filter(|(_, e)| e.lots != 0)
            .map(|((a, m), e)| (*a, *m, *e))
    }

    fn update(&mut self, account: AccountId, m: usize, f: impl FnOnce(&mut Entry)) {
        if !tracked(account) {
            return;
        }
        let entry = self.entries.entry((account, m)).or_default();
        f(entry);
        if entry.lots == 0 {
            self.entries.remove(&(account, m));
        }
    }

    /// Records one transaction the state machine applied.
    pub fn record(&mut self, tx: &Transaction) {
        match tx {
            Transaction::Trade(t) => {
                let (size, price) = (t.size.get(), i128::from(t.price.get()));
                for order in [&t.maker.order, &t.taker.order] {
                    let lots = match order.side {
                        Side::Buy => size,
                        Side::Sell => -size,
                    };
                    self.update(order.account, order.market.index(), |e| e.fill(lots, price));
                }
            }
            Transaction::Liquidation(l) => {
                let lots = l.size.get();
                self.update(l.account, l.market.index(), |e| e.shrink(lots));
            }
            Transaction::Deleverage(d) => {
                let lots = d.size.get();
                for account in [d.deleveraged, d.deleverager] {
                    self.update(account, d.market.index(), |e| e.shrink(lots));
                }
            }
            _ => {}
        }
    }

    /// Records `txs` in order.
    pub fn record_all<'a>(&mut self, txs: impl IntoIterator<Item = &'a Transaction>) {
        for tx in txs {
            self.record(tx);
        }
    }

    /// The entries after also recording `txs` (the open batch's), leaving these as they are.
    pub fn with<'a>(&self, txs: impl IntoIterator<Item = &'a Transaction>) -> CostBasis {
        let mut out = self.clone();
        out.record_all(txs);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fills: &[(i128, i128)]) -> Entry {
        let mut e = Entry::default();
        for (lots, price) in fills {
            e.fill(*lots, *price);
        }
        e
    }

    #[test]
    fn growing_averages_the_entry_and_shrinking_keeps_it() {
        let e = entry(&[(10, 100), (10, 200)]);
        assert_eq!((e.lots, e.cost), (20, 3_000));
        assert_eq!(e.profit(150), 0, "average entry 150");
        let e = entry(&[(10, 100), (10, 200), (-5, 400)]);
        assert_eq!((e.lots, e.cost), (15, 2_250), "still 150 a lot");
        assert_eq!(e.profit(160), 150);
    }

    #[test]
    fn closing_forgets_and_flipping_opens_at_the_fill_price() {
        assert_eq!(entry(&[(10, 100), (-10, 300)]), Entry::default());
        let e = entry(&[(10, 100), (-25, 300)]);
        assert_eq!((e.lots, e.cost), (-15, -4_500));
        assert_eq!(
            e.profit(200),
            1_500,
            "a short from 300 is 100 a lot up at 200"
        );
    }

    #[test]
    fn shrinking_by_a_liquidation_keeps_the_entry_and_stops_at_zero() {
        let mut e = entry(&[(-8, 250)]);
        e.shrink(2);
        assert_eq!((e.lots, e.cost), (-6, -1_500));
        e.shrink(100);
        assert_eq!(e, Entry::default());
    }
}
