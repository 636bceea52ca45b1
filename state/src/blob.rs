//! EIP-4844 blobs carrying BN254 field elements (issue 18, data availability v2): how a batch's
//! records become a blob, how any reader gets them back, and the values the batch proof binds
//! the blob with. `circuits/src/blob.rs` is the twin of [`commit`], [`challenge`] and
//! [`evaluate`]; `docs/design/da-v2/blob-binding.md` has the reasoning and the costs.
//!
//! **Layout: the elements are the blob polynomial's coefficients.** A blob is the polynomial
//! `p(X) = sum_i V_i X^i` over BLS12-381's scalar field (modulus `r ~ 2^254.9`), posted in the
//! form the KZG commitment reads: cell `i` (32 bytes, big-endian) is `p(w^brp(i))`, `w` the
//! 4096-th root of unity from the generator 7 and `brp` the 12-bit bit reversal. Coefficient
//! `V_i` is the i-th element's canonical integer (`< p_bn254 < 2^254 < r`), so a BN254 element
//! fits whole (no 31-byte packing), the cells are always canonical, and unused coefficients are
//! zero. A reader runs the inverse FFT and takes each coefficient mod `p_bn254`: the proof
//! accepts any 254-bit representative (a canonical check per element would cost 130 more
//! constraints), and the reader accepts exactly what the proof does.
//!
//! **Binding.** The batch proof evaluates `y = p(z) mod r` from the elements it computed and the
//! L1 contract checks `(versioned_hash, z, y)` with the point-evaluation precompile against the
//! blob the transaction carried. `z` is drawn after both sides are fixed: `z = low128(Poseidon(C,
//! vh_hi, vh_lo))`, `C` = [`commit`] over the elements (and the top bit of each one's 254-bit
//! representative, which pins the integers and not only their residues mod `p_bn254`).
//! Two polynomials of degree < 4096 that agree at a random 128-bit point are equal except with
//! probability 4095 / 2^128.

use ark_bls12_381::Fr as BlsFr;
use ark_ff::{BigInteger, PrimeField, Zero};
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};

use crate::field::Fr;
use crate::poseidon::{poseidon_slice, MAX_INPUTS};

/// Field elements (cells) in one blob.
pub const FIELD_ELEMENTS_PER_BLOB: usize = 4096;
/// Bytes in one cell.
pub const BYTES_PER_FIELD_ELEMENT: usize = 32;
/// Bytes in one blob.
pub const BYTES_PER_BLOB: usize = FIELD_ELEMENTS_PER_BLOB * BYTES_PER_FIELD_ELEMENT;
/// Bits of a coefficient's representative: `p_bn254 < 2^254`.
pub const COEFFICIENT_BITS: usize = 254;
/// Bits of the challenge point `z`.
pub const CHALLENGE_BITS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    #[error("a blob holds at most {FIELD_ELEMENTS_PER_BLOB} elements, got {0}")]
    TooManyElements(usize),
    #[error("a blob is {BYTES_PER_BLOB} bytes, got {0}")]
    Length(usize),
    #[error("cell {0} is not below the BLS12-381 scalar modulus: not a valid blob")]
    NonCanonicalCell(usize),
    #[error("coefficient {0} is not zero but the blob carries only the first {1} elements")]
    UnusedCoefficient(usize, usize),
    #[error("coefficient {0} does not fit {COEFFICIENT_BITS} bits: no proven element has it")]
    WideCoefficient(usize),
    #[error("KZG: {0}")]
    Kzg(String),
}

/// One blob: 4096 cells of 32 big-endian bytes, as EIP-4844 carries it.
#[derive(Clone, PartialEq, Eq)]
pub struct Blob(Box<[u8]>);

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({}..)", hex::encode(&self.0[..8]))
    }
}

