//! Withdrawal: the owner signs `(account, amount, nonce)`; the amount leaves the account for the
//! account's own L1 address, and the account must obey the margin rule afterwards (a withdrawal
//! does not reduce risk, so that means well margined with initial fractions), on the marks
//! `margin::withdrawal_marks` gives (while a market's band binds, the less favourable of its
//! mark and its unclamped median). The insurance fund
//! is a system account: no signature withdraws from it.

use crate::layout::{Writer, WITHDRAWAL};
use serde::{Deserialize, Serialize};

use crate::domain::{MessageKind, SigningDomain};
use crate::eddsa::Signature;
use crate::field::Fr;
use crate::funding::settle_funding;
use crate::margin::{
    enforce_fresh_marks, enforce_margin_rule, margin_summary, withdrawal_marks, Fraction,
    MarginError, StaleMark,
};
use crate::merkle::NodeStore;
use crate::poseidon::poseidon;
use crate::pubdata::{L1Record, PubData};
use crate::tx::Kind;
use crate::state::Ctx;
use crate::units::{AccountId, Amount, L1Address, Nonce, RangeError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    pub account: AccountId,
    pub amount: Amount,
    /// Must equal the account's nonce: each signature is good once.
    pub nonce: Nonce,
    pub signature: Signature,
}

impl Withdrawal {
    /// `Poseidon(tag(Withdrawal), account | nonce << 32 | amount << 64)` (127 bits).
    pub fn message(domain: &SigningDomain, account: AccountId, amount: Amount, nonce: Nonce) -> Fr {
        let word = u128::from(account.get())
            | u128::from(nonce.get()) << 32
            | u128::from(amount.get()) << 64;
        poseidon([domain.tag(MessageKind::Withdrawal), Fr::from(word)])
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WithdrawalError {
    #[error("account does not exist")]
    NoSuchAccount,
    #[error("amount must be positive")]
    ZeroAmount,
    #[error("no signature withdraws from the insurance fund")]
    InsuranceFund,
    #[error("nonce {got} is not the account's nonce {expected}")]
    BadNonce { expected: u64, got: u64 },
    #[error("signature does not verify")]
    BadSignature,
    #[error(transparent)]
    Margin(#[from] MarginError),
    #[error(transparent)]
    StaleMark(#[from] StaleMark),
    #[error(transparent)]
    Range(#[from] RangeError),
}

pub fn execute_withdrawal<S: NodeStore>(
    ctx: &mut Ctx<'_, S>,
    tx: &Withdrawal,
) -> Result<(), WithdrawalError> {
    if tx.amount.get() == 0 {
        return Err(WithdrawalError::ZeroAmount);
    }
    if tx.account == AccountId::INSURANCE_FUND {
        return Err(WithdrawalError::InsuranceFund);
    }
    let markets = ctx.markets().to_vec();
    let params = &ctx.config().markets;
    let domain = ctx.config().domain;
    let now = ctx.now();
    let leaf = ctx
        .account(tx.account)
        .map_err(|_| WithdrawalError::NoSuchAccount)?;
    if tx.nonce != leaf.nonce {
        return Err(WithdrawalError::BadNonce {
            expected: leaf.nonce.get(),
            got: tx.nonce.get(),
        });
    }
    leaf.public_key
        .verify(
            Withdrawal::message(&domain, tx.account, tx.amount, tx.nonce),
            &tx.signature,
        )
        .map_err(|_| WithdrawalError::BadSignature)?;
    settle_funding(leaf, &markets)?;
    // While a band binds, the less favourable of the mark and the median (`withdrawal_marks`).
    let marks = withdrawal_marks(&leaf.positions, &markets);
    let before = margin_summary(
        leaf.collateral,
        &leaf.positions,
        &marks,
        params,
        Fraction::Initial,
    );
    leaf.collateral = leaf.collateral.checked_add(-tx.amount.as_collateral())?;
    leaf.nonce = Nonce::new(leaf.nonce.get() + 1)?;
    let after = margin_summary(
        leaf.collateral,
        &leaf.positions,
        &marks,
        params,
        Fraction::Initial,
    );
    enforce_fresh_marks(&leaf.positions, &[], &markets, params, now)?;
    enforce_margin_rule(&before, &after)?;
    let l1_address = leaf.l1_address;
    ctx.publish(PubData::Withdrawal(WithdrawalRecord {
        account: tx.account,
        l1_address,
        amount: tx.amount,
    }));
    Ok(())
}

/// `0x02 | u32 account | address l1 | u64 amount`: credited on L1 to the account's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawalRecord {
    pub account: AccountId,
    pub l1_address: L1Address,
    pub amount: Amount,
}

impl WithdrawalRecord {
    pub const KIND: u8 = 0x02;
}

impl L1Record for WithdrawalRecord {
    const LEN: usize = WITHDRAWAL.len();
    fn kind_byte(&self) -> u8 {
        Self::KIND
    }
    fn encode(&self, out: &mut Vec<u8>) {
        Writer::new(&WITHDRAWAL, out)
            .put("KIND", &[Self::KIND])
            .put("ACCOUNT", &(self.account.get() as u32).to_be_bytes())
            .put("L1", &self.l1_address.0)
            .put("AMOUNT", &self.amount.get().to_be_bytes());
    }
}

impl Kind for Withdrawal {
    type Record = WithdrawalRecord;
    type Error = WithdrawalError;
    const ACCOUNTS: usize = 1;

    fn execute<S: NodeStore>(&self, ctx: &mut Ctx<'_, S>) -> Result<(), Self::Error> {
        execute_withdrawal(ctx, self)
    }
}
