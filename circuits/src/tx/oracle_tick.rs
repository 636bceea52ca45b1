//! Twin of `zkperp_state::tx::oracle_tick`: the mark price of a market becomes the median of its
//! quorum of quotes, each signed by a distinct one of the market's oracle keys (constants of the
//! circuit), no older than the market's freshness window, not from the future, and no older than
//! the previous tick's newest quote (the market's `mark_time`); the quotes are sorted by price,
//! so the median is the middle one and no sorting network is needed. The new `mark_time` is the
//! newest quote's time: an upper bound of every counted quote's time that equals one of them
//! (the product of the gaps is zero).
//!
//! The slot has room for the largest quorum of any market; quote `i` counts when `i` is below the
//! selected market's quorum. A key is picked by a one-hot choice over (market, oracle index)
//! pairs, so an index outside the market's keys has no choice and is unsatisfiable.
//! The mark moves at most the market's band from the previous one (`banded`: a 40-bit step
//! witness and two comparisons), the median becomes the market's index price, and the quotes'
//! spread against the market's largest (a 61-bit sign test) sets `quotes_disagree`.
//! Record: `0x04 | u8 market | u64 price` (the banded mark).

use ark_r1cs_std::{
    alloc::AllocVar, boolean::Boolean, eq::EqGadget, fields::fp::FpVar, fields::FieldVar,
};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::domain::MessageKind;
use zkperp_state::tx::OracleTick;
use ark_r1cs_std::GR1CSVar;
use zkperp_state::field::fr_to_u128;
use zkperp_state::units::{MarketId, PriceTicks, Timestamp, PPM_BITS, PPM_ONE};
use zkperp_state::Fr;

use zkperp_state::batch::{AppliedTx, SealedBatch};
use zkperp_state::state::StateConfig;
use crate::tx::Gadget;
use crate::witness::ReceiptError;
use crate::witness::dummy_key;
use zkperp_state::tx::{Quote, SignedQuote};
use crate::babyjubjub::point_from_coordinates;
use crate::batch::BatchVar;
use crate::eddsa::{PublicKeyVar, SignatureVar};
use crate::eq::{conditional_enforce_equal, conditional_enforce_not_equal, enforce_equal};
use crate::margin::is_nonnegative;
use crate::market::{market_selector, select_by, select_constant, select_param, MarketStateVar};
use crate::poseidon::poseidon;
use zkperp_state::layout::MARKET;
use crate::pubdata::FieldsVar;
use crate::units::{conditional_enforce_unsigned_bits, enforce_unsigned_bits, two_pow};
use crate::witness::max_quorum;

