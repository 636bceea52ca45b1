//! Poseidon over BN254, circomlib-compatible: x^5 S-box, 8 full rounds, partial rounds by width,
//! the reference (Grain) constants, state `[0, inputs..]`, output `state[0]`.
//!
//! The constants come from `light-poseidon`'s audited tables of circomlib's parameters; the
//! permutation is written here, round by round ([`permute`]), because the circuit twin
//! (`circuits/src/poseidon.rs`) mirrors it exactly. Hashing natively uses the same function
//! rearranged for speed (sparse partial rounds, see `FastParams`), checked equal to [`permute`].
//! Golden vectors from circomlibjs (`state/testdata/circomlibjs`) pin the output for 1..=12
//! inputs.

use ark_ff::Field;
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

/// `sum a[i] * b[i]` (`a` no longer than `b`), with one Montgomery reduction per three
/// products instead of one per product (ark-ff's `sum_of_products`, which BN254's two spare
/// bits allow): the matrix products are most of a permutation's multiplications.
#[inline(always)]
fn dot(a: &[Fr], b: &[Fr]) -> Fr {
    macro_rules! widths {
        ($($n:literal)*) => {
            match a.len() {
                $($n => Fr::sum_of_products::<$n>(
                    a.try_into().expect("length matched"),
                    b[..$n].try_into().expect("b is as long as a"),
                ),)*
                _ => a.iter().zip(b).map(|(x, y)| *x * y).sum(),
            }
        };
    }
    widths!(1 2 3 4 5 6 7 8 9 10 11 12 13)
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

/// The permutation of one width rearranged for speed, the same function as [`permute`]
/// (Poseidon paper, appendix B): in the partial rounds only `state[0]` meets the S-box, so
///
/// 1. the round constants of the other elements are pushed forward through the MDS matrix into
///    the first full round after the partial ones (each partial round keeps one constant), and
/// 2. each partial round's matrix `N` is split as `N = A * B` with `A = diag(1, N')` (`N'` its
///    lower-right block) and `B = [[n00, n0r], [N'^-1 nr0, I]]`: `A` commutes with the partial
///    S-box, so it is pushed into the next round (`N_next = M * A`) and applied once, densely,
///    after the last partial round, while each round applies only the sparse `B` (`2t - 1`
///    products instead of `t^2`).
///
/// Derived from the reference constants at first use; `fast_permutation_equals_the_reference`
/// checks it against [`permute`] for every width, and the circomlibjs vectors pin both.
#[derive(Debug, Clone)]
struct FastParams {
    width: usize,
    half_full: usize,
    /// Full constants of the first `half_full` rounds, then of the `half_full` rounds after
    /// the partial ones (the first of which has absorbed the pushed-forward constants).
    full_ark: Vec<Fr>,
    /// One constant per partial round (for `state[0]`).
    partial_ark: Vec<Fr>,
    /// Per partial round: `n00`, `n0r` (t - 1), `w = N'^-1 nr0` (t - 1).
    sparse: Vec<(Fr, Vec<Fr>, Vec<Fr>)>,
    /// `A` of the last partial round, lower-right block ((t - 1) x (t - 1)).
    last_a: Vec<Vec<Fr>>,
    mds: Vec<Vec<Fr>>,
}

fn mat_mul(a: &[Vec<Fr>], b: &[Vec<Fr>]) -> Vec<Vec<Fr>> {
    let n = a.len();
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| (0..n).map(|k| a[i][k] * b[k][j]).sum())
                .collect()
        })
        .collect()
}

/// `x` with `m * x = v`, by Gaussian elimination (`m` invertible: a block of an MDS product).
fn solve(m: &[Vec<Fr>], v: &[Fr]) -> Vec<Fr> {
    let n = m.len();
    let mut rows: Vec<Vec<Fr>> = m
        .iter()
        .zip(v)
        .map(|(row, x)| row.iter().copied().chain([*x]).collect())
        .collect();
    for col in 0..n {
        let pivot = (col..n)
            .find(|r| rows[*r][col] != Fr::from(0u64))
            .expect("an MDS block is invertible");
        rows.swap(col, pivot);
        let inv = rows[col][col].inverse().expect("non-zero pivot");
        for x in rows[col].iter_mut() {
            *x *= inv;
        }
        for r in 0..n {
            if r != col {
                let factor = rows[r][col];
                if factor != Fr::from(0u64) {
                    let pivot_row = rows[col].clone();
                    for (x, p) in rows[r].iter_mut().zip(pivot_row) {
                        *x -= factor * p;
                    }
                }
            }
        }
    }
    rows.into_iter().map(|row| row[n]).collect()
}

