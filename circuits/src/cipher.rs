//! Twin of `zkperp_state::cipher`: zk-kit's Poseidon cipher over `FpVar`s, the sponge round for
//! round as natively. The nonce is range-checked below 2^128 (129 constraints); each block of
//! three elements costs one width-4 permutation (264 constraints on a variable state), and the
//! authentication tag one more when it is asked for (a record whose plaintext the proof binds
//! otherwise, for example through a published leaf hash, can leave it out).

use ark_r1cs_std::fields::{fp::FpVar, FieldVar};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::poseidon::params;
use zkperp_state::Fr;

use crate::poseidon::permute;
use crate::units::{enforce_unsigned_bits, two_pow};

const WIDTH: usize = 4;

/// The ciphertext of `message` under `key` and `nonce` (range-checked below 2^128), with the
/// authentication tag appended when `tag` (zk-kit's `poseidonEncrypt` then: `3 ceil(len/3) + 1`
/// elements; without it the first `3 ceil(len/3)`).
pub fn encrypt(
    message: &[FpVar<Fr>],
    key: [&FpVar<Fr>; 2],
    nonce: &FpVar<Fr>,
    tag: bool,
) -> Result<Vec<FpVar<Fr>>, SynthesisError> {
    enforce_unsigned_bits(nonce, 128)?;
    encrypt_bounded(message, key, nonce, tag)
}

/// [`encrypt`] for a nonce the caller knows is below 2^128 (one built from range-checked parts,
/// as a record's `2^32 batch + id`), which it does not check again.
pub fn encrypt_bounded(
    message: &[FpVar<Fr>],
    key: [&FpVar<Fr>; 2],
    nonce: &FpVar<Fr>,
    tag: bool,
) -> Result<Vec<FpVar<Fr>>, SynthesisError> {
    let params = params(WIDTH - 1).map_err(|_| SynthesisError::Unsatisfiable)?;
    let mut state = vec![
        FpVar::zero(),
        key[0].clone(),
        key[1].clone(),
        nonce + FpVar::Constant(Fr::from(message.len() as u64) * two_pow(128)),
    ];
    let mut out = Vec::with_capacity(message.len().div_ceil(3) * 3 + 1);
    for block in 0..message.len().div_ceil(3) {
        permute(params, &mut state)?;
        for (j, s) in state.iter_mut().enumerate().skip(1) {
            if let Some(m) = message.get(3 * block + j - 1) {
                *s += m;
            }
            out.push(s.clone());
        }
    }
    if tag {
        permute(params, &mut state)?;
        out.push(state[1].clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::{alloc::AllocVar, eq::EqGadget, GR1CSVar};
    use ark_relations::gr1cs::ConstraintSystem;
    use zkperp_state::cipher as native;

    fn run(len: usize, nonce: Fr, claimed: impl FnOnce(Vec<Fr>) -> Vec<Fr>) -> (bool, usize) {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let message: Vec<Fr> = (0..len as u64).map(|i| Fr::from(1_000 + i)).collect();
        let key = [Fr::from(17u64), Fr::from(23u64)];
        let nonce_u = 2u128.pow(100) + 5;
        let expected = claimed(native::encrypt(&message, key, nonce_u));
        let vars: Vec<FpVar<Fr>> = message
            .iter()
            .map(|m| FpVar::new_witness(cs.clone(), || Ok(*m)).expect("alloc"))
            .collect();
        let k0 = FpVar::new_witness(cs.clone(), || Ok(key[0])).expect("alloc");
        let k1 = FpVar::new_witness(cs.clone(), || Ok(key[1])).expect("alloc");
        let n = FpVar::new_witness(cs.clone(), || Ok(nonce)).expect("alloc");
        let before = cs.num_constraints();
        let ct = encrypt(&vars, [&k0, &k1], &n, true).expect("encrypt");
        let cost = cs.num_constraints() - before;
        assert_eq!(ct.len(), expected.len());
        for (c, e) in ct.iter().zip(&expected) {
            let claimed = FpVar::new_input(cs.clone(), || Ok(*e)).expect("alloc");
            c.enforce_equal(&claimed).expect("equal");
        }
        if cs.is_satisfied().expect("satisfiable?") {
            for (c, e) in ct.iter().zip(&expected) {
                assert_eq!(c.value().expect("value"), *e);
            }
        }
        (cs.is_satisfied().expect("satisfiable?"), cost)
    }

    #[test]
    fn the_gadget_encrypts_as_the_native_cipher() {
        let nonce = Fr::from(2u128.pow(100) + 5);
        for len in 1..=7 {
            let (ok, cost) = run(len, nonce, |ct| ct);
            assert!(ok, "length {len}");
            eprintln!("cipher of {len} elements with its tag: {cost} constraints");
        }
    }

    /// Without the nonce's range check, `nonce + len * 2^128` would let a prover trade length
    /// for nonce: the ciphertext of `[a, b]` (length 2) under nonce `n` is also the gadget's
    /// output for `[a, b, 0]` (length 3) under the "nonce" `n - 2^128`. It is refused.
    #[test]
    fn the_nonce_cannot_stand_in_for_the_length() {
        let key = [Fr::from(17u64), Fr::from(23u64)];
        let (a, b) = (Fr::from(5u64), Fr::from(6u64));
        let native_ct = native::encrypt(&[a, b], key, 77);
        let check = |nonce: Fr| {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let vars: Vec<FpVar<Fr>> = [a, b, Fr::from(0u64)]
                .iter()
                .map(|m| FpVar::new_witness(cs.clone(), || Ok(*m)).expect("alloc"))
                .collect();
            let k0 = FpVar::new_witness(cs.clone(), || Ok(key[0])).expect("alloc");
            let k1 = FpVar::new_witness(cs.clone(), || Ok(key[1])).expect("alloc");
            let n = FpVar::new_witness(cs.clone(), || Ok(nonce)).expect("alloc");
            let ct = encrypt(&vars, [&k0, &k1], &n, true).expect("encrypt");
            for (c, e) in ct.iter().zip(&native_ct) {
                c.enforce_equal(&FpVar::Constant(*e)).expect("equal");
            }
            cs.is_satisfied().expect("satisfiable?")
        };
        assert!(
            !check(Fr::from(77u64) - two_pow(128)),
            "length 2 claimed as 3"
        );
    }

    #[test]
    fn a_tampered_ciphertext_is_refused() {
        let nonce = Fr::from(2u128.pow(100) + 5);
        for i in 0..4 {
            let (ok, _) = run(3, nonce, |mut ct| {
                ct[i] += Fr::from(1u64);
                ct
            });
            assert!(!ok, "element {i} tampered");
        }
    }
}
