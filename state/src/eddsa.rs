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

use std::sync::OnceLock;

use ark_ec::scalar_mul::wnaf::WnafContext;
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::PrimeField;
use ark_ff::Zero;
use blake_hash::Digest;
use rand::{CryptoRng, RngCore};

use crate::babyjubjub::{
    fs_from_le_bytes, fs_to_le_bytes, mul, mul_base8_le, pack_point, point_from_coordinates,
    unpack_point, Fq, Fs, Point, PointError, PointProjective, BASE8,
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
    /// An order's signature is checked when the order arrives (on the intake's threads, before
    /// the sequencer's critical section) and again by the state machine in every fill (on the
    /// sequencer's thread), so the process remembers the last triples it saw verify
    /// ([`VERIFIED_MEMO`]) and answers a repeat from memory, whichever thread checked it first.
    /// The memo holds the whole key, message and signature, compared for equality, and only
    /// successes: the function is the same, only faster the second time. The key is part of
    /// the triple, so a check against an account's current key hits only when that key is the
    /// one the signature was checked against.
    pub fn verify(&self, msg: Fq, sig: &Signature) -> Result<(), SignatureError> {
        let triple = (self.0.x, self.0.y, msg, sig.r8.x, sig.r8.y, sig.s);
        if memo::contains(&triple) {
            return Ok(());
        }
        self.verify_uncached(msg, sig)?;
        memo::insert(triple);
        Ok(())
    }

    /// [`Self::verify`] without the memo: the arithmetic every time.
    ///
    /// `S * Base8` comes from a table of `Base8`'s multiples ([`mul_base8`]: 32 additions), the
    /// key's multiple from a width-5 wNAF, and the two sides are compared in projective
    /// coordinates (no inversion).
    pub fn verify_uncached(&self, msg: Fq, sig: &Signature) -> Result<(), SignatureError> {
        let hm = challenge(&sig.r8, &self.0, msg);
        let left = mul_base8(&sig.s);
        let right = sig.r8.into_group()
            + WnafContext::new(5).mul(self.0.into_group(), &(hm * Fs::from(8u64)));
        if left == right {
            Ok(())
        } else {
            Err(SignatureError::Invalid)
        }
    }
}

/// Verified (key, message, signature) triples the process remembers (128 bytes each), in
/// [`memo::SHARDS`] independently locked shards.
pub const VERIFIED_MEMO: usize = 65_536;

mod memo {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};

    use super::{Fq, Fs, VERIFIED_MEMO};

    pub(super) type Triple = (Fq, Fq, Fq, Fq, Fq, Fs);

    pub(super) const SHARDS: usize = 16;

    /// A bounded set of triples in independently locked shards; a full shard forgets
    /// everything before it takes the next triple (no ages to track).
    pub(super) struct Memo {
        shards: Vec<Mutex<HashSet<Triple>>>,
        per_shard: usize,
    }

    impl Memo {
        pub(super) fn new(capacity: usize) -> Self {
            let per_shard = capacity.div_ceil(SHARDS).max(1);
            Memo {
                shards: (0..SHARDS)
                    .map(|_| Mutex::new(HashSet::with_capacity(per_shard)))
                    .collect(),
                per_shard,
            }
        }

        /// The shard of a triple: the low bits of `S` (the signer cannot steer them without
        /// breaking the signature, and a forger's triples are never inserted).
        pub(super) fn shard(triple: &Triple) -> usize {
            ark_ff::PrimeField::into_bigint(triple.5).0[0] as usize % SHARDS
        }

        pub(super) fn contains(&self, triple: &Triple) -> bool {
            self.shards[Self::shard(triple)]
                .lock()
                .map(|set| set.contains(triple))
                .unwrap_or(false)
        }

        pub(super) fn insert(&self, triple: Triple) {
            if let Ok(mut set) = self.shards[Self::shard(&triple)].lock() {
                if set.len() >= self.per_shard {
                    set.clear();
                }
                set.insert(triple);
            }
        }
    }

    fn global() -> &'static Memo {
        static MEMO: OnceLock<Memo> = OnceLock::new();
        MEMO.get_or_init(|| Memo::new(VERIFIED_MEMO))
    }

    pub(super) fn contains(triple: &Triple) -> bool {
        global().contains(triple)
    }

    pub(super) fn insert(triple: Triple) {
        global().insert(triple)
    }
}