impl Blob {
    /// A blob read from its bytes (every cell canonical).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlobError> {
        if bytes.len() != BYTES_PER_BLOB {
            return Err(BlobError::Length(bytes.len()));
        }
        let blob = Self(bytes.into());
        for i in 0..FIELD_ELEMENTS_PER_BLOB {
            blob.cell(i)?;
        }
        Ok(blob)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn cell(&self, i: usize) -> Result<BlsFr, BlobError> {
        let bytes = &self.0[i * BYTES_PER_FIELD_ELEMENT..(i + 1) * BYTES_PER_FIELD_ELEMENT];
        let big =
            <BlsFr as PrimeField>::BigInt::try_from(num_bigint::BigUint::from_bytes_be(bytes))
                .map_err(|_| BlobError::NonCanonicalCell(i))?;
        BlsFr::from_bigint(big).ok_or(BlobError::NonCanonicalCell(i))
    }
}

fn domain() -> Radix2EvaluationDomain<BlsFr> {
    Radix2EvaluationDomain::new(FIELD_ELEMENTS_PER_BLOB).expect("2^12 divides r - 1")
}

/// The 12-bit bit reversal, in place (its own inverse).
fn bit_reverse(values: &mut [BlsFr]) {
    let bits = FIELD_ELEMENTS_PER_BLOB.trailing_zeros();
    for i in 0..values.len() {
        let j = (i as u32).reverse_bits() >> (32 - bits);
        if (j as usize) > i {
            values.swap(i, j as usize);
        }
    }
}

/// An element's coefficient: its canonical integer, below `p_bn254 < r`.
fn coefficient(x: &Fr) -> BlsFr {
    BlsFr::from_le_bytes_mod_order(&x.into_bigint().to_bytes_le())
}

/// The blob whose polynomial has `elements` as its first coefficients and zeros after.
pub fn encode(elements: &[Fr]) -> Result<Blob, BlobError> {
    if elements.len() > FIELD_ELEMENTS_PER_BLOB {
        return Err(BlobError::TooManyElements(elements.len()));
    }
    let mut values: Vec<BlsFr> = elements.iter().map(coefficient).collect();
    values.resize(FIELD_ELEMENTS_PER_BLOB, BlsFr::zero());
    domain().fft_in_place(&mut values);
    bit_reverse(&mut values);
    let mut bytes = Vec::with_capacity(BYTES_PER_BLOB);
    for v in &values {
        bytes.extend_from_slice(&v.into_bigint().to_bytes_be());
    }
    Ok(Blob(bytes.into()))
}

/// The first `count` elements of a blob, refusing one whose other coefficients are not zero or
/// whose coefficients do not fit 254 bits (no batch proof can bind either).
pub fn decode(blob: &Blob, count: usize) -> Result<Vec<Fr>, BlobError> {
    if count > FIELD_ELEMENTS_PER_BLOB {
        return Err(BlobError::TooManyElements(count));
    }
    let mut values = (0..FIELD_ELEMENTS_PER_BLOB)
        .map(|i| blob.cell(i))
        .collect::<Result<Vec<_>, _>>()?;
    bit_reverse(&mut values);
    domain().ifft_in_place(&mut values);
    if let Some(i) = (count..FIELD_ELEMENTS_PER_BLOB).find(|&i| !values[i].is_zero()) {
        return Err(BlobError::UnusedCoefficient(i, count));
    }
    values[..count]
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let big = v.into_bigint();
            if big.num_bits() as usize > COEFFICIENT_BITS {
                return Err(BlobError::WideCoefficient(i));
            }
            Ok(Fr::from_le_bytes_mod_order(&big.to_bytes_le()))
        })
        .collect()
}

/// `p(z) = sum_i V_i z^i mod r` for the canonical representatives `V_i` of `elements`: the value
/// the point-evaluation precompile is asked to confirm.
pub fn evaluate(elements: &[Fr], z: u128) -> BlsFr {
    let z = BlsFr::from(z);
    elements
        .iter()
        .rev()
        .fold(BlsFr::zero(), |acc, x| acc * z + coefficient(x))
}

/// `y` as the precompile reads it: 32 big-endian bytes.
pub fn evaluation_bytes(y: &BlsFr) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&y.into_bigint().to_bytes_be());
    out
}

