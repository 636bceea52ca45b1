//! Poseidon over BN254, circomlib-compatible: x^5 S-box, 8 full rounds, partial rounds by width,
//! the reference (Grain) constants, state `[0, inputs..]`, output `state[0]`.
//!
//! The constants come from `light-poseidon`'s audited tables of circomlib's parameters; the
//! permutation is written here, round by round, because the circuit twin
//! (`circuits/src/poseidon.rs`) mirrors it exactly. Golden vectors from circomlibjs
//! (`state/testdata/circomlibjs`) pin the output for 1..=12 inputs.

use std::sync::OnceLock;

use crate::field::Fr;

/// The most inputs one call takes (width 13, circomlib's largest table that light-poseidon ships).
pub const MAX_INPUTS: usize = 12;

/// The round constants and MDS matrix of one width.
#[derive(Debug, Clone)]
pub struct PoseidonParams {
    /// `t = inputs + 1`.
    pub width: usize,
    pub full_rounds: usize,
    pub partial_rounds: usize,
    /// `(full_rounds + partial_rounds) * width` constants, round-major.
    pub ark: Vec<Fr>,
    /// `width x width`, applied as `new[i] = sum_j mds[i][j] * state[j]`.
    pub mds: Vec<Vec<Fr>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoseidonError {
    #[error("poseidon takes 1..={MAX_INPUTS} inputs, got {0}")]
    InputCount(usize),
}

fn all_params() -> &'static [PoseidonParams] {
    static PARAMS: OnceLock<Vec<PoseidonParams>> = OnceLock::new();
    PARAMS.get_or_init(|| {
        (2..=MAX_INPUTS + 1)
            .map(|width| {
                let t = u8::try_from(width).expect("width <= 13");
                let p = light_poseidon::parameters::bn254_x5::get_poseidon_parameters::<Fr>(t)
                    .expect("light-poseidon ships circom parameters for widths 2..=13");
                assert_eq!(p.alpha, 5, "circom Poseidon uses the x^5 S-box");
                PoseidonParams {
                    width,
                    full_rounds: p.full_rounds,
                    partial_rounds: p.partial_rounds,
                    ark: p.ark,
                    mds: p.mds,
                }
            })
            .collect()
    })
}

/// The parameters for `inputs` inputs (`1..=MAX_INPUTS`).
pub fn params(inputs: usize) -> Result<&'static PoseidonParams, PoseidonError> {
    if !(1..=MAX_INPUTS).contains(&inputs) {
        return Err(PoseidonError::InputCount(inputs));
    }
    Ok(&all_params()[inputs - 1])
}

#[inline(always)]
fn sbox(x: Fr) -> Fr {
    let x2 = x * x;
    let x4 = x2 * x2;
    x4 * x
}

/// The Poseidon permutation on a state of `params.width` elements.
pub fn permute(params: &PoseidonParams, state: &mut [Fr]) {
    let t = params.width;
    debug_assert_eq!(state.len(), t);
    let half_full = params.full_rounds / 2;
    let rounds = params.full_rounds + params.partial_rounds;
    // The widest state (13) on the stack: no allocation per round or per call.
    let mut next = [Fr::from(0u64); MAX_INPUTS + 1];
    for round in 0..rounds {
        for (s, c) in state
            .iter_mut()
            .zip(&params.ark[round * t..(round + 1) * t])
        {
            *s += c;
        }
        if round < half_full || round >= half_full + params.partial_rounds {
            for s in state.iter_mut() {
                *s = sbox(*s);
            }
        } else {
            state[0] = sbox(state[0]);
        }
        for (out, row) in next[..t].iter_mut().zip(&params.mds) {
            let mut acc = Fr::from(0u64);
            for (s, m) in state.iter().zip(row) {
                acc += *s * m;
            }
            *out = acc;
        }
        state.copy_from_slice(&next[..t]);
    }
}

/// Poseidon of a slice of 1..=12 inputs.
pub fn poseidon_slice(inputs: &[Fr]) -> Result<Fr, PoseidonError> {
    let params = params(inputs.len())?;
    let mut state = [Fr::from(0u64); MAX_INPUTS + 1];
    state[1..=inputs.len()].copy_from_slice(inputs);
    permute(params, &mut state[..params.width]);
    Ok(state[0])
}

/// Poseidon of a fixed number of inputs; the count is checked when this compiles.
pub fn poseidon<const N: usize>(inputs: [Fr; N]) -> Fr {
    const { assert!(N >= 1 && N <= MAX_INPUTS, "poseidon takes 1..=12 inputs") };
    poseidon_slice(&inputs).expect("input count checked at compile time")
}

/// The two-to-one compression of the Merkle trees.
pub fn poseidon2(left: Fr, right: Fr) -> Fr {
    poseidon([left, right])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::fr_from_decimal;

    #[test]
    fn protocol_reference_value() {
        let expected = fr_from_decimal(
            "7853200120776062878684798364095072458815029376092732009249414926327459813530",
        )
        .expect("decimal");
        assert_eq!(poseidon([Fr::from(1u64), Fr::from(2u64)]), expected);
    }

    #[test]
    fn agrees_with_light_poseidon_for_every_width() {
        use light_poseidon::{Poseidon, PoseidonHasher};
        for n in 1..=MAX_INPUTS {
            let inputs: Vec<Fr> = (0..n as u64).map(|i| Fr::from(i * 7 + 3)).collect();
            let mut oracle = Poseidon::<Fr>::new_circom(n).expect("width");
            assert_eq!(poseidon_slice(&inputs).ok(), oracle.hash(&inputs).ok());
        }
    }

    #[test]
    fn rejects_bad_input_counts() {
        assert_eq!(poseidon_slice(&[]), Err(PoseidonError::InputCount(0)));
        assert_eq!(
            poseidon_slice(&[Fr::from(0u64); 13]),
            Err(PoseidonError::InputCount(13))
        );
    }
}
