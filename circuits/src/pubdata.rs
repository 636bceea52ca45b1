//! Twin of `zkperp_state::pubdata`: the batch's public-data bytes built in-circuit, and their
//! commitment, `sha256(bytes)` with the top three bits cleared.
//!
//! Bytes are `UInt8`s made from the bits of range checks the circuit needs anyway: a value of
//! `n` bytes costs its `8n + 1` decomposition (which is also its range check), a field element
//! its 385-constraint canonical decomposition (so the bytes are the unique encoding below `r`).
//! Constant bytes (kinds, lengths, zero padding) cost nothing until SHA-256 mixes them.

use ark_r1cs_std::{boolean::Boolean, convert::ToBitsGadget, fields::fp::FpVar, uint8::UInt8};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::Fr;

use crate::units::{enforce_canonical_bits, enforce_unsigned_bits};

/// The `n` big-endian bytes of `x`, enforcing `0 <= x < 2^(8n)` (`8n + 1` constraints).
pub fn uint_be_bytes(x: &FpVar<Fr>, n: usize) -> Result<Vec<UInt8<Fr>>, SynthesisError> {
    let bits = enforce_unsigned_bits(x, 8 * n as u32)?;
    Ok(le_bits_to_be_bytes(&bits))
}

/// The 32 big-endian bytes of a field element (its canonical integer; 385 constraints).
pub fn field_be_bytes(x: &FpVar<Fr>) -> Result<Vec<UInt8<Fr>>, SynthesisError> {
    let mut bits = enforce_canonical_bits(x)?;
    bits.resize(256, Boolean::FALSE);
    Ok(le_bits_to_be_bytes(&bits))
}

/// Little-endian bits (a multiple of 8) as big-endian bytes.
pub fn le_bits_to_be_bytes(bits: &[Boolean<Fr>]) -> Vec<UInt8<Fr>> {
    bits.chunks(8).rev().map(UInt8::from_bits_le).collect()
}

/// A byte whose bits are `bits` (least significant first; missing bits are zero).
pub fn byte_of_bits(bits: &[Boolean<Fr>]) -> UInt8<Fr> {
    let mut b = bits.to_vec();
    b.resize(8, Boolean::FALSE);
    UInt8::from_bits_le(&b)
}

/// `len` constant bytes of value `v`, big-endian.
pub fn constant_be_bytes(v: u64, len: usize) -> Vec<UInt8<Fr>> {
    let bytes = v.to_be_bytes();
    (0..len)
        .map(|i| {
            let from_end = len - 1 - i;
            UInt8::constant(if from_end < 8 { bytes[7 - from_end] } else { 0 })
        })
        .collect()
}

/// Twin of `pubdata::commitment`: `sha256(bytes)` read big-endian with its top three bits
/// cleared, as a field element.
pub fn commitment(bytes: &[UInt8<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    let digest = crate::sha256::sha256(bytes)?;
    let mut bits_le = Vec::with_capacity(253);
    for byte in digest.iter().rev() {
        bits_le.extend(byte.to_bits_le()?);
    }
    bits_le.truncate(253);
    Boolean::le_bits_to_fp(&bits_le)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::{alloc::AllocVar, GR1CSVar};
    use ark_relations::gr1cs::ConstraintSystem;
    use zkperp_state::field::fr_to_be_bytes;

    #[test]
    fn bytes_and_commitment_match_native() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let x = Fr::from(0x0102_0304_0506u64);
        let big = -Fr::from(5u64);
        let xv = FpVar::new_witness(cs.clone(), || Ok(x)).expect("alloc");
        let bv = FpVar::new_witness(cs.clone(), || Ok(big)).expect("alloc");
        let mut bytes = uint_be_bytes(&xv, 8).expect("bytes");
        bytes.extend(field_be_bytes(&bv).expect("bytes"));
        bytes.extend(constant_be_bytes(0x0a0b, 3));
        let mut native = 0x0102_0304_0506u64.to_be_bytes().to_vec();
        native.extend(fr_to_be_bytes(&big));
        native.extend([0, 0x0a, 0x0b]);
        assert_eq!(bytes.value().expect("value"), native);
        let c = commitment(&bytes).expect("commitment");
        assert_eq!(
            c.value().expect("value"),
            zkperp_state::pubdata::commitment(&native)
        );
        assert!(cs.is_satisfied().expect("sat"));
    }

    #[test]
    fn a_value_wider_than_its_bytes_is_refused() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let xv = FpVar::new_witness(cs.clone(), || Ok(Fr::from(1u64 << 40))).expect("alloc");
        let _ = uint_be_bytes(&xv, 5).expect("bytes");
        assert!(!cs.is_satisfied().expect("sat"));
    }
}

/// A record's body (the fields after its kind byte) built field by field, each checked against
/// the one layout table (`zkperp_state::layout`), the twin of the native `layout::Writer`: the
/// names in order, each width the table's.
#[derive(Debug)]
pub struct FieldsVar {
    layout: &'static zkperp_state::layout::Layout,
    next: usize,
    bytes: Vec<UInt8<Fr>>,
}

impl FieldsVar {
    /// The body of a `layout` record: its fields after `KIND`.
    pub fn body(layout: &'static zkperp_state::layout::Layout) -> Self {
        assert_eq!(layout.fields.first().map(|f| f.name), Some("KIND"));
        FieldsVar {
            layout,
            next: 1,
            bytes: Vec::with_capacity(layout.len()),
        }
    }

    /// All of `layout`'s fields (the header, the blob claims: layouts with no kind byte).
    pub fn all(layout: &'static zkperp_state::layout::Layout) -> Self {
        FieldsVar {
            layout,
            next: 0,
            bytes: Vec::with_capacity(layout.len()),
        }
    }

    /// Field `name` as `bytes`, which must be as wide as the table says.
    pub fn bytes(mut self, name: &str, bytes: Vec<UInt8<Fr>>) -> Self {
        let field = self.layout.fields.get(self.next);
        assert!(
            field.is_some_and(|f| f.name == name && f.width == bytes.len()),
            "{} field {name} ({} bytes) built out of its layout",
            self.layout.name,
            bytes.len()
        );
        self.bytes.extend(bytes);
        self.next += 1;
        self
    }

    /// Field `name` as the big-endian bytes of `x`, enforcing that it fits the field's width.
    pub fn uint(self, name: &str, x: &FpVar<Fr>) -> Result<Self, SynthesisError> {
        let width = self.layout.width(name);
        Ok(self.bytes(name, uint_be_bytes(x, width)?))
    }

    /// The body's bytes, every field written.
    pub fn finish(self) -> Vec<UInt8<Fr>> {
        assert_eq!(
            self.next,
            self.layout.fields.len(),
            "{} record left unfinished",
            self.layout.name
        );
        self.bytes
    }
}
