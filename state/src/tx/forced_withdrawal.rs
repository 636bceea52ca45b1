//! Forced withdrawal: a request made on L1 (so the sequencer cannot censor it without the rollup
//! freezing). It is consumed in queue order and answered either way: *served* when the requester
//! is the account's L1 owner and the account obeys the margin rule after paying the amount, and
//! otherwise *refused* with the reason, leaving the account untouched. The outcome is decided by
//! the rules, never chosen by the sequencer.

use serde::{Deserialize, Serialize};

use crate::funding::settle_funding;
use crate::leaf::AccountLeaf;
use crate::margin::{enforce_margin_rule, margin_summary, Fraction};
use crate::merkle::NodeStore;
use crate::pubdata::PubData;
use crate::state::Ctx;
use crate::units::{AccountId, Amount, L1Address};

/// A forced withdrawal as the L1 contract queued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct L1ForcedWithdrawal {
    pub index: u64,
    pub account: AccountId,
    /// The L1 sender of the request.
    pub requester: L1Address,
    pub amount: Amount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForcedWithdrawal {
    pub request: L1ForcedWithdrawal,
}

/// Why a forced withdrawal was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    NoSuchAccount,
    NotOwner,
    /// The insurance fund is a system account: its L1 owner cannot force money out of it.
    InsuranceFund,
    ZeroAmount,
    /// Paying the amount would break the margin rule (or a width).
    Margin,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForcedWithdrawalError {
    #[error("forced request {got} consumed out of order: the next is {expected}")]
    OutOfOrder { expected: u64, got: u64 },
}

/// What the rules decide for `request` against the current state: the account's leaf after
/// paying, or why it is refused.
pub fn outcome<S: NodeStore>(
    ctx: &mut Ctx<'_, S>,
    request: &L1ForcedWithdrawal,
) -> Result<AccountLeaf, Refusal> {
    let Some(mut leaf) = ctx.read(request.account) else {
        return Err(Refusal::NoSuchAccount);
    };
    if leaf.l1_address != request.requester {
        return Err(Refusal::NotOwner);
    }
    if request.account == AccountId::INSURANCE_FUND {
        return Err(Refusal::InsuranceFund);
    }
    if request.amount.get() == 0 {
        return Err(Refusal::ZeroAmount);
    }
    let markets = ctx.markets();
    let params = &ctx.config().markets;
    settle_funding(&mut leaf, markets).map_err(|_| Refusal::Margin)?;
    let before = margin_summary(
        leaf.collateral,
        &leaf.positions,
        markets,
        params,
        Fraction::Initial,
    );
    leaf.collateral = leaf
        .collateral
        .checked_add(-request.amount.as_collateral())
        .map_err(|_| Refusal::Margin)?;
    let after = margin_summary(
        leaf.collateral,
        &leaf.positions,
        markets,
        params,
        Fraction::Initial,
    );
    enforce_margin_rule(&before, &after).map_err(|_| Refusal::Margin)?;
    Ok(leaf)
}

pub fn execute_forced_withdrawal<S: NodeStore>(
    ctx: &mut Ctx<'_, S>,
    tx: &ForcedWithdrawal,
) -> Result<Option<Refusal>, ForcedWithdrawalError> {
    let r = &tx.request;
    if r.index != ctx.forced_consumed() {
        return Err(ForcedWithdrawalError::OutOfOrder {
            expected: ctx.forced_consumed(),
            got: r.index,
        });
    }
    let decision = outcome(ctx, r).and_then(|paid| {
        let leaf = ctx.account(r.account).map_err(|_| Refusal::NoSuchAccount)?;
        *leaf = paid;
        Ok(())
    });
    ctx.consume_forced();
    ctx.publish(PubData::ForcedWithdrawal {
        index: r.index,
        account: r.account,
        requester: r.requester,
        amount: r.amount,
        paid: if decision.is_ok() {
            r.amount
        } else {
            Amount::default()
        },
    });
    Ok(decision.err())
}
