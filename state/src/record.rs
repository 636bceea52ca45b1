//! Data-availability records (issue 18): after each batch, every account in its table gets one
//! record, its new leaf hash and its leaf's contents encrypted so that its owner, and nobody but
//! the operator who holds the state anyway, can read it. With the records of every batch a user
//! rebuilds the tree of leaf hashes and their own leaf, and exits without the operator.
//! `circuits/src/record.rs` is the twin; docs/CIRCUITS.md (*Records*) gives the reasons.
//!
//! The key is the leaf's salt, which owner and operator share without a message between them:
//!
//! ```text
//! creation   e        the operator's ephemeral scalar, drawn per created account
//!            E      = e * Base8                              published with the creation
//!            salt_0 = Poseidon(SALT_TAG, K.x, K.y)           K = e * A (operator) = s * E (owner)
//! each batch b that has a record for account id (ρ_b: 128 random bits of the batch, public)
//!            nonce  = 2^32 * b + id                          < 2^96, never twice for one account
//!            salt_b = Poseidon(STEP_TAG, salt, nonce + 2^96 * ρ_b)    the leaf's salt from then on
//!            record = (id, leaf hash, encrypt_untagged(words(leaf), (salt_b, KEY_TAG), nonce))
//! words      w0     = orders_root
//!            w1     = (collateral + 2^63) + 2^64 (nonce + 2^32 order_floor) + 2^136 pack(pos_0)
//!            w(1+k) = pack(pos_(2k-1)) + 2^105 pack(pos_(2k))          k >= 1, the upper if 2k < M
//!            pack   = (size + 2^40) 2^64 + (funding_index + 2^63)      105 bits, as the leaf's
//! ```
//!
//! `A = s * Base8` is the owner's trading key; `s` is zk-kit's `deriveSecretScalar`, so
//! `s * E = s e Base8 = e * A`. The tags are ASCII read as big-endian integers. The step runs for
//! every record, so a record's hash changes even when nothing else in the leaf did: an idle
//! account refreshed to pad a batch looks like a changed one. `ρ_b` keeps two sealings of one
//! batch number (a submission reverted, the batch sealed again with other transactions) from
//! encrypting two plaintexts under one key and nonce. The cipher's tag is left out: the proof
//! binds the plaintext to the published leaf hash, which the owner checks, and that is stronger.

use ark_ec::AffineRepr;
use ark_ff::{BigInteger, PrimeField, Zero};
use num_bigint::BigUint;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::babyjubjub::{
    fs_from_le_bytes, fs_to_le_bytes, mul, point_from_coordinates, Fs, Point, PointError, BASE8,
};
use crate::cipher;
use crate::eddsa::{PrivateKey, PublicKey};
use crate::field::{two_pow, Fr};
use crate::leaf::{AccountLeaf, Position};
use crate::poseidon::poseidon;
use crate::units::{AccountId, BaseLots, Collateral, FundingIndex, L1Address, Nonce, OrderId};

/// Domain tags: ASCII, read as a big-endian integer.
pub const SALT_TAG: &[u8] = b"zkperp.da.salt";
pub const STEP_TAG: &[u8] = b"zkperp.da.step";
pub const KEY_TAG: &[u8] = b"zkperp.da.key";

pub const RHO_TAG: &[u8] = b"zkperp.da.rho";

/// A tag as the field element it is hashed as.
pub fn tag(name: &[u8]) -> Fr {
    Fr::from_be_bytes_mod_order(name)
}

