//! Twin of `zkperp_state::tx::withdrawal`: the owner signs `(account, amount, nonce)`; the
//! amount leaves the account for its own L1 address; the nonce moves on; the margin rule holds
//! afterwards. Record: `0x02 | u32 account | address | u64 amount`.

use zkperp_state::tx::Withdrawal;
use ark_r1cs_std::{alloc::AllocVar, boolean::Boolean, fields::fp::FpVar, fields::FieldVar};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::domain::MessageKind;
use zkperp_state::margin::Fraction;
use zkperp_state::units::{AccountId, Amount, Collateral, Nonce};
use zkperp_state::Fr;

use zkperp_state::batch::{AppliedTx, SealedBatch};
use zkperp_state::state::StateConfig;
use crate::tx::Gadget;
use crate::witness::ReceiptError;
use crate::batch::BatchVar;
use crate::eddsa::SignatureVar;
use crate::eq::{conditional_enforce_equal, conditional_enforce_not_equal};
use crate::funding::settle_funding;
use crate::margin::{
    withdrawal_marks,
    conditional_enforce_fresh_marks, conditional_enforce_margin_rule, margin_summary,
};
use crate::poseidon::poseidon;
use zkperp_state::layout::WITHDRAWAL;
use crate::pubdata::FieldsVar;
use crate::units::{enforce_signed_bits, enforce_unsigned_bits, two_pow};
use crate::witness::{account_witness, dummy_account, dummy_key, AccountWitness};

pub fn execute_withdrawal(
    b: &mut BatchVar,
    w: &WithdrawalWitness,
    enabled: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    let cs = b.cs.clone();
    let t = &w.withdrawal;
    let account = FpVar::new_witness(cs.clone(), || Ok(Fr::from(t.account.get())))?;
    enforce_unsigned_bits(&account, AccountId::BITS)?;
    let amount = FpVar::new_witness(cs.clone(), || Ok(Fr::from(t.amount.get())))?;
    enforce_unsigned_bits(&amount, Amount::BITS)?;
    conditional_enforce_not_equal(&amount, &FpVar::zero(), enabled)?;
    // No signature withdraws from the insurance fund.
    let fund_id = FpVar::Constant(Fr::from(AccountId::INSURANCE_FUND.get()));
    conditional_enforce_not_equal(&account, &fund_id, enabled)?;
    let nonce = FpVar::new_witness(cs.clone(), || Ok(Fr::from(t.nonce.get())))?;
    enforce_unsigned_bits(&nonce, Nonce::BITS)?;
    let signature = SignatureVar::new_witness(cs, || Ok(t.signature))?;

    let (_, leaf) = b.read_leaf(&w.account, true, &account)?;
    conditional_enforce_equal(&nonce, &leaf.nonce, enabled)?;
    let word = &account + &nonce * two_pow(32) + &amount * two_pow(64);
    let message = poseidon(&[b.domain.tag(MessageKind::Withdrawal), word])?;
    leaf.public_key
        .conditional_enforce_valid(&message, &signature, enabled)?;

    let params = &b.config.markets;
    let (collateral, positions) =
        settle_funding(&leaf.collateral, &leaf.positions, &b.funding_indices())?;
    let sizes: Vec<FpVar<Fr>> = positions.iter().map(|p| p.size.clone()).collect();
    // While a band binds, the less favourable of mark and median.
    let marks = withdrawal_marks(&b.markets, &sizes)?;
    let before = margin_summary(&collateral, &sizes, &marks, params, Fraction::Initial)?;
    let after_collateral = collateral - &amount;
    enforce_signed_bits(&after_collateral, Collateral::BITS)?;
    let after_nonce = &leaf.nonce + FpVar::one();
    enforce_unsigned_bits(&after_nonce, Nonce::BITS)?;
    let after = margin_summary(&after_collateral, &sizes, &marks, params, Fraction::Initial)?;
    conditional_enforce_fresh_marks(&sizes, &[], &b.markets, params, &b.now, enabled)?;
    conditional_enforce_margin_rule(&before, &after, enabled)?;

    let mut new_leaf = leaf.clone();
    new_leaf.collateral = after_collateral;
    new_leaf.nonce = after_nonce;
    new_leaf.positions = positions;

    // The record, zero when disabled (apart from what `record` puts there).
    let zero = FpVar::zero();
    let body = FieldsVar::body(&WITHDRAWAL)
        .uint("ACCOUNT", &enabled.select(&account, &zero)?)?
        .uint("L1", &enabled.select(&new_leaf.l1_address, &zero)?)?
        .uint("AMOUNT", &enabled.select(&amount, &zero)?)?
        .finish();
    b.record(
        zkperp_state::tx::withdrawal::WithdrawalRecord::KIND,
        body,
        enabled,
    )?;
    let exists = Boolean::TRUE;
    b.access(&account, enabled, (&exists, &leaf), (&exists, &new_leaf))
}

#[derive(Debug, Clone)]
pub struct WithdrawalWitness {
    pub withdrawal: Withdrawal,
    pub account: AccountWitness,
}

impl Gadget for Withdrawal {
    type Witness = WithdrawalWitness;

    fn witness(
        config: &StateConfig,
        batch: &SealedBatch,
        tx: &Self,
        applied: &AppliedTx,
    ) -> Result<Self::Witness, ReceiptError> {
        let _ = (config, batch);
        let w = applied.receipt.writes.first().ok_or(ReceiptError)?;
        Ok(WithdrawalWitness {
            withdrawal: *tx,
            account: account_witness(w).ok_or(ReceiptError)?,
        })
    }

    fn dummy(config: &StateConfig) -> Self::Witness {
        WithdrawalWitness {
            withdrawal: Withdrawal {
                account: AccountId::INSURANCE_FUND,
                amount: Amount::default(),
                nonce: Nonce::default(),
                signature: dummy_key().1,
            },
            account: dummy_account(config),
        }
    }

    fn synthesize(
        b: &mut BatchVar,
        w: &Self::Witness,
        enabled: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        execute_withdrawal(b, w, enabled)
    }
}
