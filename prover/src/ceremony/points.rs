//! How snarkjs writes curve points and scalars, and how it hashes them.
//!
//! - On disk ("LEM"): affine coordinates, each 32 bytes little-endian of its Montgomery form
//!   (`x·2^256 mod q`, which is exactly arkworks' internal representation); G1 is `x | y`, G2 is
//!   `x.c0 | x.c1 | y.c0 | y.c1`; the point at infinity is all zero bytes.
//! - In hashes ("U"): affine coordinates as canonical big-endian integers; G2 is
//!   `x.c1 | x.c0 | y.c1 | y.c0`; infinity is all zero bytes.
//!
//! Decoding refuses a coordinate not below the modulus, a point off the curve, and a G2 point
//! outside the prime-order subgroup (G1 of BN254 has cofactor 1).

use ark_bn254::{Fq, Fq2, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInt, BigInteger, Field, PrimeField};
use rayon::prelude::*;
use zkperp_state::Fr;

use super::FormatError;

pub const G1_BYTES: usize = 64;
pub const G2_BYTES: usize = 128;

fn limbs(bytes: &[u8]) -> [u64; 4] {
    std::array::from_fn(|i| u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().expect("8")))
}

fn fq_lem(bytes: &[u8]) -> Option<Fq> {
    let raw = BigInt(limbs(bytes));
    (raw < Fq::MODULUS).then(|| Fq::new_unchecked(raw))
}

fn put_fq_lem(out: &mut Vec<u8>, x: &Fq) {
    for limb in x.0 .0 {
        out.extend_from_slice(&limb.to_le_bytes());
    }
}

fn put_fq_u(out: &mut Vec<u8>, x: &Fq) {
    out.extend_from_slice(&x.into_bigint().to_bytes_be());
}

pub fn put_g1(out: &mut Vec<u8>, p: &G1Affine) {
    match p.xy() {
        None => out.extend_from_slice(&[0; G1_BYTES]),
        Some((x, y)) => {
            put_fq_lem(out, &x);
            put_fq_lem(out, &y);
        }
    }
}

pub fn put_g2(out: &mut Vec<u8>, p: &G2Affine) {
    match p.xy() {
        None => out.extend_from_slice(&[0; G2_BYTES]),
        Some((x, y)) => {
            for c in [x.c0, x.c1, y.c0, y.c1] {
                put_fq_lem(out, &c);
            }
        }
    }
}

/// A G1 point as snarkjs hashes it.
pub fn g1_u(out: &mut Vec<u8>, p: &G1Affine) {
    match p.xy() {
        None => out.extend_from_slice(&[0; G1_BYTES]),
        Some((x, y)) => {
            put_fq_u(out, &x);
            put_fq_u(out, &y);
        }
    }
}

/// A G2 point as snarkjs hashes it.
pub fn g2_u(out: &mut Vec<u8>, p: &G2Affine) {
    match p.xy() {
        None => out.extend_from_slice(&[0; G2_BYTES]),
        Some((x, y)) => {
            for c in [x.c1, x.c0, y.c1, y.c0] {
                put_fq_u(out, &c);
            }
        }
    }
}

pub fn g1(kind: &'static str, bytes: &[u8]) -> Result<G1Affine, FormatError> {
    if bytes.iter().all(|b| *b == 0) {
        return Ok(G1Affine::zero());
    }
    let bad = |what: &str| FormatError::new(kind, format!("a G1 point {what}"));
    let (x, y) = fq_lem(&bytes[..32])
        .zip(fq_lem(&bytes[32..64]))
        .ok_or_else(|| bad("has a coordinate not below the modulus"))?;
    let p = G1Affine::new_unchecked(x, y);
    if !p.is_on_curve() {
        return Err(bad("is not on the curve"));
    }
    Ok(p)
}

pub fn g2(kind: &'static str, bytes: &[u8]) -> Result<G2Affine, FormatError> {
    let p = g2_on_curve(kind, bytes)?;
    if !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err(FormatError::new(
            kind,
            "a G2 point is not in the prime-order subgroup",
        ));
    }
    Ok(p)
}

