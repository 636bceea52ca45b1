//! Twin of `zkperp_state::market`: a market's public state in-circuit, its packing, and the
//! selection of one market by id.
//!
//! ```text
//! pack(market) = price | (index + 2^63) << 40 | last_funding << 104 | mark_time << 144
//!                | open_interest << 184                                 (232 bits)
//! oracle(market) = index_price | quotes_disagree << 40                   (41 bits)
//! elements     = pack(market_0), .., pack(market_{M-1}),
//!                then sum_j oracle(market_{6k+j}) << 41 j  per six markets
//! markets hash = Poseidon(elements)
//! ```
//! The fields are range-checked on allocation, so the packing is linear and injective.

use ark_r1cs_std::{
    alloc::AllocVar, boolean::Boolean, eq::EqGadget, fields::fp::FpVar, fields::FieldVar,
    select::CondSelectGadget,
};
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use zkperp_state::field::fr_from_i128;
use zkperp_state::market::{MarketState, ORACLES_PER_ELEMENT, ORACLE_BITS};
use zkperp_state::units::{FundingIndex, PriceTicks, Timestamp, OPEN_INTEREST_BITS};
use zkperp_state::Fr;

use crate::eq::enforce_equal;
use crate::poseidon::poseidon_slice;
use crate::units::{enforce_signed_bits, enforce_unsigned_bits, two_pow};

/// A market's state in-circuit (twin of `MarketState`).
#[derive(Debug, Clone)]
pub struct MarketStateVar {
    pub mark_price: FpVar<Fr>,
    pub funding_index: FpVar<Fr>,
    pub last_funding: FpVar<Fr>,
    /// The newest quote of the last oracle tick (40 bits).
    pub mark_time: FpVar<Fr>,
    /// The sum of the market's longs (48 bits at allocation; moved only by
    /// `crate::limits::move_open_interest`, which keeps it the sum of longs).
    pub open_interest: FpVar<Fr>,
    /// The last tick's median before the band (40 bits).
    pub index_price: FpVar<Fr>,
    /// The last tick's quotes disagreed: the market is reduce-only.
    pub quotes_disagree: Boolean<Fr>,
}

impl MarketStateVar {
    /// Allocates a market's state as a witness, each field range-checked to its width.
    pub fn new_witness(
        cs: ConstraintSystemRef<Fr>,
        m: &MarketState,
    ) -> Result<Self, SynthesisError> {
        let mark_price = FpVar::new_witness(cs.clone(), || Ok(Fr::from(m.mark_price.get())))?;
        enforce_unsigned_bits(&mark_price, PriceTicks::BITS)?;
        let funding_index =
            FpVar::new_witness(cs.clone(), || Ok(fr_from_i128(m.funding_index.get())))?;
        enforce_signed_bits(&funding_index, FundingIndex::BITS)?;
        let last_funding = FpVar::new_witness(cs.clone(), || Ok(Fr::from(m.last_funding.get())))?;
        enforce_unsigned_bits(&last_funding, Timestamp::BITS)?;
        let mark_time = FpVar::new_witness(cs.clone(), || Ok(Fr::from(m.mark_time.get())))?;
        enforce_unsigned_bits(&mark_time, Timestamp::BITS)?;
        let open_interest = FpVar::new_witness(cs.clone(), || Ok(Fr::from(m.open_interest)))?;
        enforce_unsigned_bits(&open_interest, OPEN_INTEREST_BITS)?;
        let index_price = FpVar::new_witness(cs.clone(), || Ok(Fr::from(m.index_price.get())))?;
        enforce_unsigned_bits(&index_price, PriceTicks::BITS)?;
        let quotes_disagree = Boolean::new_witness(cs, || Ok(m.quotes_disagree))?;
        Ok(MarketStateVar {
            mark_price,
            funding_index,
            last_funding,
            mark_time,
            open_interest,
            index_price,
            quotes_disagree,
        })
    }

    /// Twin of `MarketState::pack_oracle` (linear: the index is 40-bit checked, the flag a
    /// boolean).
    pub fn pack_oracle(&self) -> FpVar<Fr> {
        &self.index_price + FpVar::from(self.quotes_disagree.clone()) * two_pow(40)
    }

    /// Twin of `MarketState::pack`.
    pub fn pack(&self) -> FpVar<Fr> {
        &self.mark_price
            + (&self.funding_index + two_pow(63)) * two_pow(40)
            + &self.last_funding * two_pow(104)
            + &self.mark_time * two_pow(144)
            + &self.open_interest * two_pow(184)
    }

