//! EdDSA-Poseidon on Baby Jubjub, as circomlib's `EdDSAPoseidon` and circomlibjs' `signPoseidon`,
//! so a wallet built on circomlibjs or zk-kit signs orders zkperp accepts.
//!
//! ```text
//! h  = BLAKE-512(private key)                       (64 bytes)
//! s  = prune(h[0..32]) as a little-endian integer   (bits 0..2 and 255 cleared, bit 254 set)
//! A  = (s >> 3) * Base8                             (public key)
//! r  = BLAKE-512(h[32..64] || msg as 32 LE bytes) mod l
//! R8 = r * Base8
//! S  = r + Poseidon(R8.x, R8.y, A.x, A.y, msg) * s  mod l
//! verify: S * Base8 == R8 + (8 * Poseidon(..)) * A
//! ```
//!
//! Verification here is strict where circomlibjs is lenient: `A` and `R8` must be on the curve
//! and in the prime-order subgroup (enforced when they are constructed or decoded) and `S < l`.

use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::PrimeField;
use blake_hash::Digest;
use rand::{CryptoRng, RngCore};

use crate::babyjubjub::{
    fs_from_le_bytes, fs_to_le_bytes, mul, mul_base8_le, pack_point, point_from_coordinates,
    unpack_point, Fq, Fs, Point, PointError, BASE8,
};
use crate::field::fr_to_le_bytes;
use crate::poseidon::poseidon;

/// Why a key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("invalid point: {0}")]
    Point(#[from] PointError),
    #[error("signature scalar S is not below the subgroup order")]
    NonCanonicalScalar,
    #[error("signature does not verify")]
    Invalid,
}

/// BLAKE-512 (the SHA-3 finalist, not BLAKE2) of the concatenated parts: circomlibjs' key hash.
pub fn blake512(parts: &[&[u8]]) -> [u8; 64] {
    let mut hasher = blake_hash::Blake512::new();
    for part in parts {
        hasher.update(part);
    }
    let mut out = [0u8; 64];
    out.copy_from_slice(&hasher.finalize());
    out
}

/// A 32-byte private key (circomlibjs' `prv`).
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey([u8; 32]);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PrivateKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PrivateKey(bytes)
    }

    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        PrivateKey(bytes)
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The pruned secret scalar `s` (little-endian, not reduced) and the nonce seed `h[32..64]`.
    fn expand(&self) -> ([u8; 32], [u8; 32]) {
        let h = blake512(&[&self.0]);
        let mut s = [0u8; 32];
        s.copy_from_slice(&h[..32]);
        s[0] &= 0xf8;
        s[31] &= 0x7f;
        s[31] |= 0x40;
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&h[32..]);
        (s, seed)
    }

    pub fn public_key(&self) -> PublicKey {
        let (s, _) = self.expand();
        PublicKey(mul_base8_le(&shr3(&s)))
    }

    /// Baby Jubjub Diffie-Hellman: `s * point` for this key's secret scalar `s` (zk-kit's
    /// `deriveSecretScalar`, MACI's `generateEcdhSharedKey`). With `point = e * Base8` it equals
    /// `e * A` for the public key `A = s * Base8`: how an owner recovers the secret the operator
    /// derived from their public key (`record::owner_salt`). `point` is a checked subgroup point,
    /// where `s` may be read modulo `l`.
    pub fn shared_point(&self, point: &Point) -> Point {
        let (s, _) = self.expand();
        mul(point, &Fs::from_le_bytes_mod_order(&shr3(&s)))
    }

    /// Signs a field element (the Poseidon hash of a transaction's encoding).
    pub fn sign(&self, msg: Fq) -> Signature {
        let (s, seed) = self.expand();
        let a = mul_base8_le(&shr3(&s));
        let r_wide = blake512(&[&seed, &fr_to_le_bytes(&msg)]);
        let r = Fs::from_le_bytes_mod_order(&r_wide);
        let r8 = mul(&BASE8, &r);
        let hm = challenge(&r8, &a, msg);
        let s_scalar = Fs::from_le_bytes_mod_order(&s);
        Signature {
            r8,
            s: r + hm * s_scalar,
        }
    }
}

fn shr3(s: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for i in 0..32 {
        let next = if i + 1 < 32 { s[i + 1] } else { 0 };
        out[i] = (s[i] >> 3) | (next << 5);
    }
    out
}