/// Elements absorbed per Poseidon call of the commitment chain (the chain value takes one input).
pub const COMMIT_RATE: usize = MAX_INPUTS - 1;
/// Top bits packed into one absorbed element.
pub const TOP_BITS_PER_ELEMENT: usize = 253;

/// The elements the commitment absorbs after the data: bit 253 of each element's canonical
/// integer, packed little-endian, 253 to an element.
pub fn top_bits(elements: &[Fr]) -> Vec<Fr> {
    elements
        .chunks(TOP_BITS_PER_ELEMENT)
        .map(|chunk| {
            let mut packed = num_bigint::BigUint::zero();
            for (j, x) in chunk.iter().enumerate() {
                if x.into_bigint().get_bit(COEFFICIENT_BITS - 1) {
                    packed.set_bit(j as u64, true);
                }
            }
            Fr::from(packed)
        })
        .collect()
}

/// `C`: a Poseidon chain from the element count over the elements, then their packed top bits,
/// eleven at a time (`h' = Poseidon(h, e_1..e_k)`). It fixes the coefficient integers before the
/// challenge is drawn.
pub fn commit(elements: &[Fr]) -> Fr {
    let mut absorbed = elements.to_vec();
    absorbed.extend(top_bits(elements));
    let mut h = Fr::from(elements.len() as u64);
    for chunk in absorbed.chunks(COMMIT_RATE) {
        let mut inputs = Vec::with_capacity(chunk.len() + 1);
        inputs.push(h);
        inputs.extend_from_slice(chunk);
        h = poseidon_slice(&inputs).expect("at most MAX_INPUTS inputs");
    }
    h
}

/// The versioned hash as two 128-bit halves (high, low), each below the BN254 modulus.
pub fn versioned_hash_halves(versioned_hash: &[u8; 32]) -> [Fr; 2] {
    let half = |b: &[u8]| Fr::from(u128::from_be_bytes(b.try_into().expect("16 bytes")));
    [half(&versioned_hash[..16]), half(&versioned_hash[16..])]
}

/// `z = low128(Poseidon(C, vh_hi, vh_lo))`, the canonical integer's low 128 bits.
pub fn challenge(commitment: Fr, versioned_hash: &[u8; 32]) -> u128 {
    let [hi, lo] = versioned_hash_halves(versioned_hash);
    let h = poseidon_slice(&[commitment, hi, lo]).expect("three inputs");
    let limbs = h.into_bigint().0;
    u128::from(limbs[0]) | (u128::from(limbs[1]) << 64)
}

/// The KZG trusted setup: Ethereum's, as c-kzg ships it (the one the precompile and the
/// consensus clients use), loaded once, without precomputation (which only speeds up cell
/// proofs, a few per batch).
pub fn kzg() -> &'static c_kzg::KzgSettings {
    c_kzg::ethereum_kzg_settings(0)
}

/// The first byte of a KZG versioned hash (EIP-4844 `VERSIONED_HASH_VERSION_KZG`).
pub const VERSIONED_HASH_VERSION_KZG: u8 = 0x01;
/// Cell proofs per blob in an EIP-7594 sidecar (`CELLS_PER_EXT_BLOB`).
pub const CELLS_PER_EXT_BLOB: usize = 128;

/// `0x01 || sha256(commitment)[1..]`: how a transaction, BLOBHASH and the precompile name a blob.
pub fn versioned_hash(commitment: &[u8; 48]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut out: [u8; 32] = Sha256::digest(commitment).into();
    out[0] = VERSIONED_HASH_VERSION_KZG;
    out
}

impl Blob {
    fn c_kzg(&self) -> Result<Box<c_kzg::Blob>, BlobError> {
        let blob = c_kzg::Blob::from_bytes(&self.0).map_err(|e| BlobError::Kzg(e.to_string()))?;
        Ok(Box::new(blob))
    }

