//! Public data: what a batch tells the L1, written once here, byte by byte.
//!
//! Everything is big-endian (the EVM's order), fixed width, and carries no trade, price paid,
//! size or balance. Per transaction:
//!
//! ```text
//! kind  record                     bytes
//! 0x01  deposit credited           1 + 8 index + 20 l1_address + 32 packed pubkey + 4 account
//!                                  (u32::MAX: a new account) + 8 amount                           = 73
//! 0x06  deposit refunded           the same fields as 0x01 (the L1 repays the depositor)         = 73
//! 0x02  withdrawal                 1 + 4 account + 20 l1_address + 8 amount                       = 33
//! 0x03  forced withdrawal answer   1 + 8 index + 4 account + 20 requester + 8 amount + 8 paid     = 49
//! 0x04  mark price                 1 + 1 market + 8 price                                          = 10
//! 0x05  funding index              1 + 1 market + 8 index (two's complement)                       = 10
//! 0x00  no-op slot                 1 + 2 n + n zero bytes (as long as the slot kind's record)
//! ```
//! Records come one per slot of the batch's shape, in slot order (`crate::batch`), so the layout
//! is fixed per shape and the circuit hashes it without variable-length logic.
//! Then the blobs' claims: the accounts' records travel in EIP-4844 blobs (`crate::da`,
//! `crate::blob`), and the public data says, per blob, `32 versioned hash | 16 z | 32 y`: the L1
//! checks the versioned hash against BLOBHASH and `p(z) = y` with the point-evaluation
//! precompile, the proof computed `z` and `y` from the records it proved. With the blobs and the
//! public history, anyone rebuilds the tree of leaf hashes and each owner their own leaf.
//!
//! The batch proof has one public input, the commitment: `sha256(bytes)` read as a big-endian
//! integer with its top three bits cleared (so it is below `2^253 < r`). SHA-256 because the L1
//! recomputes it from calldata for a few hundred gas, where a Poseidon sponge in the EVM would
//! cost tens of thousands of gas per 31 bytes; the price is paid in constraints by the prover.

use serde::{Deserialize, Serialize};

use crate::blob::BlobClaim;
use crate::domain::SigningDomain;
use crate::field::{fr_to_be_bytes, Fr};
use crate::layout::{self, Writer};
use crate::tx::Kind;
use crate::units::Timestamp;

/// The layout of one kind's L1 record (each in its kind's file, `crate::tx::<kind>`).
pub trait L1Record: Clone + std::fmt::Debug {
    /// Bytes of the record, kind byte included (0: the kind publishes none).
    const LEN: usize;
    /// The record's first byte.
    fn kind_byte(&self) -> u8;
    /// Appends the record, kind byte first: exactly `LEN` bytes.
    fn encode(&self, out: &mut Vec<u8>);
}

/// The record of a kind that publishes none: it has no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoRecord {}

impl L1Record for NoRecord {
    const LEN: usize = 0;
    fn kind_byte(&self) -> u8 {
        match *self {}
    }
    fn encode(&self, _: &mut Vec<u8>) {
        match *self {}
    }
}

macro_rules! declare_pubdata {
    ($($variant:ident($ty:ident) $module:ident $field:ident $letter:literal,)*) => {
        /// One transaction's L1 record, by kind (kinds without one never have a value here).
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub enum PubData {
            $($variant(<crate::tx::$ty as Kind>::Record),)*
        }

        impl PubData {
            /// The record's first byte.
            pub fn kind(&self) -> u8 {
                match self {
                    $(PubData::$variant(r) => r.kind_byte(),)*
                }
            }

            pub fn encode(&self, out: &mut Vec<u8>) {
                match self {
                    $(PubData::$variant(r) => r.encode(out),)*
                }
            }

            pub fn encoded_len(&self) -> usize {
                match self {
                    $(PubData::$variant(_) => <<crate::tx::$ty as Kind>::Record as L1Record>::LEN,)*
                }
            }
        }
    };
}

