//! Twin of `zkperp_state::tx::deleverage`: a bankrupt account the insurance fund cannot absorb
//! hands `size` lots to a counterparty on the other side at the price the rule fixes. Rules as
//! natively: (1) two accounts, neither the fund; funding settled; (2) the deleveraged account is
//! bankrupt (`TV < 0`); (3) the fund, read (proven in the tree, not written), cannot absorb it:
//! taking the position `a` (and the deficit, if it is the account's last position) would leave
//! it liquidatable, the exact complement of the liquidation's `FundExhausted`;
//! (4) opposite positions, `0 < size <= min(|a|, |b|)`; (5) the price: the mark moved against
//! the counterparty by `share = floor(D * V / N)` (`D = -TV`, `V` the closed lots at the mark,
//! `N` every position's notional), proven as `0 <= D * V - share * N < N`; (6) the deleverager
//! is not liquidatable afterwards; (7) the market's open interest drops by `size`: natively the
//! longs' change of both accounts, which (4) makes exactly `-size` (one of the two positions is
//! long and loses `size` lots, the other stays short or flat), so no magnitude is computed here.
//! Two writes: the deleveraged account, then the deleverager.

use zkperp_state::tx::Deleverage;
use ark_r1cs_std::{
    alloc::AllocVar, boolean::Boolean, eq::EqGadget, fields::fp::FpVar, fields::FieldVar,
};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::field::fr_from_i128;
use zkperp_state::margin::Fraction;
use zkperp_state::units::{AccountId, BaseLots, Collateral, MarketId, PPM_ONE};
use zkperp_state::Fr;

use zkperp_state::batch::{AppliedTx, SealedBatch};
use zkperp_state::state::StateConfig;
use crate::tx::Gadget;
use crate::witness::ReceiptError;
use crate::batch::BatchVar;
use crate::eq::conditional_enforce_not_equal;
use crate::funding::settle_funding;
use crate::limits::move_open_interest;
use crate::margin::{
    abs_size, conditional_enforce_fresh_marks, is_liquidatable, is_nonnegative, margin_summary,
    total_value,
};
use crate::market::{market_selector, select_by, select_param};
use crate::units::{conditional_enforce_unsigned_bits, enforce_signed_bits, enforce_unsigned_bits};
use crate::witness::{account_witness, dummy_account, AccountWitness};

/// `|TV| < 2^100` (units.rs).
const VALUE_BITS: u32 = 101;
/// `TR_fund * 10^6 - (TV_fund + TV) * 10^6 - 1` when non-negative: below `2^122`.
const RISK_BITS: u32 = 123;
/// An account's total notional: 8 markets of `|size| * price * tick_value < 2^96`.
const NOTIONAL_BITS: u32 = 99;

