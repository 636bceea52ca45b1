//! Trade (a fill): two orders signed by their owners, opposite sides of one market.
//!
//! Rules, in the order they are checked:
//! 1. the orders come from two different accounts, neither of them a system account (the fee
//!    account, or the insurance fund: no signature trades with the fund's capital; only
//!    deposits, liquidations, deleverages move it), on the same open market (it has a mark
//!    price), on opposite sides;
//! 2. `0 < size`, and the price is within both limits (a buyer pays at most its limit, a seller
//!    takes at least its limit);
//! 3. neither order has expired (`expiry >= batch time`);
//! 4. each order is signed by its account's key;
//! 5. each order was not superseded in its slot, is not below its account's order floor (a
//!    forced cancel raised it past the order), and `filled + size <= order size`;
//! 6. fees are non-negative and each at most `max_fee * notional`;
//! 7. funding is settled on both accounts, then the fill moves `size` lots and `notional`
//!    collateral between them; the fees go to the fee account when the batch seals;
//! 8. both accounts obey the margin rule (initial fractions) after the fill;
//! 9. neither account's position in the market is above the market's position limit after it;
//! 10. the market's open interest after the fill is at most its cap (`crate::limits`);
//! 11. while the market's oracles disagree (`MarketState::quotes_disagree`, set by the last
//!     oracle tick) the market is reduce-only: each position only moves towards zero.

use serde::{Deserialize, Serialize};

use crate::funding::settle_funding;
use crate::limits::{
    enforce_open_interest_cap, enforce_position_limit, enforce_reduce_only, open_interest_after,
    open_interest_change, OpenInterestCap, PositionLimit, ReduceOnly,
};
use crate::margin::{
    enforce_fresh_marks, enforce_margin_rule, margin_summary, Fraction, MarginError, StaleMark,
};
use crate::merkle::NodeStore;
use crate::pubdata::NoRecord;
use crate::tx::Kind;
use crate::order::{filled_so_far, OrderSlot, Side, SignedOrder};
use crate::state::Ctx;
use crate::units::{notional, AccountId, BaseLots, Collateral, PriceTicks, RangeError, PPM_ONE};

/// Which side of the fill a rule failed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Maker,
    Taker,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Maker => "maker",
            Role::Taker => "taker",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    pub maker: SignedOrder,
    pub taker: SignedOrder,
    /// Lots filled, positive.
    pub size: BaseLots,
    pub price: PriceTicks,
    pub maker_fee: Collateral,
    pub taker_fee: Collateral,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TradeError {
    #[error("maker and taker are the same account")]
    SelfTrade,
    #[error("the fee account cannot trade")]
    FeeAccountTrades,
    #[error("the insurance fund cannot trade: only liquidations and deleverages move it")]
    InsuranceFundTrades,
    #[error("the orders are for different markets")]
    MarketMismatch,
    #[error("unknown market")]
    UnknownMarket,
    #[error("the market has no mark price yet")]
    MarketNotOpen,
    #[error("both orders are on the same side")]
    SameSide,
    #[error("fill size must be positive")]
    NonPositiveSize,
    #[error("fill price is outside the {0}'s limit")]
    PriceOutsideLimit(Role),
    #[error("the {0}'s order has expired")]
    Expired(Role),
    #[error("the {0}'s account does not exist")]
    NoSuchAccount(Role),
    #[error("the {0}'s signature does not verify")]
    BadSignature(Role),
    #[error("the {0}'s order was superseded in its slot")]
    Superseded(Role),
    #[error("the {0}'s order was cancelled from L1: its id is below the account's order floor")]
    BelowFloor(Role),
    #[error("the fill exceeds what is left of the {0}'s order")]
    Overfill(Role),
    #[error("the {0}'s fee is negative or above its maximum")]
    BadFee(Role),
    #[error("the {0} would break the margin rule: {1}")]
    Margin(Role, MarginError),
    #[error("the {0}'s margin check would read a stale mark: {1}")]
    StaleMark(Role, StaleMark),
    #[error("the {0} would break the position limit: {1}")]
    PositionLimit(Role, PositionLimit),
    #[error("{0}")]
    OpenInterestCap(OpenInterestCap),
    #[error("the {0}'s trade is refused: {1}")]
    ReduceOnly(Role, ReduceOnly),
    #[error("{0}: {1}")]
    Range(Role, RangeError),
}