    /// The blob's KZG commitment (48 bytes, a compressed G1 point).
    pub fn commitment(&self) -> Result<[u8; 48], BlobError> {
        let c = kzg()
            .blob_to_kzg_commitment(&*self.c_kzg()?)
            .map_err(|e| BlobError::Kzg(e.to_string()))?;
        Ok(*c.to_bytes())
    }

    /// The KZG opening at `z` the point-evaluation precompile checks, and the value there.
    pub fn opening(&self, z: u128) -> Result<([u8; 48], [u8; 32]), BlobError> {
        let z = c_kzg::Bytes32::new(evaluation_bytes(&BlsFr::from(z)));
        let (proof, y) = kzg()
            .compute_kzg_proof(&*self.c_kzg()?, &z)
            .map_err(|e| BlobError::Kzg(e.to_string()))?;
        Ok((*proof.to_bytes(), *y))
    }

    /// The EIP-7594 cell proofs a transaction's sidecar carries for this blob.
    pub fn cell_proofs(&self) -> Result<Vec<[u8; 48]>, BlobError> {
        let (_, proofs) = kzg()
            .compute_cells_and_kzg_proofs(&*self.c_kzg()?)
            .map_err(|e| BlobError::Kzg(e.to_string()))?;
        Ok(proofs.iter().map(|p| *p.to_bytes()).collect())
    }
}

/// What a batch's public data says of one of its blobs: the L1 checks `versioned_hash` against
/// BLOBHASH and `p(z) = y` with the point-evaluation precompile; the proof computed `z` and `y`
/// from the elements it proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobClaim {
    pub versioned_hash: [u8; 32],
    /// [`challenge`] of the elements' [`commit`] and `versioned_hash`.
    pub z: u128,
    /// [`evaluate`] at `z`, big-endian (below `r`).
    pub y: [u8; 32],
}

impl BlobClaim {
    /// `32 versioned hash | 16 z | 32 y`, big-endian.
    pub const LEN: usize = crate::layout::BLOB_CLAIM.len();

    pub fn encode(&self, out: &mut Vec<u8>) {
        crate::layout::Writer::new(&crate::layout::BLOB_CLAIM, out)
            .put("VERSIONED_HASH", &self.versioned_hash)
            .put("Z", &self.z.to_be_bytes())
            .put("Y", &self.y);
    }
}

/// One blob of a batch as the operator posts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBlob {
    pub blob: Blob,
    /// Its KZG commitment, which the transaction's sidecar and the precompile take.
    pub commitment: [u8; 48],
    pub claim: BlobClaim,
}

impl SealedBlob {
    /// The blob of at most [`FIELD_ELEMENTS_PER_BLOB`] elements and its claim.
    pub fn new(elements: &[Fr]) -> Result<Self, BlobError> {
        let blob = encode(elements)?;
        let commitment = blob.commitment()?;
        let versioned_hash = versioned_hash(&commitment);
        let z = challenge(commit(elements), &versioned_hash);
        let y = evaluation_bytes(&evaluate(elements, z));
        Ok(SealedBlob {
            blob,
            commitment,
            claim: BlobClaim {
                versioned_hash,
                z,
                y,
            },
        })
    }

    /// The opening proof at the claim's `z` (checked: its value is the claim's `y`).
    pub fn opening_proof(&self) -> Result<[u8; 48], BlobError> {
        let (proof, y) = self.blob.opening(self.claim.z)?;
        if y != self.claim.y {
            return Err(BlobError::Kzg(format!(
                "the blob evaluates to 0x{} at z, its claim says 0x{}",
                hex::encode(y),
                hex::encode(self.claim.y)
            )));
        }
        Ok(proof)
    }
}

/// Blobs needed for `n` elements.
pub fn blob_count(n: usize) -> usize {
    n.div_ceil(FIELD_ELEMENTS_PER_BLOB).max(1)
}

