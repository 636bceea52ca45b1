//! Twin of `zkperp_state::tx::liquidation`: while an account is below its maintenance
//! requirement, the insurance fund takes over `size` lots of one position at the mark price.
//! Rules as natively: (1) not the fund; funding settled on both; (2) the account is liquidatable;
//! (3) `0 < size <= |position|`, so the position only shrinks toward zero; (4) the lots and their
//! mark value change hands; (5) a penalty `0 <= fee <= liquidation_fee * |value|`, never above the
//! account's remaining total value; (6) a bankrupt remainder with no position left is absorbed by
//! the fund; (7) the fund is not liquidatable afterwards; (8) the market's open interest moves by
//! both longs' change. Two writes: the account, then the fund.

use zkperp_state::tx::Liquidation;
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
use crate::limits::{move_open_interest, position_move};
use crate::margin::{
    abs_size, conditional_enforce_fresh_marks, is_liquidatable, is_nonnegative, margin_summary,
    total_value,
};
use crate::market::{market_selector, select_by, select_param};
use crate::units::{conditional_enforce_unsigned_bits, enforce_signed_bits, enforce_unsigned_bits};
use crate::witness::{account_witness, dummy_account, AccountWitness};

/// `|TV| < 2^100` (units.rs): the bits of a non-negative total value minus a fee.
const VALUE_BITS: u32 = 101;
/// `liquidation_fee * |value| - fee * 10^6` when non-negative: below `2^20 * 2^96`.
const FEE_BOUND_BITS: u32 = 117;

