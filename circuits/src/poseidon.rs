//! Twin of `zkperp_state::poseidon`: circom's Poseidon over `FpVar<Fr>`, round for round as the
//! native `permute`, with the same `PoseidonParams` (`zkperp_state::poseidon::params`).
//!
//! Cost: 3 constraints per S-box on a variable (`x^2`, `x^4`, `x^5`); round constants and the MDS
//! matrix are linear and free. The state starts as `[0, inputs..]`, and the constant capacity
//! element folds through the first S-box, so `n` inputs (width `t = n + 1`, `P` partial rounds)
//! cost `3 * (8 t - 1 + P)`:
//!
//! | inputs | width | partial rounds | constraints |
//! |---|---|---|---|
//! | 2 | 3 | 57 | 240 |
//! | 4 | 5 | 60 | 297 |
//! | 5 | 6 | 60 | 321 |
//! | 8 | 9 | 63 | 402 |
//!
//! (Fewer when some inputs are constants: constants fold until they meet a variable.)

use ark_r1cs_std::fields::{fp::FpVar, FieldVar};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::poseidon::{params, PoseidonParams, MAX_INPUTS};
use zkperp_state::Fr;

/// `x^5` in three constraints (none when `x` is a constant).
fn sbox(x: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
    let x2 = x.square()?;
    let x4 = x2.square()?;
    Ok(x4 * x)
}

/// The Poseidon permutation on a state of `params.width` variables, as the native `permute`.
///
/// # Panics
/// When `state.len() != params.width` (a circuit-shape error, not a witness error).
pub fn permute(params: &PoseidonParams, state: &mut [FpVar<Fr>]) -> Result<(), SynthesisError> {
    let t = params.width;
    assert_eq!(state.len(), t, "state width must match the parameters");
    let half_full = params.full_rounds / 2;
    let rounds = params.full_rounds + params.partial_rounds;
    for round in 0..rounds {
        for (s, c) in state
            .iter_mut()
            .zip(&params.ark[round * t..(round + 1) * t])
        {
            *s += *c;
        }
        if round < half_full || round >= half_full + params.partial_rounds {
            for s in state.iter_mut() {
                *s = sbox(s)?;
            }
        } else {
            state[0] = sbox(&state[0])?;
        }
        let next: Vec<FpVar<Fr>> = params
            .mds
            .iter()
            .map(|row| state.iter().zip(row).map(|(s, m)| s * *m).sum())
            .collect();
        state.clone_from_slice(&next);
    }
    Ok(())
}

/// Poseidon of 1..=12 inputs, as the native `poseidon_slice`.
///
/// # Panics
/// When the input count is outside `1..=MAX_INPUTS` (a circuit-shape error).
pub fn poseidon_slice(inputs: &[FpVar<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    let params = match params(inputs.len()) {
        Ok(params) => params,
        Err(e) => panic!("{e}"),
    };
    let mut state = Vec::with_capacity(params.width);
    state.push(FpVar::zero());
    state.extend_from_slice(inputs);
    permute(params, &mut state)?;
    Ok(state.swap_remove(0))
}

/// Poseidon of a fixed number of inputs; the count is checked when this compiles.
pub fn poseidon<const N: usize>(inputs: &[FpVar<Fr>; N]) -> Result<FpVar<Fr>, SynthesisError> {
    const { assert!(N >= 1 && N <= MAX_INPUTS, "poseidon takes 1..=12 inputs") };
    poseidon_slice(inputs)
}

/// The two-to-one compression of the Merkle trees (240 constraints).
pub fn poseidon2(left: &FpVar<Fr>, right: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
    poseidon(&[left.clone(), right.clone()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::{alloc::AllocVar, eq::EqGadget, GR1CSVar};
    use ark_relations::gr1cs::ConstraintSystem;
    use rand::{Rng, SeedableRng};
    use zkperp_state::poseidon as native;

    /// Hashes `n` random inputs natively and in-circuit; returns the constraint count.
    fn differential(n: usize, seed: u64) -> usize {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let values: Vec<Fr> = (0..n)
            .map(|_| Fr::from(rng.gen::<u128>()) * Fr::from(rng.gen::<u128>()))
            .collect();
        let cs = ConstraintSystem::<Fr>::new_ref();
        let vars: Vec<FpVar<Fr>> = values
            .iter()
            .map(|v| FpVar::new_witness(cs.clone(), || Ok(*v)))
            .collect::<Result<_, _>>()
            .expect("allocate");
        let before = cs.num_constraints();
        let out = poseidon_slice(&vars).expect("synthesise");
        let cost = cs.num_constraints() - before;
        assert_eq!(
            out.value().expect("value"),
            native::poseidon_slice(&values).expect("native")
        );
        assert!(cs.is_satisfied().expect("satisfiable check"));
        cost
    }

    #[test]
    fn agrees_with_native_for_every_width() {
        for n in 1..=MAX_INPUTS {
            let params = native::params(n).expect("params");
            let expected = 3 * (params.full_rounds * params.width - 1 + params.partial_rounds);
            assert_eq!(differential(n, n as u64), expected, "{n} inputs");
        }
    }

    #[test]
    fn two_inputs_cost_exactly_240_constraints() {
        assert_eq!(differential(2, 99), 240);
        assert_eq!(differential(4, 98), 297);
        assert_eq!(differential(5, 97), 321);
        assert_eq!(differential(8, 96), 402);
    }

    #[test]
    fn protocol_reference_value() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let one = FpVar::new_witness(cs.clone(), || Ok(Fr::from(1u64))).expect("allocate");
        let two = FpVar::new_witness(cs.clone(), || Ok(Fr::from(2u64))).expect("allocate");
        let h = poseidon2(&one, &two).expect("synthesise");
        let expected = zkperp_state::field::fr_from_decimal(
            "7853200120776062878684798364095072458815029376092732009249414926327459813530",
        )
        .expect("decimal");
        assert_eq!(h.value().expect("value"), expected);
        assert!(cs.is_satisfied().expect("satisfiable check"));
    }

    #[test]
    fn constants_fold_to_the_native_value_without_constraints() {
        let inputs = [
            FpVar::constant(Fr::from(1u64)),
            FpVar::constant(Fr::from(2u64)),
        ];
        let h = poseidon(&inputs).expect("constant");
        assert!(h.is_constant());
        assert_eq!(
            h.value().expect("value"),
            native::poseidon2(Fr::from(1u64), Fr::from(2u64))
        );
    }

    #[test]
    fn a_tampered_output_is_unsatisfied() {
        // The output is bound to the inputs: claiming another value breaks the system.
        let cs = ConstraintSystem::<Fr>::new_ref();
        let a = FpVar::new_witness(cs.clone(), || Ok(Fr::from(3u64))).expect("allocate");
        let b = FpVar::new_witness(cs.clone(), || Ok(Fr::from(4u64))).expect("allocate");
        let h = poseidon2(&a, &b).expect("synthesise");
        let claimed = FpVar::new_witness(cs.clone(), || {
            Ok(native::poseidon2(Fr::from(3u64), Fr::from(5u64)))
        })
        .expect("allocate");
        h.enforce_equal(&claimed).expect("enforce");
        assert_eq!(cs.is_satisfied().ok(), Some(false));
    }
}