/// `Poseidon(R8.x, R8.y, A.x, A.y, msg)` read as an integer mod `l`.
fn challenge(r8: &Point, a: &Point, msg: Fq) -> Fs {
    let h = poseidon([r8.x, r8.y, a.x, a.y, msg]);
    Fs::from_le_bytes_mod_order(&fr_to_le_bytes(&h))
}

/// A public key: a point of the prime-order subgroup (checked at construction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(Point);

impl PublicKey {
    /// A key must be in the prime-order subgroup and not the identity: with the identity as key,
    /// `(R8, S) = (S * Base8, S)` would verify for every message.
    pub fn from_coordinates(x: Fq, y: Fq) -> Result<Self, PointError> {
        let p = point_from_coordinates(x, y)?;
        if p.is_zero() {
            return Err(PointError::Identity);
        }
        Ok(PublicKey(p))
    }

    pub fn from_point(p: Point) -> Result<Self, PointError> {
        Self::from_coordinates(p.x, p.y)
    }

    pub fn unpack(bytes: &[u8; 32]) -> Result<Self, PointError> {
        let p = unpack_point(bytes)?;
        Self::from_coordinates(p.x, p.y)
    }

    pub fn pack(&self) -> [u8; 32] {
        pack_point(&self.0)
    }

    pub fn point(&self) -> &Point {
        &self.0
    }

    pub fn x(&self) -> Fq {
        self.0.x
    }

    pub fn y(&self) -> Fq {
        self.0.y
    }

    /// Checks `sig` on `msg`.
    ///
    /// The sequencer checks an order's signature when the order arrives and the state machine
    /// checks it again in every fill; both run on the thread that holds the sequencer, so each
    /// thread remembers the last [`VERIFIED_MEMO`] triples it saw verify and answers a repeat
    /// from memory. The memo holds the whole key, message and signature, compared for
    /// equality, and only successes: the function is the same, only faster the second time.
    pub fn verify(&self, msg: Fq, sig: &Signature) -> Result<(), SignatureError> {
        let triple = (self.0.x, self.0.y, msg, sig.r8.x, sig.r8.y, sig.s);
        if VERIFIED.with(|v| v.borrow().contains(&triple)) {
            return Ok(());
        }
        let hm = challenge(&sig.r8, &self.0, msg);
        let left = BASE8.mul_bigint(sig.s.into_bigint());
        let right = sig.r8.into_group() + self.0.mul_bigint((hm * Fs::from(8u64)).into_bigint());
        if left.into_affine() == right.into_affine() {
            VERIFIED.with(|v| {
                let mut v = v.borrow_mut();
                if v.len() >= VERIFIED_MEMO {
                    v.clear(); // bounded: forget everything rather than track ages
                }
                v.insert(triple);
            });
            Ok(())
        } else {
            Err(SignatureError::Invalid)
        }
    }
}

/// Verified (key, message, signature) triples each thread remembers (128 bytes each).
pub const VERIFIED_MEMO: usize = 4096;

type Triple = (Fq, Fq, Fq, Fq, Fq, Fs);

thread_local! {
    static VERIFIED: std::cell::RefCell<std::collections::HashSet<Triple>> =
        std::cell::RefCell::new(std::collections::HashSet::with_capacity(VERIFIED_MEMO));
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.pack()))
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    /// From the 64 hex digits of circomlibjs' `packPoint`, strictly decoded.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim_start_matches("0x"), &mut bytes)
            .map_err(serde::de::Error::custom)?;
        PublicKey::unpack(&bytes).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.pack()))
    }
}

impl<'de> serde::Deserialize<'de> for Signature {
    /// From the 128 hex digits of circomlibjs' `packSignature`, strictly decoded.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        let mut bytes = [0u8; 64];
        hex::decode_to_slice(text.trim_start_matches("0x"), &mut bytes)
            .map_err(serde::de::Error::custom)?;
        Signature::unpack(&bytes).map_err(serde::de::Error::custom)
    }
}

/// A signature `(R8, S)`; `R8` in the subgroup and `S < l` are checked at construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    r8: Point,
    s: Fs,
}

impl Signature {
    pub fn new(r8: Point, s: Fs) -> Result<Self, SignatureError> {
        let r8 = point_from_coordinates(r8.x, r8.y)?;
        Ok(Signature { r8, s })
    }

    /// From coordinates and S as 32 little-endian bytes (rejected when `S >= l`).
    pub fn from_parts(r8x: Fq, r8y: Fq, s_le: &[u8; 32]) -> Result<Self, SignatureError> {
        let s = fs_from_le_bytes(s_le).ok_or(SignatureError::NonCanonicalScalar)?;
        Self::new(Point::new_unchecked(r8x, r8y), s)
    }

