//! Twin of `zkperp_state::tx::cancel_order`: the owner signs `(account, order_id)`; the order's
//! slot becomes `(order_id, CANCELLED)` unless a later order already holds it.

use zkperp_state::order::OrderSlot;
use zkperp_state::tx::CancelOrder;
use ark_r1cs_std::{alloc::AllocVar, boolean::Boolean, fields::fp::FpVar};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::domain::MessageKind;
use zkperp_state::tx::cancel_order::CANCELLED;
use zkperp_state::units::{AccountId, OrderId};
use zkperp_state::Fr;

use zkperp_state::batch::{AppliedTx, SealedBatch};
use zkperp_state::state::StateConfig;
use crate::tx::Gadget;
use crate::witness::ReceiptError;
use crate::batch::BatchVar;
use crate::eddsa::SignatureVar;
use crate::eq::conditional_enforce_equal;
use crate::merkle::MerkleProofVar;
use crate::order::OrderSlotVar;
use crate::poseidon::poseidon;
use crate::units::{conditional_enforce_unsigned_bits, enforce_unsigned_bits, two_pow};
use crate::witness::{
    account_witness, dummy_account, dummy_key, zero_proof, AccountWitness, OrderSlotWitness,
};

pub fn execute_cancel_order(
    b: &mut BatchVar,
    w: &CancelOrderWitness,
    enabled: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    let cs = b.cs.clone();
    let t = &w.cancel;
    let account = FpVar::new_witness(cs.clone(), || Ok(Fr::from(t.account.get())))?;
    enforce_unsigned_bits(&account, AccountId::BITS)?;
    let order_id = FpVar::new_witness(cs.clone(), || Ok(Fr::from(t.order_id.get())))?;
    let id_bits = enforce_unsigned_bits(&order_id, OrderId::BITS)?;
    let signature = SignatureVar::new_witness(cs.clone(), || Ok(t.signature))?;

    let (_, leaf) = b.read_leaf(&w.account, true, &account)?;
    let message = poseidon(&[
        b.domain.tag(MessageKind::CancelOrder),
        &account + &order_id * two_pow(32),
    ])?;
    leaf.public_key
        .conditional_enforce_valid(&message, &signature, enabled)?;

    let slot = OrderSlotVar::new_witness(cs, Some(&w.order_slot.slot))?;
    let depth = usize::from(b.config.order_tree_depth);
    let siblings = b
        .path(&w.order_slot.proof, b.config.order_tree_depth)?
        .siblings;
    let slot_path = MerkleProofVar::new(id_bits[..depth].to_vec(), siblings);
    conditional_enforce_equal(
        &slot_path.root_for(&slot.pack())?,
        &leaf.orders_root,
        enabled,
    )?;
    // Not superseded: the slot holds this order or an earlier one.
    conditional_enforce_unsigned_bits(&(&order_id - &slot.order_id), OrderId::BITS, enabled)?;
    let cancelled = OrderSlotVar {
        order_id,
        filled: FpVar::Constant(Fr::from(CANCELLED as u64)),
    };
    let orders_root = slot_path.root_for(&cancelled.pack())?;

    let mut new_leaf = leaf.clone();
    new_leaf.orders_root = orders_root;
    let exists = Boolean::TRUE;
    b.access(&account, enabled, (&exists, &leaf), (&exists, &new_leaf))
}

#[derive(Debug, Clone)]
pub struct CancelOrderWitness {
    pub cancel: CancelOrder,
    pub account: AccountWitness,
    pub order_slot: OrderSlotWitness,
}

impl Gadget for CancelOrder {
    type Witness = CancelOrderWitness;

    fn witness(
        config: &StateConfig,
        batch: &SealedBatch,
        tx: &Self,
        applied: &AppliedTx,
    ) -> Result<Self::Witness, ReceiptError> {
        let _ = (config, batch);
        let w = applied.receipt.writes.first().ok_or(ReceiptError)?;
        let order = w.order_update.as_ref().ok_or(ReceiptError)?;
        Ok(CancelOrderWitness {
            cancel: *tx,
            account: account_witness(w).ok_or(ReceiptError)?,
            order_slot: OrderSlotWitness {
                slot: OrderSlot::unpack(&order.old_leaf).ok_or(ReceiptError)?,
                proof: order.proof.clone(),
            },
        })
    }

    fn dummy(config: &StateConfig) -> Self::Witness {
        CancelOrderWitness {
            cancel: CancelOrder {
                account: AccountId::INSURANCE_FUND,
                order_id: OrderId::default(),
                signature: dummy_key().1,
            },
            account: dummy_account(config),
            order_slot: OrderSlotWitness {
                slot: OrderSlot::default(),
                proof: zero_proof(config.order_tree_depth),
            },
        }
    }

    fn synthesize(
        b: &mut BatchVar,
        w: &Self::Witness,
        enabled: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        execute_cancel_order(b, w, enabled)
    }
}
