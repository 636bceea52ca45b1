//! Deleverage: when a bankrupt account (`TV < 0`) cannot be absorbed by the insurance fund, a
//! position on the other side takes over its position at the bankruptcy price, so the loss lands
//! on that (profitable) counterparty instead of on the exchange.
//!
//! Rules:
//! 1. two different accounts, neither the insurance fund; funding is settled on both;
//! 2. the deleveraged account is bankrupt: `TV < 0`;
//! 3. the fund cannot absorb it: exactly when a liquidation of the account's whole position in
//!    the market into the fund (fee 0) is refused with `FundExhausted`. The fund, funding
//!    settled, would take the position `a` at the mark (its value unchanged) and, when it is the
//!    account's last position, its deficit; it cannot when it would then be liquidatable:
//!    `(TV_fund + absorbed) * 10^6 < TR_fund(positions + a in this market)` with maintenance
//!    fractions, `absorbed = TV` if the account has no other position, else 0.
//!    The two rules are complements, so a bankrupt account can always be dealt with: by a
//!    liquidation when the fund can take it, by a deleverage when it cannot. (Before, this rule
//!    compared the deficit with the fund's risk *without* the position: an account could be
//!    refused by both.)
//! 4. the two positions in the market have opposite signs and `0 < size <= min(|a|, |b|)`: both
//!    only shrink toward zero;
//! 5. the price is the rule's, not the operator's: the lots change hands at the mark, moved
//!    against the counterparty by their share of the bankrupt account's deficit, the deficit
//!    shared across all the account's positions in proportion to their notional and rounded
//!    against the bankrupt account:
//!    ```text
//!    deficit D = -TV,  N = sum_i |size_i| * mark_i * tick_value_i,  V = size * mark * tick_value
//!    share     = floor(D * V / N)                  (the bankrupt account's TV rises by exactly it)
//!    long  (sells): receives V + share;   short (buys): pays V - share
//!    ```
//!    `D / N` is the same before and after a deleverage (up to rounding), so the order and
//!    the size of the steps do not matter: a 1-lot deleverage carries one lot's share, closing
//!    every position covers the whole deficit (the last step's share is the deficit left), and
//!    no counterparty pays more than its lots' share. `TV_before < TV_after <= 0` follows;
//! 6. the deleverager is not liquidatable afterwards;
//! 7. the market's open interest drops by `size` (both positions shrink: `crate::limits`).
//!
//! Which counterparties are chosen (the most profitable first) is the sequencer's policy, not
//! a rule the proof can check without every account: the operator's remaining discretion, and
//! what it can cost a trader is bounded by rule 5 (docs/ARCHITECTURE.md, trust boundary).

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
use crate::units::{notional, AccountId, BaseLots, MarketId, RangeError, PPM_ONE};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleverage {
    /// The bankrupt account.
    pub deleveraged: AccountId,
    /// The counterparty that takes the position over.
    pub deleverager: AccountId,
    pub market: MarketId,
    /// Lots closed on both sides, positive. The price is the rule's ([`deficit_share`]).
    pub size: BaseLots,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeleverageError {
    #[error("an account does not exist")]
    NoSuchAccount,
    #[error("the two sides are the same account")]
    SameAccount,
    #[error("the insurance fund takes part through liquidation, not deleveraging")]
    InsuranceFund,
    #[error("unknown market")]
    UnknownMarket,
    #[error("the deleveraged account is not bankrupt")]
    NotBankrupt,
    #[error("the insurance fund can still absorb this account")]
    FundCanAbsorb,
    #[error("positions are not opposite, or size is not within both")]
    BadSize,
    #[error("the deleverager would become liquidatable")]
    DeleveragerUnderMargin,
    #[error(transparent)]
    StaleMark(#[from] StaleMark),
    #[error(transparent)]
    Range(#[from] RangeError),
}

/// The part of a bankrupt account's `deficit` (`-TV > 0`) that closing lots worth
/// `closed_value` at the mark carries, when all its positions are worth `total_notional`:
/// `floor(deficit * closed_value / total_notional)` (rounded against the bankrupt account).
/// `deficit < 2^100` and `closed_value <= total_notional < 2^99`, so the product needs 199 bits:
/// computed exactly in 256-bit arithmetic. `None` when nothing is held.
pub fn deficit_share(deficit: i128, closed_value: i128, total_notional: i128) -> Option<i128> {
    use num_bigint::BigInt;
    if total_notional <= 0 || deficit < 0 || closed_value < 0 {
        return None;
    }
    let share = BigInt::from(deficit) * BigInt::from(closed_value) / BigInt::from(total_notional);
    i128::try_from(share).ok()
}

/// `sum_i |size_i| * mark_i * tick_value_i`: what every position of an account is worth.
pub fn total_notional(
    positions: &[crate::leaf::Position],
    markets: &[crate::market::MarketState],
    params: &[crate::market::MarketParams],
) -> i128 {
    positions
        .iter()
        .zip(markets)
        .zip(params)
        .map(|((p, m), params)| {
            crate::units::notional(p.size, m.mark_price, params.tick_value).abs()
        })
        .sum()
}

pub fn execute_deleverage<S: NodeStore>(
    ctx: &mut Ctx<'_, S>,
    tx: &Deleverage,
) -> Result<(), DeleverageError> {
    if tx.deleveraged == tx.deleverager {
        return Err(DeleverageError::SameAccount);
    }
    if tx.deleveraged == AccountId::INSURANCE_FUND || tx.deleverager == AccountId::INSURANCE_FUND {
        return Err(DeleverageError::InsuranceFund);
    }
    ctx.config()
        .market(tx.market)
        .ok_or(DeleverageError::UnknownMarket)?;
    let params = &ctx.config().markets;
    let markets = ctx.markets().to_vec();
    let m = tx.market.index();
    let now = ctx.now();

    // The fund is read, not written.
    let mut fund = ctx
        .read(AccountId::INSURANCE_FUND)
        .ok_or(DeleverageError::NoSuchAccount)?;
    settle_funding(&mut fund, &markets)?;
    enforce_fresh_marks(&fund.positions, &[], &markets, params, now)?;
    let fund_summary = margin_summary(
        fund.collateral,
        &fund.positions,
        &markets,
        params,
        Fraction::Maintenance,
    );

    let bankrupt = ctx
        .account(tx.deleveraged)
        .map_err(|_| DeleverageError::NoSuchAccount)?;
    settle_funding(bankrupt, &markets)?;
    enforce_fresh_marks(&bankrupt.positions, &[], &markets, params, now)?;
    let tv_before = total_value(bankrupt.collateral, &bankrupt.positions, &markets, params);
    if tv_before >= 0 {
        return Err(DeleverageError::NotBankrupt);
    }
    let a = bankrupt.positions[m].size.get();
    let last_position = bankrupt
        .positions
        .iter()
        .enumerate()
        .all(|(i, p)| i == m || p.size.is_zero());
    let absorbed = if last_position { tv_before } else { 0 };
    let mut taken = fund.positions.clone();
    taken[m].size = taken[m].size.checked_add(a)?;
    let fund_after = margin_summary(
        fund.collateral,
        &taken,
        &markets,
        params,
        Fraction::Maintenance,
    );
    if (fund_summary.total_value + absorbed) * i128::from(PPM_ONE) >= fund_after.total_risk_ppm {
        return Err(DeleverageError::FundCanAbsorb);
    }
    if tx.size.get() <= 0 || tx.size.get() > a.abs() {
        return Err(DeleverageError::BadSize);
    }
    // The price: the mark, moved against the counterparty by the closed lots' share of the
    // deficit. The side that was long sells (receives V + share); the side that was short buys
    // (pays V - share): either way the bankrupt account's TV rises by exactly `share`.
    let market_params = &params[m];
    let closed_value = notional(tx.size, markets[m].mark_price, market_params.tick_value);
    let all = total_notional(&bankrupt.positions, &markets, params);
    let share = deficit_share(-tv_before, closed_value, all).ok_or(DeleverageError::BadSize)?;
    let change = -a.signum() * tx.size.get();
    let received = a.signum() * closed_value + share;
    bankrupt.positions[m].size = BaseLots::new(a + change)?;
    bankrupt.collateral = bankrupt.collateral.checked_add(received)?;
    debug_assert!({
        let tv_after = total_value(bankrupt.collateral, &bankrupt.positions, &markets, params);
        tv_after == tv_before + share && tv_after <= 0
    });

    let counterparty = ctx
        .account(tx.deleverager)
        .map_err(|_| DeleverageError::NoSuchAccount)?;
    settle_funding(counterparty, &markets)?;
    enforce_fresh_marks(&counterparty.positions, &[], &markets, params, now)?;
    let b = counterparty.positions[m].size.get();
    if b.signum() != -a.signum() || tx.size.get() > b.abs() {
        return Err(DeleverageError::BadSize);
    }
    counterparty.positions[m].size = BaseLots::new(b - change)?;
    let moves = [
        (BaseLots::new(a)?, BaseLots::new(a + change)?),
        (BaseLots::new(b)?, counterparty.positions[m].size),
    ];
    counterparty.collateral = counterparty.collateral.checked_add(-received)?;
    let after = margin_summary(
        counterparty.collateral,
        &counterparty.positions,
        &markets,
        params,
        Fraction::Maintenance,
    );
    if is_liquidatable(&after) {
        return Err(DeleverageError::DeleveragerUnderMargin);
    }
    let interest = open_interest_after(&markets[m], open_interest_change(&moves))?;
    ctx.markets_mut()[m].open_interest = interest;
    Ok(())
}

impl Kind for Deleverage {
    type Record = NoRecord;
    type Error = DeleverageError;
    /// The bankrupt account, the counterparty, and the insurance fund it reads.
    const ACCOUNTS: usize = 3;

    fn execute<S: NodeStore>(&self, ctx: &mut Ctx<'_, S>) -> Result<(), Self::Error> {
        execute_deleverage(ctx, self)
    }
}