crate::for_each_kind!(declare_pubdata);

impl PubData {
    /// The kind byte of a slot with no transaction.
    pub const NOOP: u8 = 0x00;
}

/// One slot's record: a transaction's, or a no-op of the slot's length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Data(PubData),
    /// `0x00 | u16 (len - 3) | len - 3 zero bytes`: `len` is at least 3.
    NoOp(usize),
}

impl Record {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Record::Data(d) => d.encode(out),
            Record::NoOp(len) => {
                let rest = len.saturating_sub(layout::NOOP.len());
                Writer::new(&layout::NOOP, out)
                    .put("KIND", &[PubData::NOOP])
                    .put("REST", &(rest as u16).to_be_bytes());
                out.resize(out.len() + rest, 0);
            }
        }
    }

    pub fn data(&self) -> Option<&PubData> {
        match self {
            Record::Data(d) => Some(d),
            Record::NoOp(_) => None,
        }
    }
}

/// Everything a batch publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPublicData {
    pub old_root: Fr,
    pub new_root: Fr,
    /// 1 for the first batch after genesis: the L1 accepts each number once, in order.
    pub batch_number: u64,
    pub timestamp: Timestamp,
    /// The deployment the batch's signatures are bound to (`crate::domain`).
    pub domain: SigningDomain,
    /// `ρ_b`, which keys the batch's salt steps (`crate::record::batch_rho`).
    pub rho: u128,
    pub records: Vec<Record>,
    /// One per blob of the batch's shape, in the transaction's blob order.
    pub blobs: Vec<BlobClaim>,
}

impl BatchPublicData {
    /// `32 old root | 32 new root | 8 batch number | 8 timestamp | 8 chain id | 20 rollup |
    /// 16 rho | 4 record bytes`.
    pub const HEADER_LEN: usize = layout::HEADER.len();

    /// The transactions' records, without the no-ops.
    pub fn data(&self) -> impl Iterator<Item = &PubData> {
        self.records.iter().filter_map(Record::data)
    }

    /// The proof's single public input: `sha256(to_bytes())` with the top three bits cleared.
    pub fn commitment(&self) -> Fr {
        commitment(&self.to_bytes())
    }

    /// `32 old root | 32 new root | 8 batch number | 8 timestamp | 8 chain id | 20 rollup |
    /// 16 rho | 4 record bytes | records | 4 blob count | blob claims`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut records = Vec::new();
        for r in &self.records {
            r.encode(&mut records);
        }
        let mut out = Vec::with_capacity(
            Self::HEADER_LEN + records.len() + 4 + BlobClaim::LEN * self.blobs.len(),
        );
        let domain = self.domain.header_bytes();
        let (chain_id, rollup) = domain.split_at(layout::HEADER.width("CHAIN_ID"));
        Writer::new(&layout::HEADER, &mut out)
            .put("OLD_ROOT", &fr_to_be_bytes(&self.old_root))
            .put("NEW_ROOT", &fr_to_be_bytes(&self.new_root))
            .put("BATCH_NUMBER", &self.batch_number.to_be_bytes())
            .put("TIMESTAMP", &self.timestamp.get().to_be_bytes())
            .put("CHAIN_ID", chain_id)
            .put("ROLLUP", rollup)
            .put("RHO", &self.rho.to_be_bytes())
            .put("RECORD_BYTES", &(records.len() as u32).to_be_bytes());
        out.extend_from_slice(&records);
        Writer::new(&layout::BLOBS, &mut out)
            .put("COUNT", &(self.blobs.len() as u32).to_be_bytes());
        for b in &self.blobs {
            b.encode(&mut out);
        }
        out
    }
}

