//! Twin of `zkperp_state::tx::funding_tick`: a market's cumulative funding index moves by at
//! most `max_funding_rate * mark price * tick_value * elapsed` (per lot, in 10^-9 units), where
//! `elapsed` is the time since its last funding tick, clamped at `2^FUNDING_ELAPSED_BITS - 1`.
//! Record: `0x05 | u8 market | i64 index` (two's complement).

use ark_r1cs_std::{alloc::AllocVar, boolean::Boolean, fields::fp::FpVar, fields::FieldVar};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::field::fr_from_i128;
use zkperp_state::tx::FundingTick;
use zkperp_state::units::{FundingIndex, MarketId, Timestamp, FUNDING_ELAPSED_BITS, PPB_ONE};
use zkperp_state::Fr;

use zkperp_state::batch::{AppliedTx, SealedBatch};
use zkperp_state::state::StateConfig;
use crate::tx::Gadget;
use crate::witness::ReceiptError;
use crate::batch::BatchVar;
use crate::eq::conditional_enforce_not_equal;
use crate::market::{market_selector, select_by, select_constant, MarketStateVar};
use zkperp_state::layout::MARKET;
use crate::pubdata::{le_bits_to_be_bytes, FieldsVar};
use crate::units::{
    conditional_enforce_unsigned_bits, enforce_signed_bits, enforce_unsigned_bits, two_pow,
};

/// Bits of `cap -+ delta * 10^9` when non-negative: the cap is below `2^108` (funding_tick.rs).
const CAP_BITS: u32 = 110;

pub fn execute_funding_tick(
    b: &mut BatchVar,
    t: &FundingTick,
    enabled: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    let cs = b.cs.clone();
    let params = b.config.markets.clone();
    let market = FpVar::new_witness(cs.clone(), || Ok(Fr::from(t.market.get())))?;
    enforce_unsigned_bits(&market, MarketId::BITS)?;
    let index = FpVar::new_witness(cs, || Ok(fr_from_i128(t.index.get())))?;
    enforce_signed_bits(&index, FundingIndex::BITS)?;
    let flags = market_selector(&market, params.len())?;
    let mark = select_by(&flags, &b.marks())?;
    conditional_enforce_not_equal(&mark, &FpVar::zero(), enabled)?;
    let old_index = select_by(&flags, &b.funding_indices())?;
    let lasts: Vec<FpVar<Fr>> = b.markets.iter().map(|m| m.last_funding.clone()).collect();
    let last = select_by(&flags, &lasts)?;

    // elapsed, clamped: any bit at or above FUNDING_ELAPSED_BITS set means "the maximum".
    let bits = conditional_enforce_unsigned_bits(&(&b.now - &last), Timestamp::BITS, enabled)?;
    let cut = FUNDING_ELAPSED_BITS as usize;
    let low = Boolean::le_bits_to_fp(&bits[..cut])?;
    let over = Boolean::kary_or(&bits[cut..])?;
    let elapsed = over.select(
        &FpVar::Constant(two_pow(FUNDING_ELAPSED_BITS) - Fr::from(1u64)),
        &low,
    )?;
    let rate = select_constant(
        &flags,
        &params
            .iter()
            .map(|m| Fr::from(m.max_funding_rate.get()) * Fr::from(m.tick_value.get()))
            .collect::<Vec<_>>(),
    );
    let cap = rate * &mark * elapsed;
    let delta = (&index - &old_index) * Fr::from(PPB_ONE);
    conditional_enforce_unsigned_bits(&(&cap - &delta), CAP_BITS, enabled)?;
    conditional_enforce_unsigned_bits(&(&cap + &delta), CAP_BITS, enabled)?;

    let mut markets = Vec::with_capacity(b.markets.len());
    for (m, state) in b.markets.iter().enumerate() {
        let here = &flags[m] & enabled;
        let updated = MarketStateVar {
            mark_price: state.mark_price.clone(),
            funding_index: index.clone(),
            last_funding: b.now.clone(),
            mark_time: state.mark_time.clone(),
            ..state.clone()
        };
        markets.push(MarketStateVar::select(&here, &updated, state)?);
    }
    b.markets = markets;

    // The index in two's complement: the bits of `index + 2^63` with the top bit flipped (and
    // all zero in a disabled slot).
    let zero = FpVar::zero();
    let shifted = enabled.select(&(&index + two_pow(63)), &zero)?;
    let mut index_bits = enforce_unsigned_bits(&shifted, 64)?;
    index_bits[63] = &index_bits[63] ^ enabled;
    let body = FieldsVar::body(&MARKET)
        .uint("ID", &enabled.select(&market, &zero)?)?
        .bytes("VALUE", le_bits_to_be_bytes(&index_bits))
        .finish();
    b.record(
        zkperp_state::tx::funding_tick::FundingIndexRecord::KIND,
        body,
        enabled,
    )
}

impl Gadget for FundingTick {
    type Witness = FundingTick;

    fn witness(
        config: &StateConfig,
        batch: &SealedBatch,
        tx: &Self,
        applied: &AppliedTx,
    ) -> Result<Self::Witness, ReceiptError> {
        let _ = (config, batch, applied);
        Ok(*tx)
    }

    fn dummy(config: &StateConfig) -> Self::Witness {
        let _ = config;
        FundingTick {
            market: MarketId::default(),
            index: FundingIndex::default(),
        }
    }

    fn synthesize(
        b: &mut BatchVar,
        w: &Self::Witness,
        enabled: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        execute_funding_tick(b, w, enabled)
    }
}
