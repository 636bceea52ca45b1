//! Twin of `zkperp_state::tx::forced_withdrawal`: an L1 request answered either way, and the
//! answer is the rules', not the sequencer's. The prover names `paid`; the circuit checks it is
//! exactly what the rules pay:
//!
//! ```text
//! eligible = exists & owner & amount != 0 & account != insurance fund
//! D(p)     = (TV - p) * 10^6 - TR*10^6        (initial fractions, after funding; |D| < 2^121)
//! 0 <= paid <= amount;  !eligible => paid = 0
//! paid != 0 => D(paid) >= 0                    (the margin rule holds after paying)
//! eligible  => paid = amount or D(paid) < 10^6 (one unit more would break it: paid is maximal)
//! ```
//! so a margin-limited request is served up to what the rule allows, and an account whose
//! leaf (or empty slot) is proven in the tree shows why a refusal is justified.
//! Record: `0x03 | u64 index | u32 account | address requester | u64 amount | u64 paid`.
//!
//! One difference from the native rules, on the safe side: a settlement of pending funding that
//! would overflow the balance width (about 9.2 trillion USD) makes the batch unprovable here,
//! where natively it refuses the request.

use zkperp_state::units::L1Address;
use ark_r1cs_std::{
    boolean::Boolean, eq::EqGadget, fields::fp::FpVar, fields::FieldVar,
};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::margin::Fraction;
use zkperp_state::units::{AccountId, Amount, PPM_ONE};
use zkperp_state::Fr;

use zkperp_state::batch::{AppliedTx, SealedBatch};
use zkperp_state::state::StateConfig;
use crate::tx::Gadget;
use crate::witness::ReceiptError;
use zkperp_state::pubdata::PubData;
use zkperp_state::tx::{ForcedWithdrawal, L1ForcedWithdrawal};
use crate::batch::BatchVar;
use crate::leaf::AccountLeafVar;
use crate::eq::conditional_enforce_equal;
use crate::funding::settle_funding;
use crate::margin::{is_nonnegative, margin_summary, withdrawal_marks};
use zkperp_state::layout::FORCED_WITHDRAWAL;
use crate::pubdata::FieldsVar;
use crate::units::{conditional_enforce_unsigned_bits, two_pow};

/// `|D| < 2^121` (`D = TV * 10^6 - TR * 10^6` less a payment below 2^63 * 10^6): 122-bit
/// checks decide its sign without wrapping.
const D_BITS: u32 = 122;
use crate::witness::{dummy_account, read_witness, AccountWitness};

