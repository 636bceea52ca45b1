//! Twin of `zkperp_state::domain`: the signing domain as one variable per batch, and the tag
//! that opens every signed message's hash.
//!
//! ```text
//! header bytes = u64 chain id | 20-byte rollup address        (published, checked by the L1)
//! domain       = chain_id << 160 | rollup                     (< 2^224: both range-checked)
//! tag(kind)    = kind + 2^8 * domain                          (linear: no constraint)
//! ```
//! The header bytes are the bits of the two parts, so the domain every signature in the batch
//! is checked against is the one the contract compares with `block.chainid` and its address.

use ark_r1cs_std::{alloc::AllocVar, fields::fp::FpVar, uint8::UInt8};
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use zkperp_state::domain::{MessageKind, SigningDomain};
use zkperp_state::Fr;

use crate::pubdata::uint_be_bytes;
use crate::units::two_pow;

#[derive(Debug, Clone)]
pub struct SigningDomainVar {
    /// `chain_id << 160 | rollup`.
    pub value: FpVar<Fr>,
    /// The 28 header bytes.
    pub header_bytes: Vec<UInt8<Fr>>,
}

impl SigningDomainVar {
    /// Allocates the batch's domain (65 + 161 constraints for the two range checks).
    pub fn new_witness(
        cs: ConstraintSystemRef<Fr>,
        domain: &SigningDomain,
    ) -> Result<Self, SynthesisError> {
        let chain_id = FpVar::new_witness(cs.clone(), || Ok(Fr::from(domain.chain_id)))?;
        let rollup = FpVar::new_witness(cs, || Ok(domain.rollup.to_field()))?;
        use zkperp_state::layout::HEADER;
        let mut header_bytes = uint_be_bytes(&chain_id, HEADER.width("CHAIN_ID"))?;
        header_bytes.extend(uint_be_bytes(&rollup, HEADER.width("ROLLUP"))?);
        Ok(SigningDomainVar {
            value: chain_id * two_pow(160) + rollup,
            header_bytes,
        })
    }

    /// Twin of `SigningDomain::tag`.
    pub fn tag(&self, kind: MessageKind) -> FpVar<Fr> {
        &self.value * Fr::from(256u64) + Fr::from(kind as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::GR1CSVar;
    use ark_relations::gr1cs::ConstraintSystem;
    use zkperp_state::units::L1Address;

    #[test]
    fn tags_and_header_match_the_native_ones() {
        for domain in [
            SigningDomain::TEST,
            SigningDomain {
                chain_id: u64::MAX,
                rollup: L1Address([0xff; 20]),
            },
        ] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let var = SigningDomainVar::new_witness(cs.clone(), &domain).expect("alloc");
            assert_eq!(var.value.value().expect("value"), domain.value());
            assert_eq!(
                var.tag(MessageKind::OracleQuote).value().expect("value"),
                domain.tag(MessageKind::OracleQuote)
            );
            assert_eq!(
                var.header_bytes.value().expect("bytes"),
                domain.header_bytes().to_vec()
            );
            assert!(cs.is_satisfied().expect("satisfied"));
        }
    }
}