/// Bits of a packed position: the shifted size (41) above the shifted funding index (64).
pub const PACK_BITS: u32 = BaseLots::BITS + 1 + 64;
/// Where the order nonce starts in `w1`, and the first position.
pub const NONCE_SHIFT: u32 = 64;
pub const POSITION_SHIFT: u32 = NONCE_SHIFT + Nonce::BITS + OrderId::BITS;
/// `ρ_b`'s place above the cipher nonce in the step.
pub const RHO_SHIFT: u32 = 96;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("the creation's ephemeral key is not a usable point: {0}")]
    Ephemeral(PointError),
    #[error("account {id}'s record of batch {batch} has {got} ciphertext elements, not {want}")]
    Length {
        batch: u64,
        id: AccountId,
        got: usize,
        want: usize,
    },
    #[error("account {id}'s record of batch {batch} does not decrypt under this key ({what})")]
    Garbled {
        batch: u64,
        id: AccountId,
        what: &'static str,
    },
    #[error(
        "account {id}'s record of batch {batch} decrypts to a leaf whose hash is not the one \
         published: another key or salt, or a tampered record"
    )]
    Hash { batch: u64, id: AccountId },
}

/// The operator's ephemeral scalar `e` for one created account: non-zero and below `l` by
/// construction, drawn from a CSPRNG and journaled with the deposit that creates the account,
/// so that a replay derives the same salt. Serialized as 32 little-endian bytes in hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ephemeral(Fs);

impl Ephemeral {
    /// `None` for zero, which would make `E` the identity and the salt public.
    pub fn new(e: Fs) -> Option<Self> {
        (!e.is_zero()).then_some(Ephemeral(e))
    }

    /// Uniform in `[1, l)`: 64 random bytes reduced modulo `l` (a bias below 2^-250).
    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        loop {
            let mut wide = [0u8; 64];
            rng.fill_bytes(&mut wide);
            if let Some(e) = Self::new(Fs::from_le_bytes_mod_order(&wide)) {
                return e;
            }
        }
    }

    pub fn scalar(&self) -> &Fs {
        &self.0
    }
}

impl Serialize for Ephemeral {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(fs_to_le_bytes(&self.0)))
    }
}

impl<'de> Deserialize<'de> for Ephemeral {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&text, &mut bytes).map_err(serde::de::Error::custom)?;
        fs_from_le_bytes(&bytes)
            .and_then(Ephemeral::new)
            .ok_or_else(|| serde::de::Error::custom("the ephemeral scalar is zero or not below l"))
    }
}

/// What the operator derives when it creates an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Creation {
    /// `E = e * Base8`, published so that the owner can derive the salt.
    pub ephemeral: Point,
    /// `salt_0`, the new leaf's salt.
    pub salt: Fr,
}

fn salt_from_shared(shared: &Point) -> Fr {
    poseidon([tag(SALT_TAG), shared.x, shared.y])
}

/// The operator's side of the creation: `E` and `salt_0` from its scalar and the owner's key.
pub fn create(e: &Ephemeral, owner: &PublicKey) -> Creation {
    Creation {
        ephemeral: mul(&BASE8, &e.0),
        salt: salt_from_shared(&mul(owner.point(), &e.0)),
    }
}

/// The owner's side: `salt_0` from the published `E` (checked on the curve, in the subgroup and
/// not the identity) and their own key.
pub fn owner_salt(key: &PrivateKey, ephemeral: (Fr, Fr)) -> Result<Fr, RecordError> {
    let e = point_from_coordinates(ephemeral.0, ephemeral.1).map_err(RecordError::Ephemeral)?;
    if e.is_zero() {
        return Err(RecordError::Ephemeral(PointError::Identity));
    }
    Ok(salt_from_shared(&key.shared_point(&e)))
}

/// The cipher nonce of account `id`'s record in batch `batch`.
pub fn nonce(batch: u64, id: AccountId) -> u128 {
    (u128::from(batch) << 32) | u128::from(id.get())
}

