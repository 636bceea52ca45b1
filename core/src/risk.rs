//! Pre-trade risk: an order is refused at entry, with the numbers, when the account could break
//! the margin rule if it and every other open order of the account filled at their limits.
//!
//! The state machine checks the margin rule at every fill; this check runs earlier so that an
//! order the account cannot afford never reaches the book (and never takes liquidity it would
//! have to give back). It is deliberately conservative:
//!
//! ```text
//! for each market: worst position = the larger in size of (position + all open buys) and
//!                                   (position - all open sells)
//! worst TV = TV - sum over open orders of max(0, fill at limit worse than mark) * size * tick value
//! refuse unless worst TV * 10^6 >= sum |worst position * mark * tick value| * initial fraction
//! ```
//! An order that can only close (on the side that shrinks the position, and together with the
//! account's other open orders on that side no larger than the position) is never refused here,
//! even for an account below margin: that is how such an account gets out, and each of its fills
//! still has to pass the state machine's rule (risk reduced without lowering value/risk).
//!
//! The account's open orders enter as an [`OpenExposure`], kept in step with the book by the
//! engine: per market and side the lots that could fill and, by limit price, what they are. The
//! check reads totals and only the orders priced through the mark (buys above it, sells below:
//! the ones that would fill at a loss), so its cost does not grow with a market maker's resting
//! quotes, which sit on the passive side. Summing every open order at each new one made a
//! quote's check linear in the account's open orders, and a day of quoting quadratic.

use std::collections::BTreeMap;

use zkperp_state::funding::settle_funding;
use zkperp_state::leaf::AccountLeaf;
use zkperp_state::margin::{total_value, Fraction};
use zkperp_state::market::{MarketParams, MarketState};
use zkperp_state::order::Side;
use zkperp_state::units::PPM_ONE;

/// An open (or new) order's exposure: what could still fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposure {
    pub market: usize,
    pub side: Side,
    /// Lots that could still fill.
    pub size: u64,
    /// Limit price in ticks.
    pub price: u64,
}

/// What an account's open orders could still fill: per market and side, the lots in total and
/// the lots at each limit price. The engine adds an order's rest when it rests and takes away
/// what fills or leaves the book.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenExposure {
    /// Per market, buys then sells.
    markets: Vec<[SideExposure; 2]>,
}

/// One side of one market.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SideExposure {
    lots: u64,
    by_price: BTreeMap<u64, u64>,
}

fn side_index(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

impl OpenExposure {
    /// `e.size` more lots could fill at `e.price`.
    pub fn add(&mut self, e: &Exposure) {
        if self.markets.len() <= e.market {
            self.markets.resize_with(e.market + 1, Default::default);
        }
        let side = &mut self.markets[e.market][side_index(e.side)];
        side.lots += e.size;
        *side.by_price.entry(e.price).or_default() += e.size;
    }

    /// `e.size` lots at `e.price` no longer can (filled, cancelled); never more than were added.
    pub fn remove(&mut self, e: &Exposure) {
        let Some(side) = self
            .markets
            .get_mut(e.market)
            .map(|m| &mut m[side_index(e.side)])
        else {
            return;
        };
        if let Some(at) = side.by_price.get_mut(&e.price) {
            let taken = (*at).min(e.size);
            *at -= taken;
            side.lots -= taken;
            if *at == 0 {
                side.by_price.remove(&e.price);
            }
        }
    }

    /// No lot could fill.
    pub fn is_empty(&self) -> bool {
        self.markets.iter().flatten().all(|s| s.lots == 0)
    }

    /// The lots that could fill on `side` of `market`.
    pub fn lots(&self, market: usize, side: Side) -> u64 {
        self.markets
            .get(market)
            .map_or(0, |m| m[side_index(side)].lots)
    }

    /// Sum over the orders on `side` of `market` of what each lot would lose against `mark`
    /// if it filled at its limit, times its lots (ticks x lots): buys priced above the mark,
    /// sells below it; the others lose nothing.
    fn loss_ticks(&self, market: usize, side: Side, mark: u64) -> i128 {
        let Some(levels) = self
            .markets
            .get(market)
            .map(|m| &m[side_index(side)].by_price)
        else {
            return 0;
        };
        let loss = |(price, lots): (&u64, &u64)| {
            (i128::from(*price) - i128::from(mark)).abs() * i128::from(*lots)
        };
        match side {
            Side::Buy => levels.range(mark.saturating_add(1)..).map(loss).sum(),
            Side::Sell => levels.range(..mark).map(loss).sum(),
        }
    }
}

/// Why an order was refused at entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RiskError {
    #[error(
        "insufficient margin: if this and the account's open orders filled at their limits, total \
         value would be {worst_value} against an initial requirement of {required}"
    )]
    InsufficientMargin {
        /// Worst-case total value, collateral units.
        worst_value: i128,
        /// Worst-case initial-margin requirement, collateral units (rounded up).
        required: i128,
    },
    #[error(
        "position limit: if this and the account's open orders on its side filled, the position \
         would be {worst_lots} lots, above the market's limit of {max_lots}"
    )]
    PositionLimit {
        /// The position's size in lots if every open order on the new order's side filled.
        worst_lots: u64,
        /// The market's `max_position_lots`.
        max_lots: u64,
    },
    #[error(
        "the market is reduce-only while its oracles disagree: only an order that closes part of \
         the position (with the account's other orders on its side) is accepted"
    )]
    ReduceOnly,
    #[error("the account's funding could not be settled: {0}")]
    Width(String),
}

