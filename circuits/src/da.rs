//! Twin of `zkperp_state::da`: the batch's data-availability payload as blob elements, in the
//! layout the native `Payload::elements` writes, and the claims that bind them to the blobs the
//! L1 transaction carries.
//!
//! ```text
//! ids        per seven table entries, their published ids' bits (u32::MAX for an unused
//!            entry: id bit OR not enabled), 224 bits packed into one element: no constraints
//! records    per entry: its hash after (zero when unused), then its ciphertext (zero unless
//!            the entry is used and its account exists after), each a 254-bit element
//! creations  per deposit slot, in slot order: E.x, E.y and the created id (zeros unless the
//!            slot created an account)
//! markets    the markets' states at the end of the batch as the markets hash takes them
//!            (`crate::market::market_elements`: M packs, then six markets' oracle fields each)
//! claims     per blob (4096 elements each): vh (a witness: the L1 checks it with BLOBHASH),
//!            C = blob::commit, z = blob::challenge(C, vh), y = blob::evaluate at z;
//!            published as vh 32 | z 16 | y 32, big-endian
//! ```
//!
//! The records' order is the table's, ascending id, so the payload never says which accounts
//! met in a slot.

use crate::pubdata::FieldsVar;
use ark_r1cs_std::{boolean::Boolean, fields::fp::FpVar, uint8::UInt8};
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use zkperp_state::blob::FIELD_ELEMENTS_PER_BLOB;
use zkperp_state::da::IDS_PER_ELEMENT;
use zkperp_state::layout::BLOB_CLAIM;
use zkperp_state::Fr;

use crate::blob::{challenge, commit, evaluate, BlobElementVar};

/// Bits of a published account id.
pub const ID_BITS: usize = 32;

/// One table entry as the payload carries it.
#[derive(Debug, Clone)]
pub struct EntryRecordVar {
    /// The published id's 32 little-endian bits (all ones for an unused entry).
    pub id_bits: Vec<Boolean<Fr>>,
    /// The account's leaf hash after the batch (zero for an unused entry or an empty leaf).
    pub hash: FpVar<Fr>,
    /// The leaf's ciphertext (zeros for an unused entry or an empty leaf).
    pub ciphertext: Vec<FpVar<Fr>>,
}

/// One deposit slot's creation: `E.x, E.y, id` (zeros when the slot created no account).
pub type CreationSlotVar = [FpVar<Fr>; 3];

/// The payload's elements, in `zkperp_state::da`'s layout.
pub fn elements(
    entries: &[EntryRecordVar],
    creations: &[CreationSlotVar],
    markets: &[FpVar<Fr>],
) -> Result<Vec<BlobElementVar>, SynthesisError> {
    // `markets`: `crate::market::market_elements`.
    let mut out: Vec<BlobElementVar> = entries
        .chunks(IDS_PER_ELEMENT)
        .map(|chunk| {
            let bits: Vec<Boolean<Fr>> = chunk
                .iter()
                .flat_map(|e| {
                    assert_eq!(e.id_bits.len(), ID_BITS, "an id has {ID_BITS} bits");
                    e.id_bits.iter().cloned()
                })
                .collect();
            BlobElementVar::from_bits(&bits)
        })
        .collect();
    for e in entries {
        out.push(BlobElementVar::new(&e.hash)?);
        for c in &e.ciphertext {
            out.push(BlobElementVar::new(c)?);
        }
    }
    for creation in creations {
        for x in creation {
            out.push(BlobElementVar::new(x)?);
        }
    }
    for m in markets {
        out.push(BlobElementVar::new(m)?);
    }
    Ok(out)
}

/// A value's `n` big-endian bytes from its little-endian bits (`8 n` of them).
fn be_bytes(bits_le: &[Boolean<Fr>]) -> Vec<UInt8<Fr>> {
    bits_le.chunks(8).rev().map(UInt8::from_bits_le).collect()
}

/// The blobs' claims over `elements` (split into blobs of 4096), one per versioned hash:
/// `vh | z | y` bytes per blob, for the public data.
///
/// # Panics
/// When the number of versioned hashes is not the number of blobs the elements fill (a shape
/// error the caller checks).
pub fn claims(
    cs: &ConstraintSystemRef<Fr>,
    elements: &[BlobElementVar],
    versioned_hashes: &[[u8; 32]],
) -> Result<Vec<UInt8<Fr>>, SynthesisError> {
    let chunks: Vec<&[BlobElementVar]> = elements.chunks(FIELD_ELEMENTS_PER_BLOB).collect();
    assert_eq!(
        chunks.len(),
        versioned_hashes.len(),
        "one versioned hash per blob"
    );
    let mut out = Vec::with_capacity(BLOB_CLAIM.len() * chunks.len());
    for (chunk, vh) in chunks.into_iter().zip(versioned_hashes) {
        let vh = UInt8::new_witness_vec(cs.clone(), vh)?;
        let c = commit(chunk)?;
        let z = challenge(&c, &vh)?;
        let y = evaluate(chunk, &z)?;
        out.extend(
            FieldsVar::all(&BLOB_CLAIM)
                .bytes("VERSIONED_HASH", vh)
                .bytes("Z", be_bytes(&z))
                .bytes("Y", be_bytes(&y))
                .finish(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::{alloc::AllocVar, GR1CSVar};
    use ark_relations::gr1cs::ConstraintSystem;
    use zkperp_state::blob::SealedBlob;

    /// The claims the gadget publishes are the native sealed blob's, for elements of every
    /// kind the payload has (packed ids, full-width values).
    #[test]
    fn the_claims_are_the_native_blobs() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let ids = [7u32, 9, u32::MAX];
        let entries: Vec<EntryRecordVar> = ids
            .iter()
            .enumerate()
            .map(|(k, id)| EntryRecordVar {
                id_bits: (0..ID_BITS)
                    .map(|i| {
                        Boolean::new_witness(cs.clone(), || Ok((id >> i) & 1 == 1)).expect("bit")
                    })
                    .collect(),
                hash: FpVar::new_witness(cs.clone(), || Ok(-Fr::from(k as u64 + 1))).expect("hash"),
                ciphertext: vec![
                    FpVar::new_witness(cs.clone(), || Ok(Fr::from(1000 + k as u64))).expect("ct"),
                ],
            })
            .collect();
        let creation = [3u64, 4, 5]
            .map(|v| FpVar::new_witness(cs.clone(), || Ok(Fr::from(v))).expect("creation"));
        let market = FpVar::new_witness(cs.clone(), || Ok(Fr::from(6u64))).expect("market");
        let elements = elements(&entries, &[creation], &[market]).expect("elements");
        let native: Vec<Fr> = elements
            .iter()
            .map(|e| e.value().value().expect("known"))
            .collect();
        let packed = ids.iter().rev().fold(Fr::from(0u64), |acc, id| {
            acc * Fr::from(1u64 << 32) + Fr::from(*id)
        });
        assert_eq!(native[0], packed);
        assert_eq!(native.len(), 1 + 3 * 2 + 3 + 1);
        let sealed = SealedBlob::new(&native).expect("seals");
        let bytes = claims(&cs, &elements, &[sealed.claim.versioned_hash]).expect("claims");
        let mut expected = Vec::new();
        sealed.claim.encode(&mut expected);
        assert_eq!(bytes.value().expect("known"), expected);
        assert!(cs.is_satisfied().expect("satisfiable"));
    }
}
