//! Twin of `zkperp_state::record`: a data-availability record in the circuit, the salt's step,
//! the plaintext words, the ciphertext, and the salt an account is created with.
//!
//! ```text
//! nonce   = 2^32 batch + id                                  (batch < 2^64, id < 2^32: the caller's)
//! step    = Poseidon(STEP_TAG, salt, nonce + 2^96 rho)        (rho < 2^128: the caller's)
//! words   linear in the leaf's fields, each range-checked where it was made
//! seal    = encrypt_bounded(words, (leaf.salt, KEY_TAG), nonce), no tag
//! create  E = e Base8 (E != identity), K = e A, salt = Poseidon(SALT_TAG, K.x, K.y)
//! ```
//!
//! Packing is injective because every field is within its width (`crate::leaf`'s module docs):
//! the words are the leaf's fields, and the leaf hash the proof publishes pins the fields, so the
//! ciphertext decrypts to the leaf behind the published hash. Costs (asserted by the tests):
//! a step 258, the words 0, the cipher 258 for up to three words (up to three markets), 264 for
//! each three more, a creation 4,105 (the scalar's 251 bits, `e Base8` and `e A`, the hash).

use ark_r1cs_std::{boolean::Boolean, fields::fp::FpVar, fields::FieldVar};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::record::{
    tag, KEY_TAG, NONCE_SHIFT, PACK_BITS, POSITION_SHIFT, RHO_SHIFT, SALT_TAG, STEP_TAG,
};
use zkperp_state::units::Collateral;
use zkperp_state::Fr;

use crate::babyjubjub::{mul, mul_base8_le, PointVar};
use crate::cipher::encrypt_bounded;
use crate::eq::conditional_enforce_not_equal;
use crate::leaf::{pack_position, AccountLeafVar};
use crate::poseidon::poseidon;
use crate::units::two_pow;

fn constant(name: &[u8]) -> FpVar<Fr> {
    FpVar::Constant(tag(name))
}

/// Twin of `record::nonce`.
pub fn nonce(batch: &FpVar<Fr>, id: &FpVar<Fr>) -> FpVar<Fr> {
    batch * two_pow(32) + id
}

/// Twin of `record::step`, for a nonce of [`nonce`].
pub fn step(
    salt: &FpVar<Fr>,
    nonce: &FpVar<Fr>,
    rho: &FpVar<Fr>,
) -> Result<FpVar<Fr>, SynthesisError> {
    poseidon(&[
        constant(STEP_TAG),
        salt.clone(),
        nonce + rho * two_pow(RHO_SHIFT),
    ])
}

/// Twin of `record::words`.
pub fn words(leaf: &AccountLeafVar) -> Vec<FpVar<Fr>> {
    let packed: Vec<FpVar<Fr>> = leaf.positions.iter().map(pack_position).collect();
    let mut out = vec![
        leaf.orders_root.clone(),
        &leaf.collateral
            + two_pow(Collateral::BITS)
            + (&leaf.nonce + &leaf.order_floor * two_pow(32)) * two_pow(NONCE_SHIFT)
            + &packed[0] * two_pow(POSITION_SHIFT),
    ];
    for pair in packed[1..].chunks(2) {
        out.push(match pair {
            [low, high] => low + high * two_pow(PACK_BITS),
            [low] => low.clone(),
            _ => unreachable!("chunks of at most two"),
        });
    }
    out
}

/// Twin of `record::Record`.
#[derive(Debug, Clone)]
pub struct RecordVar {
    pub id: FpVar<Fr>,
    pub hash: FpVar<Fr>,
    pub ciphertext: Vec<FpVar<Fr>>,
}

impl RecordVar {
    /// Twin of `Record::seal`: the record of `leaf` (its salt already stepped) as account `id`
    /// in the batch whose [`nonce`] for it is `nonce`; `hash` is `leaf.hash()`, which the caller
    /// has computed for the tree.
    pub fn seal(
        nonce: &FpVar<Fr>,
        id: &FpVar<Fr>,
        leaf: &AccountLeafVar,
        hash: &FpVar<Fr>,
    ) -> Result<Self, SynthesisError> {
        let key = constant(KEY_TAG);
        Ok(RecordVar {
            id: id.clone(),
            hash: hash.clone(),
            ciphertext: encrypt_bounded(&words(leaf), [&leaf.salt, &key], nonce, false)?,
        })
    }
}

