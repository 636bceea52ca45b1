//! Constraint counts: of each slot kind, of a whole batch shape, of any circuit. Counting
//! synthesizes in setup mode (no witness values), so it costs seconds even at production depths.

use std::sync::Arc;

use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, SynthesisError, SynthesisMode,
};
use serde::Serialize;
use zkperp_state::batch::{Shape, SlotKind};
use zkperp_state::state::StateConfig;
use zkperp_state::Fr;

use crate::batch::BatchCircuit;
use crate::witness::WitnessError;

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error(transparent)]
    Witness(#[from] WitnessError),
    #[error("synthesis: {0}")]
    Synthesis(#[from] SynthesisError),
}

/// The number of constraints of `circuit`.
pub fn constraints(circuit: impl ConstraintSynthesizer<Fr>) -> Result<usize, SynthesisError> {
    // Linear combinations never become constraints here (they are inlined when a prover
    // finalizes), so the count needs no finalization.
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Setup);
    circuit.generate_constraints(cs.clone())?;
    Ok(cs.num_constraints())
}

/// The batch circuit of `shape`.
pub fn batch_constraints(config: &Arc<StateConfig>, shape: Shape) -> Result<usize, StatsError> {
    Ok(constraints(BatchCircuit::blank(config.clone(), shape)?)?)
}

/// What one slot of a kind adds to a batch, averaged over `SAMPLE` slots so that the SHA-256
/// blocks its bytes fill are counted fairly. The account table's size is held fixed: a slot's
/// accesses are counted here, the entries of the distinct accounts they touch apart
/// ([`table_entry_cost`]).
#[derive(Debug, Clone, Serialize)]
pub struct SlotCost {
    pub kind: &'static str,
    pub constraints: usize,
}

const SAMPLE: usize = 4;

/// The account table size the slot costs are measured at.
const TABLE: u16 = 16;

/// A shape with `n` slots of `kind` and nothing else.
pub fn only(kind: SlotKind, n: u16) -> Shape {
    let mut shape = Shape::default();
    *shape.count_mut(kind) = n;
    shape
}

fn with_table(mut shape: Shape, accounts: u16) -> Shape {
    shape.accounts = accounts;
    shape
}

/// The marginal cost of each slot kind (its accesses; the table fixed).
pub fn slot_costs(config: &Arc<StateConfig>) -> Result<Vec<SlotCost>, StatsError> {
    let empty = batch_constraints(config, with_table(Shape::default(), TABLE))?;
    SlotKind::ALL
        .into_iter()
        .map(|kind| {
            let n = batch_constraints(config, with_table(only(kind, SAMPLE as u16), TABLE))?;
            Ok(SlotCost {
                kind: kind.name(),
                constraints: (n - empty).div_ceil(SAMPLE),
            })
        })
        .collect()
}

/// The marginal cost of one entry of the account table: one distinct account of a batch (its
/// tree update, its rows, its published 36 bytes).
pub fn table_entry_cost(config: &Arc<StateConfig>) -> Result<usize, StatsError> {
    let base = batch_constraints(config, with_table(Shape::default(), TABLE))?;
    let more = batch_constraints(config, with_table(Shape::default(), TABLE + SAMPLE as u16))?;
    Ok((more - base).div_ceil(SAMPLE))
}

/// The constraints `gadget` adds to a constraint system (counted in setup mode).
pub fn count_gadget(
    gadget: impl FnOnce(ark_relations::gr1cs::ConstraintSystemRef<Fr>) -> Result<(), SynthesisError>,
) -> Result<usize, SynthesisError> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Setup);
    gadget(cs.clone())?;
    Ok(cs.num_constraints())
}

/// Poseidon of two allocated inputs.
pub fn poseidon2_constraints() -> Result<usize, SynthesisError> {
    use ark_r1cs_std::{alloc::AllocVar, fields::fp::FpVar};
    count_gadget(|cs| {
        let a = FpVar::new_witness(cs.clone(), || Ok(Fr::from(1u64)))?;
        let b = FpVar::new_witness(cs, || Ok(Fr::from(2u64)))?;
        crate::poseidon::poseidon2(&a, &b).map(|_| ())
    })
}

/// EdDSA-Poseidon verification of an allocated key, message and signature, without the
/// allocations' own subgroup checks.
pub fn eddsa_constraints() -> Result<usize, SynthesisError> {
    use ark_r1cs_std::{alloc::AllocVar, fields::fp::FpVar};
    use zkperp_state::eddsa::PrivateKey;
    let key = PrivateKey::from_bytes([3u8; 32]);
    let signature = key.sign(Fr::from(5u64));
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Setup);
    let pk = crate::eddsa::PublicKeyVar::new_witness(cs.clone(), || Ok(key.public_key()))?;
    let sig = crate::eddsa::SignatureVar::new_witness(cs.clone(), || Ok(signature))?;
    let msg = FpVar::new_witness(cs.clone(), || Ok(Fr::from(5u64)))?;
    let before = cs.num_constraints();
    pk.verify(&msg, &sig)?;
    Ok(cs.num_constraints() - before)
}