/// `ρ_b` of batch `batch`: the low 128 bits of `Poseidon(RHO_TAG, R, batch)` with `R` the
/// [`final_leaves`] commitment to the batch's touched accounts as they end it, before the
/// salts step.
///
/// Not random, and it need not be: its one job is that two different sealings of one batch
/// number never encrypt under one key and nonce. Two sealings that reach the same `R` hold the
/// same final leaves (their salts before the step included), so they encrypt the same
/// plaintexts to the same ciphertexts; two that do not get unrelated keys. Derived, it needs no
/// journal entry, so a replay seals the same batch. `R` is never published, and the proof takes
/// `ρ_b` as given: how it was chosen is the operator's business, like a salt.
pub fn batch_rho(accounts_root: Fr, batch: u64) -> u128 {
    let h = poseidon([tag(RHO_TAG), accounts_root, Fr::from(batch)]);
    let bytes = h.into_bigint().to_bytes_le();
    u128::from_le_bytes(bytes[..16].try_into().expect("32 bytes"))
}

/// `R` of [`batch_rho`]: `c_n` of the chain `c_0 = 0`, `c_{i+1} = Poseidon(c_i, id_i, h_i)`
/// over the batch's account table in ascending id, `h_i` the hash of the entry's leaf before
/// the salts step (0: no account). It commits to every leaf a record of the batch encrypts,
/// and costs one hash per account where the accounts root before the steps (what `R` was until
/// the seal wrote the tree once per account) cost a path per write.
pub fn final_leaves(entries: impl IntoIterator<Item = (AccountId, Fr)>) -> Fr {
    entries
        .into_iter()
        .fold(Fr::from(0u64), |chain, (id, hash)| {
            poseidon([chain, Fr::from(id.get()), hash])
        })
}

/// The salt a record of batch `batch` gives account `id`, from its salt before the batch.
pub fn step(salt: Fr, batch: u64, id: AccountId, rho: u128) -> Fr {
    poseidon([
        tag(STEP_TAG),
        salt,
        Fr::from(nonce(batch, id)) + Fr::from(rho) * two_pow(RHO_SHIFT),
    ])
}

/// Plaintext words for `markets` markets.
pub fn word_count(markets: usize) -> usize {
    2 + markets.saturating_sub(1).div_ceil(2)
}

/// Ciphertext elements of a record for `markets` markets.
pub fn ciphertext_len(markets: usize) -> usize {
    word_count(markets).div_ceil(3) * 3
}

/// The leaf's mutable contents as plaintext words (its key, L1 address and salt are left out:
/// the owner knows them).
pub fn words(leaf: &AccountLeaf) -> Vec<Fr> {
    let shifted = Fr::from((leaf.collateral.get() + (1i128 << Collateral::BITS)) as u128);
    let nonce = u128::from(u64::from(leaf.nonce)) | u128::from(leaf.order_floor.get()) << 32;
    let packed: Vec<Fr> = leaf.positions.iter().map(Position::pack).collect();
    let mut out = vec![
        leaf.orders_root,
        shifted + Fr::from(nonce) * two_pow(NONCE_SHIFT) + packed[0] * two_pow(POSITION_SHIFT),
    ];
    for pair in packed[1..].chunks(2) {
        out.push(
            pair[0]
                + pair
                    .get(1)
                    .map_or(Fr::from(0u64), |p| *p * two_pow(PACK_BITS)),
        );
    }
    out
}

/// One account's record in a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: AccountId,
    /// The leaf hash the tree holds after the batch.
    #[serde(with = "crate::field::serde_fr")]
    pub hash: Fr,
    #[serde(with = "crate::field::serde_fr_vec")]
    pub ciphertext: Vec<Fr>,
}

/// What only the owner knows of their leaf (besides its salt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub public_key: PublicKey,
    pub l1_address: L1Address,
}

impl Record {
    /// The record of `leaf` (its salt already stepped for `batch`) as account `id`.
    pub fn seal(batch: u64, id: AccountId, leaf: &AccountLeaf) -> Record {
        Record {
            id,
            hash: leaf.hash(),
            ciphertext: cipher::encrypt_untagged(
                &words(leaf),
                [leaf.salt, tag(KEY_TAG)],
                nonce(batch, id),
            ),
        }
    }

