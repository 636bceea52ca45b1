//! Twin of `zkperp_state::tx::forced_withdrawal`: an L1 request answered either way, and the
//! answer is the rules', not the sequencer's: *served* exactly when the account exists, the
//! requester is its L1 owner, the account is not the insurance fund (a system account), the
//! amount is not zero, the balance stays within its width and the
//! margin rule (initial fractions) holds after paying; *refused* otherwise, with the account's
//! leaf (or its empty slot) proven in the tree so that the refusal is justified.
//! Record: `0x03 | u64 index | u32 account | address requester | u64 amount | u64 paid`
//! (paid: the amount when served, 0 when refused).
//!
//! One difference from the native rules, on the safe side: a settlement of pending funding that
//! would overflow the balance width (about 9.2 trillion USD) makes the batch unprovable here,
//! where natively it refuses the request.

use ark_r1cs_std::{
    alloc::AllocVar, boolean::Boolean, eq::EqGadget, fields::fp::FpVar, fields::FieldVar,
};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::margin::Fraction;
use zkperp_state::units::{AccountId, Amount};
use zkperp_state::Fr;

use crate::batch::BatchVar;
use crate::eq::conditional_enforce_equal;
use crate::funding::settle_funding;
use crate::leaf::AccountLeafVar;
use crate::margin::{is_nonnegative, is_risk_reducing, is_well_margined, margin_summary};
use crate::merkle::MerkleProofVar;
use crate::pubdata::uint_be_bytes;
use crate::units::{enforce_unsigned_bits, two_pow};
use crate::witness::ForcedWithdrawalWitness;

pub fn execute_forced_withdrawal(
    b: &mut BatchVar,
    w: &ForcedWithdrawalWitness,
    enabled: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    let cs = b.cs.clone();
    let r = &w.request;
    let index = FpVar::new_witness(cs.clone(), || Ok(Fr::from(r.index)))?;
    let account = FpVar::new_witness(cs.clone(), || Ok(Fr::from(r.account.get())))?;
    let id_bits = enforce_unsigned_bits(&account, AccountId::BITS)?;
    let requester = FpVar::new_witness(cs.clone(), || Ok(r.requester.to_field()))?;
    let amount = FpVar::new_witness(cs.clone(), || Ok(Fr::from(r.amount.get())))?;
    enforce_unsigned_bits(&amount, Amount::BITS)?;
    let served = Boolean::new_witness(cs.clone(), || Ok(w.served))?;
    let exists = Boolean::new_witness(cs.clone(), || Ok(w.exists))?;

    // The account's leaf, or its empty slot, under the current root; an id beyond the tree
    // names no account.
    let depth = usize::from(b.config.account_tree_depth);
    let in_range = if depth < id_bits.len() {
        !Boolean::kary_or(&id_bits[depth..])?
    } else {
        Boolean::TRUE
    };
    (&exists & &!in_range.clone()).enforce_equal(&Boolean::FALSE)?;
    let leaf = AccountLeafVar::new_witness(cs.clone(), b.markets_count(), Some(&w.account.leaf))?;
    let siblings = b
        .path(&w.account.proof, b.config.account_tree_depth)?
        .siblings;
    let path = MerkleProofVar::new(id_bits[..depth].to_vec(), siblings);
    let hash = leaf.hash()?;
    let present = exists.select(&hash, &FpVar::zero())?;
    conditional_enforce_equal(
        &path.root_for(&present)?,
        &b.accounts_root,
        &(enabled & &in_range),
    )?;

    // What the rules decide.
    let owner = leaf.l1_address.is_eq(&requester)?;
    let nonzero = !amount.is_eq(&FpVar::zero())?;
    // The insurance fund is a system account: nobody forces money out of it.
    let not_fund = !account.is_eq(&FpVar::Constant(Fr::from(AccountId::INSURANCE_FUND.get())))?;
    let params = &b.config.markets;
    let marks = b.marks();
    let (collateral, positions) =
        settle_funding(&leaf.collateral, &leaf.positions, &b.funding_indices())?;
    let sizes: Vec<FpVar<Fr>> = positions.iter().map(|p| p.size.clone()).collect();
    let before = margin_summary(&collateral, &sizes, &marks, params, Fraction::Initial)?;
    let after_collateral = collateral - &amount;
    // Within the collateral width: after >= -(2^63 - 1) (it is below 2^63 already).
    let fits = is_nonnegative(&(&after_collateral + (two_pow(63) - Fr::from(1u64))), 64)?;
    let after = margin_summary(&after_collateral, &sizes, &marks, params, Fraction::Initial)?;
    let margin_ok = &is_well_margined(&after)? | &is_risk_reducing(&before, &after)?;
    let ok = Boolean::kary_and(&[exists, owner, nonzero, not_fund, fits, margin_ok])?;
    served.conditional_enforce_equal(&ok, enabled)?;

    let mut paid = leaf;
    paid.collateral = after_collateral;
    paid.positions = positions;
    let new_hash = paid.hash()?;
    let pays = enabled & &served;
    b.write_proven_account(&path, &new_hash, &pays)?;

    let zero = FpVar::zero();
    let mut body = uint_be_bytes(&enabled.select(&index, &zero)?, 8)?;
    body.extend(uint_be_bytes(&enabled.select(&account, &zero)?, 4)?);
    body.extend(uint_be_bytes(&enabled.select(&requester, &zero)?, 20)?);
    body.extend(uint_be_bytes(&enabled.select(&amount, &zero)?, 8)?);
    body.extend(uint_be_bytes(&pays.select(&amount, &zero)?, 8)?);
    b.record(
        zkperp_state::pubdata::PubData::FORCED_WITHDRAWAL,
        body,
        enabled,
    )
}