pub fn execute_liquidation(
    b: &mut BatchVar,
    w: &LiquidationWitness,
    enabled: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    let cs = b.cs.clone();
    let t = &w.liquidation;
    let account = FpVar::new_witness(cs.clone(), || Ok(Fr::from(t.account.get())))?;
    enforce_unsigned_bits(&account, AccountId::BITS)?;
    conditional_enforce_not_equal(&account, &FpVar::zero(), enabled)?;
    let market = FpVar::new_witness(cs.clone(), || Ok(Fr::from(t.market.get())))?;
    enforce_unsigned_bits(&market, MarketId::BITS)?;
    let flags = market_selector(&market, b.markets_count())?;
    let size = FpVar::new_witness(cs.clone(), || Ok(fr_from_i128(t.size.get())))?;
    enforce_unsigned_bits(&size, BaseLots::BITS)?;
    conditional_enforce_not_equal(&size, &FpVar::zero(), enabled)?;
    let fee = FpVar::new_witness(cs, || Ok(fr_from_i128(t.fee.get())))?;
    enforce_unsigned_bits(&fee, Collateral::BITS)?;

    let params = b.config.markets.clone();
    let marks = b.marks();
    let indices = b.funding_indices();
    let mark = select_by(&flags, &marks)?;
    let tick_value = select_param(&flags, &params, |m| m.tick_value.get());
    let fee_ppm = select_param(&flags, &params, |m| m.liquidation_fee.get());

    // (1, 2) The account, settled, below maintenance.
    let (_, leaf) = b.read_leaf(&w.account, true, &account)?;
    let (collateral, mut positions) = settle_funding(&leaf.collateral, &leaf.positions, &indices)?;
    let sizes: Vec<FpVar<Fr>> = positions.iter().map(|p| p.size.clone()).collect();
    conditional_enforce_fresh_marks(&sizes, &[], &b.markets, &params, &b.now, enabled)?;
    let maintenance = margin_summary(&collateral, &sizes, &marks, &params, Fraction::Maintenance)?;
    is_liquidatable(&maintenance)?.conditional_enforce_equal(&Boolean::TRUE, enabled)?;

    // (3) Toward zero: `change = -sign(position) * size`, `size <= |position|`.
    let position = select_by(&flags, &sizes)?;
    let magnitude = abs_size(&position)?;
    conditional_enforce_unsigned_bits(&(&magnitude - &size), BaseLots::BITS, enabled)?;
    let long = is_nonnegative(&position, BaseLots::BITS)?;
    let change = long.select(&size.negate()?, &size)?;
    // (4) The value of the closed lots at the mark, signed like `change`.
    let value = &change * &mark * &tick_value;
    for (p, flag) in positions.iter_mut().zip(&flags) {
        p.size = &p.size + flag.select(&change, &FpVar::zero())?;
    }
    let after_collateral = collateral - &value;
    let after_sizes: Vec<FpVar<Fr>> = positions.iter().map(|p| p.size.clone()).collect();
    let remaining = total_value(&after_collateral, &after_sizes, &marks, &params);

    // (5) The penalty: bounded by the fraction of |value| and by max(remaining, 0).
    let abs_value = &size * &mark * &tick_value;
    conditional_enforce_unsigned_bits(
        &(fee_ppm * &abs_value - &fee * Fr::from(PPM_ONE)),
        FEE_BOUND_BITS,
        enabled,
    )?;
    let solvent = is_nonnegative(&remaining, VALUE_BITS - 1)?;
    let room = solvent.select(&remaining, &FpVar::zero())?;
    conditional_enforce_unsigned_bits(&(room - &fee), VALUE_BITS, enabled)?;
    let charged = after_collateral - &fee;

    // (6) A bankrupt remainder with no position left goes to the fund.
    let flat = Boolean::kary_and(
        &after_sizes
            .iter()
            .map(|s| s.is_eq(&FpVar::zero()))
            .collect::<Result<Vec<_>, _>>()?,
    )?;
    let in_debt = !is_nonnegative(&charged, Collateral::BITS + 1)?;
    let absorbed = (&flat & &in_debt).select(&charged, &FpVar::zero())?;
    let final_collateral = &charged - &absorbed;
    enforce_signed_bits(&final_collateral, Collateral::BITS)?;
    for p in &positions {
        enforce_signed_bits(&p.size, BaseLots::BITS)?;
    }

    let mut liquidated = leaf.clone();
    liquidated.collateral = final_collateral;
    liquidated.positions = positions;
    let exists = Boolean::TRUE;
    b.access(&account, enabled, (&exists, &leaf), (&exists, &liquidated))?;

    // (7) The fund takes the lots, the value, the fee and the deficit; it stays above
    // maintenance.
    let fund_id = FpVar::Constant(Fr::from(AccountId::INSURANCE_FUND.get()));
    let (_, fund) = b.read_leaf(&w.fund, true, &fund_id)?;
    let (fund_collateral, mut fund_positions) =
        settle_funding(&fund.collateral, &fund.positions, &indices)?;
    let fund_sizes_before: Vec<FpVar<Fr>> =
        fund_positions.iter().map(|p| p.size.clone()).collect();
    let fund_position = select_by(&flags, &fund_sizes_before)?;
    for (p, flag) in fund_positions.iter_mut().zip(&flags) {
        p.size = &p.size - flag.select(&change, &FpVar::zero())?;
        enforce_signed_bits(&p.size, BaseLots::BITS)?;
    }
    let fund_after = fund_collateral + &value + &fee + &absorbed;
    enforce_signed_bits(&fund_after, Collateral::BITS)?;
    let fund_sizes: Vec<FpVar<Fr>> = fund_positions.iter().map(|p| p.size.clone()).collect();
    conditional_enforce_fresh_marks(&fund_sizes, &[], &b.markets, &params, &b.now, enabled)?;
    let fund_maintenance = margin_summary(
        &fund_after,
        &fund_sizes,
        &marks,
        &params,
        Fraction::Maintenance,
    )?;
    is_liquidatable(&fund_maintenance)?.conditional_enforce_equal(&Boolean::FALSE, enabled)?;

    // (8) The open interest moves by both longs' change.
    let account_move = position_move(&position, &(&position + &change))?;
    let fund_move = position_move(&fund_position, &(&fund_position - &change))?;
    let moved = account_move.long_change + fund_move.long_change;
    move_open_interest(&mut b.markets, &flags, &moved, enabled)?;
    let mut fund_new = fund.clone();
    fund_new.collateral = fund_after;
    fund_new.positions = fund_positions;
    b.access(&fund_id, enabled, (&exists, &fund), (&exists, &fund_new))
}

#[derive(Debug, Clone)]
pub struct LiquidationWitness {
    pub liquidation: Liquidation,
    pub account: AccountWitness,
    pub fund: AccountWitness,
}

impl Gadget for Liquidation {
    type Witness = LiquidationWitness;

    fn witness(
        config: &StateConfig,
        batch: &SealedBatch,
        tx: &Self,
        applied: &AppliedTx,
    ) -> Result<Self::Witness, ReceiptError> {
        let _ = (config, batch);
        let [account, fund] = applied.receipt.writes.as_slice() else {
            return Err(ReceiptError);
        };
        Ok(LiquidationWitness {
            liquidation: *tx,
            account: account_witness(account).ok_or(ReceiptError)?,
            fund: account_witness(fund).ok_or(ReceiptError)?,
        })
    }

    fn dummy(config: &StateConfig) -> Self::Witness {
        LiquidationWitness {
            liquidation: Liquidation {
                account: AccountId::INSURANCE_FUND,
                market: MarketId::default(),
                size: BaseLots::ZERO,
                fee: Collateral::ZERO,
            },
            account: dummy_account(config),
            fund: dummy_account(config),
        }
    }

    fn synthesize(
        b: &mut BatchVar,
        w: &Self::Witness,
        enabled: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        execute_liquidation(b, w, enabled)
    }
}