    /// `cond ? a : b`, field by field.
    pub fn select(cond: &Boolean<Fr>, a: &Self, b: &Self) -> Result<Self, SynthesisError> {
        Ok(MarketStateVar {
            mark_price: FpVar::conditionally_select(cond, &a.mark_price, &b.mark_price)?,
            funding_index: FpVar::conditionally_select(cond, &a.funding_index, &b.funding_index)?,
            last_funding: FpVar::conditionally_select(cond, &a.last_funding, &b.last_funding)?,
            mark_time: FpVar::conditionally_select(cond, &a.mark_time, &b.mark_time)?,
            open_interest: FpVar::conditionally_select(cond, &a.open_interest, &b.open_interest)?,
            index_price: FpVar::conditionally_select(cond, &a.index_price, &b.index_price)?,
            quotes_disagree: Boolean::conditionally_select(
                cond,
                &a.quotes_disagree,
                &b.quotes_disagree,
            )?,
        })
    }
}

/// Twin of `market::market_elements` (free: linear combinations).
pub fn market_elements(markets: &[MarketStateVar]) -> Vec<FpVar<Fr>> {
    let mut out: Vec<FpVar<Fr>> = markets.iter().map(MarketStateVar::pack).collect();
    out.extend(markets.chunks(ORACLES_PER_ELEMENT).map(|chunk| {
        chunk.iter().enumerate().fold(FpVar::zero(), |acc, (j, m)| {
            acc + m.pack_oracle() * two_pow(ORACLE_BITS * j as u32)
        })
    }));
    out
}

/// Twin of `State::markets_hash`.
pub fn markets_hash(markets: &[MarketStateVar]) -> Result<FpVar<Fr>, SynthesisError> {
    poseidon_slice(&market_elements(markets))
}

/// The one-hot selector of market `id` among `count` markets: enforces `id < count` (exactly one
/// flag is set), `count` constraints for the comparisons and one for the sum.
pub fn market_selector(id: &FpVar<Fr>, count: usize) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    let flags = (0..count)
        .map(|m| id.is_eq(&FpVar::Constant(Fr::from(m as u64))))
        .collect::<Result<Vec<_>, _>>()?;
    let sum: FpVar<Fr> = flags.iter().map(|f| FpVar::from(f.clone())).sum();
    enforce_equal(&sum, &FpVar::one())?;
    Ok(flags)
}

/// `sum(flag_m * values_m)`: the selected market's value (one constraint per market).
pub fn select_by(flags: &[Boolean<Fr>], values: &[FpVar<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    let mut acc = FpVar::zero();
    for (f, v) in flags.iter().zip(values) {
        acc += f.select(v, &FpVar::zero())?;
    }
    Ok(acc)
}

/// `sum(flag_m * constants_m)`: a per-market constant of the selected market (free).
pub fn select_constant(flags: &[Boolean<Fr>], constants: &[Fr]) -> FpVar<Fr> {
    flags
        .iter()
        .zip(constants)
        .fold(FpVar::zero(), |acc, (f, c)| {
            acc + FpVar::from(f.clone()) * *c
        })
}

/// A per-market parameter of the selected market, `param(params[m])` (free: a constant sum).
pub fn select_param(
    flags: &[Boolean<Fr>],
    params: &[zkperp_state::market::MarketParams],
    param: impl Fn(&zkperp_state::market::MarketParams) -> u64,
) -> FpVar<Fr> {
    let constants: Vec<Fr> = params.iter().map(|m| Fr::from(param(m))).collect();
    select_constant(flags, &constants)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::GR1CSVar;
    use ark_relations::gr1cs::ConstraintSystem;
    use zkperp_state::testkit::Fixture;

    #[test]
    fn markets_hash_matches_native() {
        let mut f = Fixture::new(1);
        f.advance(10);
        f.apply(zkperp_state::Transaction::FundingTick(
            zkperp_state::tx::FundingTick {
                market: zkperp_state::testkit::btc(),
                index: FundingIndex::new(-3).expect("index"),
            },
        ))
        .expect("tick");
        let cs = ConstraintSystem::<Fr>::new_ref();
        let vars = f
            .state
            .markets()
            .iter()
            .map(|m| MarketStateVar::new_witness(cs.clone(), m))
            .collect::<Result<Vec<_>, _>>()
            .expect("alloc");
        assert_eq!(
            markets_hash(&vars).expect("hash").value().expect("value"),
            f.state.markets_hash()
        );
        assert!(cs.is_satisfied().expect("sat"));
    }

    #[test]
    fn selector_refuses_an_unknown_market() {
        for (id, ok) in [(0u64, true), (1, true), (2, false)] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let v = FpVar::new_witness(cs.clone(), || Ok(Fr::from(id))).expect("alloc");
            let flags = market_selector(&v, 2).expect("selector");
            assert_eq!(cs.is_satisfied().expect("sat"), ok, "market {id}");
            if ok {
                assert!(flags[id as usize].value().expect("value"));
            }
        }
    }
}
