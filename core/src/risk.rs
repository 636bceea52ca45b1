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

use zkperp_state::funding::settle_funding;
use zkperp_state::leaf::AccountLeaf;
use zkperp_state::margin::total_value;
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
    #[error("the account's funding could not be settled: {0}")]
    Width(String),
}

/// Checks `new` against the account (funding is settled on a copy here) and its `open` orders.
pub fn check_order(
    leaf: &AccountLeaf,
    markets: &[MarketState],
    params: &[MarketParams],
    open: &[Exposure],
    new: &Exposure,
) -> Result<(), RiskError> {
    let mut leaf = leaf.clone();
    settle_funding(&mut leaf, markets).map_err(|e| RiskError::Width(e.to_string()))?;
    let (worst_value, required_ppm) = worst_case(
        &leaf,
        markets,
        params,
        open.iter().chain(std::iter::once(new)),
    );
    if worst_value * i128::from(PPM_ONE) >= required_ppm {
        return Ok(());
    }
    // Only closing: on the side that shrinks the position, and with the account's other open
    // orders on that side, no more than the position.
    let position = leaf.positions.get(new.market).map_or(0, |p| p.size.get());
    let same_side: i128 = open
        .iter()
        .filter(|e| e.market == new.market && e.side == new.side)
        .map(|e| i128::from(e.size))
        .sum();
    let shrinks = match new.side {
        Side::Buy => position < 0,
        Side::Sell => position > 0,
    };
    if shrinks && same_side + i128::from(new.size) <= position.abs() {
        return Ok(());
    }
    let one = i128::from(PPM_ONE);
    Err(RiskError::InsufficientMargin {
        worst_value,
        required: (required_ppm + one - 1) / one,
    })
}

/// Worst-case total value and initial requirement (scaled by 10^6) if `orders` all filled.
fn worst_case<'a>(
    leaf: &AccountLeaf,
    markets: &[MarketState],
    params: &[MarketParams],
    orders: impl Iterator<Item = &'a Exposure>,
) -> (i128, i128) {
    let mut worst_value = total_value(leaf.collateral, &leaf.positions, markets, params);
    let mut buys = vec![0i128; markets.len()];
    let mut sells = vec![0i128; markets.len()];
    for e in orders {
        let (Some(m), Some(c)) = (markets.get(e.market), params.get(e.market)) else {
            continue;
        };
        let mark = i128::from(m.mark_price.get());
        let (size, price) = (i128::from(e.size), i128::from(e.price));
        let loss_per_lot = match e.side {
            Side::Buy => price - mark,
            Side::Sell => mark - price,
        };
        worst_value -= loss_per_lot.max(0) * size * i128::from(c.tick_value.get());
        match e.side {
            Side::Buy => buys[e.market] += size,
            Side::Sell => sells[e.market] += size,
        }
    }
    let mut required_ppm = 0i128;
    for (m, ((p, s), c)) in leaf.positions.iter().zip(markets).zip(params).enumerate() {
        let position = p.size.get();
        let worst = (position + buys[m]).abs().max((position - sells[m]).abs());
        let notional = worst * i128::from(s.mark_price.get()) * i128::from(c.tick_value.get());
        required_ppm += notional * i128::from(c.initial_margin.get());
    }
    (worst_value, required_ppm)
}
