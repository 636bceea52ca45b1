//! Key generation synthesises a circuit without any witness: every gadget must then build the
//! same constraints as when proving (a circuit's shape never depends on its witness), and none
//! may panic for want of a value.

use ark_r1cs_std::{alloc::AllocVar, alloc::AllocationMode, boolean::Boolean, fields::fp::FpVar};
use ark_relations::gr1cs::{ConstraintSystem, ConstraintSystemRef, SynthesisError, SynthesisMode};
use rand::SeedableRng;
use zkperp_circuits::babyjubjub::PointVar;
use zkperp_circuits::eddsa::{PublicKeyVar, SignatureVar};
use zkperp_circuits::merkle::MerkleProofVar;
use zkperp_circuits::units::{enforce_signed_bits, enforce_unsigned_bits};
use zkperp_circuits::Fr;
use zkperp_state::eddsa::{PrivateKey, PublicKey, Signature};
use zkperp_state::merkle::{MerkleUpdate, SparseMerkleTree};

/// The witness, or nothing (setup).
struct Witness {
    pk: PublicKey,
    sig: Signature,
    msg: Fr,
    update: MerkleUpdate,
}

fn witness() -> Witness {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
    let key = PrivateKey::random(&mut rng);
    let msg = Fr::from(42u64);
    let mut tree = SparseMerkleTree::new(6).expect("depth");
    tree.update(3, Fr::from(1u64)).expect("update");
    let update = tree.update(9, Fr::from(2u64)).expect("update");
    Witness {
        pk: key.public_key(),
        sig: key.sign(msg),
        msg,
        update,
    }
}

fn value<T>(w: &Option<Witness>, f: impl FnOnce(&Witness) -> T) -> Result<T, SynthesisError> {
    w.as_ref().map(f).ok_or(SynthesisError::AssignmentMissing)
}

fn synthesise(cs: ConstraintSystemRef<Fr>, w: Option<Witness>) -> Result<(), SynthesisError> {
    let pk = PublicKeyVar::new_witness(cs.clone(), || value(&w, |w| w.pk))?;
    let sig = SignatureVar::new_witness(cs.clone(), || value(&w, |w| w.sig))?;
    let msg = FpVar::new_input(cs.clone(), || value(&w, |w| w.msg))?;
    let cond = Boolean::new_witness(cs.clone(), || Ok(true))?;
    pk.conditional_enforce_valid(&msg, &sig, &cond)?;
    let _point = PointVar::new_witness(cs.clone(), || value(&w, |w| *w.pk.point()))?;

    let proof = MerkleProofVar::new_variable_with_depth(
        cs.clone(),
        6,
        || value(&w, |w| w.update.proof.clone()),
        AllocationMode::Witness,
    )?;
    let leaf =
        |f: fn(&MerkleUpdate) -> Fr| FpVar::new_witness(cs.clone(), || value(&w, |w| f(&w.update)));
    let (old_leaf, new_leaf) = (leaf(|u| u.old_leaf)?, leaf(|u| u.new_leaf)?);
    let (old_root, new_root) = (leaf(|u| u.old_root)?, leaf(|u| u.new_root)?);
    proof.enforce_update(&old_leaf, &new_leaf, &old_root, &new_root)?;

    enforce_unsigned_bits(&msg, 40)?;
    enforce_signed_bits(&msg, 40)?;
    Ok(())
}

#[test]
fn setup_builds_the_same_constraints_as_proving() {
    let setup = ConstraintSystem::<Fr>::new_ref();
    setup.set_mode(SynthesisMode::Setup);
    synthesise(setup.clone(), None).expect("setup synthesis");

    let prove = ConstraintSystem::<Fr>::new_ref();
    synthesise(prove.clone(), Some(witness())).expect("proving synthesis");
    assert!(prove.is_satisfied().expect("check"));

    assert_eq!(setup.num_constraints(), prove.num_constraints());
    assert_eq!(setup.num_witness_variables(), prove.num_witness_variables());
    assert_eq!(
        setup.num_instance_variables(),
        prove.num_instance_variables()
    );
}
