//! A witness as a circom `.wtns` file (iden3, version 2), so `snarkjs wtns check` can check the
//! prover's own witness against the exported `.r1cs` without arkworks:
//!
//! ```text
//! "wtns" | u32 version = 2 | u32 sections = 2
//!   1 header   u32 n8 = 32 | prime r (32 bytes LE) | u32 values
//!   2 values   each 32 bytes LE, canonical; value 0 is the constant one
//! ```

use ark_ff::{BigInteger, PrimeField};
use zkperp_state::Fr;

use crate::ceremony::binfile::{self, BinFile, Reader};
use crate::ceremony::{points, FormatError};

const KIND: &str = ".wtns";
const MAGIC: &[u8; 4] = b"wtns";

/// The `.wtns` file of a full assignment (the one, the public inputs, the witness).
pub fn to_bytes(values: &[Fr]) -> Vec<u8> {
    let mut header = Vec::with_capacity(40);
    header.extend_from_slice(&32u32.to_le_bytes());
    header.extend_from_slice(&Fr::MODULUS.to_bytes_le());
    header.extend_from_slice(&(values.len() as u32).to_le_bytes());
    let mut body = Vec::with_capacity(32 * values.len());
    values.iter().for_each(|v| points::put_fr(&mut body, v));
    binfile::write(MAGIC, 2, &[(1, &header), (2, &body)])
}

/// Reads a `.wtns` file, refusing another field and any value not below the modulus.
pub fn parse(bytes: &[u8]) -> Result<Vec<Fr>, FormatError> {
    let file = BinFile::parse(KIND, bytes, MAGIC, 1..=2)?;
    let mut h = Reader::new(KIND, file.section(KIND, 1)?);
    if h.u32()? != 32 || h.take(32)? != Fr::MODULUS.to_bytes_le().as_slice() {
        return Err(FormatError::new(KIND, "not over BN254's scalar field"));
    }
    let count = h.u32()? as usize;
    h.end("header")?;
    let body = file.section(KIND, 2)?;
    if body.len() != 32 * count {
        return Err(FormatError::new(
            KIND,
            "the values do not match the header's count",
        ));
    }
    body.chunks_exact(32).map(|c| points::fr(KIND, c)).collect()
}