impl FastParams {
    fn derive(p: &PoseidonParams) -> Self {
        let t = p.width;
        let half_full = p.full_rounds / 2;
        let partial = p.partial_rounds;
        let ark = |round: usize| p.ark[round * t..(round + 1) * t].to_vec();
        let apply = |m: &[Vec<Fr>], v: &[Fr]| -> Vec<Fr> {
            m.iter()
                .map(|row| row.iter().zip(v).map(|(a, b)| *a * b).sum())
                .collect()
        };
        // 1. Constants: every partial round keeps its first; the rest goes through M forward.
        let mut partial_ark = Vec::with_capacity(partial);
        let mut carry = vec![Fr::from(0u64); t];
        for round in half_full..half_full + partial {
            let mut c = ark(round);
            for (x, y) in c.iter_mut().zip(&carry) {
                *x += y;
            }
            partial_ark.push(c[0]);
            c[0] = Fr::from(0u64);
            carry = apply(&p.mds, &c);
        }
        let mut full_ark: Vec<Fr> = (0..half_full).flat_map(ark).collect();
        for round in half_full + partial..p.full_rounds + partial {
            let mut c = ark(round);
            if round == half_full + partial {
                for (x, y) in c.iter_mut().zip(&carry) {
                    *x += y;
                }
            }
            full_ark.extend(c);
        }
        // 2. Matrices: N_1 = M, N = A * B, N_next = M * A.
        let mut n = p.mds.clone();
        let mut sparse = Vec::with_capacity(partial);
        let mut last_a = Vec::new();
        for _ in 0..partial {
            let block: Vec<Vec<Fr>> = n[1..].iter().map(|row| row[1..].to_vec()).collect();
            let column: Vec<Fr> = n[1..].iter().map(|row| row[0]).collect();
            sparse.push((n[0][0], n[0][1..].to_vec(), solve(&block, &column)));
            let mut a = vec![vec![Fr::from(0u64); t]; t];
            a[0][0] = Fr::from(1u64);
            for (i, row) in block.iter().enumerate() {
                a[i + 1][1..].copy_from_slice(row);
            }
            n = mat_mul(&p.mds, &a);
            last_a = block;
        }
        FastParams {
            width: t,
            half_full,
            full_ark,
            partial_ark,
            sparse,
            last_a,
            mds: p.mds.clone(),
        }
    }

    fn full_round(&self, state: &mut [Fr], constants: &[Fr], next: &mut [Fr]) {
        for (s, c) in state.iter_mut().zip(constants) {
            *s = sbox(*s + c);
        }
        for (out, row) in next.iter_mut().zip(&self.mds) {
            *out = dot(state, row);
        }
        state.copy_from_slice(next);
    }

    fn permute(&self, state: &mut [Fr]) {
        let t = self.width;
        let mut next = [Fr::from(0u64); MAX_INPUTS + 1];
        let next = &mut next[..t];
        for round in 0..self.half_full {
            self.full_round(state, &self.full_ark[round * t..(round + 1) * t], next);
        }
        for (c, (n00, n0r, w)) in self.partial_ark.iter().zip(&self.sparse) {
            let x0 = sbox(state[0] + c);
            let first = *n00 * x0 + dot(&state[1..], n0r);
            for (s, w) in state[1..].iter_mut().zip(w) {
                *s += *w * x0;
            }
            state[0] = first;
        }
        for (out, row) in next[1..].iter_mut().zip(&self.last_a) {
            *out = dot(&state[1..], row);
        }
        state[1..].copy_from_slice(&next[1..]);
        let after = self.half_full * t;
        for round in 0..self.half_full {
            let at = after + round * t;
            self.full_round(state, &self.full_ark[at..at + t], next);
        }
    }
}

fn fast_params(inputs: usize) -> &'static FastParams {
    static FAST: OnceLock<Vec<FastParams>> = OnceLock::new();
    &FAST.get_or_init(|| all_params().iter().map(FastParams::derive).collect())[inputs - 1]
}

/// Poseidon of a slice of 1..=12 inputs.
pub fn poseidon_slice(inputs: &[Fr]) -> Result<Fr, PoseidonError> {
    let params = params(inputs.len())?;
    let mut state = [Fr::from(0u64); MAX_INPUTS + 1];
    state[1..=inputs.len()].copy_from_slice(inputs);
    fast_params(inputs.len()).permute(&mut state[..params.width]);
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
    fn fast_permutation_equals_the_reference() {
        let mut x = Fr::from(0x5eed_u64);
        for inputs in 1..=MAX_INPUTS {
            let p = params(inputs).expect("width");
            for _ in 0..4 {
                let mut reference: Vec<Fr> = (0..p.width)
                    .map(|_| {
                        x = x * x + Fr::from(7u64);
                        x
                    })
                    .collect();
                let mut fast = reference.clone();
                permute(p, &mut reference);
                fast_params(inputs).permute(&mut fast);
                assert_eq!(fast, reference, "width {}", p.width);
            }
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
