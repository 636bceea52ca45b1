//! The margin rule (StarkEx perpetual's), on an account whose funding is settled:
//!
//! ```text
//! TV = collateral + sum_i size_i * mark_i * tick_value_i
//! TR = sum_i |size_i * mark_i * tick_value_i| * fraction_i(|size_i|)   (scaled by 10^6: ppm)
//! ```
//! `fraction_i(|size|)` is the market's base fraction, or that of the highest margin tier the
//! position reaches (`MarketParams::margin_tiers`): a large position needs proportionally more.
//!
//! After a trade or a withdrawal an account must be *well margined* with initial fractions
//! (`TV >= TR`), or the change must strictly reduce `TR` without lowering `TV / TR`. An account is
//! *liquidatable* while `TV < TR` with maintenance fractions.
//!
//! Widths (see `units`): `|TV| < 2^100`, `TR * 10^6 < 2^119`; the ratio test multiplies the two
//! and is done in 256-bit arithmetic (`< 2^220`).
//!
//! A margin check reads the mark of every market the account holds, so those marks must be
//! fresh ([`enforce_fresh_marks`]): a trade, a withdrawal, a liquidation and a deleverage are
//! refused while a mark they read is older than its market's `max_mark_age_secs`.

use num_bigint::BigInt;

use crate::leaf::Position;
use crate::market::{MarketParams, MarketState};
use crate::units::{notional, Collateral, MarketId, Ppm, Timestamp, PPM_ONE};

/// Which margin fraction a risk figure uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fraction {
    Initial,
    Maintenance,
}

impl Fraction {
    /// The fraction of a position of `lots` lots (`|size|`): the highest margin tier it
    /// reaches, else the market's base fraction (`MarketParams::margin_tiers`).
    pub fn of(self, params: &MarketParams, lots: u64) -> Ppm {
        let tier = params
            .margin_tiers
            .iter()
            .take_while(|t| t.from_lots <= lots)
            .last();
        match (self, tier) {
            (Fraction::Initial, Some(t)) => t.initial_margin,
            (Fraction::Maintenance, Some(t)) => t.maintenance_margin,
            (Fraction::Initial, None) => params.initial_margin,
            (Fraction::Maintenance, None) => params.maintenance_margin,
        }
    }
}

/// Total value and total risk of an account at the current mark prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarginSummary {
    /// TV in collateral units.
    pub total_value: i128,
    /// TR * 10^6 with the chosen fractions.
    pub total_risk_ppm: i128,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "margin rule violated: total value {tv} below total risk {tr_ppm}/1e6, and the change does not \
     strictly reduce risk without lowering value/risk"
)]
pub struct MarginError {
    pub tv: i128,
    pub tr_ppm: i128,
}

/// A mark too old for a margin check to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the mark of market {market} is {age} s old, more than the {max} s a margin check may use")]
pub struct StaleMark {
    pub market: MarketId,
    pub age: u64,
    pub max: u64,
}

/// Every market where `positions` (or `other`, the same account's positions on the other side
/// of the change) hold a size must have a mark no older than its `max_mark_age_secs` at `now`.
/// A market the account does not hold is not read, so its age does not matter.
pub fn enforce_fresh_marks(
    positions: &[Position],
    other: &[Position],
    markets: &[MarketState],
    params: &[MarketParams],
    now: Timestamp,
) -> Result<(), StaleMark> {
    for (i, (market, params)) in markets.iter().zip(params).enumerate() {
        let held = |p: &[Position]| p.get(i).is_some_and(|p| p.size.get() != 0);
        if (held(positions) || held(other)) && !market.is_fresh(now, params) {
            return Err(StaleMark {
                market: MarketId::new(i as u64).unwrap_or_default(),
                age: now.get().saturating_sub(market.mark_time.get()),
                max: params.max_mark_age_secs,
            });
        }
    }
    Ok(())
}

/// The markets as a withdrawal's margin check reads them: while a market's band binds
/// (`MarketState::band_binds`) its mark is the less favourable for the position of the mark
/// and the unclamped median (`index_price`), the lower for a long and the higher for a short,
/// so nobody withdraws profit the real price has already erased. Elsewhere, and for a flat
/// position, the mark.
pub fn withdrawal_marks(positions: &[Position], markets: &[MarketState]) -> Vec<MarketState> {
    markets
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let size = positions.get(i).map_or(0, |p| p.size.get());
            let (low, high) = if m.index_price < m.mark_price {
                (m.index_price, m.mark_price)
            } else {
                (m.mark_price, m.index_price)
            };
            let mark_price = match size.signum() {
                1 => low,
                -1 => high,
                _ => m.mark_price,
            };
            MarketState { mark_price, ..*m }
        })
        .collect()
}

