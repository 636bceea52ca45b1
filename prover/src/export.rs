//! Proofs and verifying keys in the formats other tools read.
//!
//! **EVM** (`contracts/src/Groth16Verifier.sol`, EIP-196/197 precompiles): field elements as
//! 256-bit big-endian integers; a G1 point `(x, y)`; a G2 point `(x.c1, x.c0, y.c1, y.c0)`, the
//! imaginary part first, as EIP-197 orders it; the point at infinity `(0, 0)`. A proof is
//! `uint256[8] = [A.x, A.y, B.x.c1, B.x.c0, B.y.c1, B.y.c0, C.x, C.y]`; the verifier's
//! constructor takes `alpha[2], beta[4], gamma[4], delta[4], ic[n + 1][2]`.
//!
//! **snarkjs** (`snarkjs groth16 verify verification_key.json public.json proof.json`): decimal
//! strings; G1 in projective form `[x, y, "1"]`; G2 as `[[x.c0, x.c1], [y.c0, y.c1], ["1", "0"]]`
//! (real part first, the opposite of EIP-197); curve `bn128`, protocol `groth16`.
//!
//! **Wire** (a remote prover's proof to the node): arkworks' compressed encoding, 128 bytes
//! (`A` 32, `B` 64, `C` 32, each an x coordinate with the sign of y in its top bits). Decoding
//! is strict: a coordinate `>= p`, a point off the curve or outside the prime-order subgroup,
//! and trailing bytes are all refused.

use ark_bn254::{Fq, Fq2, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInteger, PrimeField};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};
use serde::Serialize;
use serde_json::{json, Value};
use zkperp_state::Fr;

use crate::{Proof, VerifyingKey};

fn decimal<F: PrimeField>(x: &F) -> String {
    x.into_bigint().to_string()
}

fn be_bytes<F: PrimeField>(x: &F) -> [u8; 32] {
    let bytes = x.into_bigint().to_bytes_be();
    let mut out = [0u8; 32];
    out[32 - bytes.len()..].copy_from_slice(&bytes);
    out
}

fn g1_xy(p: &G1Affine) -> [Fq; 2] {
    match p.xy() {
        Some((x, y)) => [x, y],
        None => [Fq::from(0u64), Fq::from(0u64)],
    }
}

fn g2_xy(p: &G2Affine) -> [Fq2; 2] {
    match p.xy() {
        Some((x, y)) => [x, y],
        None => [Fq2::from(0u64), Fq2::from(0u64)],
    }
}

/// A 256-bit word of EVM calldata, as a `0x`-prefixed hex string in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word(pub [u8; 32]);

impl Serialize for Word {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex_of(&self.0)))
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn word<F: PrimeField>(x: &F) -> Word {
    Word(be_bytes(x))
}

fn g1_words(p: &G1Affine) -> [Word; 2] {
    let [x, y] = g1_xy(p);
    [word(&x), word(&y)]
}

fn g2_words(p: &G2Affine) -> [Word; 4] {
    let [x, y] = g2_xy(p);
    [word(&x.c1), word(&x.c0), word(&y.c1), word(&y.c0)]
}

/// The length of a proof in the wire encoding.
pub const PROOF_BYTES: usize = 128;

/// `proof` in the wire encoding (compressed points).
pub fn proof_bytes(proof: &Proof) -> Vec<u8> {
    let mut out = Vec::with_capacity(PROOF_BYTES);
    proof
        .serialize_with_mode(&mut out, Compress::Yes)
        .expect("writing to a Vec cannot fail");
    out
}

/// A proof from its wire encoding, every point checked (canonical coordinates, on the curve,
/// in the subgroup) and nothing after it.
pub fn proof_from_bytes(bytes: &[u8]) -> Result<Proof, String> {
    if bytes.len() != PROOF_BYTES {
        return Err(format!(
            "a proof is {PROOF_BYTES} bytes, not {}",
            bytes.len()
        ));
    }
    Proof::deserialize_with_mode(bytes, Compress::Yes, Validate::Yes).map_err(|e| e.to_string())
}

/// A proof as the verifier's `uint256[8]`.
pub fn evm_proof(proof: &Proof) -> [Word; 8] {
    let [ax, ay] = g1_words(&proof.a);
    let [b0, b1, b2, b3] = g2_words(&proof.b);
    let [cx, cy] = g1_words(&proof.c);
    [ax, ay, b0, b1, b2, b3, cx, cy]
}

/// The verifier's constructor arguments.
#[derive(Debug, Clone, Serialize)]
pub struct EvmVerifyingKey {
    pub alpha: [Word; 2],
    pub beta: [Word; 4],
    pub gamma: [Word; 4],
    pub delta: [Word; 4],
    pub ic: Vec<[Word; 2]>,
}

pub fn evm_verifying_key(vk: &VerifyingKey) -> EvmVerifyingKey {
    EvmVerifyingKey {
        alpha: g1_words(&vk.alpha_g1),
        beta: g2_words(&vk.beta_g2),
        gamma: g2_words(&vk.gamma_g2),
        delta: g2_words(&vk.delta_g2),
        ic: vk.gamma_abc_g1.iter().map(g1_words).collect(),
    }
}

/// Public inputs as EVM words.
pub fn evm_inputs(inputs: &[Fr]) -> Vec<Word> {
    inputs.iter().map(word).collect()
}

/// A fixture for the forge tests: key, proof and inputs in one JSON document.
pub fn evm_fixture(vk: &VerifyingKey, proof: &Proof, inputs: &[Fr]) -> Value {
    json!({
        "vk": evm_verifying_key(vk),
        "proof": evm_proof(proof),
        "inputs": evm_inputs(inputs),
    })
}

fn snarkjs_g1(p: &G1Affine) -> Value {
    let [x, y] = g1_xy(p);
    if p.is_zero() {
        return json!(["0", "1", "0"]);
    }
    json!([decimal(&x), decimal(&y), "1"])
}

fn snarkjs_g2(p: &G2Affine) -> Value {
    let [x, y] = g2_xy(p);
    if p.is_zero() {
        return json!([["0", "0"], ["1", "0"], ["0", "0"]]);
    }
    json!([
        [decimal(&x.c0), decimal(&x.c1)],
        [decimal(&y.c0), decimal(&y.c1)],
        ["1", "0"]
    ])
}

/// `verification_key.json`.
pub fn snarkjs_verifying_key(vk: &VerifyingKey) -> Value {
    json!({
        "protocol": "groth16",
        "curve": "bn128",
        "nPublic": vk.gamma_abc_g1.len() - 1,
        "vk_alpha_1": snarkjs_g1(&vk.alpha_g1),
        "vk_beta_2": snarkjs_g2(&vk.beta_g2),
        "vk_gamma_2": snarkjs_g2(&vk.gamma_g2),
        "vk_delta_2": snarkjs_g2(&vk.delta_g2),
        "IC": vk.gamma_abc_g1.iter().map(snarkjs_g1).collect::<Vec<_>>(),
    })
}

/// `proof.json`.
pub fn snarkjs_proof(proof: &Proof) -> Value {
    json!({
        "pi_a": snarkjs_g1(&proof.a),
        "pi_b": snarkjs_g2(&proof.b),
        "pi_c": snarkjs_g1(&proof.c),
        "protocol": "groth16",
        "curve": "bn128",
    })
}

/// `public.json`.
pub fn snarkjs_public(inputs: &[Fr]) -> Value {
    json!(inputs.iter().map(decimal).collect::<Vec<_>>())
}