    /// The leaf this record of `batch` holds, read with the salt it was sealed under (the
    /// owner's `salt_b`) and checked against the published hash.
    pub fn open(
        &self,
        batch: u64,
        owner: &Owner,
        salt: Fr,
        markets: usize,
    ) -> Result<AccountLeaf, RecordError> {
        let (id, want) = (self.id, ciphertext_len(markets));
        if self.ciphertext.len() != want {
            return Err(RecordError::Length {
                batch,
                id,
                got: self.ciphertext.len(),
                want,
            });
        }
        let garbled = |what| RecordError::Garbled { batch, id, what };
        let words = cipher::decrypt_untagged(
            &self.ciphertext,
            [salt, tag(KEY_TAG)],
            nonce(batch, id),
            word_count(markets),
        )
        .map_err(|_| garbled("its padding is not zero"))?;
        let leaf = unpack(&words, markets, owner, salt)
            .ok_or_else(|| garbled("a field is out of range"))?;
        if leaf.hash() != self.hash {
            return Err(RecordError::Hash { batch, id });
        }
        Ok(leaf)
    }
}

/// Bits `[from, from + width)` of `value` (width <= 128).
fn bits(value: &BigUint, from: u32, width: u32) -> u128 {
    let mask = (BigUint::from(1u8) << width) - 1u8;
    let digits = ((value >> from) & mask).to_u64_digits();
    digits
        .iter()
        .rev()
        .fold(0u128, |acc, d| (acc << 64) | u128::from(*d))
}

fn unpack_position(packed: u128) -> Option<Position> {
    let size = (packed >> 64) as i128 - (1i128 << BaseLots::BITS);
    let index = (packed & u128::from(u64::MAX)) as i128 - (1i128 << 63);
    Some(Position {
        size: BaseLots::new(size).ok()?,
        funding_index: FundingIndex::new(index).ok()?,
    })
}

