//! SHA-256 over bytes in-circuit, written for constraint count (the native twin is the `sha2`
//! crate, which `zkperp_state::pubdata::commitment` uses; the tests compare them).
//!
//! The public data of every batch goes through SHA-256, so its cost is paid per byte of every
//! slot. arkworks' `Sha256Gadget` takes about 40,900 constraints per 64-byte block; this one
//! 26,416 (the tests pin it), with the tricks of the Zcash Sapling circuit:
//! - words are 32 Booleans; rotations and shifts are free (re-indexing, constant zeros);
//! - `Ch(e, f, g) = g + e * (f - g)`: one constraint per bit, no booleanity check needed (the
//!   result is Boolean whenever the inputs are);
//! - `Maj(a, b, c) = t + c * (a + b - 2t)` with `t = a * b`: two constraints per bit;
//! - the three-way XORs of the Sigma functions: two constraints per bit (one where a shift
//!   supplies a constant zero);
//! - additions modulo 2^32 of k words: their sum as a free linear combination, decomposed into
//!   `32 + ceil(log2 k)` bits (that many constraints and one more), keeping the low 32.
//!
//! Constants fold: the first round's operands are the initial state, which costs nothing.

use ark_r1cs_std::{
    boolean::{AllocatedBool, Boolean},
    convert::ToBitsGadget,
    fields::fp::FpVar,
    uint8::UInt8,
    GR1CSVar,
};
use ark_relations::gr1cs::{LinearCombination, SynthesisError};
use zkperp_state::Fr;

use crate::units::enforce_unsigned_bits;

/// A 32-bit word, least significant bit first.
type Word = [Boolean<Fr>; 32];

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

fn constant_word(v: u32) -> Word {
    std::array::from_fn(|i| Boolean::Constant((v >> i) & 1 == 1))
}

fn rotr(w: &Word, n: usize) -> Word {
    std::array::from_fn(|i| w[(i + n) % 32].clone())
}

fn shr(w: &Word, n: usize) -> Word {
    std::array::from_fn(|i| {
        if i + n < 32 {
            w[i + n].clone()
        } else {
            Boolean::FALSE
        }
    })
}

fn xor3(a: &Word, b: &Word, c: &Word) -> Word {
    std::array::from_fn(|i| &(&a[i] ^ &b[i]) ^ &c[i])
}

/// A Boolean the caller constrains itself (its value is Boolean by construction).
fn unchecked(
    value: Result<bool, SynthesisError>,
    b: &Boolean<Fr>,
) -> Result<AllocatedBool<Fr>, SynthesisError> {
    AllocatedBool::new_witness_without_booleanity_check(b.cs(), || value)
}

/// `Ch(e, f, g)`: `f` where `e` is set, `g` elsewhere.
fn ch(e: &Word, f: &Word, g: &Word) -> Result<Word, SynthesisError> {
    let mut out = Vec::with_capacity(32);
    for i in 0..32 {
        let (e, f, g) = (&e[i], &f[i], &g[i]);
        out.push(match (e, f, g) {
            (Boolean::Var(ev), Boolean::Var(fv), Boolean::Var(gv)) => {
                let value = e
                    .value()
                    .and_then(|ev| Ok(if ev { f.value()? } else { g.value()? }));
                let r = unchecked(value, e)?;
                // e * (f - g) = r - g
                let cs = e.cs();
                let (ev, fv, gv, rv) = (ev.variable(), fv.variable(), gv.variable(), r.variable());
                cs.enforce_r1cs_constraint(
                    || LinearCombination::from(ev),
                    || LinearCombination::from(fv) - gv,
                    || LinearCombination::from(rv) - gv,
                )?;
                Boolean::Var(r)
            }
            _ => &(e & f) ^ &(&!e & g),
        });
    }
    to_word(out)
}

/// `Maj(a, b, c)`: the majority of the three bits.
fn maj(a: &Word, b: &Word, c: &Word) -> Result<Word, SynthesisError> {
    let mut out = Vec::with_capacity(32);
    for i in 0..32 {
        let (a, b, c) = (&a[i], &b[i], &c[i]);
        out.push(match (a, b, c) {
            (Boolean::Var(av), Boolean::Var(bv), Boolean::Var(cv)) => {
                let t = a & b;
                let Boolean::Var(tv) = &t else {
                    return Err(SynthesisError::Unsatisfiable);
                };
                let value = (|| {
                    let (x, y, z) = (a.value()?, b.value()?, c.value()?);
                    Ok(u8::from(x) + u8::from(y) + u8::from(z) >= 2)
                })();
                let r = unchecked(value, a)?;
                // c * (a + b - 2t) = r - t
                let cs = a.cs();
                let (av, bv, cv, tv, rv) = (
                    av.variable(),
                    bv.variable(),
                    cv.variable(),
                    tv.variable(),
                    r.variable(),
                );
                cs.enforce_r1cs_constraint(
                    || LinearCombination::from(cv),
                    || LinearCombination::from(av) + bv - (Fr::from(2u64), tv),
                    || LinearCombination::from(rv) - tv,
                )?;
                Boolean::Var(r)
            }
            _ => &(a & b) | &(c & &(a ^ b)),
        });
    }
    to_word(out)
}

fn to_word(bits: Vec<Boolean<Fr>>) -> Result<Word, SynthesisError> {
    bits.try_into().map_err(|_| SynthesisError::Unsatisfiable)
}