/// Checks `new` against the account (funding is settled on a copy here) and its `open` orders.
pub fn check_order(
    leaf: &AccountLeaf,
    markets: &[MarketState],
    params: &[MarketParams],
    open: &OpenExposure,
    new: &Exposure,
) -> Result<(), RiskError> {
    let mut leaf = leaf.clone();
    settle_funding(&mut leaf, markets).map_err(|e| RiskError::Width(e.to_string()))?;
    // The position if this and every open order on its side filled: within the market's limit
    // (`zkperp_state::limits`, which the proof enforces at each fill), so a resting order
    // never waits for a fill the state machine would refuse. Closing is always within it.
    let position = leaf.positions.get(new.market).map_or(0, |p| p.size.get());
    let same_side = i128::from(open.lots(new.market, new.side));
    let worst = match new.side {
        Side::Buy => position + same_side + i128::from(new.size),
        Side::Sell => position - same_side - i128::from(new.size),
    }
    .unsigned_abs();
    // Only closing: on the side that shrinks the position, and with the account's other open
    // orders on that side, no more than the position.
    let shrinks = match new.side {
        Side::Buy => position < 0,
        Side::Sell => position > 0,
    };
    let closes = shrinks && same_side + i128::from(new.size) <= position.abs();
    // While the market's oracles disagree (`MarketState::quotes_disagree`) a fill may only move
    // a position towards zero (`zkperp_state::limits::enforce_reduce_only`): only a closing
    // order could fill.
    if markets.get(new.market).is_some_and(|m| m.quotes_disagree) && !closes {
        return Err(RiskError::ReduceOnly);
    }
    let max = params.get(new.market).map_or(0, |p| p.max_position_lots);
    if worst > u128::from(max) && worst > position.unsigned_abs() {
        return Err(RiskError::PositionLimit {
            worst_lots: u64::try_from(worst).unwrap_or(u64::MAX),
            max_lots: max,
        });
    }
    let (worst_value, required_ppm) = worst_case(&leaf, markets, params, open, new);
    if worst_value * i128::from(PPM_ONE) >= required_ppm {
        return Ok(());
    }
    if closes {
        return Ok(());
    }
    let one = i128::from(PPM_ONE);
    Err(RiskError::InsufficientMargin {
        worst_value,
        required: (required_ppm + one - 1) / one,
    })
}

/// Worst-case total value and initial requirement (scaled by 10^6) if the `open` orders and
/// `new` all filled at their limits.
fn worst_case(
    leaf: &AccountLeaf,
    markets: &[MarketState],
    params: &[MarketParams],
    open: &OpenExposure,
    new: &Exposure,
) -> (i128, i128) {
    let mut worst_value = total_value(leaf.collateral, &leaf.positions, markets, params);
    let mut required_ppm = 0i128;
    for (m, ((p, s), c)) in leaf.positions.iter().zip(markets).zip(params).enumerate() {
        let mark = s.mark_price.get();
        let tick_value = i128::from(c.tick_value.get());
        let mut buys = i128::from(open.lots(m, Side::Buy));
        let mut sells = i128::from(open.lots(m, Side::Sell));
        let mut loss = open.loss_ticks(m, Side::Buy, mark) + open.loss_ticks(m, Side::Sell, mark);
        if new.market == m {
            let (size, price) = (i128::from(new.size), i128::from(new.price));
            let loss_per_lot = match new.side {
                Side::Buy => price - i128::from(mark),
                Side::Sell => i128::from(mark) - price,
            };
            loss += loss_per_lot.max(0) * size;
            match new.side {
                Side::Buy => buys += size,
                Side::Sell => sells += size,
            }
        }
        worst_value -= loss * tick_value;
        let position = p.size.get();
        let worst = (position + buys).abs().max((position - sells).abs());
        let notional = worst * i128::from(mark) * tick_value;
        let lots = u64::try_from(worst).unwrap_or(u64::MAX);
        required_ppm += notional * i128::from(Fraction::Initial.of(c, lots).get());
    }
    (worst_value, required_ppm)
}