/// `k * BASE8` from a table of its multiples: `k`'s 32 bytes select one precomputed point each,
/// `table[i][b] = b * 256^i * BASE8`, so the product is 32 mixed additions (8,192 points,
/// 512 KiB, made once per process).
pub fn mul_base8(k: &Fs) -> PointProjective {
    static TABLE: OnceLock<Vec<Point>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut points = Vec::with_capacity(32 * 256);
        let mut base = BASE8.into_group();
        for _ in 0..32 {
            let mut multiple = PointProjective::zero();
            for _ in 0..256 {
                points.push(multiple);
                multiple += base;
            }
            base = multiple;
        }
        PointProjective::normalize_batch(&points)
    });
    let mut acc = PointProjective::zero();
    for (i, byte) in fs_to_le_bytes(k).into_iter().enumerate() {
        if byte != 0 {
            acc += &table[i * 256 + usize::from(byte)];
        }
    }
    acc
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
        assert!(memo::contains(&(
            pk.x(),
            pk.y(),
            msg,
            sig.r8.x,
            sig.r8.y,
            sig.s
        )));
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
        // Checked on another thread (as the intake's pool does), remembered for this one.
        let fresh = Fq::from(79u64);
        let fresh_sig = key.sign(fresh);
        let triple = (
            pk.x(),
            pk.y(),
            fresh,
            fresh_sig.r8.x,
            fresh_sig.r8.y,
            fresh_sig.s,
        );
        assert!(!memo::contains(&triple));
        std::thread::spawn(move || pk.verify(fresh, &fresh_sig))
            .join()
            .expect("thread")
            .expect("verifies");
        assert!(memo::contains(&triple));
        // A full shard forgets everything before it takes the next triple.
        let small = memo::Memo::new(2 * memo::SHARDS);
        let triple = |i: u64| {
            let x = Fq::from(i);
            // S values 16 apart: all in one shard.
            (x, x, x, x, x, Fs::from(16 * i))
        };
        small.insert(triple(1));
        small.insert(triple(2));
        assert!(small.contains(&triple(1)) && small.contains(&triple(2)));
        small.insert(triple(3));
        assert!(!small.contains(&triple(1)) && !small.contains(&triple(2)));
        assert!(small.contains(&triple(3)));
        assert_eq!(memo::Memo::shard(&triple(3)), memo::Memo::shard(&triple(1)));
    }

    #[test]
    fn the_base_table_and_the_wnaf_give_the_plain_products() {
        use ark_ff::UniformRand;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        let mut scalars: Vec<Fs> = [0u64, 1, 2, 255, 256, 257, 65_535, 65_536]
            .into_iter()
            .map(Fs::from)
            .collect();
        scalars.push(-Fs::from(1u64));
        scalars.extend((0..40).map(|_| Fs::rand(&mut rng)));
        for k in scalars {
            assert_eq!(
                mul_base8(&k).into_affine(),
                BASE8.mul_bigint(k.into_bigint()).into_affine(),
                "{k}"
            );
        }
        // Random signatures, honest and tampered: the table-and-wNAF check answers as the
        // plain double-and-add equation does.
        let plain = |pk: &PublicKey, msg: Fq, sig: &Signature| {
            let hm = challenge(&sig.r8, pk.point(), msg);
            let left = BASE8.mul_bigint(sig.s.into_bigint());
            let right =
                sig.r8.into_group() + pk.point().mul_bigint((hm * Fs::from(8u64)).into_bigint());
            left.into_affine() == right.into_affine()
        };
        for i in 0..30u64 {
            let key = PrivateKey::random(&mut rng);
            let pk = key.public_key();
            let msg = Fq::from(i);
            let sig = key.sign(msg);
            let tampered = [
                (pk, msg, sig),
                (pk, msg + Fq::from(1u64), sig),
                (PrivateKey::random(&mut rng).public_key(), msg, sig),
                (
                    pk,
                    msg,
                    Signature {
                        r8: sig.r8,
                        s: sig.s + Fs::from(1u64),
                    },
                ),
                (
                    pk,
                    msg,
                    Signature {
                        r8: (sig.r8 + BASE8).into_affine(),
                        s: sig.s,
                    },
                ),
            ];
            for (n, (pk, msg, sig)) in tampered.into_iter().enumerate() {
                let expected = plain(&pk, msg, &sig);
                assert_eq!(expected, n == 0, "only the honest signature verifies");
                assert_eq!(pk.verify_uncached(msg, &sig).is_ok(), expected);
            }
        }
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
