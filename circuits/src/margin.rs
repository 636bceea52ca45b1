//! Twin of `zkperp_state::margin`: total value, total risk, and the margin rule, in-circuit.
//!
//! ```text
//! TV      = collateral + sum_i size_i * mark_i * tick_value_i
//! TR*10^6 = sum_i |size_i| * mark_i * (tick_value_i * fraction_i(|size_i|))
//! well margined:  TV * 10^6 - TR*10^6 >= 0
//! risk reducing:  TR_b - TR_a - 1 >= 0  and  TV_a * TR_b - TV_b * TR_a >= 0
//! ```
//!
//! Preconditions (the caller's, as everywhere in this crate): `collateral`, each `size` and each
//! `mark` were range-checked to their widths where they entered the circuit (leaf fields at
//! allocation, marks at the oracle tick). Then, as `zkperp_state::units` proves, `|TV| < 2^100`,
//! `TR*10^6 < 2^119`, `|TV * 10^6 - TR*10^6| < 2^121` and each cross product `< 2^219`: every
//! sign test below decomposes a value shifted by `2^k` with `k` above those bounds and below
//! `MAX_RANGE_BITS`, so no value can wrap the field and pass.
//!
//! Costs: `|size|` 44 constraints per market (sign bit, magnitude range check, one product, the
//! binding),
//! one product per market for `size * mark` and one for `|size| * mark` (with margin tiers, one
//! more and 42 per tier); `is_well_margined` 124;
//! `is_risk_reducing` 2 products and 124 + 222 for its two sign tests.

use ark_ff::Field;
use ark_r1cs_std::{
    alloc::AllocVar, boolean::Boolean, eq::EqGadget, fields::fp::FpVar, fields::FieldVar, GR1CSVar,
};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::margin::Fraction;
use zkperp_state::market::MarketParams;
use zkperp_state::units::{BaseLots, Timestamp, PPM_ONE, PRICE_BITS};
use zkperp_state::Fr;

use crate::eq::{conditional_enforce_equal, enforce_equal};
use crate::market::MarketStateVar;
use crate::units::{conditional_enforce_unsigned_bits, enforce_unsigned_bits, two_pow};

/// `TV` and `TR * 10^6` of one account (the twin of `MarginSummary`).
#[derive(Debug, Clone)]
pub struct MarginSummaryVar {
    pub total_value: FpVar<Fr>,
    pub total_risk_ppm: FpVar<Fr>,
}

/// `x >= 0` for a signed `x` with `|x| < 2^bits`: the top bit of `x + 2^bits` (bits + 2
/// constraints).
pub fn is_nonnegative(x: &FpVar<Fr>, bits: u32) -> Result<Boolean<Fr>, SynthesisError> {
    let shifted = x + FpVar::Constant(two_pow(bits));
    let le = enforce_unsigned_bits(&shifted, bits + 1)?;
    Ok(le[bits as usize].clone())
}

/// `|size|` of a signed size with `|size| < 2^40`, as a magnitude range-checked to 40 bits and
/// bound to `size` by a sign bit: `size = magnitude * (1 - 2 * negative)`.
pub fn abs_size(size: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
    abs_size_with(size, None)
}

/// As [`abs_size`]; `sign_override` lets tests make a dishonest prover pick the other sign.
fn abs_size_with(
    size: &FpVar<Fr>,
    sign_override: Option<bool>,
) -> Result<FpVar<Fr>, SynthesisError> {
    let cs = size.cs();
    let half = Fr::from(2u64).pow([253]);
    let value = size.value().ok();
    let negative_value = value.map(|v| sign_override.unwrap_or(v > half));
    let negative = Boolean::new_witness(cs.clone(), || {
        negative_value.ok_or(SynthesisError::AssignmentMissing)
    })?;
    let magnitude = FpVar::new_witness(cs, || {
        let v = value.ok_or(SynthesisError::AssignmentMissing)?;
        Ok(if negative_value == Some(true) { -v } else { v })
    })?;
    enforce_unsigned_bits(&magnitude, BaseLots::BITS)?;
    // size = magnitude - 2 * negative * magnitude
    let signed = &magnitude - (FpVar::from(negative) * &magnitude).double()?;
    enforce_equal(&signed, size)?;
    Ok(magnitude)
}