    /// circomlibjs' `packSignature`: `packPoint(R8) || S` (32 bytes little-endian).
    pub fn pack(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&pack_point(&self.r8));
        out[32..].copy_from_slice(&fs_to_le_bytes(&self.s));
        out
    }

    pub fn unpack(bytes: &[u8; 64]) -> Result<Self, SignatureError> {
        let mut r = [0u8; 32];
        r.copy_from_slice(&bytes[..32]);
        let mut s = [0u8; 32];
        s.copy_from_slice(&bytes[32..]);
        let r8 = unpack_point(&r)?;
        let s = fs_from_le_bytes(&s).ok_or(SignatureError::NonCanonicalScalar)?;
        Ok(Signature { r8, s })
    }

    pub fn r8(&self) -> &Point {
        &self.r8
    }

    pub fn s(&self) -> &Fs {
        &self.s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_remembered_success_answers_only_the_same_triple() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(8);
        let (key, other) = (PrivateKey::random(&mut rng), PrivateKey::random(&mut rng));
        let msg = Fq::from(77u64);
        let sig = key.sign(msg);
        let pk = key.public_key();
        for _ in 0..3 {
            assert_eq!(
                pk.verify(msg, &sig),
                Ok(()),
                "first computed, then remembered"
            );
        }
        assert!(VERIFIED.with(|v| v.borrow().len()) >= 1);
        assert_eq!(
            other.public_key().verify(msg, &sig),
            Err(SignatureError::Invalid),
            "another key"
        );
        assert_eq!(
            pk.verify(msg + Fq::from(1u64), &sig),
            Err(SignatureError::Invalid)
        );
        let other_sig = key.sign(msg + Fq::from(1u64));
        assert_eq!(pk.verify(msg, &other_sig), Err(SignatureError::Invalid));
        // Full, it forgets everything before it remembers the next success.
        VERIFIED.with(|v| {
            let mut v = v.borrow_mut();
            v.clear();
            for i in 0..VERIFIED_MEMO as u64 {
                let f = Fq::from(i);
                v.insert((f, f, f, f, f, Fs::from(i)));
            }
        });
        let fresh = Fq::from(78u64);
        assert_eq!(pk.verify(fresh, &key.sign(fresh)), Ok(()));
        assert_eq!(VERIFIED.with(|v| v.borrow().len()), 1);
    }

    #[test]
    fn sign_then_verify_and_reject_tampering() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let key = PrivateKey::random(&mut rng);
        let pk = key.public_key();
        let msg = Fq::from(123_456u64);
        let sig = key.sign(msg);
        assert_eq!(pk.verify(msg, &sig), Ok(()));
        assert_eq!(
            pk.verify(msg + Fq::from(1u64), &sig),
            Err(SignatureError::Invalid)
        );
        let other = PrivateKey::random(&mut rng).public_key();
        assert_eq!(other.verify(msg, &sig), Err(SignatureError::Invalid));
        let bumped = Signature {
            r8: sig.r8,
            s: sig.s + Fs::from(1u64),
        };
        assert_eq!(pk.verify(msg, &bumped), Err(SignatureError::Invalid));
    }

    #[test]
    fn rejects_s_at_or_above_subgroup_order() {
        let key = PrivateKey::from_bytes([1u8; 32]);
        let sig = key.sign(Fq::from(9u64));
        let mut packed = sig.pack();
        // S + l still satisfies the group equation; it must be refused as non-canonical.
        let s_plus_l = {
            let s: num_bigint::BigUint = sig.s.into_bigint().into();
            let l: num_bigint::BigUint = Fs::MODULUS.into();
            let mut bytes = (s + l).to_bytes_le();
            bytes.resize(32, 0);
            bytes
        };
        packed[32..].copy_from_slice(&s_plus_l);
        assert_eq!(
            Signature::unpack(&packed),
            Err(SignatureError::NonCanonicalScalar)
        );
    }

    #[test]
    fn rejects_r8_outside_subgroup() {
        let key = PrivateKey::from_bytes([2u8; 32]);
        let sig = key.sign(Fq::from(1u64));
        // R8 + T for a point T of order 2 passes the cofactor-cleared equation; refuse it.
        let t = Point::new_unchecked(Fq::from(0u64), -Fq::from(1u64));
        let shifted = (sig.r8.into_group() + t).into_affine();
        assert_eq!(
            Signature::new(shifted, sig.s),
            Err(SignatureError::Point(PointError::NotInSubgroup))
        );
    }
}