pub fn execute_deleverage(
    b: &mut BatchVar,
    w: &DeleverageWitness,
    enabled: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    let cs = b.cs.clone();
    let t = &w.deleverage;
    let alloc_id = |id: AccountId| -> Result<FpVar<Fr>, SynthesisError> {
        let v = FpVar::new_witness(cs.clone(), || Ok(Fr::from(id.get())))?;
        enforce_unsigned_bits(&v, AccountId::BITS)?;
        Ok(v)
    };
    let bankrupt_id = alloc_id(t.deleveraged)?;
    let counter_id = alloc_id(t.deleverager)?;
    // (1)
    conditional_enforce_not_equal(&bankrupt_id, &counter_id, enabled)?;
    conditional_enforce_not_equal(&bankrupt_id, &FpVar::zero(), enabled)?;
    conditional_enforce_not_equal(&counter_id, &FpVar::zero(), enabled)?;
    let market = FpVar::new_witness(cs.clone(), || Ok(Fr::from(t.market.get())))?;
    enforce_unsigned_bits(&market, MarketId::BITS)?;
    let flags = market_selector(&market, b.markets_count())?;
    let size = FpVar::new_witness(cs.clone(), || Ok(fr_from_i128(t.size.get())))?;
    enforce_unsigned_bits(&size, BaseLots::BITS)?;
    conditional_enforce_not_equal(&size, &FpVar::zero(), enabled)?;
    // Below 2^100: at most the deficit (units.rs: |TV| < 2^100).
    let share = FpVar::new_witness(cs, || Ok(fr_from_i128(w.share)))?;
    enforce_unsigned_bits(&share, VALUE_BITS - 1)?;

    let params = b.config.markets.clone();
    let marks = b.marks();
    let indices = b.funding_indices();

    // (3) The fund as it stands, settled, read from the tree.
    let fund_id = FpVar::Constant(Fr::from(AccountId::INSURANCE_FUND.get()));
    let (_, fund) = b.read_leaf(&w.fund, true, &fund_id)?;
    let exists = Boolean::TRUE;
    // Read, not written: the access leaves it as it found it.
    b.access(&fund_id, enabled, (&exists, &fund), (&exists, &fund))?;
    let (fund_collateral, fund_positions) =
        settle_funding(&fund.collateral, &fund.positions, &indices)?;
    let fund_sizes: Vec<FpVar<Fr>> = fund_positions.iter().map(|p| p.size.clone()).collect();
    conditional_enforce_fresh_marks(&fund_sizes, &[], &b.markets, &params, &b.now, enabled)?;
    let fund_summary = margin_summary(
        &fund_collateral,
        &fund_sizes,
        &marks,
        &params,
        Fraction::Maintenance,
    )?;

    // (2) Bankrupt.
    let (_, bankrupt) = b.read_leaf(&w.deleveraged, true, &bankrupt_id)?;
    let (collateral, mut positions) =
        settle_funding(&bankrupt.collateral, &bankrupt.positions, &indices)?;
    let sizes: Vec<FpVar<Fr>> = positions.iter().map(|p| p.size.clone()).collect();
    conditional_enforce_fresh_marks(&sizes, &[], &b.markets, &params, &b.now, enabled)?;
    let tv_before = total_value(&collateral, &sizes, &marks, &params);
    conditional_enforce_unsigned_bits(&(tv_before.negate()? - FpVar::one()), VALUE_BITS, enabled)?;
    // (3) (TV_fund + absorbed) * 10^6 < TR_fund(positions + a in this market), where
    // absorbed = TV when every other position of the account is flat, else 0.
    let a = select_by(&flags, &sizes)?;
    let mut last_position = Boolean::TRUE;
    for (size, flag) in sizes.iter().zip(&flags) {
        let other = flag.select(&FpVar::zero(), size)?;
        last_position = &last_position & &other.is_zero()?;
    }
    let absorbed = last_position.select(&tv_before, &FpVar::zero())?;
    let taken: Vec<FpVar<Fr>> = fund_sizes
        .iter()
        .zip(&flags)
        .map(|(s, flag)| Ok(s + flag.select(&a, &FpVar::zero())?))
        .collect::<Result<_, SynthesisError>>()?;
    for s in &taken {
        enforce_signed_bits(s, BaseLots::BITS)?;
    }
    let fund_after = margin_summary(
        &fund_collateral,
        &taken,
        &marks,
        &params,
        Fraction::Maintenance,
    )?;
    let shortfall = &fund_after.total_risk_ppm
        - (&fund_summary.total_value + &absorbed) * Fr::from(PPM_ONE)
        - FpVar::one();
    conditional_enforce_unsigned_bits(&shortfall, RISK_BITS, enabled)?;

    // (4) Opposite positions, both shrinking.
    conditional_enforce_unsigned_bits(&(abs_size(&a)? - &size), BaseLots::BITS, enabled)?;
    let a_long = is_nonnegative(&a, BaseLots::BITS)?;
    let change = a_long.select(&size.negate()?, &size)?;
    // (5) The price. V: the closed lots at the mark; N: every position's notional; the share
    // is floor(D * V / N), proven by its remainder: 0 <= D * V - share * N < N. Widths:
    // D < 2^100, V <= N < 2^99 (8 markets of 2^96), so D * V < 2^196 and share * N < 2^199:
    // nothing wraps, and a share one too large leaves a "negative" remainder the range refuses.
    let tick_value = select_param(&flags, &params, |m| m.tick_value.get());
    let mark = select_by(&flags, &marks)?;
    let value = &size * &mark * &tick_value;
    let mut notional = FpVar::zero();
    for ((s, m), p) in sizes.iter().zip(&marks).zip(&params) {
        notional += abs_size(s)? * m * Fr::from(p.tick_value.get());
    }
    let remainder = tv_before.negate()? * &value - &share * &notional;
    conditional_enforce_unsigned_bits(&remainder, NOTIONAL_BITS, enabled)?;
    conditional_enforce_unsigned_bits(
        &(&notional - &remainder - FpVar::one()),
        NOTIONAL_BITS,
        enabled,
    )?;
    // The side that was long sells for V + share; the side that was short buys for V - share:
    // the bankrupt account's TV rises by exactly `share`, the counterparty's falls by it.
    let received = a_long.select(&(&value + &share), &(&share - &value))?;
    for (p, flag) in positions.iter_mut().zip(&flags) {
        p.size = &p.size + flag.select(&change, &FpVar::zero())?;
        enforce_signed_bits(&p.size, BaseLots::BITS)?;
    }
    let after_collateral = collateral + &received;
    enforce_signed_bits(&after_collateral, Collateral::BITS)?;
    let mut bankrupt_after = bankrupt.clone();
    bankrupt_after.collateral = after_collateral;
    bankrupt_after.positions = positions;
    b.access(
        &bankrupt_id,
        enabled,
        (&exists, &bankrupt),
        (&exists, &bankrupt_after),
    )?;

    // (4, 6) The counterparty: the other side, at least `size` of it; not liquidatable after.
    let (_, counter) = b.read_leaf(&w.deleverager, true, &counter_id)?;
    let (collateral, mut positions) =
        settle_funding(&counter.collateral, &counter.positions, &indices)?;
    let sizes: Vec<FpVar<Fr>> = positions.iter().map(|p| p.size.clone()).collect();
    conditional_enforce_fresh_marks(&sizes, &[], &b.markets, &params, &b.now, enabled)?;
    let bpos = select_by(&flags, &sizes)?;
    let b_long = is_nonnegative(&bpos, BaseLots::BITS)?;
    (&a_long ^ &b_long).conditional_enforce_equal(&Boolean::TRUE, enabled)?;
    conditional_enforce_unsigned_bits(&(abs_size(&bpos)? - &size), BaseLots::BITS, enabled)?;
    for (p, flag) in positions.iter_mut().zip(&flags) {
        p.size = &p.size - flag.select(&change, &FpVar::zero())?;
        enforce_signed_bits(&p.size, BaseLots::BITS)?;
    }
    let after_collateral = collateral - &received;
    enforce_signed_bits(&after_collateral, Collateral::BITS)?;
    let after_sizes: Vec<FpVar<Fr>> = positions.iter().map(|p| p.size.clone()).collect();
    let maintenance = margin_summary(
        &after_collateral,
        &after_sizes,
        &marks,
        &params,
        Fraction::Maintenance,
    )?;
    is_liquidatable(&maintenance)?.conditional_enforce_equal(&Boolean::FALSE, enabled)?;
    // (7)
    move_open_interest(&mut b.markets, &flags, &size.negate()?, enabled)?;
    let mut counter_after = counter.clone();
    counter_after.collateral = after_collateral;
    counter_after.positions = positions;
    b.access(
        &counter_id,
        enabled,
        (&exists, &counter),
        (&exists, &counter_after),
    )
}