fn unpack(words: &[Fr], markets: usize, owner: &Owner, salt: Fr) -> Option<AccountLeaf> {
    let ints: Vec<BigUint> = words
        .iter()
        .map(|w| BigUint::from_bytes_le(&w.into_bigint().to_bytes_le()))
        .collect();
    if ints[1].bits() > u64::from(POSITION_SHIFT + PACK_BITS) {
        return None;
    }
    let collateral = bits(&ints[1], 0, 64) as i128 - (1i128 << Collateral::BITS);
    let nonce = bits(&ints[1], NONCE_SHIFT, Nonce::BITS);
    let floor = bits(&ints[1], NONCE_SHIFT + Nonce::BITS, OrderId::BITS);
    let mut positions = vec![unpack_position(bits(&ints[1], POSITION_SHIFT, PACK_BITS))?];
    for (k, w) in ints[2..].iter().enumerate() {
        let upper = 2 * k + 2 < markets;
        let width = if upper { 2 * PACK_BITS } else { PACK_BITS };
        if w.bits() > u64::from(width) {
            return None;
        }
        positions.push(unpack_position(bits(w, 0, PACK_BITS))?);
        if upper {
            positions.push(unpack_position(bits(w, PACK_BITS, PACK_BITS))?);
        }
    }
    Some(AccountLeaf {
        public_key: owner.public_key,
        l1_address: owner.l1_address,
        collateral: Collateral::new(collateral).ok()?,
        nonce: Nonce::new(nonce as u64).ok()?,
        order_floor: OrderId::new(floor as u64).ok()?,
        positions,
        orders_root: words[0],
        salt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::fr_from_decimal;
    use rand::SeedableRng;

    fn key() -> PrivateKey {
        PrivateKey::from_bytes(std::array::from_fn(|i| i as u8 + 1))
    }

    fn leaf(markets: usize, salt: Fr) -> AccountLeaf {
        crate::testkit::extreme_leaf(key().public_key(), markets, salt)
    }

    #[test]
    fn tags_are_the_ascii_integers() {
        assert_eq!(
            tag(SALT_TAG),
            fr_from_decimal("2482966169997557004856388252429428").expect("tag")
        );
        assert_eq!(
            tag(KEY_TAG),
            fr_from_decimal("9699086601552957050220266087801").expect("tag")
        );
    }

    #[test]
    fn owner_and_operator_derive_the_same_salt() {
        let e = Ephemeral::new(Fs::from(123_456_789u64)).expect("non-zero");
        let creation = create(&e, &key().public_key());
        let e_point = (creation.ephemeral.x, creation.ephemeral.y);
        assert_eq!(owner_salt(&key(), e_point), Ok(creation.salt));
        let other = PrivateKey::from_bytes([9; 32]);
        assert_ne!(owner_salt(&other, e_point), Ok(creation.salt));
        assert_eq!(
            owner_salt(&key(), (Fr::from(0u64), Fr::from(1u64))),
            Err(RecordError::Ephemeral(PointError::Identity))
        );
        assert!(matches!(
            owner_salt(&key(), (Fr::from(1u64), Fr::from(1u64))),
            Err(RecordError::Ephemeral(PointError::NotOnCurve))
        ));
    }

    /// Every field at the extremes of its width, for every market count a leaf may have.
    #[test]
    fn a_record_opens_to_its_leaf_for_every_market_count() {
        for markets in 1..=8 {
            let salt = step(
                Fr::from(77u64),
                9,
                AccountId::new(5).expect("id"),
                u128::MAX,
            );
            let leaf = leaf(markets, salt);
            let record = Record::seal(9, AccountId::new(5).expect("id"), &leaf);
            assert_eq!(record.ciphertext.len(), ciphertext_len(markets));
            let owner = Owner {
                public_key: leaf.public_key,
                l1_address: leaf.l1_address,
            };
            assert_eq!(record.open(9, &owner, salt, markets), Ok(leaf.clone()));
            let id = record.id;
            assert!(
                matches!(
                    record.open(10, &owner, salt, markets),
                    Err(RecordError::Hash { .. } | RecordError::Garbled { .. })
                ),
                "another batch's nonce"
            );
            assert!(record
                .open(9, &owner, salt + Fr::from(1u64), markets)
                .is_err());
            for i in 0..record.ciphertext.len() {
                let mut tampered = record.clone();
                tampered.ciphertext[i] += Fr::from(1u64);
                let err = tampered
                    .open(9, &owner, salt, markets)
                    .expect_err("tampered");
                assert!(
                    err.to_string()
                        .contains(&format!("account {id}'s record of batch 9")),
                    "{err}"
                );
            }
            let mut short = record.clone();
            short.ciphertext.pop();
            assert!(matches!(
                short.open(9, &owner, salt, markets),
                Err(RecordError::Length { .. })
            ));
        }
    }

    #[test]
    fn an_ephemeral_scalar_is_never_zero_and_round_trips() {
        assert_eq!(Ephemeral::new(Fs::from(0u64)), None);
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let e = Ephemeral::random(&mut rng);
        let json = serde_json::to_string(&e).expect("json");
        assert_eq!(serde_json::from_str::<Ephemeral>(&json).expect("back"), e);
        assert!(serde_json::from_str::<Ephemeral>(&format!("\"{}\"", "00".repeat(32))).is_err());
        assert!(serde_json::from_str::<Ephemeral>(&format!("\"{}\"", "ff".repeat(32))).is_err());
    }

    #[test]
    fn the_step_depends_on_every_input() {
        let id = AccountId::new(5).expect("id");
        let base = step(Fr::from(1u64), 7, id, 3);
        assert_ne!(base, step(Fr::from(2u64), 7, id, 3));
        assert_ne!(base, step(Fr::from(1u64), 8, id, 3));
        assert_ne!(
            base,
            step(Fr::from(1u64), 7, AccountId::new(6).expect("id"), 3)
        );
        assert_ne!(base, step(Fr::from(1u64), 7, id, 4));
    }
}
