//! The R1CS-to-QAP reduction of circom and snarkjs keys: the proof's `H` is taken against
//! `[L'_{2i+1}(tau) / delta]_1`, the odd Lagrange basis of the domain twice the circuit's, so the
//! prover needs `A * B - C` evaluated on the odd coset `w_2n <w_n>` instead of the coefficients
//! of `(A * B - C) / Z`.
//!
//! Why it works: `p = A * B - C` has degree at most `2n - 2` and vanishes on the `n`-th roots
//! (the even points of the double domain), so `p(tau) = sum_i p(w_2n^(2i+1)) L'_{2i+1}(tau)`,
//! and the key's section 9 holds exactly those basis points over delta.
//!
//! Arkworks' default ([`ark_groth16::r1cs_to_qap::LibsnarkReduction`]) is the same QAP (the
//! public wires' extra rows included) with another H basis, so the matrices, the A, B and L
//! queries and the verifier are the same for both; only the keys' H query and the prover's
//! witness map differ.

use ark_ff::PrimeField;
use ark_groth16::r1cs_to_qap::{evaluate_constraint, LibsnarkReduction, R1CSToQAP};
use ark_poly::EvaluationDomain;
use ark_relations::gr1cs::{ConstraintSystemRef, Matrix, SynthesisError};
use rayon::prelude::*;

/// snarkjs' reduction (ark-circom's `CircomReduction`, written again here for arkworks 0.6).
#[derive(Debug, Clone, Copy)]
pub struct CircomReduction;

impl R1CSToQAP for CircomReduction {
    #[allow(clippy::type_complexity)]
    fn instance_map_with_evaluation<F: PrimeField, D: EvaluationDomain<F>>(
        cs: ConstraintSystemRef<F>,
        t: &F,
    ) -> Result<(Vec<F>, Vec<F>, Vec<F>, F, usize, usize), SynthesisError> {
        LibsnarkReduction::instance_map_with_evaluation::<F, D>(cs, t)
    }

    fn witness_map_from_matrices<F: PrimeField, D: EvaluationDomain<F>>(
        matrices: &[Matrix<F>],
        num_inputs: usize,
        num_constraints: usize,
        full_assignment: &[F],
    ) -> Result<Vec<F>, SynthesisError> {
        let [a_rows, b_rows, _] = matrices else {
            return Err(SynthesisError::Unsatisfiable);
        };
        let domain =
            D::new(num_constraints + num_inputs).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        let n = domain.size();
        let mut a = vec![F::zero(); n];
        let mut b = vec![F::zero(); n];
        a[..num_constraints]
            .par_iter_mut()
            .zip(&mut b[..num_constraints])
            .zip(a_rows)
            .zip(b_rows)
            .for_each(|(((a, b), at), bt)| {
                *a = evaluate_constraint(at, full_assignment);
                *b = evaluate_constraint(bt, full_assignment);
            });
        // The public wires' extra rows: A holds the wire, B and C are zero.
        a[num_constraints..num_constraints + num_inputs]
            .clone_from_slice(&full_assignment[..num_inputs]);
        // C is A * B on the circuit's rows (the witness satisfies them) and 0 on the others.
        let mut c = vec![F::zero(); n];
        c[..num_constraints]
            .par_iter_mut()
            .zip(&a[..num_constraints])
            .zip(&b[..num_constraints])
            .for_each(|((c, a), b)| *c = *a * b);
        let shift = D::new(2 * n)
            .ok_or(SynthesisError::PolynomialDegreeTooLarge)?
            .element(1);
        let to_odd_coset = |v: &mut Vec<F>| {
            domain.ifft_in_place(v);
            D::distribute_powers_and_mul_by_const(v, shift, F::one());
            domain.fft_in_place(v);
        };
        to_odd_coset(&mut a);
        to_odd_coset(&mut b);
        to_odd_coset(&mut c);
        a.par_iter_mut()
            .zip(&b)
            .zip(&c)
            .for_each(|((a, b), c)| *a = *a * b - c);
        Ok(a)
    }

    /// `[L'_{2i+1}(t) / delta]`, i < n: the odd Lagrange basis of the double domain at `t`.
    fn h_query_scalars<F: PrimeField, D: EvaluationDomain<F>>(
        max_power: usize,
        t: F,
        _zt: F,
        delta_inverse: F,
    ) -> Result<Vec<F>, SynthesisError> {
        let double = 2 * (max_power + 1);
        let domain = D::new(double).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        let mut powers = Vec::with_capacity(double);
        let mut x = delta_inverse;
        for _ in 0..double {
            powers.push(x);
            x *= t;
        }
        domain.ifft_in_place(&mut powers);
        Ok(powers.into_iter().skip(1).step_by(2).collect())
    }
}
