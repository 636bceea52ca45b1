//! Twin of `zkperp_state::funding`: settle every position's funding before any rule looks at
//! the account.
//!
//! `collateral' = collateral - sum_i size_i * (index_i - cached_i)`, then every cached index
//! becomes the market's. Each payment is one product (`|size| < 2^40`, `|d index| < 2^64`, so
//! `< 2^104`); the new collateral is range-checked to its 63-bit width (66 constraints), so a
//! settlement that would overflow the balance is unsatisfiable, as it is an error natively.

use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::units::Collateral;
use zkperp_state::Fr;

use crate::units::enforce_signed_bits;

/// A position in-circuit (twin of `leaf::Position`); its fields were range-checked on entry.
#[derive(Debug, Clone)]
pub struct PositionVar {
    pub size: FpVar<Fr>,
    pub funding_index: FpVar<Fr>,
}

/// Twin of `funding::settle_funding`: returns the new collateral and positions.
pub fn settle_funding(
    collateral: &FpVar<Fr>,
    positions: &[PositionVar],
    market_indices: &[FpVar<Fr>],
) -> Result<(FpVar<Fr>, Vec<PositionVar>), SynthesisError> {
    let mut settled = collateral.clone();
    let mut out = Vec::with_capacity(positions.len());
    for (p, index) in positions.iter().zip(market_indices) {
        settled -= &p.size * (index - &p.funding_index);
        out.push(PositionVar {
            size: p.size.clone(),
            funding_index: index.clone(),
        });
    }
    enforce_signed_bits(&settled, Collateral::BITS)?;
    Ok((settled, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::{alloc::AllocVar, GR1CSVar};
    use ark_relations::gr1cs::ConstraintSystem;
    use rand::{Rng, SeedableRng};
    use zkperp_state::field::fr_from_i128;
    use zkperp_state::leaf::{AccountLeaf, Position};
    use zkperp_state::market::MarketState;
    use zkperp_state::testkit::Fixture;
    use zkperp_state::units::{BaseLots, FundingIndex};

    fn run(collateral: i128, positions: &[(i128, i128)], indices: &[i128]) -> (bool, Option<i128>) {
        // Native.
        let f = Fixture::new(1);
        let mut leaf: AccountLeaf = f
            .state
            .account(zkperp_state::units::AccountId::FEES)
            .expect("fee account")
            .leaf
            .clone();
        leaf.collateral = Collateral::new(collateral).expect("collateral");
        leaf.positions = positions
            .iter()
            .map(|(s, i)| Position {
                size: BaseLots::new(*s).expect("size"),
                funding_index: FundingIndex::new(*i).expect("index"),
            })
            .collect();
        let markets: Vec<MarketState> = indices
            .iter()
            .map(|i| MarketState {
                funding_index: FundingIndex::new(*i).expect("index"),
                ..Default::default()
            })
            .collect();
        let native = zkperp_state::funding::settle_funding(&mut leaf, &markets)
            .ok()
            .map(|()| leaf.collateral.get());
        // Circuit.
        let cs = ConstraintSystem::<Fr>::new_ref();
        let w = |v: i128| FpVar::new_witness(cs.clone(), || Ok(fr_from_i128(v))).expect("witness");
        let c = w(collateral);
        let ps: Vec<_> = positions
            .iter()
            .map(|(s, i)| PositionVar {
                size: w(*s),
                funding_index: w(*i),
            })
            .collect();
        let is: Vec<_> = indices.iter().map(|i| w(*i)).collect();
        let (settled, out) = settle_funding(&c, &ps, &is).expect("gadget");
        let ok = cs.is_satisfied().expect("evaluates");
        if ok {
            assert_eq!(
                settled.value().expect("value"),
                fr_from_i128(native.expect("native settled"))
            );
            for (p, i) in out.iter().zip(indices) {
                assert_eq!(p.funding_index.value().expect("value"), fr_from_i128(*i));
            }
        }
        (ok, native)
    }

    #[test]
    fn settles_exactly_as_the_native_rule() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(8);
        for _ in 0..100 {
            let positions: Vec<(i128, i128)> = (0..2)
                .map(|_| {
                    (
                        rng.gen_range(-(1i128 << 39)..(1i128 << 39)),
                        rng.gen_range(-(1i128 << 20)..(1i128 << 20)),
                    )
                })
                .collect();
            let indices: Vec<i128> = (0..2)
                .map(|_| rng.gen_range(-(1i128 << 20)..(1i128 << 20)))
                .collect();
            let collateral = rng.gen_range(-(1i128 << 62)..(1i128 << 62));
            let (ok, native) = run(collateral, &positions, &indices);
            assert_eq!(
                ok,
                native.is_some(),
                "the circuit accepts exactly the settlements the native rule accepts"
            );
        }
    }

    #[test]
    fn an_overflowing_settlement_is_unsatisfiable() {
        // A long of 2^39 lots owing 2^30 per lot: 2^69 units, beyond the 63-bit balance.
        let (ok, native) = run(0, &[(1 << 39, 0), (0, 0)], &[1 << 30, 0]);
        assert!(!ok && native.is_none());
        let (ok, native) = run(0, &[(1 << 20, 0), (0, 0)], &[1 << 30, 0]);
        assert!(ok && native == Some(-(1i128 << 50)));
    }
}