/// What a reader takes from a batch's public data as the L1 accepted it (calldata): the header
/// and the blobs' claims. The records stay raw: a reader of the accounts needs none of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicDataView {
    pub old_root: Fr,
    pub new_root: Fr,
    pub batch_number: u64,
    pub timestamp: u64,
    pub domain: SigningDomain,
    pub rho: u128,
    /// The records section, as published.
    pub records: Vec<u8>,
    pub blobs: Vec<BlobClaim>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicDataError {
    #[error("public data of {0} bytes: shorter than its header, or not as long as it says")]
    Length(usize),
    #[error("the {0} root is not a field element")]
    Root(&'static str),
}

impl PublicDataView {
    /// Reads `bytes` (`BatchPublicData::to_bytes`), checking the layout the L1 checks.
    pub fn parse(bytes: &[u8]) -> Result<Self, PublicDataError> {
        use layout::{BLOBS, BLOB_CLAIM, HEADER};
        let bad = || PublicDataError::Length(bytes.len());
        let h = BatchPublicData::HEADER_LEN;
        if bytes.len() < h + 4 {
            return Err(bad());
        }
        let u64_at = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let u32_at =
            |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let root = |at: usize, name| {
            crate::field::fr_from_be_bytes(&bytes[at..at + 32].try_into().expect("32 bytes"))
                .map_err(|_| PublicDataError::Root(name))
        };
        let records_end = h + u32_at(HEADER.offset("RECORD_BYTES"));
        if bytes.len() < records_end + BLOBS.len() {
            return Err(bad());
        }
        let count = u32_at(records_end + BLOBS.offset("COUNT"));
        let claims = records_end + BLOBS.len();
        if bytes.len() != claims + count * BlobClaim::LEN {
            return Err(bad());
        }
        let blobs = bytes[claims..]
            .chunks(BlobClaim::LEN)
            .map(|c| {
                let at = |name| &c[BLOB_CLAIM.offset(name)..][..BLOB_CLAIM.width(name)];
                BlobClaim {
                    versioned_hash: at("VERSIONED_HASH").try_into().expect("32 bytes"),
                    z: u128::from_be_bytes(at("Z").try_into().expect("16 bytes")),
                    y: at("Y").try_into().expect("32 bytes"),
                }
            })
            .collect();
        let at = |name| &bytes[HEADER.offset(name)..][..HEADER.width(name)];
        Ok(PublicDataView {
            old_root: root(HEADER.offset("OLD_ROOT"), "old")?,
            new_root: root(HEADER.offset("NEW_ROOT"), "new")?,
            batch_number: u64_at(HEADER.offset("BATCH_NUMBER")),
            timestamp: u64_at(HEADER.offset("TIMESTAMP")),
            domain: SigningDomain {
                chain_id: u64_at(HEADER.offset("CHAIN_ID")),
                rollup: crate::units::L1Address(at("ROLLUP").try_into().expect("20 bytes")),
            },
            rho: u128::from_be_bytes(at("RHO").try_into().expect("16 bytes")),
            records: bytes[h..records_end].to_vec(),
            blobs,
        })
    }
}

/// `sha256(bytes)` as a big-endian integer with its top three bits cleared: a canonical element.
pub fn commitment(bytes: &[u8]) -> Fr {
    use sha2::{Digest, Sha256};
    let mut digest: [u8; 32] = Sha256::digest(bytes).into();
    digest[0] &= 0x1f;
    crate::field::fr_from_be_bytes(&digest).expect("253-bit values are below the modulus")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::deposit::DepositRecord;
    use crate::tx::oracle_tick::MarkPriceRecord;
    use crate::tx::withdrawal::WithdrawalRecord;
    use crate::units::{AccountId, Amount, L1Address, MarketId, PriceTicks, Timestamp};

    fn sample() -> BatchPublicData {
        BatchPublicData {
            old_root: Fr::from(1u64),
            new_root: Fr::from(2u64),
            batch_number: 9,
            timestamp: Timestamp::new(1_700_000_000).expect("ts"),
            domain: SigningDomain::TEST,
            rho: u128::MAX - 1,
            records: vec![
                Record::Data(PubData::Withdrawal(WithdrawalRecord {
                    account: AccountId::new(7).expect("id"),
                    l1_address: L1Address([0xab; 20]),
                    amount: Amount::new(5).expect("amount"),
                })),
                Record::NoOp(DepositRecord::LEN),
                Record::Data(PubData::OracleTick(MarkPriceRecord {
                    market: MarketId::new(1).expect("id"),
                    price: PriceTicks::new(9).expect("p"),
                })),
            ],
            blobs: vec![BlobClaim {
                versioned_hash: [0x01; 32],
                z: 0x0102,
                y: [0x03; 32],
            }],
        }
    }

    #[test]
    fn layout_is_byte_exact() {
        let bytes = sample().to_bytes();
        let mut expected = Vec::new();
        expected.extend_from_slice(&[0u8; 31]);
        expected.push(1);
        expected.extend_from_slice(&[0u8; 31]);
        expected.push(2);
        expected.extend_from_slice(&9u64.to_be_bytes());
        expected.extend_from_slice(&1_700_000_000u64.to_be_bytes());
        expected.extend_from_slice(&31337u64.to_be_bytes());
        expected.extend_from_slice(b"zkperp-test-rollup-1");
        expected.extend_from_slice(&[0xff; 15]);
        expected.push(0xfe);
        expected.extend_from_slice(&(33u32 + 73 + 10).to_be_bytes());
        expected.push(WithdrawalRecord::KIND);
        expected.extend_from_slice(&7u32.to_be_bytes());
        expected.extend_from_slice(&[0xab; 20]);
        expected.extend_from_slice(&5u64.to_be_bytes());
        expected.extend_from_slice(&[PubData::NOOP, 0, 70]);
        expected.extend_from_slice(&[0u8; 70]);
        expected.extend_from_slice(&[MarkPriceRecord::KIND, 1]);
        expected.extend_from_slice(&9u64.to_be_bytes());
        expected.extend_from_slice(&1u32.to_be_bytes());
        expected.extend_from_slice(&[0x01; 32]);
        expected.extend_from_slice(&[0u8; 14]);
        expected.extend_from_slice(&[0x01, 0x02]);
        expected.extend_from_slice(&[0x03; 32]);
        assert_eq!(bytes, expected);
        for r in sample().data() {
            let mut one = Vec::new();
            r.encode(&mut one);
            assert_eq!(one.len(), r.encoded_len());
        }
    }

    #[test]
    fn a_reader_parses_what_it_needs_and_refuses_a_bad_layout() {
        let data = sample();
        let bytes = data.to_bytes();
        let view = PublicDataView::parse(&bytes).expect("parses");
        assert_eq!(view.old_root, data.old_root);
        assert_eq!(view.new_root, data.new_root);
        assert_eq!(view.batch_number, 9);
        assert_eq!(view.timestamp, 1_700_000_000);
        assert_eq!(view.domain, data.domain);
        assert_eq!(view.rho, data.rho);
        assert_eq!(view.records.len(), 33 + 73 + 10);
        assert_eq!(view.blobs, data.blobs);
        for cut in [0, 100, bytes.len() - 1] {
            assert_eq!(
                PublicDataView::parse(&bytes[..cut]),
                Err(PublicDataError::Length(cut))
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(PublicDataView::parse(&longer).is_err());
        let mut big_root = bytes;
        big_root[32..64].copy_from_slice(&[0xff; 32]);
        assert_eq!(
            PublicDataView::parse(&big_root),
            Err(PublicDataError::Root("new"))
        );
    }

    #[test]
    fn commitment_is_the_masked_sha256() {
        use sha2::{Digest, Sha256};
        let bytes = sample().to_bytes();
        let digest = Sha256::digest(&bytes);
        let c = fr_to_be_bytes(&sample().commitment());
        assert_eq!(c[0], digest[0] & 0x1f);
        assert_eq!(c[1..], digest[1..]);
        let mut changed = sample();
        changed.blobs[0].y[31] = 4;
        assert_ne!(changed.commitment(), sample().commitment());
    }
}
