//! The liquidation engine: after every mark-price or funding change, it finds accounts below
//! maintenance and produces, one at a time, the transaction that deals with each:
//!
//! 1. a [`Liquidation`] of the account's largest position into the insurance fund, with the
//!    largest penalty the rules allow;
//! 2. when the fund cannot absorb a bankrupt account, a [`Deleverage`] against the most
//!    profitable opposite position at the mark (its entry from [`CostBasis`]), at the price
//!    that covers the deficit in proportion to the share of the position closed.
//!
//! Every step is a transaction the state machine checks (the rules), so this module is policy
//! only: which account, which market, which counterparty, how much.

use zkperp_state::funding::settle_funding;
use zkperp_state::leaf::AccountLeaf;
use zkperp_state::margin::{is_liquidatable, margin_summary, Fraction};
use zkperp_state::merkle::NodeStore;
use zkperp_state::tx::{Deleverage, Liquidation, LiquidationError, Transaction, TxError};
use zkperp_state::units::{notional, AccountId, BaseLots, Collateral, MarketId, PPM_ONE};
use zkperp_state::State;

use crate::cost_basis::CostBasis;

/// Total value and maintenance summary of an account with its funding settled.
fn health<S: NodeStore>(state: &State<S>, leaf: &AccountLeaf) -> Option<(i128, bool)> {
    let mut leaf = leaf.clone();
    settle_funding(&mut leaf, state.markets()).ok()?;
    let s = margin_summary(
        leaf.collateral,
        &leaf.positions,
        state.markets(),
        &state.config().markets,
        Fraction::Maintenance,
    );
    Some((s.total_value, is_liquidatable(&s)))
}

fn is_system(id: AccountId) -> bool {
    id == AccountId::INSURANCE_FUND || id == AccountId::FEES
}

/// The next transaction the liquidation engine wants applied, or `None` when no account below
/// maintenance can be dealt with.
/// `entries`: the open positions' entry prices ([`crate::batcher::Batcher::cost_basis`]).
pub fn next_step<S: NodeStore>(state: &State<S>, entries: &CostBasis) -> Option<Transaction> {
    for (id, account) in state.accounts() {
        if is_system(*id) {
            continue;
        }
        let Some((tv, true)) = health(state, &account.leaf) else {
            continue;
        };
        // The largest position by notional.
        let largest = account
            .leaf
            .positions
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.size.is_zero())
            .max_by_key(|(m, p)| {
                let params = &state.config().markets[*m];
                notional(p.size, state.markets()[*m].mark_price, params.tick_value).abs()
            });
        let Some((m, position)) = largest else {
            continue;
        };
        let (Ok(market), size) = (MarketId::new(m as u64), position.size.get()) else {
            continue;
        };
        let params = &state.config().markets[m];
        let closed = notional(
            position.size,
            state.markets()[m].mark_price,
            params.tick_value,
        )
        .abs();
        let fee = (closed * i128::from(params.liquidation_fee.get()) / i128::from(PPM_ONE))
            .min(tv.max(0));
        let (Ok(lots), Ok(fee)) = (BaseLots::new(size.abs()), Collateral::new(fee)) else {
            continue;
        };
        let liquidation = Transaction::Liquidation(Liquidation {
            account: *id,
            market,
            size: lots,
            fee,
        });
        match state.check(&liquidation) {
            Ok(()) => return Some(liquidation),
            Err(TxError::Liquidation(LiquidationError::FundExhausted)) if tv < 0 => {
                if let Some(tx) = deleverage(state, entries, *id, market, size) {
                    return Some(tx);
                }
            }
            Err(_) => {}
        }
    }
    None
}

/// Deleverage `id`'s position of `size` lots in `market` against the most profitable opposite
/// one (ties: the lower account id), at the price the rule fixes.
fn deleverage<S: NodeStore>(
    state: &State<S>,
    entries: &CostBasis,
    id: AccountId,
    market: MarketId,
    size: i128,
) -> Option<Transaction> {
    let m = market.index();
    let mark = state.markets()[m].mark_price.get();
    let (counterparty, their_size) = state
        .accounts()
        .filter(|(c, a)| {
            !is_system(**c)
                && **c != id
                && a.leaf.positions[m].size.get().signum() == -size.signum()
        })
        .map(|(c, a)| {
            let profit = entries.entry(*c, m).profit(mark);
            (profit, *c, a.leaf.positions[m].size.get())
        })
        .max_by_key(|(profit, c, _)| (*profit, std::cmp::Reverse(*c)))
        .map(|(_, c, s)| (c, s))?;
    let closed = size.abs().min(their_size.abs());
    // The price is the rule's (the closed lots' share of the deficit): only the counterparty
    // and the size are the engine's to choose.
    let tx = Transaction::Deleverage(Deleverage {
        deleveraged: id,
        deleverager: counterparty,
        market,
        size: BaseLots::new(closed).ok()?,
    });
    state.check(&tx).ok().map(|()| tx)
}