/// Twin of `margin::enforce_fresh_marks`, when `enabled`: every market where `sizes` or
/// `other` (the same account on the other side of the change; may be empty) is nonzero has a
/// mark no older than its `max_mark_age_secs` at `now`. Per market: one or two zero tests, a
/// 40-bit check that the mark is not from the future and a 32-bit check of its age.
pub fn conditional_enforce_fresh_marks(
    sizes: &[FpVar<Fr>],
    other: &[FpVar<Fr>],
    markets: &[MarketStateVar],
    params: &[MarketParams],
    now: &FpVar<Fr>,
    enabled: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    let zero = FpVar::zero();
    for (i, (market, p)) in markets.iter().zip(params).enumerate() {
        let mut held = !sizes[i].is_eq(&zero)?;
        if let Some(o) = other.get(i) {
            held = &held | &!o.is_eq(&zero)?;
        }
        let on = &held & enabled;
        let age = now - &market.mark_time;
        conditional_enforce_unsigned_bits(&age, Timestamp::BITS, &on)?;
        let room = FpVar::Constant(Fr::from(p.max_mark_age_secs)) - &age;
        conditional_enforce_unsigned_bits(&room, MARK_AGE_BITS, &on)?;
    }
    Ok(())
}

/// Twin of `margin::withdrawal_marks`: per market the lower of mark and index price for a
/// long, the higher for a short (a flat position's choice contributes nothing). Costs per
/// market two 42-constraint sign tests and three selections.
pub fn withdrawal_marks(
    markets: &[MarketStateVar],
    sizes: &[FpVar<Fr>],
) -> Result<Vec<FpVar<Fr>>, SynthesisError> {
    markets
        .iter()
        .zip(sizes)
        .map(|(m, size)| {
            let long = is_nonnegative(size, BaseLots::BITS)?;
            let mark_lower = is_nonnegative(&(&m.index_price - &m.mark_price), PRICE_BITS)?;
            let low = mark_lower.select(&m.mark_price, &m.index_price)?;
            let high = mark_lower.select(&m.index_price, &m.mark_price)?;
            long.select(&low, &high)
        })
        .collect()
}

/// `max_mark_age_secs < 2^32` (`zkperp_state::market::MAX_MARK_AGE`).
const MARK_AGE_BITS: u32 = 32;

/// `TV` (twin of `margin::total_value`); `sizes` and `marks` by market, parameters as constants.
pub fn total_value(
    collateral: &FpVar<Fr>,
    sizes: &[FpVar<Fr>],
    marks: &[FpVar<Fr>],
    params: &[MarketParams],
) -> FpVar<Fr> {
    sizes
        .iter()
        .zip(marks)
        .zip(params)
        .fold(collateral.clone(), |acc, ((s, m), c)| {
            acc + s * m * Fr::from(c.tick_value.get())
        })
}

/// `TR * 10^6` (twin of `margin::total_risk_ppm`), from the magnitudes of the sizes: per market
/// `|size| * mark * tick_value * fraction(|size|)`. Without margin tiers the fraction is a
/// constant; with them it is the base fraction plus each tier's step where `|size|` reaches
/// the tier (a 42-constraint comparison each: `|size|` and the tier's size are both below
/// 2^40), and one more product.
pub fn total_risk_ppm(
    magnitudes: &[FpVar<Fr>],
    marks: &[FpVar<Fr>],
    params: &[MarketParams],
    fraction: Fraction,
) -> Result<FpVar<Fr>, SynthesisError> {
    let mut risk = FpVar::zero();
    for ((a, m), c) in magnitudes.iter().zip(marks).zip(params) {
        // Tiers start above 0 lots, so a flat position's fraction is the base one.
        let base = fraction.of(c, 0).get();
        let tick_value = Fr::from(c.tick_value.get());
        if c.margin_tiers.is_empty() {
            risk += a * m * (tick_value * Fr::from(base));
            continue;
        }
        let mut f = FpVar::Constant(Fr::from(base));
        let mut below = Fr::from(base);
        for tier in &c.margin_tiers {
            let at = Fr::from(fraction.of(c, tier.from_lots).get());
            let reached = is_nonnegative(
                &(a - FpVar::Constant(Fr::from(tier.from_lots))),
                BaseLots::BITS,
            )?;
            f += FpVar::from(reached) * (at - below);
            below = at;
        }
        risk += (a * m) * (f * tick_value);
    }
    Ok(risk)
}

