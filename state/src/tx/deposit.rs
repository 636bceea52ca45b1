//! Deposit: consumes the next L1 deposit request, in queue order, and credits the account of
//! `(public key, L1 address)`, creating it the first time that pair is seen.
//!
//! A request that cannot be credited (its key bytes are not a valid Baby Jubjub key, the credit
//! would overflow the collateral width, or the tree is full) is still consumed, and published as
//! *refunded*: the L1 contract makes the amount claimable by the depositor. Without this, one
//! unusable deposit would block the queue, and every deposit behind it, until a freeze.

use serde::{Deserialize, Serialize};

use crate::eddsa::PublicKey;
use crate::field::Fr;
use crate::merkle::NodeStore;
use crate::pubdata::PubData;
use crate::state::Ctx;
use crate::units::{Amount, Collateral, L1Address, RangeError};

/// A deposit as the L1 contract queued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct L1Deposit {
    /// Position in the L1 queue.
    pub index: u64,
    /// Who receives withdrawals and exits of the account.
    pub l1_address: L1Address,
    /// The trader's Baby Jubjub key, packed, exactly as the L1 queued it (checked here).
    #[serde(with = "crate::field::serde_hex32")]
    pub public_key: [u8; 32],
    pub amount: Amount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deposit {
    pub request: L1Deposit,
    /// Blinding salt for the leaf if this deposit creates the account (chosen by the sequencer
    /// from a CSPRNG; ignored when the account exists).
    #[serde(with = "crate::field::serde_fr")]
    pub salt: Fr,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DepositError {
    #[error("deposit {got} consumed out of order: the next is {expected}")]
    OutOfOrder { expected: u64, got: u64 },
}

/// Why a deposit was refunded instead of credited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refund {
    #[error("the key is not a valid Baby Jubjub public key")]
    InvalidKey,
    #[error("the account tree is full")]
    TreeFull,
    #[error(transparent)]
    Range(#[from] RangeError),
}

/// Consumes the next deposit: credited (`Ok(None)`) or refunded (`Ok(Some(reason))`).
pub fn execute_deposit<S: NodeStore>(
    ctx: &mut Ctx<'_, S>,
    tx: &Deposit,
) -> Result<Option<Refund>, DepositError> {
    let r = &tx.request;
    if r.index != ctx.deposits_consumed() {
        return Err(DepositError::OutOfOrder {
            expected: ctx.deposits_consumed(),
            got: r.index,
        });
    }
    ctx.consume_deposit();
    let outcome = credit(ctx, tx).err();
    ctx.publish(PubData::Deposit {
        index: r.index,
        l1_address: r.l1_address,
        public_key: r.public_key,
        amount: r.amount,
        credited: outcome.is_none(),
    });
    Ok(outcome)
}

/// Credits the deposit, staging nothing unless every check passes.
fn credit<S: NodeStore>(ctx: &mut Ctx<'_, S>, tx: &Deposit) -> Result<(), Refund> {
    let r = &tx.request;
    let key = PublicKey::unpack(&r.public_key).map_err(|_| Refund::InvalidKey)?;
    let existing = ctx.account_by_owner(&key, &r.l1_address);
    let balance = existing
        .and_then(|id| ctx.peek(id))
        .map_or(Collateral::ZERO, |leaf| leaf.collateral);
    let credited = balance.checked_add(r.amount.as_collateral())?;
    let id = match existing {
        Some(id) => id,
        None => ctx
            .create_account(key, r.l1_address, tx.salt)
            .ok_or(Refund::TreeFull)?,
    };
    ctx.account(id).map_err(|_| Refund::TreeFull)?.collateral = credited;
    Ok(())
}
