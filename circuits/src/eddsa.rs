//! Twin of `zkperp_state::eddsa`: EdDSA-Poseidon verification (circomlib's `EdDSAPoseidon`),
//! exactly as strict as the native `PublicKey::verify` on keys and signatures the native code
//! would construct.
//!
//! ```text
//! S < l                        S decomposed into 251 bits, then compared with l - 1
//! A, R8 in the subgroup        by the PointVar invariant (checked where they were allocated)
//! A != identity                A.x != 0 (in the odd-order subgroup only the identity has x = 0)
//! h = Poseidon(R8.x, R8.y, A.x, A.y, msg)   decomposed into its 254 canonical bits (h < r)
//! S * Base8 == R8 + 8 * (h * A)
//! ```
//!
//! **Why this is the native rule, not a weaker one.** Natively `A` and `R8` are refused outside
//! the prime-order subgroup when they are constructed, `S >= l` is refused, and the check is
//! `S * Base8 == R8 + ((8 h) mod l) * A`. Here `A` is a subgroup point, so `(8 h mod l) * A =
//! 8 * (h * A)` for the integer `h`; the canonical bits make that integer the one the native code
//! uses (a decomposition of `h + r` would name a different multiple). circomlib instead accepts
//! any `R8` on the curve and multiplies `A` by 8 to clear its cofactor; with the subgroup checks
//! done at allocation (20 constraints per point) neither leniency is needed.
//!
//! **Conditional use.** A transaction slot that is a no-op must not need a valid signature:
//! [`PublicKeyVar::conditional_enforce_valid`] with `cond = false` enforces nothing about the
//! signature (S is replaced by 0 before its range check, so any witness is accepted). The points
//! must still be allocated as `PointVar`s (subgroup points): a no-op slot fills them with any
//! subgroup point, e.g. `Base8`.
//!
//! Cost: **4,753 constraints** for [`PublicKeyVar::verify`] on allocated inputs, 4,754 for the
//! conditional form with a variable `cond` (measured and asserted by the tests; circomlib's
//! `EdDSAPoseidonVerifier` is 4,217 without subgroup checks):
//!
//! | part | constraints |
//! |---|---|
//! | select S (conditional form with a variable `cond` only) | 1 |
//! | S into 251 bits | 252 |
//! | S <= l - 1 (`units::enforce_bits_at_most`) | 151 |
//! | A.x != 0 | 1 |
//! | Poseidon of 5 | 321 |
//! | h into canonical bits (254 bits, <= r - 1) | 385 |
//! | `mul_base8_le` (251 bits) | 831 |
//! | `mul` (254 bits) 2,789, three doublings 15, one addition 6 | 2,810 |
//! | final equality | 2 |
//!
//! plus 20 per point when `A` and `R8` are allocated from witness values.

use std::borrow::Borrow;

use ark_ff::{AdditiveGroup, PrimeField};
use ark_r1cs_std::{
    alloc::{AllocVar, AllocationMode},
    boolean::Boolean,
    eq::EqGadget,
    fields::fp::FpVar,
    select::CondSelectGadget,
};
use ark_relations::gr1cs::{Namespace, SynthesisError};
use zkperp_state::babyjubjub::Fs;
use zkperp_state::eddsa::{PublicKey, Signature};
use zkperp_state::Fr;

use crate::babyjubjub::{mul, mul_base8_le, PointVar};
use crate::eq::conditional_enforce_not_equal;
use crate::poseidon::poseidon;
use crate::units::{enforce_bits_at_most, enforce_canonical_bits, enforce_unsigned_bits};

/// Bits of a canonical `S < l` (`l < 2^251`).
pub const SCALAR_BITS: u32 = 251;

/// A public key: a subgroup point (by the [`PointVar`] invariant). The identity is refused by the
/// verification gadgets, as the native `PublicKey` refuses it at construction.
#[derive(Debug, Clone)]
pub struct PublicKeyVar {
    point: PointVar,
}

