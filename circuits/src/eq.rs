//! Equality gadgets that refuse unequal constants (not a twin of a native module).
//!
//! arkworks 0.6's `FpVar::enforce_equal`, `conditional_enforce_equal`, `enforce_not_equal` and
//! `mul_equals` return `Ok(())` without a constraint when every operand is a constant, even when
//! the relation is false. A gadget fed constants (a constant key, a constant leaf, a fixed value
//! in a no-op slot) would then accept what it must refuse. Every equality in this crate goes
//! through these functions instead: a false relation between constants is `Unsatisfiable` when it
//! must hold, and becomes the constraint `cond == false` when it is conditional on a variable.

use ark_ff::AdditiveGroup;
use ark_r1cs_std::{boolean::Boolean, eq::EqGadget, fields::fp::FpVar, fields::FieldVar};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::Fr;

/// Enforces `a == b` when `cond` is true (one constraint; none for constants).
pub fn conditional_enforce_equal(
    a: &FpVar<Fr>,
    b: &FpVar<Fr>,
    cond: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    match (a, b) {
        (FpVar::Constant(x), FpVar::Constant(y)) if x != y => cond.enforce_equal(&Boolean::FALSE),
        (FpVar::Constant(_), FpVar::Constant(_)) => Ok(()),
        _ => a.conditional_enforce_equal(b, cond),
    }
}

/// Enforces `a == b` (one constraint; none for constants, which are compared here).
pub fn enforce_equal(a: &FpVar<Fr>, b: &FpVar<Fr>) -> Result<(), SynthesisError> {
    conditional_enforce_equal(a, b, &Boolean::TRUE)
}

/// Enforces `a != b` when `cond` is true (one constraint: an inverse witness).
pub fn conditional_enforce_not_equal(
    a: &FpVar<Fr>,
    b: &FpVar<Fr>,
    cond: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    match (a, b) {
        (FpVar::Constant(x), FpVar::Constant(y)) if x == y => cond.enforce_equal(&Boolean::FALSE),
        (FpVar::Constant(_), FpVar::Constant(_)) => Ok(()),
        _ => a.conditional_enforce_not_equal(b, cond),
    }
}

/// Enforces `a != b` (one constraint).
pub fn enforce_not_equal(a: &FpVar<Fr>, b: &FpVar<Fr>) -> Result<(), SynthesisError> {
    conditional_enforce_not_equal(a, b, &Boolean::TRUE)
}

/// Enforces `a * b == c` (one constraint; constants folded and compared here).
pub fn enforce_product(a: &FpVar<Fr>, b: &FpVar<Fr>, c: &FpVar<Fr>) -> Result<(), SynthesisError> {
    match (a, b) {
        (FpVar::Var(_), FpVar::Var(_)) => a.mul_equals(b, c),
        // One factor constant: the product is linear.
        _ => enforce_equal(&(a * b), c),
    }
}

/// Enforces `a * b == 0` (one constraint).
pub fn enforce_product_zero(a: &FpVar<Fr>, b: &FpVar<Fr>) -> Result<(), SynthesisError> {
    enforce_product(a, b, &FpVar::Constant(Fr::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::Field;
    use ark_r1cs_std::alloc::AllocVar;
    use ark_relations::gr1cs::ConstraintSystem;

    #[test]
    fn unequal_constants_are_refused_where_arkworks_accepts_them() {
        let one = FpVar::Constant(Fr::ONE);
        let two = FpVar::Constant(Fr::from(2u64));
        // The arkworks behaviour this module exists for.
        assert!(one.enforce_equal(&two).is_ok());
        assert!(one.enforce_not_equal(&one).is_ok());
        assert_eq!(
            enforce_equal(&one, &two),
            Err(SynthesisError::Unsatisfiable)
        );
        assert_eq!(
            enforce_not_equal(&one, &one),
            Err(SynthesisError::Unsatisfiable)
        );
        assert_eq!(
            enforce_product(&one, &one, &two),
            Err(SynthesisError::Unsatisfiable)
        );
        assert!(enforce_equal(&one, &one).is_ok());
        assert!(enforce_not_equal(&one, &two).is_ok());
        assert!(conditional_enforce_equal(&one, &two, &Boolean::FALSE).is_ok());
    }

    #[test]
    fn a_conditional_relation_between_constants_constrains_the_condition() {
        let one = FpVar::Constant(Fr::ONE);
        let two = FpVar::Constant(Fr::from(2u64));
        for (cond, satisfied) in [(false, true), (true, false)] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let c = Boolean::new_witness(cs.clone(), || Ok(cond)).expect("allocate");
            conditional_enforce_equal(&one, &two, &c).expect("synthesise");
            assert_eq!(cs.is_satisfied().ok(), Some(satisfied));
        }
    }

    #[test]
    fn variables_are_constrained() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let a = FpVar::new_witness(cs.clone(), || Ok(Fr::from(3u64))).expect("allocate");
        let b = FpVar::new_witness(cs.clone(), || Ok(Fr::from(4u64))).expect("allocate");
        enforce_product(&a, &b, &FpVar::Constant(Fr::from(12u64))).expect("synthesise");
        enforce_not_equal(&a, &b).expect("synthesise");
        assert!(cs.is_satisfied().expect("check"));
        enforce_equal(&a, &b).expect("synthesise");
        assert_eq!(cs.is_satisfied().ok(), Some(false));
    }
}
