//! Liquidation: while an account's total value is below its maintenance requirement, the
//! insurance fund takes over part or all of one of its positions at the mark price.
//!
//! Rules:
//! 1. the account is not the insurance fund; funding is settled on both;
//! 2. the account is liquidatable (`TV < TR` with maintenance fractions);
//! 3. `0 < size <= |position|`: the position only shrinks toward zero, never grows or flips;
//! 4. the closed lots move to the fund, and their value at the mark price moves the other way,
//!    so neither account's total value changes by the transfer;
//! 5. a penalty `0 <= fee <= liquidation_fee * |closed notional|`, and never more than the
//!    account's remaining total value (a penalty never creates or deepens a bankruptcy), goes
//!    to the fund;
//! 6. when the account holds no position afterwards and its collateral is negative (a bankrupt
//!    remainder), the fund absorbs it: the account's collateral becomes 0, the fund's drops by
//!    the deficit;
//! 7. the fund must not be liquidatable afterwards. When it would be, the fund cannot absorb
//!    this account, and the sequencer must deleverage instead;
//! 8. the market's open interest moves by the change of both accounts' longs (never up:
//!    `crate::limits`).

use serde::{Deserialize, Serialize};

use crate::funding::settle_funding;
use crate::limits::{open_interest_after, open_interest_change};
use crate::margin::{
    enforce_fresh_marks, is_liquidatable, margin_summary, total_value, Fraction, StaleMark,
};
use crate::merkle::NodeStore;
use crate::pubdata::NoRecord;
use crate::tx::Kind;
use crate::state::Ctx;
use crate::units::{notional, AccountId, BaseLots, Collateral, MarketId, RangeError, PPM_ONE};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Liquidation {
    pub account: AccountId,
    pub market: MarketId,
    /// Lots to close, positive.
    pub size: BaseLots,
    /// Penalty paid to the insurance fund.
    pub fee: Collateral,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiquidationError {
    #[error("account does not exist")]
    NoSuchAccount,
    #[error("the insurance fund cannot be liquidated")]
    InsuranceFund,
    #[error("unknown market")]
    UnknownMarket,
    #[error("account is not below its maintenance requirement")]
    NotLiquidatable,
    #[error("size must be positive and at most the position")]
    BadSize,
    #[error("penalty is negative, above the market's fraction or above the account's value")]
    BadFee,
    #[error("the insurance fund cannot absorb this account: deleverage instead")]
    FundExhausted,
    #[error(transparent)]
    StaleMark(#[from] StaleMark),
    #[error(transparent)]
    Range(#[from] RangeError),
}

pub fn execute_liquidation<S: NodeStore>(
    ctx: &mut Ctx<'_, S>,
    tx: &Liquidation,
) -> Result<(), LiquidationError> {
    if tx.account == AccountId::INSURANCE_FUND {
        return Err(LiquidationError::InsuranceFund);
    }
    let params = &ctx.config().markets;
    let market_params = ctx
        .config()
        .market(tx.market)
        .ok_or(LiquidationError::UnknownMarket)?;
    let markets = ctx.markets().to_vec();
    let mark = markets[tx.market.index()].mark_price;
    let now = ctx.now();

    let leaf = ctx
        .account(tx.account)
        .map_err(|_| LiquidationError::NoSuchAccount)?;
    settle_funding(leaf, &markets)?;
    enforce_fresh_marks(&leaf.positions, &[], &markets, params, now)?;
    let maintenance = margin_summary(
        leaf.collateral,
        &leaf.positions,
        &markets,
        params,
        Fraction::Maintenance,
    );
    if !is_liquidatable(&maintenance) {
        return Err(LiquidationError::NotLiquidatable);
    }
    let position = leaf.positions[tx.market.index()].size.get();
    if tx.size.get() <= 0 || tx.size.get() > position.abs() {
        return Err(LiquidationError::BadSize);
    }
    // The account's position change: toward zero.
    let change = -position.signum() * tx.size.get();
    let value = notional(BaseLots::new(change)?, mark, market_params.tick_value);
    leaf.positions[tx.market.index()].size = BaseLots::new(position + change)?;
    leaf.collateral = leaf.collateral.checked_add(-value)?;
    let remaining_value = total_value(leaf.collateral, &leaf.positions, &markets, params);
    let fee = tx.fee.get();
    if fee < 0
        || fee * i128::from(PPM_ONE) > i128::from(market_params.liquidation_fee.get()) * value.abs()
        || fee > remaining_value.max(0)
    {
        return Err(LiquidationError::BadFee);
    }
    leaf.collateral = leaf.collateral.checked_add(-fee)?;
    let mut absorbed = 0i128;
    if leaf.positions.iter().all(|p| p.size.is_zero()) && leaf.collateral.get() < 0 {
        absorbed = leaf.collateral.get();
        leaf.collateral = Collateral::ZERO;
    }

    let fund = ctx
        .account(AccountId::INSURANCE_FUND)
        .map_err(|_| LiquidationError::NoSuchAccount)?;
    settle_funding(fund, &markets)?;
    let fund_position = fund.positions[tx.market.index()].size;
    fund.positions[tx.market.index()].size = fund_position.checked_add(-change)?;
    let moves = [
        (BaseLots::new(position)?, BaseLots::new(position + change)?),
        (fund_position, fund.positions[tx.market.index()].size),
    ];
    fund.collateral = fund.collateral.checked_add(value + fee + absorbed)?;
    enforce_fresh_marks(&fund.positions, &[], &markets, params, now)?;
    let fund_maintenance = margin_summary(
        fund.collateral,
        &fund.positions,
        &markets,
        params,
        Fraction::Maintenance,
    );
    if is_liquidatable(&fund_maintenance) {
        return Err(LiquidationError::FundExhausted);
    }
    let interest = open_interest_after(&markets[tx.market.index()], open_interest_change(&moves))?;
    ctx.markets_mut()[tx.market.index()].open_interest = interest;
    Ok(())
}

impl Kind for Liquidation {
    type Record = NoRecord;
    type Error = LiquidationError;
    const ACCOUNTS: usize = 2;

    fn execute<S: NodeStore>(&self, ctx: &mut Ctx<'_, S>) -> Result<(), Self::Error> {
        execute_liquidation(ctx, self)
    }
}