/// The elements split into blobs of [`FIELD_ELEMENTS_PER_BLOB`] (at least one), each sealed.
pub fn seal(elements: &[Fr]) -> Result<Vec<SealedBlob>, BlobError> {
    if elements.is_empty() {
        return Ok(vec![SealedBlob::new(&[])?]);
    }
    elements
        .chunks(FIELD_ELEMENTS_PER_BLOB)
        .map(SealedBlob::new)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::{Field, UniformRand};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn elements(n: usize, seed: u64) -> Vec<Fr> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        (0..n).map(|_| Fr::rand(&mut rng)).collect()
    }

    #[test]
    fn roundtrip_and_the_reference_kzg_agree() {
        let data = elements(300, 1);
        let blob = encode(&data).expect("fits");
        assert_eq!(decode(&blob, 300).expect("decodes"), data);
        // c-kzg reads the same polynomial: its evaluation at z is our Horner value, and its proof
        // verifies against its commitment (what the precompile checks).
        let c_blob = c_kzg::Blob::from_bytes(blob.as_bytes()).expect("canonical cells");
        let commitment = kzg().blob_to_kzg_commitment(&c_blob).expect("commit");
        for z in [
            0u128,
            1,
            7,
            u128::MAX,
            0x1234_5678_9abc_def0_0fed_cba9_8765_4321,
        ] {
            let z_bytes = c_kzg::Bytes32::from(evaluation_bytes(&BlsFr::from(z)));
            let (proof, y) = kzg().compute_kzg_proof(&c_blob, &z_bytes).expect("proof");
            assert_eq!(*y, evaluation_bytes(&evaluate(&data, z)), "z = {z}");
            assert!(kzg()
                .verify_kzg_proof(&commitment.to_bytes(), &z_bytes, &y, &proof.to_bytes())
                .expect("verify"));
        }
    }

    #[test]
    fn a_sealed_blob_carries_what_the_precompile_and_the_pool_check() {
        let data = elements(100, 6);
        let sealed = SealedBlob::new(&data).expect("seals");
        let c_blob = c_kzg::Blob::from_bytes(sealed.blob.as_bytes()).expect("canonical cells");
        let commitment = kzg().blob_to_kzg_commitment(&c_blob).expect("commit");
        assert_eq!(sealed.commitment, *commitment.to_bytes());
        // The versioned hash EIP-4844 defines: 0x01, then sha256 of the commitment's tail.
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(sealed.commitment);
        assert_eq!(sealed.claim.versioned_hash[0], 0x01);
        assert_eq!(sealed.claim.versioned_hash[1..], digest[1..]);
        // z is drawn from the elements' commitment and that hash; the opening verifies.
        assert_eq!(
            sealed.claim.z,
            challenge(commit(&data), &sealed.claim.versioned_hash)
        );
        let proof = sealed.opening_proof().expect("opens");
        let z = c_kzg::Bytes32::new(evaluation_bytes(&BlsFr::from(sealed.claim.z)));
        assert!(kzg()
            .verify_kzg_proof(
                &commitment.to_bytes(),
                &z,
                &c_kzg::Bytes32::new(sealed.claim.y),
                &c_kzg::Bytes48::new(proof),
            )
            .expect("verify"));
        // A claim whose y is not the blob's is refused before anything is sent.
        let mut lying = sealed.clone();
        lying.claim.y[31] ^= 1;
        assert!(matches!(lying.opening_proof(), Err(BlobError::Kzg(_))));
        // The sidecar's cell proofs: 128, and they verify.
        let proofs = sealed.blob.cell_proofs().expect("cells");
        assert_eq!(proofs.len(), CELLS_PER_EXT_BLOB);
        let (cells, _) = kzg().compute_cells_and_kzg_proofs(&c_blob).expect("cells");
        let commitments = vec![commitment.to_bytes(); CELLS_PER_EXT_BLOB];
        let indices: Vec<u64> = (0..CELLS_PER_EXT_BLOB as u64).collect();
        let proofs: Vec<c_kzg::Bytes48> = proofs.into_iter().map(c_kzg::Bytes48::new).collect();
        assert!(kzg()
            .verify_cell_kzg_proof_batch(&commitments, &indices, cells.as_ref(), &proofs)
            .expect("verify cells"));
        // Many elements take several blobs; none takes one, empty.
        assert_eq!(blob_count(0), 1);
        assert_eq!(blob_count(FIELD_ELEMENTS_PER_BLOB + 1), 2);
        assert_eq!(seal(&[]).expect("empty").len(), 1);
    }

    #[test]
    fn a_full_blob_and_an_empty_one() {
        let data = elements(FIELD_ELEMENTS_PER_BLOB, 2);
        let blob = encode(&data).expect("fits");
        assert_eq!(
            decode(&blob, FIELD_ELEMENTS_PER_BLOB).expect("decodes"),
            data
        );
        let empty = encode(&[]).expect("empty");
        assert!(empty.as_bytes().iter().all(|b| *b == 0));
        assert_eq!(decode(&empty, 0).expect("decodes"), Vec::<Fr>::new());
        assert_eq!(
            encode(&elements(FIELD_ELEMENTS_PER_BLOB + 1, 3)),
            Err(BlobError::TooManyElements(FIELD_ELEMENTS_PER_BLOB + 1))
        );
    }

    #[test]
    fn a_reader_refuses_what_no_proof_binds() {
        let data = elements(10, 4);
        let blob = encode(&data).expect("fits");
        // Reading fewer elements than were posted: the rest are not zero.
        assert_eq!(decode(&blob, 9), Err(BlobError::UnusedCoefficient(9, 9)));
        // A cell at the modulus.
        let mut bytes = blob.as_bytes().to_vec();
        bytes[32..64].copy_from_slice(&BlsFr::MODULUS.to_bytes_be());
        assert_eq!(
            Blob::from_bytes(&bytes),
            Err(BlobError::NonCanonicalCell(1))
        );
        assert_eq!(
            Blob::from_bytes(&bytes[1..]),
            Err(BlobError::Length(BYTES_PER_BLOB - 1))
        );
        // A coefficient of 255 bits (r > 2^254): valid as a blob, bound by no proof.
        let mut wide = data.iter().map(coefficient).collect::<Vec<_>>();
        wide[3] = BlsFr::from(2u64).pow([254]);
        wide.resize(FIELD_ELEMENTS_PER_BLOB, BlsFr::zero());
        domain().fft_in_place(&mut wide);
        bit_reverse(&mut wide);
        let bytes: Vec<u8> = wide
            .iter()
            .flat_map(|v| v.into_bigint().to_bytes_be())
            .collect();
        let blob = Blob::from_bytes(&bytes).expect("canonical cells");
        assert_eq!(decode(&blob, 10), Err(BlobError::WideCoefficient(3)));
    }

    #[test]
    fn a_non_canonical_representative_reads_as_its_residue() {
        // V = x + p_bn254 fits 254 bits for a small x: the proof accepts it, so the reader does.
        let x = Fr::from(5u64);
        let p = BlsFr::from_le_bytes_mod_order(&Fr::MODULUS.to_bytes_le());
        let mut values = vec![BlsFr::zero(); FIELD_ELEMENTS_PER_BLOB];
        values[0] = coefficient(&x) + p;
        domain().fft_in_place(&mut values);
        bit_reverse(&mut values);
        let bytes: Vec<u8> = values
            .iter()
            .flat_map(|v| v.into_bigint().to_bytes_be())
            .collect();
        let blob = Blob::from_bytes(&bytes).expect("canonical cells");
        assert_eq!(decode(&blob, 1).expect("decodes"), vec![x]);
    }

    #[test]
    fn the_commitment_binds_count_order_and_top_bits() {
        let data = elements(30, 5);
        let c = commit(&data);
        assert_ne!(c, commit(&data[..29]));
        let mut swapped = data.clone();
        swapped.swap(0, 1);
        assert_ne!(c, commit(&swapped));
        // Every random element below p has bit 253 set with probability ~0.28: some of these do.
        assert!(top_bits(&data)[0] != Fr::zero());
        let z = challenge(c, &[7u8; 32]);
        assert_ne!(z, challenge(c, &[8u8; 32]));
        assert_ne!(z, challenge(commit(&swapped), &[7u8; 32]));
    }
}