pub fn execute_oracle_tick(
    b: &mut BatchVar,
    t: &OracleTick,
    enabled: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    let cs = b.cs.clone();
    let params = b.config.markets.clone();
    let width = max_quorum(&b.config);
    let market = FpVar::new_witness(cs.clone(), || Ok(Fr::from(t.market.get())))?;
    enforce_unsigned_bits(&market, MarketId::BITS)?;
    let flags = market_selector(&market, params.len())?;
    // `active[i]`: quote i counts for the selected market (free: a sum of flags).
    let active: Vec<FpVar<Fr>> = (0..width)
        .map(|i| {
            let c: Vec<Fr> = params
                .iter()
                .map(|m| Fr::from(u64::from(usize::from(m.oracle_quorum) > i)))
                .collect();
            select_constant(&flags, &c)
        })
        .collect();
    // `is_median[i]`: quote i is the middle one (free as well).
    let is_median: Vec<FpVar<Fr>> = (0..width)
        .map(|i| {
            let c: Vec<Fr> = params
                .iter()
                .map(|m| Fr::from(u64::from(usize::from(m.oracle_quorum) / 2 == i)))
                .collect();
            select_constant(&flags, &c)
        })
        .collect();
    let freshness = select_constant(
        &flags,
        &params
            .iter()
            .map(|m| Fr::from(m.oracle_freshness_secs))
            .collect::<Vec<_>>(),
    );

    let times: Vec<FpVar<Fr>> = b.markets.iter().map(|m| m.mark_time.clone()).collect();
    let last = select_by(&flags, &times)?;
    let newest_value = t
        .quotes
        .iter()
        .map(|q| q.quote.timestamp.get())
        .max()
        .unwrap_or_default();
    let newest = FpVar::new_witness(cs.clone(), || Ok(Fr::from(newest_value)))?;
    let mut gaps = FpVar::one();

    let mut prices = Vec::with_capacity(width);
    let mut oracles = Vec::with_capacity(width);
    let mut median = FpVar::zero();
    for i in 0..width {
        // A tick with fewer quotes than the slot's width is padded with copies of its last
        // quote; they are inactive for its market.
        let q = t
            .quotes
            .get(i)
            .or(t.quotes.last())
            .copied()
            .ok_or(SynthesisError::AssignmentMissing)?;
        let on = active[i].is_eq(&FpVar::one())?;
        let on = &on & enabled;
        let oracle = FpVar::new_witness(cs.clone(), || Ok(Fr::from(u64::from(q.oracle))))?;
        enforce_unsigned_bits(&oracle, 8)?;
        let price = FpVar::new_witness(cs.clone(), || Ok(Fr::from(q.quote.price.get())))?;
        enforce_unsigned_bits(&price, PriceTicks::BITS)?;
        let time = FpVar::new_witness(cs.clone(), || Ok(Fr::from(q.quote.timestamp.get())))?;
        enforce_unsigned_bits(&time, Timestamp::BITS)?;
        let signature = SignatureVar::new_witness(cs.clone(), || Ok(q.signature))?;

        // The key: exactly one (market, oracle) pair is chosen.
        let oracle_flags: Vec<Boolean<Fr>> = (0..params
            .iter()
            .map(|m| m.oracle_keys.len())
            .max()
            .unwrap_or(0))
            .map(|k| oracle.is_eq(&FpVar::Constant(Fr::from(k as u64))))
            .collect::<Result<_, _>>()?;
        let (mut x, mut y, mut chosen) = (FpVar::zero(), FpVar::zero(), FpVar::zero());
        for (m, market_params) in params.iter().enumerate() {
            for (k, key) in market_params.oracle_keys.iter().enumerate() {
                let pick = FpVar::from(&flags[m] & &oracle_flags[k]);
                x += &pick * key.x();
                y += &pick * key.y();
                chosen += pick;
            }
        }
        enforce_equal(&chosen, &FpVar::one())?;
        let key = PublicKeyVar::from_point(point_from_coordinates(&x, &y)?);
        let word = &market + &price * two_pow(8) + &time * two_pow(48);
        let message = poseidon(&[b.domain.tag(MessageKind::OracleQuote), word])?;
        key.conditional_enforce_valid(&message, &signature, &on)?;
        // Fresh, and not from the future.
        let age = &b.now - &time;
        conditional_enforce_unsigned_bits(&age, Timestamp::BITS, &on)?;
        conditional_enforce_unsigned_bits(&(&freshness - &age), Timestamp::BITS, &on)?;
        // No older than the last tick's newest quote; the newest of this tick's bounds it.
        conditional_enforce_unsigned_bits(&(&time - &last), Timestamp::BITS, &on)?;
        let gap = &newest - &time;
        conditional_enforce_unsigned_bits(&gap, Timestamp::BITS, &on)?;
        gaps *= on.select(&gap, &FpVar::one())?;
        median += &is_median[i] * &price;
        prices.push(price);
        oracles.push((oracle, on));
    }
    for i in 1..width {
        // Sorted, and distinct keys.
        let on = &oracles[i].1;
        conditional_enforce_unsigned_bits(&(&prices[i] - &prices[i - 1]), PriceTicks::BITS, on)?;
        for j in 0..i {
            conditional_enforce_not_equal(&oracles[i].0, &oracles[j].0, on)?;
        }
    }
    conditional_enforce_not_equal(&median, &FpVar::zero(), enabled)?;
    conditional_enforce_equal(&gaps, &FpVar::zero(), enabled)?;

    // The quotes' spread: the last counted quote is the highest, quote 0 the lowest.
    let highest: FpVar<Fr> = (0..width)
        .map(|i| {
            let c: Vec<Fr> = params
                .iter()
                .map(|m| Fr::from(u64::from(usize::from(m.oracle_quorum) == i + 1)))
                .collect();
            select_constant(&flags, &c) * &prices[i]
        })
        .sum();
    let spread = highest - &prices[0];
    let max_spread = select_param(&flags, &params, |m| m.max_quote_spread.get());
    // Both products are below 2^60.
    let agree = is_nonnegative(&(max_spread * &median - spread * Fr::from(PPM_ONE)), 61)?;
    let disagree = !agree;
    let mark = banded(b, &flags, &median)?;

    // The selected market's mark becomes the banded median, its index the median; on its first
    // price, funding starts now.
    let mut markets = Vec::with_capacity(b.markets.len());
    for (m, state) in b.markets.iter().enumerate() {
        let here = &flags[m] & enabled;
        let first = state.mark_price.is_eq(&FpVar::zero())?;
        let updated = MarketStateVar {
            mark_price: mark.clone(),
            last_funding: (&here & &first).select(&b.now, &state.last_funding)?,
            mark_time: newest.clone(),
            index_price: median.clone(),
            quotes_disagree: disagree.clone(),
            ..state.clone()
        };
        markets.push(MarketStateVar::select(&here, &updated, state)?);
    }
    b.markets = markets;

    let zero = FpVar::zero();
    let body = FieldsVar::body(&MARKET)
        .uint("ID", &enabled.select(&market, &zero)?)?
        .uint("VALUE", &enabled.select(&mark, &zero)?)?
        .finish();
    b.record(
        zkperp_state::tx::oracle_tick::MarkPriceRecord::KIND,
        body,
        enabled,
    )
}