pub fn execute_forced_withdrawal(
    b: &mut BatchVar,
    w: &ForcedWithdrawalWitness,
    enabled: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    let r = &w.request;
    // The index and the requester are range-checked by their record bytes below.
    let index = b.witness(|| r.index)?;
    let (account, id_bits) = b.unsigned(Fr::from(r.account.get()), AccountId::BITS)?;
    let requester = b.witness(|| r.requester.to_field())?;
    let (amount, _) = b.unsigned(Fr::from(r.amount.get()), Amount::BITS)?;
    let (paid, _) = b.unsigned(Fr::from(w.paid.get()), Amount::BITS)?;
    let named = b.read_named(&w.account, w.exists, &account, &id_bits, enabled)?;
    let (exists, leaf) = (named.exists.clone(), named.leaf.clone());

    // What the rules decide.
    let owner = leaf.l1_address.is_eq(&requester)?;
    let nonzero = !amount.is_eq(&FpVar::zero())?;
    // The insurance fund is a system account: nobody forces money out of it.
    let not_fund = !account.is_eq(&FpVar::Constant(Fr::from(AccountId::INSURANCE_FUND.get())))?;
    let params = &b.config.markets;
    let (collateral, positions) =
        settle_funding(&leaf.collateral, &leaf.positions, &b.funding_indices())?;
    let sizes: Vec<FpVar<Fr>> = positions.iter().map(|p| p.size.clone()).collect();
    // While a band binds, the less favourable of mark and median.
    let marks = withdrawal_marks(&b.markets, &sizes)?;
    let summary = margin_summary(&collateral, &sizes, &marks, params, Fraction::Initial)?;
    let eligible = Boolean::kary_and(&[exists.clone(), owner, nonzero, not_fund])?;
    let zero = FpVar::zero();
    // 0 <= paid <= amount; nothing for a request the rules do not serve.
    conditional_enforce_unsigned_bits(&(&amount - &paid), Amount::BITS, enabled)?;
    conditional_enforce_equal(&paid, &zero, &(enabled & &!eligible.clone()))?;
    let pays = enabled & &!paid.is_eq(&zero)?;
    // D(paid) = (TV - paid) * 10^6 - TR*10^6: |TV| < 2^100 and TR*10^6 < 2^119, so |D| < 2^121.
    let d = (&summary.total_value - &paid) * Fr::from(PPM_ONE) - &summary.total_risk_ppm;
    conditional_enforce_unsigned_bits(&d, D_BITS, &pays)?;
    // Maximal: all of it, or one unit more would break the rule (D(paid + 1) = D - 10^6 < 0).
    let full = paid.is_eq(&amount)?;
    let at_the_limit = is_nonnegative(&(FpVar::Constant(Fr::from(PPM_ONE - 1)) - &d), D_BITS)?;
    (&full | &at_the_limit).conditional_enforce_equal(&Boolean::TRUE, &(enabled & &eligible))?;
    let after_collateral = collateral - &paid;
    // Within the collateral width: after >= -(2^63 - 1) (it is below 2^63 already).
    conditional_enforce_unsigned_bits(
        &(&after_collateral + (two_pow(63) - Fr::from(1u64))),
        64,
        &pays,
    )?;

    let mut paid_out = leaf.clone();
    paid_out.collateral = after_collateral;
    paid_out.positions = positions;
    let after = AccountLeafVar::select_state(&pays, &paid_out, &leaf)?;
    b.access(&account, &named.real, (&exists, &leaf), (&exists, &after))?;

    let body = FieldsVar::body(&FORCED_WITHDRAWAL)
        .uint("INDEX", &enabled.select(&index, &zero)?)?
        .uint("ACCOUNT", &enabled.select(&account, &zero)?)?
        .uint("REQUESTER", &enabled.select(&requester, &zero)?)?
        .uint("AMOUNT", &enabled.select(&amount, &zero)?)?
        .uint("PAID", &enabled.select(&paid, &zero)?)?
        .finish();
    b.record(
        zkperp_state::tx::forced_withdrawal::ForcedWithdrawalRecord::KIND,
        body,
        enabled,
    )
}

#[derive(Debug, Clone)]
pub struct ForcedWithdrawalWitness {
    pub request: L1ForcedWithdrawal,
    /// What the answer pays (0: refused); the circuit proves it is what the rules pay.
    pub paid: Amount,
    /// An account has the requested id (its leaf is not empty).
    pub exists: bool,
    /// Its leaf (a placeholder when it does not exist) and the path to its id (zeros when the
    /// id is beyond the tree).
    pub account: AccountWitness,
}

impl Gadget for ForcedWithdrawal {
    type Witness = ForcedWithdrawalWitness;

    fn witness(
        config: &StateConfig,
        batch: &SealedBatch,
        tx: &Self,
        applied: &AppliedTx,
    ) -> Result<Self::Witness, ReceiptError> {
        let _ = batch;
        let paid = match applied.receipt.pubdata.first() {
            Some(PubData::ForcedWithdrawal(record)) => record.paid,
            _ => return Err(ReceiptError),
        };
        let read = applied.receipt.reads.first().ok_or(ReceiptError)?;
        let (exists, account) = read_witness(config, read);
        Ok(ForcedWithdrawalWitness {
            request: tx.request,
            paid,
            exists,
            account,
        })
    }

    fn dummy(config: &StateConfig) -> Self::Witness {
        ForcedWithdrawalWitness {
            request: L1ForcedWithdrawal {
                index: 0,
                account: AccountId::INSURANCE_FUND,
                requester: L1Address([0; 20]),
                amount: Amount::default(),
            },
            paid: Amount::default(),
            exists: false,
            account: dummy_account(config),
        }
    }

    fn synthesize(
        b: &mut BatchVar,
        w: &Self::Witness,
        enabled: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        execute_forced_withdrawal(b, w, enabled)
    }
}
