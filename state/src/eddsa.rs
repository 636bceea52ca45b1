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

/// Items from which [`verify_batch`] combines them: below it each is checked on its own,
/// which is faster there (the multi-scalar multiplication's fixed cost; per signature on one
/// core, 16 items cost 88 µs, 64 cost 50 µs, 256 cost 41 µs, one alone 77 µs).
pub const BATCH_FROM: usize = 32;

/// Checks many signatures at once; answers, for each, exactly what [`PublicKey::verify`] would
/// (and remembers the successes as it does).
///
/// One random linear combination of the verification equations is checked instead of each:
///
/// ```text
/// (sum z_i S_i) * Base8  ==  sum z_i * R8_i  +  sum (8 z_i h_i) * A_i
/// ```
///
/// the left side from the table of `Base8`'s multiples, the right as one multi-scalar
/// multiplication (a key that signed several of the items is one base, its scalars summed).
/// The `z_i` are 128-bit numbers drawn from a SHA-256 of every item, so no signer can know them
/// before fixing their signature. If the combination holds, every item verifies; if not, each
/// is checked on its own and the answers are those.
///
/// Why the combination cannot let through what a single check refuses: every `R8_i` and `A_i`
/// is in the prime-order subgroup, checked when the signature was decoded and the key made
/// (`Signature::new`, `PublicKey::from_coordinates`; the fields cannot be set otherwise) and
/// `S_i < l` likewise. So each item's defect `D_i = S_i Base8 - R8_i - 8 h_i A_i` lies in a group
/// of prime order `l`, where `sum z_i D_i = 0` with some `D_j != 0` holds for at most one `z_j`
/// modulo `l` given the others: a chance of `2^-128`. Without those subgroup checks a defect
/// with a small-order component (Baby Jubjub's cofactor is 8) would vanish for one `z_j` in
/// eight, which is why they stay per item.
pub fn verify_batch(items: &[(&PublicKey, Fq, &Signature)]) -> Vec<Result<(), SignatureError>> {
    let triple = |(key, msg, sig): &(&PublicKey, Fq, &Signature)| {
        (key.0.x, key.0.y, *msg, sig.r8.x, sig.r8.y, sig.s)
    };
    let mut answers = vec![Ok(()); items.len()];
    let todo: Vec<usize> = (0..items.len())
        .filter(|i| !memo::contains(&triple(&items[*i])))
        .collect();
    if todo.len() < BATCH_FROM {
        for i in todo {
            answers[i] = items[i].0.verify(items[i].1, items[i].2);
        }
        return answers;
    }
    let batch: Vec<&(&PublicKey, Fq, &Signature)> = todo.iter().map(|i| &items[*i]).collect();
    if combination_holds(&batch) {
        for i in todo {
            memo::insert(triple(&items[i]));
        }
    } else {
        for i in todo {
            answers[i] = items[i].0.verify(items[i].1, items[i].2);
        }
    }
    answers
}

/// [`verify_batch`] without the memo and without the per-item answers: whether every item
/// verifies (the combination holds), computed every time.
pub fn verify_batch_uncached(items: &[(&PublicKey, Fq, &Signature)]) -> bool {
    combination_holds(&items.iter().collect::<Vec<_>>())
}

