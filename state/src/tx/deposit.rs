//! Deposit: consumes the next L1 deposit request, in queue order, and credits the account of
//! `(public key, L1 address)`, creating it the first time that pair is seen.

use serde::{Deserialize, Serialize};

use crate::eddsa::PublicKey;
use crate::field::Fr;
use crate::merkle::NodeStore;
use crate::pubdata::PubData;
use crate::state::Ctx;
use crate::units::{Amount, L1Address, RangeError};

/// A deposit as the L1 contract queued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct L1Deposit {
    /// Position in the L1 queue.
    pub index: u64,
    /// Who receives withdrawals and exits of the account.
    pub l1_address: L1Address,
    /// The trader's Baby Jubjub key.
    pub public_key: PublicKey,
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
    #[error("the account tree is full")]
    TreeFull,
    #[error(transparent)]
    Range(#[from] RangeError),
}

pub fn execute_deposit<S: NodeStore>(
    ctx: &mut Ctx<'_, S>,
    tx: &Deposit,
) -> Result<(), DepositError> {
    let r = &tx.request;
    if r.index != ctx.deposits_consumed() {
        return Err(DepositError::OutOfOrder {
            expected: ctx.deposits_consumed(),
            got: r.index,
        });
    }
    let id = match ctx.account_by_owner(&r.public_key, &r.l1_address) {
        Some(id) => id,
        None => ctx
            .create_account(r.public_key, r.l1_address, tx.salt)
            .ok_or(DepositError::TreeFull)?,
    };
    let leaf = ctx.account(id).map_err(|_| DepositError::TreeFull)?;
    leaf.collateral = leaf.collateral.checked_add(r.amount.as_collateral())?;
    ctx.consume_deposit();
    ctx.publish(PubData::Deposit {
        index: r.index,
        l1_address: r.l1_address,
        public_key: r.public_key,
        amount: r.amount,
    });
    Ok(())
}
