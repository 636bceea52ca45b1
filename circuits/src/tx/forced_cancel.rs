//! Twin of `zkperp_state::tx::forced_cancel`: an L1 request answered either way, and the
//! answer is the rules', not the sequencer's:
//!
//! ```text
//! served    = exists & requester == owner      (the only grounds of refusal are their negations)
//! served   => floor' = max(floor, order_id), the leaf rewritten with it
//! record    = 0x07 | u64 index | u32 account | address requester | u64 order_id | u8 served
//! ```
//! The account's leaf, or its empty slot, is proven under the current root, so a refusal shows
//! why it is justified, and a served request cannot be published as refused.

use ark_r1cs_std::{boolean::Boolean, eq::EqGadget, fields::fp::FpVar, fields::FieldVar};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::batch::{AppliedTx, SealedBatch};
use zkperp_state::pubdata::PubData;
use zkperp_state::state::StateConfig;
use zkperp_state::tx::forced_cancel::{ForcedCancel, ForcedCancelRecord, L1ForcedCancel};
use zkperp_state::units::{AccountId, L1Address, OrderId};
use zkperp_state::Fr;

use crate::batch::BatchVar;
use crate::leaf::AccountLeafVar;
use crate::margin::is_nonnegative;
use zkperp_state::layout::FORCED_CANCEL;
use crate::pubdata::{byte_of_bits, FieldsVar};
use crate::tx::Gadget;
use crate::witness::{dummy_account, read_witness, AccountWitness, ReceiptError};

#[derive(Debug, Clone)]
pub struct ForcedCancelWitness {
    pub request: L1ForcedCancel,
    /// An account has the requested id (its leaf is not empty).
    pub exists: bool,
    /// Its leaf (a placeholder when it does not exist) and the path to its id (zeros when the
    /// id is beyond the tree).
    pub account: AccountWitness,
}

pub fn execute_forced_cancel(
    b: &mut BatchVar,
    w: &ForcedCancelWitness,
    enabled: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    let r = &w.request;
    // The index is range-checked by its record bytes below.
    let index = b.witness(|| r.index)?;
    let (account, id_bits) = b.unsigned(Fr::from(r.account.get()), AccountId::BITS)?;
    let (requester, _) = b.unsigned(r.requester.to_field(), 160)?;
    let (order_id, _) = b.unsigned(Fr::from(r.order_id.get()), OrderId::BITS)?;
    let named = b.read_named(&w.account, w.exists, &account, &id_bits, enabled)?;
    let (exists, leaf) = (named.exists.clone(), named.leaf.clone());

    // What the rules decide, in both directions.
    let owner = leaf.l1_address.is_eq(&requester)?;
    let served = enabled & &(&exists & &owner);
    // Both are 40-bit: the difference is 40-bit exactly when order_id >= floor.
    let raises = is_nonnegative(&(&order_id - &leaf.order_floor), OrderId::BITS)?;
    let mut raised = leaf.clone();
    raised.order_floor = raises.select(&order_id, &raised.order_floor)?;
    let after = AccountLeafVar::select_state(&served, &raised, &leaf)?;
    b.access(&account, &named.real, (&exists, &leaf), (&exists, &after))?;

    let zero = FpVar::zero();
    let body = FieldsVar::body(&FORCED_CANCEL)
        .uint("INDEX", &enabled.select(&index, &zero)?)?
        .uint("ACCOUNT", &enabled.select(&account, &zero)?)?
        .uint("REQUESTER", &enabled.select(&requester, &zero)?)?
        .uint("ORDER_ID", &enabled.select(&order_id, &zero)?)?
        .bytes("SERVED", vec![byte_of_bits(&[served])])
        .finish();
    b.record(ForcedCancelRecord::KIND, body, enabled)
}

impl Gadget for ForcedCancel {
    type Witness = ForcedCancelWitness;

    fn witness(
        config: &StateConfig,
        _batch: &SealedBatch,
        tx: &Self,
        applied: &AppliedTx,
    ) -> Result<Self::Witness, ReceiptError> {
        if !matches!(applied.receipt.pubdata.first(), Some(PubData::ForcedCancel(_))) {
            return Err(ReceiptError);
        }
        let read = applied.receipt.reads.first().ok_or(ReceiptError)?;
        let (exists, account) = read_witness(config, read);
        Ok(ForcedCancelWitness {
            request: tx.request,
            exists,
            account,
        })
    }

    fn dummy(config: &StateConfig) -> Self::Witness {
        ForcedCancelWitness {
            request: L1ForcedCancel {
                index: 0,
                account: AccountId::INSURANCE_FUND,
                requester: L1Address([0; 20]),
                order_id: OrderId::default(),
            },
            exists: false,
            account: dummy_account(config),
        }
    }

    fn synthesize(
        b: &mut BatchVar,
        w: &Self::Witness,
        enabled: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        execute_forced_cancel(b, w, enabled)
    }
}