/// Twin of `margin::margin_summary`.
pub fn margin_summary(
    collateral: &FpVar<Fr>,
    sizes: &[FpVar<Fr>],
    marks: &[FpVar<Fr>],
    params: &[MarketParams],
    fraction: Fraction,
) -> Result<MarginSummaryVar, SynthesisError> {
    let magnitudes = sizes.iter().map(abs_size).collect::<Result<Vec<_>, _>>()?;
    Ok(MarginSummaryVar {
        total_value: total_value(collateral, sizes, marks, params),
        total_risk_ppm: total_risk_ppm(&magnitudes, marks, params, fraction)?,
    })
}

/// `TV >= TR` (twin of `margin::is_well_margined`).
pub fn is_well_margined(s: &MarginSummaryVar) -> Result<Boolean<Fr>, SynthesisError> {
    let d = &s.total_value * Fr::from(PPM_ONE) - &s.total_risk_ppm;
    is_nonnegative(&d, 122)
}

/// `TV < TR` (twin of `margin::is_liquidatable`).
pub fn is_liquidatable(maintenance: &MarginSummaryVar) -> Result<Boolean<Fr>, SynthesisError> {
    Ok(!is_well_margined(maintenance)?)
}

/// `TR_after < TR_before` and `TV_after / TR_after >= TV_before / TR_before` (twin of
/// `margin::is_risk_reducing`).
pub fn is_risk_reducing(
    before: &MarginSummaryVar,
    after: &MarginSummaryVar,
) -> Result<Boolean<Fr>, SynthesisError> {
    let less = is_nonnegative(
        &(&before.total_risk_ppm - &after.total_risk_ppm - FpVar::one()),
        122,
    )?;
    let cross =
        &after.total_value * &before.total_risk_ppm - &before.total_value * &after.total_risk_ppm;
    let ratio = is_nonnegative(&cross, 221)?;
    Ok(&less & &ratio)
}

/// Twin of `margin::enforce_margin_rule`, applied when `condition` holds (a slot that is not a
/// no-op).
pub fn conditional_enforce_margin_rule(
    before: &MarginSummaryVar,
    after: &MarginSummaryVar,
    condition: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    let ok = &is_well_margined(after)? | &is_risk_reducing(before, after)?;
    conditional_enforce_equal(&FpVar::from(ok), &FpVar::one(), condition)
}

