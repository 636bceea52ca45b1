//! Funding: every `interval` seconds, one [`FundingTick`] per market that moves the market's
//! cumulative funding index by the premium of the book over the mark, capped as the protocol
//! caps it, so that [`zkperp_state::State::apply`] always accepts it.
//!
//! # Units
//!
//! The funding index is cumulative collateral units (6 decimals) per lot of long position
//! (`zkperp_state::units::FundingIndex`). A position of `size` lots pays
//! `size * (index_now - index_cached)` when its account is next touched
//! (`zkperp_state::funding::settle_funding`): when the index rises, longs pay shorts. Prices are
//! in ticks; a lot is worth `price * tick_value` collateral units.
//!
//! # The formula
//!
//! ```text
//! elapsed = min(now - last_funding, 2^20 - 1)                  s   (the state machine's clamp)
//! fair    = (best bid + best ask) / 2      when the book has both sides,          ticks
//!           else the last trade price,     when there was one,
//!           else none: the step is 0 (no price, no premium, no funding)
//! premium = (fair - mark) / mark                                   (a fraction)
//! rate    = premium / premium_period                               per second
//! step    = rate * mark * tick_value * elapsed                     units per lot
//!         = (fair - mark) * tick_value * elapsed / premium_period  (the mark cancels)
//!         = (2 fair - 2 mark) * tick_value * elapsed / (2 premium_period),
//!           rounded to the nearest unit (ties away from zero)
//! cap     = floor(max_funding_rate_ppb * mark * tick_value * elapsed / 10^9)
//!                                     (zkperp_state::tx::funding_tick::funding_cap_ppb / 10^9)
//! step    = clamp(step, -cap, +cap)
//! index'  = clamp(index + step, -(2^63 - 1), 2^63 - 1)            (FundingIndex's width)
//! ```
//!
//! `premium_period` is the time over which a constant premium would be paid in full: with 8 hours
//! (the common perpetual convention, [`DEFAULT_PREMIUM_PERIOD_SECS`]), a book 0.1% above the mark
//! makes longs pay 0.1% of the notional per 8 hours, unless the market's `max_funding_rate` is
//! lower. When the perpetual trades above the mark, longs pay, which pulls it back to the mark.
//!
//! Why it is always accepted: the state machine checks `|index' - index| * 10^9 <= cap_ppb` with
//! the same clamped `elapsed` and the mark in the state when the tick applies. `|step| <= cap`
//! with `cap = floor(cap_ppb / 10^9)` gives exactly that, and clamping `index'` to its width only
//! shortens the step. Rounding happens before the clamp, so it can never cross the cap.
//!
//! Widths: `|2 fair - 2 mark| < 2^41`, `tick_value < 2^16`, `elapsed < 2^20`, so the numerator is
//! below `2^77` and the denominator `2 * premium_period < 2^65`: all in `i128`.
//!
//! # The schedule
//!
//! A market is due when it has a mark and `now - last_funding >= interval`. The schedule keeps no
//! state of its own: `last_funding` is the market state's (the batch time of its last funding
//! tick, or of its first price), so a restarted sequencer or a replayed journal produces the same
//! ticks. A due market whose book gives no price still gets a tick, with a zero step: it moves
//! `last_funding`, so a premium seen later is not charged for the time nobody quoted.
//!
//! A tick is valid against the exact market state it was computed from: produce the ticks at a
//! batch start, after that batch's oracle ticks were applied (they come first in the batch, and
//! the cap uses the mark they set), and apply them in the same batch. The shape needs a funding
//! slot per market for all of them to apply at once.
//!
//! Rounding to whole units makes funding coarse on markets whose lot is worth little; with the
//! interval, `|step| >= 1` needs `|premium| * mark * tick_value * interval >= premium_period / 2`
//! (a lot worth 3 USD = 3 * 10^6 units at 0.01% premium and an 8-hour period: 48 s). Premiums
//! smaller than that are not charged: both sides lose the same, funding stays zero-sum.

use zkperp_state::market::{MarketParams, MarketState};
use zkperp_state::merkle::NodeStore;
use zkperp_state::tx::funding_tick::funding_cap_ppb;
use zkperp_state::tx::FundingTick;
use zkperp_state::units::{
    FundingIndex, MarketId, PriceTicks, Timestamp, FUNDING_ELAPSED_BITS, FUNDING_INDEX_BITS,
    PPB_ONE,
};
use zkperp_state::State;

use crate::book::OrderBook;

/// Eight hours: a constant premium is paid in full over this long.
pub const DEFAULT_PREMIUM_PERIOD_SECS: u64 = 8 * 3600;

const MAX_INDEX: i128 = (1 << FUNDING_INDEX_BITS) - 1;

/// Why a schedule could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FundingScheduleError {
    #[error("the premium period must be at least one second")]
    ZeroPremiumPeriod,
}

