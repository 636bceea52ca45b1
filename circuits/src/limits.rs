//! Twin of `zkperp_state::limits`: a market's open interest moved by the longs' change, the
//! position limit and the open interest cap, in-circuit.
//!
//! ```text
//! long(s) = (s + |s|) / 2                       (exact: s + |s| is 0 or 2s)
//! change  = sum over moved accounts of long(after) - long(before)
//! position limit:  max_position - |after| >= 0      41-bit test, |after| < 2^40
//! cap:             cap - open interest >= 0         49-bit test, open interest 48-bit checked
//! reduce-only:     long(before) - long(after) >= 0 and short(before) - short(after) >= 0
//!                  (40-bit tests, while the market's quotes disagree)
//! ```
//! Costs: a moved position 2 x 44 (`abs_size` of its size before and after: the after one is
//! the limit's magnitude too); moving the open interest one product per market and one for the
//! gate; the limit 41, the cap 49 + 49 (the interest's own range check, then the room).
//!
//! The sizes given here are the traded market's (selected by the caller), each range-checked to
//! 40 bits where it entered the circuit or after the change.

use ark_ff::Field;
use ark_r1cs_std::{boolean::Boolean, fields::fp::FpVar, fields::FieldVar};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::market::MarketParams;
use zkperp_state::units::{BaseLots, OPEN_INTEREST_BITS};
use zkperp_state::Fr;

use crate::margin::{abs_size, is_nonnegative};
use crate::market::{select_by, select_param, MarketStateVar};
use crate::units::{conditional_enforce_unsigned_bits, enforce_unsigned_bits};

/// One account's position in the traded market, before and after a change.
#[derive(Debug, Clone)]
pub struct PositionMoveVar {
    /// `long(after) - long(before)`.
    pub long_change: FpVar<Fr>,
    /// `|after|`, range-checked to 40 bits.
    pub after_magnitude: FpVar<Fr>,
    /// `short(after) - short(before)`, `short(s) = (|s| - s) / 2`.
    pub short_change: FpVar<Fr>,
}

/// The move of one position from `before` to `after` (both signed, `|.| < 2^40`).
pub fn position_move(
    before: &FpVar<Fr>,
    after: &FpVar<Fr>,
) -> Result<PositionMoveVar, SynthesisError> {
    let before_magnitude = abs_size(before)?;
    let after_magnitude = abs_size(after)?;
    let half = Fr::from(2u64).inverse().expect("2 is invertible");
    let long_change = ((after + &after_magnitude) - (before + &before_magnitude)) * half;
    let short_change = ((&after_magnitude - after) - (before_magnitude - before)) * half;
    Ok(PositionMoveVar {
        long_change,
        after_magnitude,
        short_change,
    })
}

/// Twin of `limits::enforce_reduce_only`: while the selected market's quotes disagree (and
/// `enabled`), the move's long part and short part each only shrink (`-change` in 40 bits).
pub fn conditional_enforce_reduce_only(
    moved: &PositionMoveVar,
    markets: &[MarketStateVar],
    flags: &[Boolean<Fr>],
    enabled: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    let disagree: Vec<Boolean<Fr>> = markets
        .iter()
        .zip(flags)
        .map(|(m, f)| &m.quotes_disagree & f)
        .collect();
    let on = Boolean::kary_or(&disagree)? & enabled;
    conditional_enforce_unsigned_bits(&moved.long_change.negate()?, BaseLots::BITS, &on)?;
    conditional_enforce_unsigned_bits(&moved.short_change.negate()?, BaseLots::BITS, &on)?;
    Ok(())
}

/// Twin of `limits::open_interest_change` with `open_interest_after` written back: the market
/// `flags` select gains `change` when `enabled` (a disabled slot moves nothing).
pub fn move_open_interest(
    markets: &mut [MarketStateVar],
    flags: &[Boolean<Fr>],
    change: &FpVar<Fr>,
    enabled: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    let gated = enabled.select(change, &FpVar::zero())?;
    for (m, flag) in markets.iter_mut().zip(flags) {
        m.open_interest = &m.open_interest + flag.select(&gated, &FpVar::zero())?;
    }
    Ok(())
}

