//! The BN254 scalar field (the circuits' field, and Baby Jubjub's base field) and the only ways
//! bytes, decimal strings and signed integers become field elements.
//!
//! Rule: an element decoded from bytes or text is *rejected*, never reduced, when it is `>= r`.
//! Reducing would let two encodings name one element, which breaks every hash commitment built on
//! these bytes.

use ark_ff::{BigInt, BigInteger, Field, PrimeField};

pub use ark_bn254::Fr;

/// Why bytes or text did not name a field element.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("value is not below the BN254 scalar field modulus")]
    NotCanonical,
    #[error("not an unsigned decimal integer")]
    NotDecimal,
}

/// Decodes 32 little-endian bytes, rejecting values `>= r`.
pub fn fr_from_le_bytes(bytes: &[u8; 32]) -> Result<Fr, FieldError> {
    let mut limbs = [0u64; 4];
    for (i, limb) in limbs.iter_mut().enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[8 * i..8 * i + 8]);
        *limb = u64::from_le_bytes(word);
    }
    Fr::from_bigint(BigInt::new(limbs)).ok_or(FieldError::NotCanonical)
}

/// Decodes 32 big-endian bytes, rejecting values `>= r`.
pub fn fr_from_be_bytes(bytes: &[u8; 32]) -> Result<Fr, FieldError> {
    let mut le = *bytes;
    le.reverse();
    fr_from_le_bytes(&le)
}

/// The canonical 32-byte little-endian encoding.
pub fn fr_to_le_bytes(x: &Fr) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&x.into_bigint().to_bytes_le());
    out
}

/// The canonical 32-byte big-endian encoding (the EVM's word order).
pub fn fr_to_be_bytes(x: &Fr) -> [u8; 32] {
    let mut out = fr_to_le_bytes(x);
    out.reverse();
    out
}

/// Parses an unsigned decimal string, rejecting values `>= r`, signs, spaces and empty input.
pub fn fr_from_decimal(s: &str) -> Result<Fr, FieldError> {
    if s.is_empty() || s.len() > 78 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::NotDecimal);
    }
    let value = num_bigint::BigUint::parse_bytes(s.as_bytes(), 10).ok_or(FieldError::NotDecimal)?;
    let modulus: num_bigint::BigUint = Fr::MODULUS.into();
    if value >= modulus {
        return Err(FieldError::NotCanonical);
    }
    Ok(Fr::from(value))
}

/// The decimal string of an element (its canonical integer representative).
pub fn fr_to_decimal(x: &Fr) -> String {
    let n: num_bigint::BigUint = x.into_bigint().into();
    n.to_str_radix(10)
}

/// A signed integer as a field element: negative values are `r - |v|`. Every signed quantity of
/// the protocol is far below `r / 2` in magnitude (see `units`), so this map is injective on them.
pub fn fr_from_i128(v: i128) -> Fr {
    let magnitude = Fr::from(v.unsigned_abs());
    if v < 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// An unsigned integer as a field element.
pub fn fr_from_u128(v: u128) -> Fr {
    Fr::from(v)
}

/// `2^bits` as a field element (the shifts of packed fields).
pub fn two_pow(bits: u32) -> Fr {
    Fr::from(2u64).pow([u64::from(bits)])
}

/// The low 128 bits of an element's canonical integer, or `None` when it does not fit.
pub fn fr_to_u128(x: &Fr) -> Option<u128> {
    let big = x.into_bigint();
    if big.0[2] != 0 || big.0[3] != 0 {
        return None;
    }
    Some(u128::from(big.0[0]) | (u128::from(big.0[1]) << 64))
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "21888242871839275222246405745257275088548364400416034343698204186575808495617";

    #[test]
    fn decimal_round_trip_and_modulus_rejection() {
        let x = fr_from_decimal("12345678901234567890").expect("small value");
        assert_eq!(fr_to_decimal(&x), "12345678901234567890");
        assert_eq!(fr_from_decimal(R), Err(FieldError::NotCanonical));
        let r_minus_1 = fr_from_decimal(&format!("{}6", &R[..R.len() - 1])).expect("r - 1");
        assert_eq!(r_minus_1, -Fr::from(1u64));
        assert_eq!(fr_from_decimal(""), Err(FieldError::NotDecimal));
        assert_eq!(fr_from_decimal("-1"), Err(FieldError::NotDecimal));
        assert_eq!(fr_from_decimal("1 "), Err(FieldError::NotDecimal));
    }

    #[test]
    fn bytes_reject_modulus_and_above() {
        let minus_one = -Fr::from(1u64);
        let le = fr_to_le_bytes(&minus_one);
        assert_eq!(fr_from_le_bytes(&le), Ok(minus_one));
        // r itself: r - 1 plus one in the lowest byte (r - 1 ends in ...0x00 in little-endian byte 0).
        let mut r = le;
        r[0] += 1;
        assert_eq!(fr_from_le_bytes(&r), Err(FieldError::NotCanonical));
        assert_eq!(fr_from_le_bytes(&[0xff; 32]), Err(FieldError::NotCanonical));
        let be = fr_to_be_bytes(&minus_one);
        assert_eq!(fr_from_be_bytes(&be), Ok(minus_one));
    }

    #[test]
    fn signed_values_map_to_negation() {
        assert_eq!(fr_from_i128(-5) + Fr::from(5u64), Fr::from(0u64));
        assert_eq!(fr_to_u128(&fr_from_u128(u128::MAX)), Some(u128::MAX));
        assert_eq!(fr_to_u128(&-Fr::from(1u64)), None);
    }
}

/// Serde as a decimal string, rejecting values `>= r`: `#[serde(with = "crate::field::serde_fr")]`.
pub mod serde_fr {
    use super::{fr_from_decimal, fr_to_decimal, Fr};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &Fr, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&fr_to_decimal(x))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Fr, D::Error> {
        let s = String::deserialize(d)?;
        fr_from_decimal(&s).map_err(serde::de::Error::custom)
    }
}

/// Serde of field elements as a list of decimal strings, rejecting values `>= r`.
pub mod serde_fr_vec {
    use super::{fr_from_decimal, fr_to_decimal, Fr};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Fr], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(fr_to_decimal))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Fr>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| fr_from_decimal(s).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// Serde of a `u128` as a decimal string (JSON numbers lose precision above 2^53).
pub mod serde_u128 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(serde::de::Error::custom("not a decimal integer"));
        }
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Serde of an `i128` as a decimal string (JSON numbers lose precision above 2^53).
pub mod serde_i128 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        let s = String::deserialize(d)?;
        let digits = s.strip_prefix('-').unwrap_or(&s);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(serde::de::Error::custom("not a decimal integer"));
        }
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Serde of 32 bytes as 64 hex digits (an optional `0x` is accepted on input).
pub mod serde_hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(text.trim_start_matches("0x"), &mut out)
            .map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}