/// What the book says a market trades at: where the premium comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BookPrices {
    pub best_bid: Option<PriceTicks>,
    pub best_ask: Option<PriceTicks>,
    /// The price of the market's last fill (the caller tracks it from the book's fills).
    pub last_trade: Option<PriceTicks>,
}

impl BookPrices {
    /// The best bid and ask of `book`, and the caller's last trade price.
    pub fn of(book: &OrderBook, last_trade: Option<PriceTicks>) -> Self {
        BookPrices {
            best_bid: book.best_bid().and_then(|p| PriceTicks::new(p).ok()),
            best_ask: book.best_ask().and_then(|p| PriceTicks::new(p).ok()),
            last_trade,
        }
    }

    /// Twice the fair price in ticks (exact: no rounding of the mid): `bid + ask` when both
    /// sides are there, else twice the last trade price, else `None`. Zero prices count as
    /// absent.
    pub fn fair_price_x2(&self) -> Option<u64> {
        let nonzero = |p: Option<PriceTicks>| p.map(PriceTicks::get).filter(|p| *p > 0);
        match (nonzero(self.best_bid), nonzero(self.best_ask)) {
            // Each < 2^40: the sum fits.
            (Some(bid), Some(ask)) => Some(bid + ask),
            _ => nonzero(self.last_trade).map(|p| 2 * p),
        }
    }
}

/// `a / b` rounded to the nearest integer, ties away from zero (`b > 0`).
fn div_round(a: i128, b: i128) -> i128 {
    let q = (2 * a.abs() + b) / (2 * b);
    if a < 0 {
        -q
    } else {
        q
    }
}

/// Produces the funding ticks (see the module documentation for the formula and the rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FundingSchedule {
    interval_secs: u64,
    premium_period_secs: u64,
}

impl FundingSchedule {
    /// A tick per market every `interval_secs` (0: every time it is asked), paying a premium in
    /// full over `premium_period_secs`.
    pub fn new(interval_secs: u64, premium_period_secs: u64) -> Result<Self, FundingScheduleError> {
        if premium_period_secs == 0 {
            return Err(FundingScheduleError::ZeroPremiumPeriod);
        }
        Ok(FundingSchedule {
            interval_secs,
            premium_period_secs,
        })
    }

    pub fn interval_secs(&self) -> u64 {
        self.interval_secs
    }

    pub fn premium_period_secs(&self) -> u64 {
        self.premium_period_secs
    }

    /// The market has a mark and its last funding is at least `interval` ago.
    pub fn is_due(&self, market: &MarketState, now: Timestamp) -> bool {
        market.mark_price.get() != 0
            && now.get().saturating_sub(market.last_funding.get()) >= self.interval_secs
    }

    /// The index step for `market` at `now`, capped (before the index's own width clamp).
    pub fn index_step(
        &self,
        params: &MarketParams,
        market: &MarketState,
        now: Timestamp,
        prices: &BookPrices,
    ) -> i128 {
        let elapsed = now
            .get()
            .saturating_sub(market.last_funding.get())
            .min((1 << FUNDING_ELAPSED_BITS) - 1);
        let Some(fair_x2) = prices.fair_price_x2() else {
            return 0;
        };
        let mark = i128::from(market.mark_price.get());
        let numerator = (i128::from(fair_x2) - 2 * mark)
            * i128::from(params.tick_value.get())
            * i128::from(elapsed);
        let step = div_round(numerator, 2 * i128::from(self.premium_period_secs));
        let cap_ppb = funding_cap_ppb(
            params.max_funding_rate,
            market.mark_price,
            params.tick_value,
            elapsed,
        );
        // cap_ppb < 2^108, so cap < 2^79: an i128.
        let cap = (cap_ppb / u128::from(PPB_ONE)) as i128;
        step.clamp(-cap, cap)
    }

    /// The funding tick of market `id` at `now`, or `None` when it is not due (no mark yet, or
    /// funded less than `interval` ago).
    pub fn tick(
        &self,
        id: MarketId,
        params: &MarketParams,
        market: &MarketState,
        now: Timestamp,
        prices: &BookPrices,
    ) -> Option<FundingTick> {
        if !self.is_due(market, now) {
            return None;
        }
        let step = self.index_step(params, market, now, prices);
        let index = (market.funding_index.get() + step).clamp(-MAX_INDEX, MAX_INDEX);
        Some(FundingTick {
            market: id,
            index: FundingIndex::new(index).ok()?,
        })
    }

    /// The ticks of every due market of `state` at its batch time, in market order; `prices[i]`
    /// is market `i`'s book (a missing entry is a book with no price).
    pub fn ticks<S: NodeStore>(&self, state: &State<S>, prices: &[BookPrices]) -> Vec<FundingTick> {
        let now = state.now();
        state
            .config()
            .markets
            .iter()
            .zip(state.markets())
            .enumerate()
            .filter_map(|(i, (params, market))| {
                let id = MarketId::new(i as u64).ok()?;
                let book = prices.get(i).copied().unwrap_or_default();
                self.tick(id, params, market, now, &book)
            })
            .collect()
    }
}
