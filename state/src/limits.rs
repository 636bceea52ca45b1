//! Risk limits fixed per market at deployment: the largest position one account may hold and
//! the cap on the market's open interest (`MarketParams::max_position_lots`,
//! `MarketParams::open_interest_cap_lots`).
//!
//! ```text
//! long(size)          = max(size, 0)
//! open interest       = sum over accounts of long(size)            (MarketState::open_interest)
//! a move of positions changes it by  sum over the moved accounts of long(after) - long(before)
//! after a trade (signed or forced):  |size| <= max position  for both parties
//!                                    open interest <= cap
//! while the market's quotes disagree, a signed trade moves each position towards zero
//! ```
//! Every position change moves lots between accounts, so the sum of longs equals the sum of
//! shorts and each rule reads only the accounts a transaction touches. Both limits are checked
//! on the state after the trade, not on the change: a limit can only be reached by a trade, so
//! a position or an open interest never exceeds its limit, and a trade that closes (lowers
//! `|size|`, lowers open interest) always passes. Liquidations and deleverages move open
//! interest too (only down: a liquidated position shrinks and the insurance fund takes what it
//! sheds, a deleverage shrinks two opposite positions) and are not limited: the fund, which never
//! trades, may hold a position beyond the per-account limit.
//!
//! The circuits' twin is `zkperp_circuits::limits`.

use serde::{Deserialize, Serialize};

use crate::market::{MarketParams, MarketState};
use crate::units::{BaseLots, RangeError, OPEN_INTEREST_BITS};

/// `max(size, 0)`: the lots a position adds to its market's open interest.
pub fn long(size: BaseLots) -> i128 {
    size.get().max(0)
}

/// How much moving positions from `before` to `after` (one pair per account moved, in one
/// market) changes that market's open interest.
pub fn open_interest_change(moves: &[(BaseLots, BaseLots)]) -> i128 {
    moves.iter().map(|(b, a)| long(*a) - long(*b)).sum()
}

/// `market`'s open interest after a change of `change` lots; an error if it leaves its width
/// (it cannot while every position change goes through [`open_interest_change`]: the sum of
/// longs is never negative, and only capped trades raise it).
pub fn open_interest_after(market: &MarketState, change: i128) -> Result<u64, RangeError> {
    let after = i128::from(market.open_interest) + change;
    u64::try_from(after)
        .ok()
        .filter(|v| v >> OPEN_INTEREST_BITS == 0)
        .ok_or(RangeError {
            what: "open interest",
            value: after,
            bits: OPEN_INTEREST_BITS,
        })
}

/// A trade would leave a party with a position above the market's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("a position of {lots} lots is above the market's limit of {max} lots")]
pub struct PositionLimit {
    pub lots: u64,
    pub max: u64,
}

/// `|size| <= max_position_lots`.
pub fn enforce_position_limit(size: BaseLots, params: &MarketParams) -> Result<(), PositionLimit> {
    let lots = size.get().unsigned_abs() as u64;
    if lots > params.max_position_lots {
        return Err(PositionLimit {
            lots,
            max: params.max_position_lots,
        });
    }
    Ok(())
}

/// A trade would move a position away from zero while its market is reduce-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error(
    "the market is reduce-only (its oracles disagree): a position of {before} lots may only move \
     towards zero, not to {after}"
)]
pub struct ReduceOnly {
    pub before: i128,
    pub after: i128,
}

/// While `market`'s quotes disagree (`MarketState::quotes_disagree`), a trade may only move a
/// position towards zero: `0 <= after <= before` or `before <= after <= 0` (no new risk, no
/// flip). Otherwise any move.
pub fn enforce_reduce_only(
    market: &MarketState,
    before: BaseLots,
    after: BaseLots,
) -> Result<(), ReduceOnly> {
    let (b, a) = (before.get(), after.get());
    if market.quotes_disagree && !is_towards_zero(b, a) {
        return Err(ReduceOnly {
            before: b,
            after: a,
        });
    }
    Ok(())
}

/// `0 <= after <= before` or `before <= after <= 0`: the long part and the short part of the
/// position each only shrink (what the circuit checks).
pub fn is_towards_zero(before: i128, after: i128) -> bool {
    let (long, short) = (|s: i128| s.max(0), |s: i128| (-s).max(0));
    long(after) <= long(before) && short(after) <= short(before)
}

/// A trade would leave the market's open interest above its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("open interest of {lots} lots would be above the market's cap of {cap} lots")]
pub struct OpenInterestCap {
    pub lots: u64,
    pub cap: u64,
}

/// `open interest <= open_interest_cap_lots`.
pub fn enforce_open_interest_cap(
    open_interest: u64,
    params: &MarketParams,
) -> Result<(), OpenInterestCap> {
    if open_interest > params.open_interest_cap_lots {
        return Err(OpenInterestCap {
            lots: open_interest,
            cap: params.open_interest_cap_lots,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lots(n: i64) -> BaseLots {
        BaseLots::new(n.into()).expect("lots")
    }

    #[test]
    fn open_interest_moves_with_the_longs_only() {
        // Two flat accounts open a position: one lot of interest each way.
        assert_eq!(
            open_interest_change(&[(lots(0), lots(5)), (lots(0), lots(-5))]),
            5
        );
        // A long sells to a short who closes: both shrink.
        assert_eq!(
            open_interest_change(&[(lots(5), lots(2)), (lots(-5), lots(-2))]),
            -3
        );
        // A long sells to a new buyer: interest changes hands.
        assert_eq!(
            open_interest_change(&[(lots(5), lots(2)), (lots(0), lots(3))]),
            0
        );
        // A long flips short against a short that flips long.
        assert_eq!(
            open_interest_change(&[(lots(4), lots(-6)), (lots(-4), lots(6))]),
            2
        );
    }

    #[test]
    fn reduce_only_lets_positions_shrink_and_nothing_else() {
        for (before, after) in [(5, 2), (5, 0), (-5, -2), (-5, 0), (0, 0), (3, 3)] {
            assert!(is_towards_zero(before, after), "{before} -> {after}");
        }
        for (before, after) in [(5, 6), (-5, -6), (0, 1), (0, -1), (5, -1), (-5, 1)] {
            assert!(!is_towards_zero(before, after), "{before} -> {after}");
        }
        let mut m = MarketState::default();
        assert!(enforce_reduce_only(&m, lots(0), lots(9)).is_ok());
        m.quotes_disagree = true;
        assert!(enforce_reduce_only(&m, lots(0), lots(9)).is_err());
        assert!(enforce_reduce_only(&m, lots(-9), lots(-1)).is_ok());
    }

    #[test]
    fn interest_leaving_its_width_is_an_error() {
        let mut m = MarketState::default();
        assert!(open_interest_after(&m, -1).is_err());
        m.open_interest = (1 << OPEN_INTEREST_BITS) - 1;
        assert!(open_interest_after(&m, 1).is_err());
        assert_eq!(
            open_interest_after(&m, -1),
            Ok((1 << OPEN_INTEREST_BITS) - 2)
        );
    }
}