/// `sum(words) + constant mod 2^32`.
fn add(words: &[&Word], constant: u32) -> Result<Word, SynthesisError> {
    let all_constant = words.iter().all(|w| w.iter().all(|b| b.is_constant()));
    if all_constant {
        let mut v = u64::from(constant);
        for w in words {
            for (i, b) in w.iter().enumerate() {
                v += u64::from(b.value()?) << i;
            }
        }
        return Ok(constant_word(v as u32));
    }
    let mut sum = FpVar::Constant(Fr::from(constant));
    for w in words {
        for (i, b) in w.iter().enumerate() {
            sum += FpVar::from(b.clone()) * Fr::from(1u64 << i);
        }
    }
    let terms = words.len() + usize::from(constant != 0);
    let extra = usize::BITS - (terms - 1).leading_zeros();
    let bits = enforce_unsigned_bits(&sum, 32 + extra)?;
    to_word(bits[..32].to_vec())
}

fn big_sigma0(a: &Word) -> Word {
    xor3(&rotr(a, 2), &rotr(a, 13), &rotr(a, 22))
}

fn big_sigma1(e: &Word) -> Word {
    xor3(&rotr(e, 6), &rotr(e, 11), &rotr(e, 25))
}

fn small_sigma0(w: &Word) -> Word {
    xor3(&rotr(w, 7), &rotr(w, 18), &shr(w, 3))
}

fn small_sigma1(w: &Word) -> Word {
    xor3(&rotr(w, 17), &rotr(w, 19), &shr(w, 10))
}

fn compress(state: &[Word; 8], block: &[Word; 16]) -> Result<[Word; 8], SynthesisError> {
    let mut w: Vec<Word> = block.to_vec();
    for t in 16..64 {
        let next = add(
            &[
                &small_sigma1(&w[t - 2]),
                &w[t - 7],
                &small_sigma0(&w[t - 15]),
                &w[t - 16],
            ],
            0,
        )?;
        w.push(next);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = state.clone();
    for t in 0..64 {
        let s1 = big_sigma1(&e);
        let ch = ch(&e, &f, &g)?;
        let s0 = big_sigma0(&a);
        let maj = maj(&a, &b, &c)?;
        let new_e = add(&[&d, &h, &s1, &ch, &w[t]], K[t])?;
        let new_a = add(&[&h, &s1, &ch, &w[t], &s0, &maj], K[t])?;
        h = g;
        g = f;
        f = e;
        e = new_e;
        d = c;
        c = b;
        b = a;
        a = new_a;
    }
    let out = [a, b, c, d, e, f, g, h];
    let mut next = Vec::with_capacity(8);
    for (s, o) in state.iter().zip(&out) {
        next.push(add(&[s, o], 0)?);
    }
    next.try_into().map_err(|_| SynthesisError::Unsatisfiable)
}

/// The 32 bytes of `sha256(bytes)`.
pub fn sha256(bytes: &[UInt8<Fr>]) -> Result<Vec<UInt8<Fr>>, SynthesisError> {
    let mut padded: Vec<UInt8<Fr>> = bytes.to_vec();
    padded.push(UInt8::constant(0x80));
    while padded.len() % 64 != 56 {
        padded.push(UInt8::constant(0));
    }
    let bit_len = (bytes.len() as u64) * 8;
    padded.extend(bit_len.to_be_bytes().iter().map(|b| UInt8::constant(*b)));
    let mut state: [Word; 8] = IV.map(constant_word);
    for chunk in padded.chunks(64) {
        let words: Vec<Word> = chunk
            .chunks(4)
            .map(|be| {
                // Big-endian bytes, little-endian bits within each.
                let mut bits = Vec::with_capacity(32);
                for byte in be.iter().rev() {
                    bits.extend(byte_bits(byte)?);
                }
                to_word(bits)
            })
            .collect::<Result<_, _>>()?;
        let block: [Word; 16] = words
            .try_into()
            .map_err(|_| SynthesisError::Unsatisfiable)?;
        state = compress(&state, &block)?;
    }
    let mut out = Vec::with_capacity(32);
    for word in &state {
        for k in (0..4).rev() {
            out.push(UInt8::from_bits_le(&word[8 * k..8 * k + 8]));
        }
    }
    Ok(out)
}

fn byte_bits(b: &UInt8<Fr>) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    b.to_bits_le()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::alloc::AllocVar;
    use ark_relations::gr1cs::ConstraintSystem;
    use sha2::{Digest, Sha256};

    fn run(data: &[u8]) -> (Vec<u8>, bool, usize) {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let bytes: Vec<UInt8<Fr>> = data
            .iter()
            .map(|b| UInt8::new_witness(cs.clone(), || Ok(*b)).expect("alloc"))
            .collect();
        let before = cs.num_constraints();
        let digest = sha256(&bytes).expect("sha256");
        let used = cs.num_constraints() - before;
        (
            digest.value().expect("value"),
            cs.is_satisfied().expect("sat"),
            used,
        )
    }

    #[test]
    fn matches_sha2_at_every_padding_boundary() {
        for len in [0usize, 1, 3, 55, 56, 63, 64, 65, 119, 120, 200] {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let (digest, ok, _) = run(&data);
            assert!(ok, "len {len}");
            assert_eq!(digest, Sha256::digest(&data).to_vec(), "len {len}");
        }
    }

    #[test]
    fn a_block_costs_26_416_constraints() {
        let (_, _, one) = run(&[7u8; 55]);
        let (_, _, two) = run(&[7u8; 119]);
        eprintln!("one block {one}, two blocks {two}");
        assert_eq!(two - one, 26_416);
    }
}