/// Whether the random linear combination of `items`' verification equations holds
/// ([`verify_batch`]).
fn combination_holds(items: &[&(&PublicKey, Fq, &Signature)]) -> bool {
    use ark_ec::VariableBaseMSM;
    use sha2::{Digest as _, Sha256};

    // The weights: SHA-256 of every item, then of that and the item's place.
    let mut transcript = Sha256::new();
    transcript.update(b"zkperp eddsa-poseidon batch");
    for (key, msg, sig) in items {
        for x in [key.0.x, key.0.y, *msg, sig.r8.x, sig.r8.y] {
            transcript.update(fr_to_le_bytes(&x));
        }
        transcript.update(fs_to_le_bytes(&sig.s));
    }
    let seed = transcript.finalize();
    let mut s_sum = Fs::zero();
    let mut bases: Vec<Point> = Vec::with_capacity(2 * items.len());
    let mut scalars: Vec<Fs> = Vec::with_capacity(2 * items.len());
    let mut key_at: std::collections::HashMap<(Fq, Fq), usize> = Default::default();
    for (n, (key, msg, sig)) in items.iter().enumerate() {
        let digest = Sha256::new()
            .chain_update(seed)
            .chain_update((n as u64).to_le_bytes())
            .finalize();
        let z = Fs::from(u128::from_le_bytes(
            digest[..16].try_into().expect("16 bytes"),
        ));
        let h = challenge(&sig.r8, &key.0, *msg);
        s_sum += z * sig.s;
        bases.push(sig.r8);
        scalars.push(z);
        let weight = z * h * Fs::from(8u64);
        match key_at.entry((key.0.x, key.0.y)) {
            std::collections::hash_map::Entry::Occupied(at) => scalars[*at.get()] += weight,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(bases.len());
                bases.push(key.0);
                scalars.push(weight);
            }
        }
    }
    mul_base8(&s_sum) == PointProjective::msm_unchecked(&bases, &scalars)
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

    /// The batch path answers exactly what each check answers: all-valid batches (one key
    /// signing many items, and many keys), and batches with one or several bad items of every
    /// kind (another message, another key, another signature, a changed `S`), with items the
    /// memo already holds among them; nothing bad is remembered.
    #[test]
    fn a_batch_answers_what_each_check_answers() {
        use rand::Rng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(10);
        let keys: Vec<PrivateKey> = (0..5).map(|_| PrivateKey::random(&mut rng)).collect();
        let pks: Vec<PublicKey> = keys.iter().map(PrivateKey::public_key).collect();
        for round in 0..12u64 {
            let n = [2usize, 17, 40, 64][round as usize % 4];
            let mut items: Vec<(PublicKey, Fq, Signature)> = (0..n)
                .map(|i| {
                    let k = rng.gen_range(0..keys.len());
                    let msg = Fq::from(1_000_000 * (round + 1) + i as u64);
                    (pks[k], msg, keys[k].sign(msg))
                })
                .collect();
            // Rounds 0-3 all valid; then 1, 2 or 3 bad items of a kind drawn per item.
            let bad = if round < 4 { 0 } else { 1 + round as usize % 3 };
            for _ in 0..bad {
                let i = rng.gen_range(0..n);
                let (pk, msg, sig) = items[i];
                items[i] = match rng.gen_range(0..4) {
                    0 => (pk, msg + Fq::from(1u64), sig),
                    1 => (
                        pks[(pks.iter().position(|p| *p == pk).expect("one of the keys") + 1) % 5],
                        msg,
                        sig,
                    ),
                    2 => (pk, msg, keys[0].sign(msg + Fq::from(2u64))),
                    _ => (
                        pk,
                        msg,
                        Signature {
                            r8: sig.r8,
                            s: sig.s + Fs::from(1u64),
                        },
                    ),
                };
            }
            if round % 2 == 1 {
                // One item already remembered.
                let _ = items[0].0.verify(items[0].1, &items[0].2);
            }
            let expected: Vec<_> = items
                .iter()
                .map(|(pk, msg, sig)| pk.verify_uncached(*msg, sig))
                .collect();
            let refs: Vec<(&PublicKey, Fq, &Signature)> =
                items.iter().map(|(pk, msg, sig)| (pk, *msg, sig)).collect();
            // The combination itself: it holds exactly when every item verifies.
            let all: Vec<_> = refs.iter().collect();
            assert_eq!(combination_holds(&all), bad == 0, "round {round}");
            assert_eq!(verify_batch(&refs), expected, "round {round}");
            for ((pk, msg, sig), answer) in items.iter().zip(&expected) {
                let remembered = memo::contains(&(pk.x(), pk.y(), *msg, sig.r8.x, sig.r8.y, sig.s));
                assert_eq!(
                    remembered,
                    answer.is_ok(),
                    "round {round}: only successes remembered"
                );
            }
            if bad > 0 {
                assert!(
                    expected.iter().any(|a| a.is_err()),
                    "round {round} has a bad item"
                );
            }
        }
        // What the batch's argument rests on: `R8` with a small-order component never becomes
        // a signature (the point (0, -1) has order 2).
        let sig = keys[0].sign(Fq::from(5u64));
        let torsion = Point::new_unchecked(Fq::zero(), -Fq::from(1u64));
        let shifted = (sig.r8.into_group() + torsion).into_affine();
        assert!(Signature::new(shifted, sig.s).is_err());
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