/// A signature `(R8, S)`: `R8` a subgroup point, `S` any field element (the verification gadgets
/// enforce `S < l`).
#[derive(Debug, Clone)]
pub struct SignatureVar {
    pub r8: PointVar,
    pub s: FpVar<Fr>,
}

impl AllocVar<PublicKey, Fr> for PublicKeyVar {
    fn new_variable<T: Borrow<PublicKey>>(
        cs: impl Into<Namespace<Fr>>,
        f: impl FnOnce() -> Result<T, SynthesisError>,
        mode: AllocationMode,
    ) -> Result<Self, SynthesisError> {
        let point = PointVar::new_variable(cs, || f().map(|pk| *pk.borrow().point()), mode)?;
        Ok(PublicKeyVar { point })
    }
}

impl AllocVar<Signature, Fr> for SignatureVar {
    fn new_variable<T: Borrow<Signature>>(
        cs: impl Into<Namespace<Fr>>,
        f: impl FnOnce() -> Result<T, SynthesisError>,
        mode: AllocationMode,
    ) -> Result<Self, SynthesisError> {
        let ns = cs.into();
        let cs = ns.cs();
        let value = f().map(|sig| *sig.borrow());
        let r8 = PointVar::new_variable(cs.clone(), || value.map(|sig| *sig.r8()), mode)?;
        // S < l < r, so its integer is the field element's.
        let s = FpVar::new_variable(cs, || value.map(|sig| fs_to_fr(sig.s())), mode)?;
        Ok(SignatureVar { r8, s })
    }
}

/// A subgroup scalar as the field element with the same integer (`l < r`).
pub fn fs_to_fr(s: &Fs) -> Fr {
    Fr::from_bigint(s.into_bigint()).unwrap_or(Fr::ZERO)
}

/// `l - 1`, the largest canonical `S`.
fn l_minus_one() -> <Fs as PrimeField>::BigInt {
    let mut l = Fs::MODULUS;
    // l is odd: subtracting one only clears bit 0.
    l.0[0] -= 1;
    l
}

impl PublicKeyVar {
    /// A key from a subgroup point (no constraints: the point was checked when it was made).
    pub fn from_point(point: PointVar) -> Self {
        PublicKeyVar { point }
    }

    pub fn point(&self) -> &PointVar {
        &self.point
    }

    /// Twin of the native `PublicKey::verify`: enforces that `sig` is a valid signature of `msg`.
    pub fn verify(&self, msg: &FpVar<Fr>, sig: &SignatureVar) -> Result<(), SynthesisError> {
        self.conditional_enforce_valid(msg, sig, &Boolean::TRUE)
    }

