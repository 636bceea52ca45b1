//! Funding settlement: before any rule looks at an account, every position pays (or receives)
//! the funding accrued since it was last settled.
//!
//! `payment = size * (index_now - index_cached)` is exact (the index is in collateral units per
//! lot), so funding is zero-sum: every position has an opposite one, `sum(size) = 0` per market,
//! and the payments of all accounts add up to zero. `|payment| < 2^40 * 2^64 = 2^104`; the new
//! collateral is range-checked to 63 bits.

use crate::leaf::AccountLeaf;
use crate::market::MarketState;
use crate::units::RangeError;

/// Settles funding on every position of `leaf` against the markets' current indices.
pub fn settle_funding(leaf: &mut AccountLeaf, markets: &[MarketState]) -> Result<(), RangeError> {
    let mut collateral = leaf.collateral.get();
    for (position, market) in leaf.positions.iter_mut().zip(markets) {
        let delta = market.funding_index.get() - position.funding_index.get();
        collateral -= position.size.get() * delta;
        position.funding_index = market.funding_index;
    }
    leaf.collateral = crate::units::Collateral::new(collateral)?;
    Ok(())
}
