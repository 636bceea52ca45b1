//! Twin of `zkperp_state::tx::cancel_order`: the owner signs `(account, order_id)`; the order's
//! slot becomes `(order_id, CANCELLED)` unless a later order already holds it.

use ark_r1cs_std::{alloc::AllocVar, boolean::Boolean, fields::fp::FpVar};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::domain::MessageKind;
use zkperp_state::tx::cancel_order::CANCELLED;
use zkperp_state::units::{AccountId, OrderId};
use zkperp_state::Fr;

use crate::batch::BatchVar;
use crate::eddsa::SignatureVar;
use crate::eq::conditional_enforce_equal;
use crate::merkle::MerkleProofVar;
use crate::order::OrderSlotVar;
use crate::poseidon::poseidon;
use crate::units::{conditional_enforce_unsigned_bits, enforce_unsigned_bits, two_pow};
use crate::witness::CancelOrderWitness;

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

    let (leaf, path) = b.account(&w.account, &account)?;
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

    let old_hash = leaf.hash()?;
    let mut new_leaf = leaf;
    new_leaf.orders_root = orders_root;
    let new_hash = new_leaf.hash()?;
    b.write_account(&path, &old_hash, &new_hash, enabled)
}
