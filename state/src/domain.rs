//! The signing domain: every signed message commits to one deployment.
//!
//! ```text
//! domain      = chain_id << 160 | rollup address                    (224 bits: u64 and 160 bits)
//! tag(kind)   = kind | domain << 8                                  (232 bits, below r)
//! message     = Poseidon(tag(kind), words...)                       (each kind's own words)
//! ```
//!
//! The first input of every signed message's Poseidon is its tag: the message kind (order,
//! withdrawal, oracle quote, cancel, API read) in the low byte, so a signature made for one
//! kind is never valid for another, and the deployment above it, so a signature made for one
//! deployment (chain and rollup contract) is never valid on another where the same account id
//! or oracle key exists. Folding both into one input costs the circuit almost nothing: the tag
//! is a linear combination of the kind (a constant) and the domain (one variable per batch,
//! bound to the public data's header, which the L1 contract checks against `block.chainid` and
//! its own address); only the first S-box of each message hash, no longer of a constant, costs
//! 3 constraints more. A separate input would cost a wider Poseidon on every signature. The L1 contract exposes the value as `signingDomain()`, the API as
//! `GET /v1/info`.

use serde::{Deserialize, Serialize};

use crate::field::Fr;
use crate::units::L1Address;

/// What a signature authorises: the low byte of every message's tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageKind {
    Order = 1,
    Withdrawal = 2,
    OracleQuote = 3,
    CancelOrder = 4,
    /// Authenticates a private API read (`zkperp_api::auth`); never part of a transaction.
    ApiRead = 5,
}

/// The deployment every signature is bound to. The default (chain 0, address 0) is no
/// deployment: a configuration carries it until the rollup is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct SigningDomain {
    /// The L1's chain id (EIP-155).
    pub chain_id: u64,
    /// The rollup contract's address.
    pub rollup: L1Address,
}

impl SigningDomain {
    /// The domain of tests and golden vectors: anvil's chain id and the address
    /// `"zkperp-test-rollup-1"` in ASCII, where the forge tests deploy the rollup that replays
    /// them.
    pub const TEST: SigningDomain = SigningDomain {
        chain_id: 31337,
        rollup: L1Address(*b"zkperp-test-rollup-1"),
    };

    /// The domain as one field element: `chain_id << 160 | rollup` (below `2^224 < r`).
    pub fn value(&self) -> Fr {
        let mut be = [0u8; 32];
        be[4..12].copy_from_slice(&self.chain_id.to_be_bytes());
        be[12..].copy_from_slice(&self.rollup.0);
        crate::field::fr_from_be_bytes(&be).expect("224-bit values are below the modulus")
    }

    /// The first input of a message of `kind`: `kind | domain << 8`.
    pub fn tag(&self, kind: MessageKind) -> Fr {
        self.value() * Fr::from(256u64) + Fr::from(kind as u8)
    }

    /// The domain's bytes as the batch header carries them: `u64 chain id | 20-byte address`.
    pub fn header_bytes(&self) -> [u8; 28] {
        let mut out = [0u8; 28];
        out[..8].copy_from_slice(&self.chain_id.to_be_bytes());
        out[8..].copy_from_slice(&self.rollup.0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::fr_to_be_bytes;

    #[test]
    fn tag_packs_kind_chain_and_address() {
        let d = SigningDomain {
            chain_id: 0x0102_0304_0506_0708,
            rollup: L1Address([0xab; 20]),
        };
        let tag = fr_to_be_bytes(&d.tag(MessageKind::CancelOrder));
        // 232 bits: 3 zero bytes, the chain id, the address, the kind.
        assert_eq!(tag[..3], [0u8; 3]);
        assert_eq!(tag[3..11], 0x0102_0304_0506_0708u64.to_be_bytes());
        assert_eq!(tag[11..31], [0xab; 20]);
        assert_eq!(tag[31], 4);
        let v = fr_to_be_bytes(&d.value());
        assert_eq!(v[4..], d.header_bytes());
    }

    #[test]
    fn every_deployment_and_kind_has_its_own_tag() {
        let a = SigningDomain {
            chain_id: 1,
            rollup: L1Address([1; 20]),
        };
        let other_chain = SigningDomain { chain_id: 10, ..a };
        let mut other_address = a;
        other_address.rollup.0[19] = 2;
        let kinds = [
            MessageKind::Order,
            MessageKind::Withdrawal,
            MessageKind::OracleQuote,
            MessageKind::CancelOrder,
            MessageKind::ApiRead,
        ];
        let mut tags = std::collections::HashSet::new();
        for d in [a, other_chain, other_address] {
            for k in kinds {
                assert!(tags.insert(d.tag(k)), "{d:?} {k:?}");
            }
        }
    }
}