/// Twin of `oracle_tick::banded` for the selected market: `median` clamped to `prev ± step`,
/// `step = floor(prev * band / 10^6)` (a witness bound by `prev * band = step * 10^6 + rem`,
/// `0 <= rem < 10^6`), or the median on the market's first tick.
fn banded(
    b: &BatchVar,
    flags: &[Boolean<Fr>],
    median: &FpVar<Fr>,
) -> Result<FpVar<Fr>, SynthesisError> {
    let cs = b.cs.clone();
    let prev = select_by(flags, &b.marks())?;
    let band = select_param(flags, &b.config.markets, |m| m.mark_band.get());
    let product = &prev * &band;
    let split = |quotient: bool| {
        let p = fr_to_u128(&product.value()?).ok_or(SynthesisError::Unsatisfiable)?;
        let one = u128::from(PPM_ONE);
        Ok(Fr::from(if quotient { p / one } else { p % one }))
    };
    let step = FpVar::new_witness(cs.clone(), || split(true))?;
    enforce_unsigned_bits(&step, PriceTicks::BITS)?;
    let rem = FpVar::new_witness(cs, || split(false))?;
    enforce_unsigned_bits(&rem, PPM_BITS)?;
    enforce_unsigned_bits(&(FpVar::Constant(Fr::from(PPM_ONE - 1)) - &rem), PPM_BITS)?;
    enforce_equal(&product, &(&step * Fr::from(PPM_ONE) + rem))?;
    // prev < 2^40 and step <= prev: low in [0, 2^40), high below 2^41, the median below 2^40.
    let (low, high) = (&prev - &step, &prev + &step);
    let above = is_nonnegative(&(median - &high - FpVar::one()), PriceTicks::BITS + 2)?;
    let below = is_nonnegative(&(&low - median - FpVar::one()), PriceTicks::BITS + 1)?;
    let clamped = above.select(&high, &below.select(&low, median)?)?;
    prev.is_eq(&FpVar::zero())?.select(median, &clamped)
}

impl Gadget for OracleTick {
    type Witness = OracleTick;

    fn witness(
        config: &StateConfig,
        batch: &SealedBatch,
        tx: &Self,
        applied: &AppliedTx,
    ) -> Result<Self::Witness, ReceiptError> {
        let _ = (config, batch, applied);
        Ok(tx.clone())
    }

    fn dummy(config: &StateConfig) -> Self::Witness {
        OracleTick {
            market: MarketId::default(),
            quotes: vec![
                SignedQuote {
                    oracle: 0,
                    quote: Quote {
                        market: MarketId::default(),
                        price: PriceTicks::default(),
                        timestamp: Timestamp::default(),
                    },
                    signature: dummy_key().1,
                };
                max_quorum(config)
            ],
        }
    }

    fn synthesize(
        b: &mut BatchVar,
        w: &Self::Witness,
        enabled: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        execute_oracle_tick(b, w, enabled)
    }
}