/// A G2 point checked on the curve only: for a `.zkey`'s B query, which a verifier compares
/// point for point with the initial key it derives from a fully checked phase 1 (the subgroup
/// check is most of a G2 decode's cost).
pub fn g2_on_curve(kind: &'static str, bytes: &[u8]) -> Result<G2Affine, FormatError> {
    if bytes.iter().all(|b| *b == 0) {
        return Ok(G2Affine::zero());
    }
    let bad = |what: &str| FormatError::new(kind, format!("a G2 point {what}"));
    let c: Vec<Fq> = (0..4)
        .map(|i| fq_lem(&bytes[32 * i..32 * i + 32]))
        .collect::<Option<_>>()
        .ok_or_else(|| bad("has a coordinate not below the modulus"))?;
    let p = G2Affine::new_unchecked(Fq2::new(c[0], c[1]), Fq2::new(c[2], c[3]));
    if !p.is_on_curve() {
        return Err(bad("is not on the curve"));
    }
    Ok(p)
}

/// `count` G1 points from `at` (a point index) in a section of points.
pub fn g1s(
    kind: &'static str,
    section: &[u8],
    at: usize,
    count: usize,
) -> Result<Vec<G1Affine>, FormatError> {
    let bytes = section
        .get(at * G1_BYTES..(at + count) * G1_BYTES)
        .ok_or_else(|| FormatError::new(kind, "a section of G1 points is too short"))?;
    bytes
        .par_chunks_exact(G1_BYTES)
        .map(|b| g1(kind, b))
        .collect()
}

/// `count` G2 points from `at` (a point index) in a section of points; `subgroup`: also check
/// each is in the prime-order subgroup (see [`g2_on_curve`] for when that may be skipped).
pub fn g2s(
    kind: &'static str,
    section: &[u8],
    at: usize,
    count: usize,
    subgroup: bool,
) -> Result<Vec<G2Affine>, FormatError> {
    let bytes = section
        .get(at * G2_BYTES..(at + count) * G2_BYTES)
        .ok_or_else(|| FormatError::new(kind, "a section of G2 points is too short"))?;
    let decode = if subgroup { g2 } else { g2_on_curve };
    bytes
        .par_chunks_exact(G2_BYTES)
        .map(|b| decode(kind, b))
        .collect()
}

pub fn put_g1s(out: &mut Vec<u8>, points: &[G1Affine]) {
    out.reserve(points.len() * G1_BYTES);
    points.iter().for_each(|p| put_g1(out, p));
}

pub fn put_g2s(out: &mut Vec<u8>, points: &[G2Affine]) {
    out.reserve(points.len() * G2_BYTES);
    points.iter().for_each(|p| put_g2(out, p));
}

/// `2^256 mod r`, Montgomery's radix in the scalar field.
fn radix() -> Fr {
    Fr::from(2u64).pow([256])
}

/// A `.zkey` coefficient (section 4): snarkjs stores `c·R^2 mod r` (R = 2^256) little-endian.
pub fn put_coefficient(out: &mut Vec<u8>, c: &Fr) {
    let r = radix();
    out.extend_from_slice(&(*c * r * r).into_bigint().to_bytes_le());
}

pub fn coefficient(kind: &'static str, bytes: &[u8]) -> Result<Fr, FormatError> {
    let raw = BigInt(limbs(bytes));
    if raw >= Fr::MODULUS {
        return Err(FormatError::new(
            kind,
            "a coefficient is not below the modulus",
        ));
    }
    let r = radix();
    let inverse = (r * r).inverse().expect("R is invertible");
    Ok(Fr::from_bigint(raw).expect("checked below the modulus") * inverse)
}

/// A canonical little-endian scalar (`.r1cs` coefficients, `.wtns` values).
pub fn put_fr(out: &mut Vec<u8>, x: &Fr) {
    out.extend_from_slice(&x.into_bigint().to_bytes_le());
}

pub fn fr(kind: &'static str, bytes: &[u8]) -> Result<Fr, FormatError> {
    Fr::from_bigint(BigInt(limbs(bytes)))
        .ok_or_else(|| FormatError::new(kind, "a scalar is not below the modulus"))
}