#[derive(Debug, Clone)]
pub struct DeleverageWitness {
    pub deleverage: Deleverage,
    /// The closed lots' share of the bankrupt account's deficit, as the rule computes it
    /// (`deleverage::deficit_share`); the circuit proves it is exactly that.
    pub share: i128,
    /// The insurance fund as the rules read it (not written).
    pub fund: AccountWitness,
    pub deleveraged: AccountWitness,
    pub deleverager: AccountWitness,
}

impl Gadget for Deleverage {
    type Witness = DeleverageWitness;

    fn witness(
        config: &StateConfig,
        batch: &SealedBatch,
        tx: &Self,
        applied: &AppliedTx,
    ) -> Result<Self::Witness, ReceiptError> {
        let [deleveraged, deleverager] = applied.receipt.writes.as_slice() else {
            return Err(ReceiptError);
        };
        let read = applied.receipt.reads.first().ok_or(ReceiptError)?;
        // The share the rule charged: the bankrupt account's collateral change less the closed
        // lots' value at the mark (markets are final after the ticks, which come first in a
        // batch).
        let share = {
            let markets = &batch.markets;
            let mut before = deleveraged.before.clone().ok_or(ReceiptError)?;
            zkperp_state::funding::settle_funding(&mut before, markets)
                .map_err(|_| ReceiptError)?;
            let m = tx.market.index();
            let params = config.market(tx.market).ok_or(ReceiptError)?;
            let value =
                zkperp_state::units::notional(tx.size, markets[m].mark_price, params.tick_value);
            let received = deleveraged.after.collateral.get() - before.collateral.get();
            received - before.positions[m].size.get().signum() * value
        };
        Ok(DeleverageWitness {
            deleverage: *tx,
            share,
            fund: AccountWitness {
                id: read.account,
                // The fund is read inside the tree: a read without a path is not its.
                leaf: read
                    .in_tree
                    .then(|| read.leaf.clone())
                    .flatten()
                    .ok_or(ReceiptError)?,
            },
            deleveraged: account_witness(deleveraged).ok_or(ReceiptError)?,
            deleverager: account_witness(deleverager).ok_or(ReceiptError)?,
        })
    }

    fn dummy(config: &StateConfig) -> Self::Witness {
        DeleverageWitness {
            deleverage: Deleverage {
                deleveraged: AccountId::INSURANCE_FUND,
                deleverager: AccountId::INSURANCE_FUND,
                market: MarketId::default(),
                size: BaseLots::ZERO,
            },
            share: 0,
            fund: dummy_account(config),
            deleveraged: dummy_account(config),
            deleverager: dummy_account(config),
        }
    }

    fn synthesize(
        b: &mut BatchVar,
        w: &Self::Witness,
        enabled: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        execute_deleverage(b, w, enabled)
    }
}