/// Twin of `record::Creation`.
#[derive(Debug, Clone)]
pub struct CreationVar {
    pub ephemeral: PointVar,
    pub salt: FpVar<Fr>,
}

/// Twin of `record::create`: `E` and the salt from the operator's scalar `e` as little-endian
/// bits (not reduced; `e` and `e + l` give the same point) and the owner's key (a subgroup
/// point). When `creates`, `E` is refused if it is the identity (`e = 0 mod l`: a salt anyone
/// could compute); in the subgroup the identity is the only point with `x = 0`. A deposit slot
/// that credits an existing account carries a scalar it does not use, and refuses nothing.
pub fn create(
    e_le: &[Boolean<Fr>],
    owner: &PointVar,
    creates: &Boolean<Fr>,
) -> Result<CreationVar, SynthesisError> {
    let ephemeral = mul_base8_le(e_le)?;
    conditional_enforce_not_equal(ephemeral.x(), &FpVar::zero(), creates)?;
    let shared = mul(owner, e_le)?;
    Ok(CreationVar {
        ephemeral,
        salt: poseidon(&[constant(SALT_TAG), shared.x().clone(), shared.y().clone()])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::{BigInteger, PrimeField};
    use ark_r1cs_std::{alloc::AllocVar, eq::EqGadget, GR1CSVar};
    use ark_relations::gr1cs::{ConstraintSystem, ConstraintSystemRef};
    use zkperp_state::babyjubjub::Fs;
    use zkperp_state::eddsa::PrivateKey;
    use zkperp_state::leaf::AccountLeaf;
    use zkperp_state::record::{self as native, Record};
    use zkperp_state::units::AccountId;

    use crate::eddsa::PublicKeyVar;

    fn leaf(markets: usize, salt: Fr) -> AccountLeaf {
        let key = PrivateKey::from_bytes([3; 32]).public_key();
        zkperp_state::testkit::extreme_leaf(key, markets, salt)
    }

    /// Steps `salt` and seals the leaf in the circuit, every claimed output (the new salt, the
    /// ciphertext) made a public input from `claim`, which may tamper with the native values.
    /// Returns whether the system is satisfied and the constraints of the step and the seal.
    fn run(
        markets: usize,
        batch: u64,
        claim: impl FnOnce(&mut Fr, &mut Vec<Fr>),
    ) -> (bool, usize, usize) {
        let id = AccountId::new(u64::from(u32::MAX)).expect("id");
        let rho = u128::MAX;
        let salt = Fr::from(4242u64);
        let stepped = native::step(salt, batch, id, rho);
        let final_leaf = leaf(markets, stepped);
        let record = Record::seal(batch, id, &final_leaf);
        let (mut claimed_salt, mut claimed_ct) = (stepped, record.ciphertext.clone());
        claim(&mut claimed_salt, &mut claimed_ct);

        let cs = ConstraintSystem::<Fr>::new_ref();
        let w = |v: Fr| FpVar::new_witness(cs.clone(), || Ok(v)).expect("alloc");
        let (batch_var, id_var, rho_var) =
            (w(Fr::from(batch)), w(Fr::from(id.get())), w(Fr::from(rho)));
        let salt_var = w(salt);
        let mut leaf_var =
            AccountLeafVar::new_witness(cs.clone(), markets, Some(&leaf(markets, salt)))
                .expect("leaf");
        let n = nonce(&batch_var, &id_var);
        let before = cs.num_constraints();
        leaf_var.salt = step(&salt_var, &n, &rho_var).expect("step");
        let step_cost = cs.num_constraints() - before;
        let hash = leaf_var.hash().expect("hash");
        let before = cs.num_constraints();
        let sealed = RecordVar::seal(&n, &id_var, &leaf_var, &hash).expect("seal");
        let seal_cost = cs.num_constraints() - before;
        let public = |v: Fr| FpVar::new_input(cs.clone(), || Ok(v)).expect("input");
        leaf_var
            .salt
            .enforce_equal(&public(claimed_salt))
            .expect("eq");
        hash.enforce_equal(&public(record.hash)).expect("eq");
        assert_eq!(sealed.ciphertext.len(), claimed_ct.len());
        for (c, v) in sealed.ciphertext.iter().zip(&claimed_ct) {
            c.enforce_equal(&public(*v)).expect("eq");
        }
        let ok = cs.is_satisfied().expect("satisfiable?");
        if ok {
            assert_eq!(
                words(&leaf_var)
                    .iter()
                    .map(|w| w.value().expect("v"))
                    .collect::<Vec<_>>(),
                native::words(&final_leaf)
            );
        }
        (ok, step_cost, seal_cost)
    }

    #[test]
    fn the_gadgets_step_and_seal_as_the_native_record() {
        for markets in 1..=8 {
            let (ok, step_cost, seal_cost) = run(markets, u64::MAX, |_, _| {});
            assert!(ok, "{markets} markets");
            assert_eq!(step_cost, 258);
            assert_eq!(
                seal_cost,
                258 + 264 * (native::word_count(markets).div_ceil(3) - 1),
                "{markets} markets"
            );
        }
    }

    #[test]
    fn a_tampered_salt_or_ciphertext_is_refused() {
        let (ok, _, _) = run(2, 9, |salt, _| *salt += Fr::from(1u64));
        assert!(!ok, "salt");
        for i in 0..native::ciphertext_len(2) {
            let (ok, _, _) = run(2, 9, |_, ct| ct[i] += Fr::from(1u64));
            assert!(!ok, "ciphertext element {i}");
        }
        // Another batch's nonce encrypts to another ciphertext.
        let other = Record::seal(
            10,
            AccountId::new(u64::from(u32::MAX)).expect("id"),
            &leaf(2, Fr::from(1u64)),
        );
        let (ok, _, _) = run(2, 9, |_, ct| *ct = other.ciphertext.clone());
        assert!(!ok, "another batch");
    }

    fn scalar_bits(cs: &ConstraintSystemRef<Fr>, e: &Fs) -> Vec<Boolean<Fr>> {
        let bits = e.into_bigint().to_bits_le();
        bits[..251]
            .iter()
            .map(|b| Boolean::new_witness(cs.clone(), || Ok(*b)).expect("bit"))
            .collect()
    }

    /// The creation of an account against the native one; `claim` may tamper with the native
    /// salt. Returns whether satisfied and the constraints of the creation with its 251 bits.
    fn create_run(e: Fs, creates: bool, claim: impl FnOnce(&mut Fr)) -> (bool, usize) {
        let key = PrivateKey::from_bytes([7; 32]).public_key();
        // e = 0 has no native creation: its honest outputs are the identity and its hash, so
        // only the refusal of the identity can fail.
        let expected = native::Ephemeral::new(e)
            .map(|e| native::create(&e, &key))
            .unwrap_or(native::Creation {
                ephemeral: zkperp_state::babyjubjub::Point::new_unchecked(
                    Fr::from(0u64),
                    Fr::from(1u64),
                ),
                salt: zkperp_state::poseidon::poseidon([
                    native::tag(SALT_TAG),
                    Fr::from(0u64),
                    Fr::from(1u64),
                ]),
            });
        let mut salt = expected.salt;
        claim(&mut salt);
        let cs = ConstraintSystem::<Fr>::new_ref();
        let owner = PublicKeyVar::new_witness(cs.clone(), || Ok(key)).expect("key");
        let before = cs.num_constraints();
        let bits = scalar_bits(&cs, &e);
        let creates = Boolean::new_witness(cs.clone(), || Ok(creates)).expect("bit");
        let created = create(&bits, owner.point(), &creates).expect("create");
        let cost = cs.num_constraints() - before;
        let public = |v: Fr| FpVar::new_input(cs.clone(), || Ok(v)).expect("input");
        created.salt.enforce_equal(&public(salt)).expect("eq");
        created
            .ephemeral
            .x()
            .enforce_equal(&public(expected.ephemeral.x))
            .expect("eq");
        created
            .ephemeral
            .y()
            .enforce_equal(&public(expected.ephemeral.y))
            .expect("eq");
        (cs.is_satisfied().expect("satisfiable?"), cost)
    }

    #[test]
    fn the_creation_derives_the_native_salt_and_refuses_a_zero_scalar() {
        for e in [Fs::from(1u64), Fs::from(123_456_789u64), -Fs::from(1u64)] {
            let (ok, cost) = create_run(e, true, |_| {});
            assert!(ok);
            assert_eq!(cost, 4_105);
        }
        let (ok, _) = create_run(Fs::from(5u64), true, |salt| *salt += Fr::from(1u64));
        assert!(!ok, "a salt the scalar does not make");
        let (ok, _) = create_run(Fs::from(0u64), true, |_| {});
        assert!(!ok, "e = 0: the identity as E");
        let (ok, _) = create_run(Fs::from(0u64), false, |_| {});
        assert!(ok, "a scalar nothing is created with is not checked");
    }
}
