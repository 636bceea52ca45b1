//! Forced withdrawal: a request made on L1 (so the sequencer cannot censor it without the rollup
//! freezing). It is consumed in queue order and answered either way: *served* when the requester
//! is the account's L1 owner (and the account is not the insurance fund), paying the amount, or
//! as much of it as the margin rule allows: the largest `paid <= amount` that leaves
//! `TV * 10^6 >= TR * 10^6` with initial fractions, i.e. `paid = min(amount, floor((TV * 10^6 -
//! TR * 10^6) / 10^6))`. A position held is therefore never a reason to pay nothing while the
//! account has free collateral. *Refused* (paid 0) with the reason otherwise, leaving the account
//! untouched. A stale mark is never a reason: the mark is used as it is (the operator chooses
//! which oracle ticks enter a batch). The outcome is decided by the rules, never chosen by the
//! sequencer; the circuit proves `paid` maximal.

use crate::layout::{Writer, FORCED_WITHDRAWAL};
use serde::{Deserialize, Serialize};

use crate::funding::settle_funding;
use crate::leaf::AccountLeaf;
use crate::margin::{margin_summary, withdrawal_marks, Fraction};
use crate::merkle::NodeStore;
use crate::pubdata::{L1Record, PubData};
use crate::tx::Kind;
use crate::state::Ctx;
use crate::units::{AccountId, Amount, L1Address, PPM_ONE};

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
    /// Not even one unit can be paid without breaking the margin rule (or a width).
    Margin,
}

/// What the rules decide for `request` against the current state: the account's leaf after
/// paying and what was paid, or why it is refused.
pub fn outcome<S: NodeStore>(
    ctx: &mut Ctx<'_, S>,
    request: &L1ForcedWithdrawal,
) -> Result<(AccountLeaf, Amount), Refusal> {
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
    // As a signed withdrawal: the less favourable of mark and median while a band binds.
    let marks = withdrawal_marks(&leaf.positions, markets);
    let summary = margin_summary(
        leaf.collateral,
        &leaf.positions,
        &marks,
        params,
        Fraction::Initial,
    );
    // Paying `p` leaves `(TV - p) * 10^6 - TR*10^6`; the largest `p` keeping it >= 0. (A
    // withdrawal leaves TR as it is, so the rule's risk-reducing branch never applies.)
    let room = summary.total_value * i128::from(PPM_ONE) - summary.total_risk_ppm;
    let allowed = room.div_euclid(i128::from(PPM_ONE)).max(0);
    let paid = allowed.min(i128::from(request.amount.get()));
    if paid == 0 {
        return Err(Refusal::Margin);
    }
    // Below the collateral width's floor (about -9.2 trillion USD) no payment is made: the
    // circuit cannot prove such a batch, and no real account comes near it.
    leaf.collateral = leaf
        .collateral
        .checked_add(-paid)
        .map_err(|_| Refusal::Margin)?;
    let paid = Amount::new(paid as u64).map_err(|_| Refusal::Margin)?;
    Ok((leaf, paid))
}

/// Answers the next forced withdrawal (the queue's order is checked by `tx::execute`): what it
/// paid, or why it was refused.
pub fn execute_forced_withdrawal<S: NodeStore>(
    ctx: &mut Ctx<'_, S>,
    tx: &ForcedWithdrawal,
) -> Option<Refusal> {
    let r = &tx.request;
    let decision = outcome(ctx, r).and_then(|(after, paid)| {
        let leaf = ctx.account(r.account).map_err(|_| Refusal::NoSuchAccount)?;
        *leaf = after;
        Ok(paid)
    });
    ctx.publish(PubData::ForcedWithdrawal(ForcedWithdrawalRecord {
        index: r.index,
        account: r.account,
        requester: r.requester,
        amount: r.amount,
        paid: decision.unwrap_or_default(),
    }));
    decision.err()
}

/// `0x03 | u64 index | u32 account | address requester | u64 amount | u64 paid`: the answer to
/// the request, paid to the requester on L1 (0: refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForcedWithdrawalRecord {
    pub index: u64,
    pub account: AccountId,
    pub requester: L1Address,
    pub amount: Amount,
    /// What the requester is paid on L1: the amount, or as much of it as the margin rule
    /// allows; 0 when refused. The L1 accepts anything up to the amount; the proof decides.
    pub paid: Amount,
}

impl ForcedWithdrawalRecord {
    pub const KIND: u8 = 0x03;
}

impl L1Record for ForcedWithdrawalRecord {
    const LEN: usize = FORCED_WITHDRAWAL.len();
    fn kind_byte(&self) -> u8 {
        Self::KIND
    }
    fn encode(&self, out: &mut Vec<u8>) {
        Writer::new(&FORCED_WITHDRAWAL, out)
            .put("KIND", &[Self::KIND])
            .put("INDEX", &self.index.to_be_bytes())
            .put("ACCOUNT", &(self.account.get() as u32).to_be_bytes())
            .put("REQUESTER", &self.requester.0)
            .put("AMOUNT", &self.amount.get().to_be_bytes())
            .put("PAID", &self.paid.get().to_be_bytes());
    }
}

/// A forced withdrawal is never refused: once its turn in the L1 queue comes, it is answered (the
/// answer says what the rules decided).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ForcedWithdrawalError {}

impl Kind for ForcedWithdrawal {
    type Record = ForcedWithdrawalRecord;
    type Error = ForcedWithdrawalError;
    const ACCOUNTS: usize = 1;
    fn queue_index(&self) -> Option<u64> {
        Some(self.request.index)
    }

    fn execute<S: NodeStore>(&self, ctx: &mut Ctx<'_, S>) -> Result<(), Self::Error> {
        execute_forced_withdrawal(ctx, self);
        Ok(())
    }
}