/// Twin of `margin::enforce_margin_rule`.
pub fn enforce_margin_rule(
    before: &MarginSummaryVar,
    after: &MarginSummaryVar,
) -> Result<(), SynthesisError> {
    conditional_enforce_margin_rule(before, after, &Boolean::TRUE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_relations::gr1cs::{ConstraintSystem, ConstraintSystemRef};
    use rand::{Rng, SeedableRng};
    use zkperp_state::field::fr_from_i128;
    use zkperp_state::leaf::Position;
    use zkperp_state::margin as native;
    use zkperp_state::market::MarketState;
    use zkperp_state::testkit::Fixture;
    use zkperp_state::units::{Collateral, FundingIndex, PriceTicks};

    struct Account {
        collateral: i128,
        sizes: Vec<i128>,
        marks: Vec<u64>,
    }

    impl Account {
        fn native(&self, params: &[MarketParams], fraction: Fraction) -> native::MarginSummary {
            let positions: Vec<Position> = self
                .sizes
                .iter()
                .map(|s| Position {
                    size: BaseLots::new(*s).expect("size"),
                    funding_index: FundingIndex::ZERO,
                })
                .collect();
            let markets: Vec<MarketState> = self
                .marks
                .iter()
                .map(|m| MarketState {
                    mark_price: PriceTicks::new(*m).expect("mark"),
                    ..Default::default()
                })
                .collect();
            native::margin_summary(
                Collateral::new(self.collateral).expect("collateral"),
                &positions,
                &markets,
                params,
                fraction,
            )
        }

        fn alloc(
            &self,
            cs: &ConstraintSystemRef<Fr>,
            params: &[MarketParams],
            fraction: Fraction,
        ) -> MarginSummaryVar {
            let w = |v: Fr| FpVar::new_witness(cs.clone(), || Ok(v)).expect("witness");
            let collateral = w(fr_from_i128(self.collateral));
            let sizes: Vec<_> = self.sizes.iter().map(|s| w(fr_from_i128(*s))).collect();
            let marks: Vec<_> = self.marks.iter().map(|m| w(Fr::from(*m))).collect();
            margin_summary(&collateral, &sizes, &marks, params, fraction).expect("summary")
        }
    }

    fn params() -> Vec<MarketParams> {
        Fixture::new(0).state.config().markets.clone()
    }

    fn random_account(rng: &mut impl Rng) -> Account {
        let scale = [10i128, 1 << 20, (1 << 40) - 1][rng.gen_range(0..3)];
        Account {
            collateral: rng.gen_range(-(1i128 << 62)..(1i128 << 62)) >> rng.gen_range(0..60),
            sizes: (0..2).map(|_| rng.gen_range(-scale..=scale)).collect(),
            marks: (0..2)
                .map(|_| rng.gen_range(1u64..(1 << 40)) >> rng.gen_range(0..30))
                .collect(),
        }
    }

    #[test]
    fn summaries_and_predicates_match_the_native_ones() {
        let params = params();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        for _ in 0..60 {
            let (a, b) = (random_account(&mut rng), random_account(&mut rng));
            for fraction in [Fraction::Initial, Fraction::Maintenance] {
                let cs = ConstraintSystem::<Fr>::new_ref();
                let (va, vb) = (
                    a.alloc(&cs, &params, fraction),
                    b.alloc(&cs, &params, fraction),
                );
                let (na, nb) = (a.native(&params, fraction), b.native(&params, fraction));
                assert_eq!(
                    va.total_value.value().expect("tv"),
                    fr_from_i128(na.total_value)
                );
                assert_eq!(
                    va.total_risk_ppm.value().expect("tr"),
                    fr_from_i128(na.total_risk_ppm)
                );
                assert_eq!(
                    is_well_margined(&va).expect("g").value().expect("v"),
                    native::is_well_margined(&na)
                );
                assert_eq!(
                    is_liquidatable(&va).expect("g").value().expect("v"),
                    native::is_liquidatable(&na)
                );
                assert_eq!(
                    is_risk_reducing(&vb, &va).expect("g").value().expect("v"),
                    native::is_risk_reducing(&nb, &na)
                );
                assert!(cs.is_satisfied().expect("satisfiable"));
            }
        }
    }

    #[test]
    fn the_margin_rule_accepts_exactly_what_the_native_rule_accepts() {
        let params = params();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..80 {
            let before = random_account(&mut rng);
            // After: a trade-like change of one position and collateral, or a random account.
            let after = if rng.gen_bool(0.7) {
                let mut a = Account {
                    collateral: before.collateral,
                    sizes: before.sizes.clone(),
                    marks: before.marks.clone(),
                };
                let d = rng
                    .gen_range(-(a.sizes[0].abs() + 5)..=(a.sizes[0].abs() + 5))
                    .clamp(-((1 << 40) - 1) - a.sizes[0], (1 << 40) - 1 - a.sizes[0]);
                a.sizes[0] += d;
                a.collateral -= d * i128::from(a.marks[0]) * 10 + rng.gen_range(-1_000..1_000);
                a.collateral = a.collateral.clamp(-(1i128 << 62), 1i128 << 62);
                a
            } else {
                random_account(&mut rng)
            };
            let native_ok = native::enforce_margin_rule(
                &before.native(&params, Fraction::Initial),
                &after.native(&params, Fraction::Initial),
            )
            .is_ok();
            let cs = ConstraintSystem::<Fr>::new_ref();
            let (b, a) = (
                before.alloc(&cs, &params, Fraction::Initial),
                after.alloc(&cs, &params, Fraction::Initial),
            );
            enforce_margin_rule(&b, &a).expect("gadget");
            assert_eq!(cs.is_satisfied().expect("evaluates"), native_ok);
            if native_ok {
                accepted += 1
            } else {
                refused += 1
            }
        }
        assert!(
            accepted > 5 && refused > 5,
            "both outcomes exercised: {accepted} / {refused}"
        );
    }

    #[test]
    fn a_violation_only_passes_when_the_rule_is_switched_off() {
        let params = params();
        let before = Account {
            collateral: 1_000_000_000,
            sizes: vec![0, 0],
            marks: vec![500_000, 3_000_000],
        };
        let after = Account {
            collateral: 1_000_000_000 - 2_001 * 5_000_000,
            sizes: vec![2_001, 0],
            marks: before.marks.clone(),
        };
        for (condition, satisfied) in [(true, false), (false, true)] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let (b, a) = (
                before.alloc(&cs, &params, Fraction::Initial),
                after.alloc(&cs, &params, Fraction::Initial),
            );
            let cond = Boolean::new_witness(cs.clone(), || Ok(condition)).expect("flag");
            conditional_enforce_margin_rule(&b, &a, &cond).expect("gadget");
            assert_eq!(cs.is_satisfied().expect("evaluates"), satisfied);
        }
    }

    #[test]
    fn a_dishonest_sign_or_out_of_range_size_is_unsatisfiable() {
        for (size, flip) in [
            (-5i128, true),
            (7, true),
            (-(1i128 << 40), false),
            (1i128 << 40, false),
        ] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let s = FpVar::new_witness(cs.clone(), || Ok(fr_from_i128(size))).expect("witness");
            let sign = if flip { Some(size > 0) } else { None };
            let _magnitude = abs_size_with(&s, sign).expect("gadget");
            assert!(
                !cs.is_satisfied().expect("evaluates"),
                "size {size}, flipped sign {flip}"
            );
        }
        let cs = ConstraintSystem::<Fr>::new_ref();
        let s = FpVar::new_witness(cs.clone(), || Ok(fr_from_i128(-((1i128 << 40) - 1))))
            .expect("witness");
        let _magnitude = abs_size(&s).expect("gadget");
        assert!(
            cs.is_satisfied().expect("evaluates"),
            "the widest size passes"
        );
        assert_eq!(
            cs.num_constraints(),
            44,
            "sign bit, 40-bit magnitude (41), one product, the binding"
        );
    }

    #[test]
    fn sign_tests_refuse_values_outside_their_window() {
        for (x, inside, nonnegative) in [
            (-(1i128 << 122), true, false),
            ((1i128 << 122) - 1, true, true),
            (0, true, true),
            (-(1i128 << 122) - 1, false, false),
            (1i128 << 122, false, false),
        ] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let v = FpVar::new_witness(cs.clone(), || Ok(fr_from_i128(x))).expect("witness");
            let sign = is_nonnegative(&v, 122).expect("gadget");
            assert_eq!(cs.is_satisfied().expect("evaluates"), inside, "{x}");
            if inside {
                assert_eq!(sign.value().expect("value"), nonnegative, "{x}");
            }
        }
    }
}