/// `TV` alone.
pub fn total_value(
    collateral: Collateral,
    positions: &[Position],
    markets: &[MarketState],
    params: &[MarketParams],
) -> i128 {
    positions
        .iter()
        .zip(markets)
        .zip(params)
        .fold(collateral.get(), |acc, ((p, m), c)| {
            acc + notional(p.size, m.mark_price, c.tick_value)
        })
}

/// `TR * 10^6` alone.
pub fn total_risk_ppm(
    positions: &[Position],
    markets: &[MarketState],
    params: &[MarketParams],
    fraction: Fraction,
) -> i128 {
    positions
        .iter()
        .zip(markets)
        .zip(params)
        .fold(0i128, |acc, ((p, m), c)| {
            let n = notional(p.size, m.mark_price, c.tick_value).abs();
            let lots = p.size.get().unsigned_abs() as u64;
            acc + n * i128::from(fraction.of(c, lots).get())
        })
}

pub fn margin_summary(
    collateral: Collateral,
    positions: &[Position],
    markets: &[MarketState],
    params: &[MarketParams],
    fraction: Fraction,
) -> MarginSummary {
    MarginSummary {
        total_value: total_value(collateral, positions, markets, params),
        total_risk_ppm: total_risk_ppm(positions, markets, params, fraction),
    }
}

/// `TV >= TR`.
pub fn is_well_margined(s: &MarginSummary) -> bool {
    s.total_value * i128::from(PPM_ONE) >= s.total_risk_ppm
}

/// `TV < TR` with maintenance fractions.
pub fn is_liquidatable(maintenance: &MarginSummary) -> bool {
    !is_well_margined(maintenance)
}

/// `TR_after < TR_before` and `TV_after / TR_after >= TV_before / TR_before`, cross-multiplied
/// (both risks are non-negative, and `TR_before > TR_after >= 0`).
pub fn is_risk_reducing(before: &MarginSummary, after: &MarginSummary) -> bool {
    if after.total_risk_ppm >= before.total_risk_ppm {
        return false;
    }
    let lhs = BigInt::from(after.total_value) * BigInt::from(before.total_risk_ppm);
    let rhs = BigInt::from(before.total_value) * BigInt::from(after.total_risk_ppm);
    lhs >= rhs
}

/// The rule applied after trades and withdrawals (initial-margin summaries of the same account
/// before and after the change, both after funding settlement).
pub fn enforce_margin_rule(
    before: &MarginSummary,
    after: &MarginSummary,
) -> Result<(), MarginError> {
    if is_well_margined(after) || is_risk_reducing(before, after) {
        Ok(())
    } else {
        Err(MarginError {
            tv: after.total_value,
            tr_ppm: after.total_risk_ppm,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(tv: i128, tr: i128) -> MarginSummary {
        MarginSummary {
            total_value: tv,
            total_risk_ppm: tr * i128::from(PPM_ONE),
        }
    }

    #[test]
    fn well_margined_is_tv_at_least_tr() {
        assert!(is_well_margined(&s(100, 100)));
        assert!(!is_well_margined(&s(99, 100)));
        assert!(is_well_margined(&s(0, 0)));
        assert!(!is_well_margined(&s(-1, 0)));
    }

    #[test]
    fn risk_reduction_must_not_lower_the_ratio() {
        // 50/100 -> 30/60: risk down, ratio equal: allowed.
        assert!(enforce_margin_rule(&s(50, 100), &s(30, 60)).is_ok());
        // 50/100 -> 29/60: ratio lowered.
        assert!(enforce_margin_rule(&s(50, 100), &s(29, 60)).is_err());
        // 50/100 -> 50/100: risk not strictly reduced.
        assert!(enforce_margin_rule(&s(50, 100), &s(50, 100)).is_err());
        // Negative value: closing half at a loss that keeps the ratio is allowed.
        assert!(enforce_margin_rule(&s(-10, 100), &s(-5, 50)).is_ok());
        assert!(enforce_margin_rule(&s(-10, 100), &s(-6, 50)).is_err());
        // Closing everything while under water is refused (-1 / 0 is below any ratio).
        assert!(enforce_margin_rule(&s(-10, 100), &s(-1, 0)).is_err());
    }
}