pub fn execute_trade<S: NodeStore>(ctx: &mut Ctx<'_, S>, tx: &Trade) -> Result<(), TradeError> {
    let (maker, taker) = (&tx.maker.order, &tx.taker.order);
    if maker.account == taker.account {
        return Err(TradeError::SelfTrade);
    }
    if maker.account == AccountId::FEES || taker.account == AccountId::FEES {
        return Err(TradeError::FeeAccountTrades);
    }
    if maker.account == AccountId::INSURANCE_FUND || taker.account == AccountId::INSURANCE_FUND {
        return Err(TradeError::InsuranceFundTrades);
    }
    if maker.market != taker.market {
        return Err(TradeError::MarketMismatch);
    }
    let market = maker.market;
    let params = ctx
        .config()
        .market(market)
        .ok_or(TradeError::UnknownMarket)?
        .clone();
    let mark = ctx.markets()[market.index()];
    if mark.mark_price.get() == 0 {
        return Err(TradeError::MarketNotOpen);
    }
    if maker.side == taker.side {
        return Err(TradeError::SameSide);
    }
    if tx.size.get() <= 0 {
        return Err(TradeError::NonPositiveSize);
    }
    let notional = notional(tx.size, tx.price, params.tick_value);
    let mut fees = 0i128;
    for (role, signed, fee) in [
        (Role::Maker, &tx.maker, tx.maker_fee),
        (Role::Taker, &tx.taker, tx.taker_fee),
    ] {
        let order = &signed.order;
        let within = match order.side {
            Side::Buy => tx.price <= order.limit_price,
            Side::Sell => tx.price >= order.limit_price,
        };
        if !within {
            return Err(TradeError::PriceOutsideLimit(role));
        }
        if order.expiry < ctx.now() {
            return Err(TradeError::Expired(role));
        }
        let leaf = ctx
            .peek(order.account)
            .ok_or(TradeError::NoSuchAccount(role))?;
        leaf.public_key
            .verify(order.hash(&ctx.config().domain), &signed.signature)
            .map_err(|_| TradeError::BadSignature(role))?;
        let slot = ctx.order_slot(order.account, order.order_id);
        let filled = filled_so_far(&slot, order.order_id).ok_or(TradeError::Superseded(role))?;
        if order.order_id < leaf.order_floor {
            return Err(TradeError::BelowFloor(role));
        }
        let new_filled = filled.get() + tx.size.get();
        if new_filled > order.size.get() {
            return Err(TradeError::Overfill(role));
        }
        if fee.get() < 0
            || fee.get() * i128::from(PPM_ONE) > i128::from(order.max_fee.get()) * notional
        {
            return Err(TradeError::BadFee(role));
        }
        fees += fee.get();
        let new_slot = OrderSlot {
            order_id: order.order_id,
            filled: BaseLots::new(new_filled).map_err(|e| TradeError::Range(role, e))?,
        };
        ctx.write_order_slot(order.account, new_slot)
            .map_err(|_| TradeError::NoSuchAccount(role))?;
    }
    let markets = ctx.markets().to_vec();
    let all_params = &ctx.config().markets;
    let now = ctx.now();
    let mut moves = Vec::with_capacity(2);
    for (role, signed, fee) in [
        (Role::Maker, &tx.maker, tx.maker_fee),
        (Role::Taker, &tx.taker, tx.taker_fee),
    ] {
        let order = &signed.order;
        let range = |e| TradeError::Range(role, e);
        let leaf = ctx
            .account(order.account)
            .map_err(|_| TradeError::NoSuchAccount(role))?;
        settle_funding(leaf, &markets).map_err(range)?;
        let before = margin_summary(
            leaf.collateral,
            &leaf.positions,
            &markets,
            all_params,
            Fraction::Initial,
        );
        let held = leaf.positions.clone();
        let sign = order.side.sign();
        let position = &mut leaf.positions[market.index()];
        position.size = position
            .size
            .checked_add(sign * tx.size.get())
            .map_err(range)?;
        leaf.collateral = leaf
            .collateral
            .checked_add(-sign * notional - fee.get())
            .map_err(range)?;
        let after = margin_summary(
            leaf.collateral,
            &leaf.positions,
            &markets,
            all_params,
            Fraction::Initial,
        );
        enforce_fresh_marks(&held, &leaf.positions, &markets, all_params, now)
            .map_err(|e| TradeError::StaleMark(role, e))?;
        enforce_margin_rule(&before, &after).map_err(|e| TradeError::Margin(role, e))?;
        let size = leaf.positions[market.index()].size;
        enforce_position_limit(size, &params).map_err(|e| TradeError::PositionLimit(role, e))?;
        moves.push((held[market.index()].size, size));
    }
    let interest = open_interest_after(&markets[market.index()], open_interest_change(&moves))
        .map_err(|e| TradeError::Range(Role::Taker, e))?;
    enforce_open_interest_cap(interest, &params).map_err(TradeError::OpenInterestCap)?;
    for (role, (before, after)) in [Role::Maker, Role::Taker].into_iter().zip(&moves) {
        enforce_reduce_only(&markets[market.index()], *before, *after)
            .map_err(|e| TradeError::ReduceOnly(role, e))?;
    }
    ctx.markets_mut()[market.index()].open_interest = interest;
    ctx.add_fees(fees)
        .map_err(|e| TradeError::Range(Role::Taker, e))?;
    Ok(())
}

impl Kind for Trade {
    type Record = NoRecord;
    type Error = TradeError;
    const ACCOUNTS: usize = 2;

    fn execute<S: NodeStore>(&self, ctx: &mut Ctx<'_, S>) -> Result<(), Self::Error> {
        execute_trade(ctx, self)
    }
}