/// The selected market's open interest and cap.
fn interest_and_cap(
    markets: &[MarketStateVar],
    flags: &[Boolean<Fr>],
    params: &[MarketParams],
) -> Result<(FpVar<Fr>, FpVar<Fr>), SynthesisError> {
    let interest: Vec<FpVar<Fr>> = markets.iter().map(|m| m.open_interest.clone()).collect();
    let cap = select_param(flags, params, |m| m.open_interest_cap_lots);
    Ok((select_by(flags, &interest)?, cap))
}

/// Twin of `limits::enforce_open_interest_cap` (with `open_interest_after`'s width) on the
/// selected market, when `enabled`.
pub fn conditional_enforce_open_interest_cap(
    markets: &[MarketStateVar],
    flags: &[Boolean<Fr>],
    params: &[MarketParams],
    enabled: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    let (interest, cap) = interest_and_cap(markets, flags, params)?;
    conditional_enforce_unsigned_bits(&interest, OPEN_INTEREST_BITS, enabled)?;
    conditional_enforce_unsigned_bits(&(cap - interest), OPEN_INTEREST_BITS, enabled)?;
    Ok(())
}

/// Whether the selected market's open interest plus `change` stays within its cap (the
/// boolean twin, for a forced trade's refusal). The interest is 48-bit checked and
/// `|change| < 2^41`, so `cap - interest - change` is far inside the 50-bit test.
pub fn is_within_open_interest_cap(
    markets: &[MarketStateVar],
    flags: &[Boolean<Fr>],
    params: &[MarketParams],
    change: &FpVar<Fr>,
) -> Result<Boolean<Fr>, SynthesisError> {
    let (interest, cap) = interest_and_cap(markets, flags, params)?;
    enforce_unsigned_bits(&interest, OPEN_INTEREST_BITS)?;
    is_nonnegative(&(cap - interest - change), OPEN_INTEREST_BITS + 2)
}

/// `max_position - |after|` of the selected market.
fn position_room(
    magnitude: &FpVar<Fr>,
    flags: &[Boolean<Fr>],
    params: &[MarketParams],
) -> FpVar<Fr> {
    select_param(flags, params, |m| m.max_position_lots) - magnitude
}

/// Twin of `limits::enforce_position_limit` on the selected market, when `enabled`.
pub fn conditional_enforce_position_limit(
    magnitude: &FpVar<Fr>,
    flags: &[Boolean<Fr>],
    params: &[MarketParams],
    enabled: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    let room = position_room(magnitude, flags, params);
    conditional_enforce_unsigned_bits(&room, BaseLots::BITS, enabled)?;
    Ok(())
}

/// Whether `magnitude` is within the selected market's position limit (the boolean twin).
pub fn is_within_position_limit(
    magnitude: &FpVar<Fr>,
    flags: &[Boolean<Fr>],
    params: &[MarketParams],
) -> Result<Boolean<Fr>, SynthesisError> {
    is_nonnegative(&position_room(magnitude, flags, params), BaseLots::BITS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::{alloc::AllocVar, GR1CSVar};
    use ark_relations::gr1cs::ConstraintSystem;
    use zkperp_state::field::fr_from_i128;
    use zkperp_state::limits;
    use zkperp_state::units::BaseLots;

    #[test]
    fn a_move_changes_open_interest_as_the_native_rule() {
        let cases = [
            (0, 5),
            (0, -5),
            (5, 2),
            (-5, -2),
            (4, -6),
            (-4, 6),
            (7, 0),
            (-(1 << 40) + 1, (1 << 40) - 1),
        ];
        for (before, after) in cases {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let var = |x: i64| FpVar::new_witness(cs.clone(), || Ok(fr_from_i128(x.into())));
            let m = position_move(&var(before).expect("b"), &var(after).expect("a")).expect("move");
            let lots = |x: i64| BaseLots::new(x.into()).expect("lots");
            let native = limits::open_interest_change(&[(lots(before), lots(after))]);
            assert_eq!(m.long_change.value().expect("v"), fr_from_i128(native));
            assert_eq!(
                m.after_magnitude.value().expect("v"),
                Fr::from(after.unsigned_abs())
            );
            assert!(cs.is_satisfied().expect("sat"), "{before} -> {after}");
        }
    }
}