    /// Enforces that `sig` is a valid signature of `msg` when `cond` is true; enforces nothing
    /// about the signature when it is false (see the module docs).
    pub fn conditional_enforce_valid(
        &self,
        msg: &FpVar<Fr>,
        sig: &SignatureVar,
        cond: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        let a = &self.point;
        // S < l. With cond false, S is replaced by 0 so that any witness passes.
        let s = FpVar::conditionally_select(cond, &sig.s, &FpVar::Constant(Fr::ZERO))?;
        let s_bits = enforce_unsigned_bits(&s, SCALAR_BITS)?;
        enforce_bits_at_most(&s_bits, l_minus_one().as_ref())?;
        // A is not the identity: the only subgroup point with x = 0.
        conditional_enforce_not_equal(a.x(), &FpVar::Constant(Fr::ZERO), cond)?;
        // The challenge, as the integer the native code reduces.
        let h = poseidon(&[
            sig.r8.x().clone(),
            sig.r8.y().clone(),
            a.x().clone(),
            a.y().clone(),
            msg.clone(),
        ])?;
        let h_bits = enforce_canonical_bits(&h)?;
        let left = mul_base8_le(&s_bits)?;
        let right = sig
            .r8
            .add(&mul(a, &h_bits)?.double()?.double()?.double()?)?;
        left.conditional_enforce_equal(&right, cond)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ec::{AffineRepr, CurveGroup};
    use ark_ff::Field;
    use ark_r1cs_std::GR1CSVar;
    use ark_relations::gr1cs::{ConstraintSystem, ConstraintSystemRef};
    use rand::{Rng, SeedableRng};
    use zkperp_state::babyjubjub::{mul as native_mul, Point, BASE8};
    use zkperp_state::eddsa::PrivateKey;

    struct Case {
        pk: PublicKey,
        msg: Fr,
        sig: Signature,
    }

    fn case(seed: u64) -> Case {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let key = PrivateKey::random(&mut rng);
        let msg = Fr::from(rng.gen::<u128>()) * Fr::from(rng.gen::<u128>());
        let sig = key.sign(msg);
        Case {
            pk: key.public_key(),
            msg,
            sig,
        }
    }

    /// Allocates raw parts (so tests can build what the native types refuse), runs the gadget,
    /// and returns (satisfied, constraints of the gadget alone).
    fn run_raw(pk: Point, msg: Fr, r8: Point, s: Fr, cond: Option<bool>) -> (bool, usize) {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let pk =
            PublicKeyVar::from_point(PointVar::new_witness(cs.clone(), || Ok(pk)).expect("pk"));
        let msg = FpVar::new_witness(cs.clone(), || Ok(msg)).expect("msg");
        let sig = SignatureVar {
            r8: PointVar::new_witness(cs.clone(), || Ok(r8)).expect("r8"),
            s: FpVar::new_witness(cs.clone(), || Ok(s)).expect("s"),
        };
        let cond = cond.map(|c| Boolean::new_witness(cs.clone(), || Ok(c)).expect("cond"));
        let before = cs.num_constraints();
        match cond {
            None => pk.verify(&msg, &sig).expect("synthesise"),
            Some(cond) => pk
                .conditional_enforce_valid(&msg, &sig, &cond)
                .expect("synthesise"),
        }
        let cost = cs.num_constraints() - before;
        (cs.is_satisfied().expect("check"), cost)
    }

    fn run(c: &Case) -> (bool, usize) {
        run_raw(*c.pk.point(), c.msg, *c.sig.r8(), fs_to_fr(c.sig.s()), None)
    }

    #[test]
    fn valid_signatures_verify_within_budget() {
        for seed in 0..4 {
            let c = case(seed);
            assert_eq!(c.pk.verify(c.msg, &c.sig), Ok(()));
            let (ok, cost) = run(&c);
            assert!(ok, "seed {seed}");
            assert!(cost <= 6_000, "EdDSA verify costs {cost}");
            assert_eq!(cost, 4_753);
        }
    }

    #[test]
    fn allocation_from_native_types() {
        let c = case(11);
        let cs: ConstraintSystemRef<Fr> = ConstraintSystem::new_ref();
        let pk = PublicKeyVar::new_witness(cs.clone(), || Ok(c.pk)).expect("pk");
        let sig = SignatureVar::new_witness(cs.clone(), || Ok(c.sig)).expect("sig");
        let msg = FpVar::new_input(cs.clone(), || Ok(c.msg)).expect("msg");
        pk.verify(&msg, &sig).expect("synthesise");
        assert!(cs.is_satisfied().expect("check"));
        assert_eq!(sig.r8.value().expect("value"), *c.sig.r8());
    }

    #[test]
    fn differential_against_native_on_random_keys_and_messages() {
        // Random (key, message, signature) triples, some signatures for another message or key:
        // the circuit is satisfied exactly when the native verification passes.
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(21);
        for i in 0..6u64 {
            let c = case(100 + i);
            let other = case(200 + i);
            let (pk, msg) = match rng.gen_range(0..3) {
                0 => (c.pk, c.msg),
                1 => (c.pk, other.msg),
                _ => (other.pk, c.msg),
            };
            let native = pk.verify(msg, &c.sig).is_ok();
            let (ok, _) = run_raw(*pk.point(), msg, *c.sig.r8(), fs_to_fr(c.sig.s()), None);
            assert_eq!(ok, native, "case {i}");
        }
    }

    #[test]
    fn tampered_message_is_unsatisfied() {
        let c = case(1);
        let (ok, _) = run_raw(
            *c.pk.point(),
            c.msg + Fr::ONE,
            *c.sig.r8(),
            fs_to_fr(c.sig.s()),
            None,
        );
        assert!(!ok);
    }

    #[test]
    fn tampered_s_is_unsatisfied() {
        let c = case(2);
        let s = fs_to_fr(c.sig.s());
        assert!(!run_raw(*c.pk.point(), c.msg, *c.sig.r8(), s + Fr::ONE, None).0);
    }

    #[test]
    fn s_plus_l_is_unsatisfied_though_the_group_equation_holds() {
        let c = case(3);
        let l = Fr::from_bigint(Fs::MODULUS).expect("l < r");
        let s_plus_l = fs_to_fr(c.sig.s()) + l;
        // The equation alone would accept it: (S + l) * Base8 == S * Base8.
        let s_plus_l_bytes = ark_ff::BigInteger::to_bytes_le(&s_plus_l.into_bigint());
        assert_eq!(
            zkperp_state::babyjubjub::mul_base8_le(&s_plus_l_bytes),
            native_mul(&BASE8, c.sig.s())
        );
        assert!(!run_raw(*c.pk.point(), c.msg, *c.sig.r8(), s_plus_l, None).0);
        // And l - 1 + the smallest excess: S = l itself.
        assert!(!run_raw(*c.pk.point(), c.msg, *c.sig.r8(), l, None).0);
    }

    #[test]
    fn moved_r8_is_unsatisfied() {
        let c = case(4);
        let s = fs_to_fr(c.sig.s());
        // Another subgroup point.
        let moved = (c.sig.r8().into_group() + BASE8).into_affine();
        assert!(!run_raw(*c.pk.point(), c.msg, moved, s, None).0);
        // R8 plus a point of order 2: passes circomlib's cofactor-cleared check, not this one.
        let order_two = Point::new_unchecked(Fr::ZERO, -Fr::ONE);
        let shifted = (c.sig.r8().into_group() + order_two).into_affine();
        assert!(!run_raw(*c.pk.point(), c.msg, shifted, s, None).0);
    }

    #[test]
    fn wrong_key_and_identity_key_are_unsatisfied() {
        let c = case(5);
        let s = fs_to_fr(c.sig.s());
        let other = case(6);
        assert!(!run_raw(*other.pk.point(), c.msg, *c.sig.r8(), s, None).0);
        // With the identity as key, (S * Base8, S) satisfies the equation for every message.
        let forged_r8 = native_mul(&BASE8, &Fs::from(77u64));
        let forged_s = Fr::from(77u64);
        assert!(!run_raw(Point::zero(), c.msg, forged_r8, forged_s, None).0);
        // A key shifted by a small-order point is refused by the allocation's subgroup check.
        let order_two = Point::new_unchecked(Fr::ZERO, -Fr::ONE);
        let shifted = (c.pk.point().into_group() + order_two).into_affine();
        assert!(!run_raw(shifted, c.msg, *c.sig.r8(), s, None).0);
    }

    #[test]
    fn conditional_form_enforces_only_when_asked() {
        let c = case(7);
        let s = fs_to_fr(c.sig.s());
        let (pk, r8) = (*c.pk.point(), *c.sig.r8());
        assert_eq!(run_raw(pk, c.msg, r8, s, Some(true)), (true, 4_754));
        assert!(!run_raw(pk, c.msg + Fr::ONE, r8, s, Some(true)).0);
        // A no-op slot: any message, any S (even >= l), the identity as key.
        assert!(run_raw(pk, c.msg + Fr::ONE, r8, s, Some(false)).0);
        assert!(run_raw(pk, c.msg, r8, -Fr::ONE, Some(false)).0);
        assert!(run_raw(Point::zero(), c.msg, BASE8, Fr::ZERO, Some(false)).0);
        assert!(!run_raw(pk, c.msg, r8, -Fr::ONE, Some(true)).0);
    }
}
