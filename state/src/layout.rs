//! The public data's layout, declared once: every record's and the header's fields, their
//! widths in bytes and so their offsets. The native encoders write through a [`Writer`] that
//! checks each field against this table, the circuit's byte builders take their widths from it
//! (`zkperp_circuits::pubdata::field_bytes`), and the contract reads the constants
//! [`solidity`] generates (`contracts/src/PubdataLayout.sol`, which `Rollup` inherits; a test
//! regenerates it and fails if the committed file differs). Golden vectors
//! (`state/tests/golden_pubdata.rs`) still pin the bytes.
//!
//! All fields are big-endian. A record's first field is its kind byte.

/// One field: its name (the Solidity constant's suffix) and width in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub width: usize,
}

/// A record's (or the header's) fields, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The Solidity constants' prefix: `<NAME>_LEN`, `<NAME>_<FIELD>` (offset) and
    /// `<NAME>_<FIELD>_BYTES` (width).
    pub name: &'static str,
    /// What the layout is, for the generated file.
    pub doc: &'static str,
    pub fields: &'static [Field],
}

const fn f(name: &'static str, width: usize) -> Field {
    Field { name, width }
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

impl Layout {
    /// Bytes of the whole record.
    pub const fn len(&self) -> usize {
        let mut total = 0;
        let mut i = 0;
        while i < self.fields.len() {
            total += self.fields[i].width;
            i += 1;
        }
        total
    }

    pub const fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    const fn index(&self, name: &str) -> usize {
        let mut i = 0;
        while i < self.fields.len() {
            if same(self.fields[i].name, name) {
                return i;
            }
            i += 1;
        }
        panic!("no such field in this layout")
    }

    /// The field's offset from the record's first byte (a name the layout lacks does not
    /// compile where the call is const, and panics otherwise: a programming error).
    pub const fn offset(&self, name: &str) -> usize {
        let end = self.index(name);
        let mut at = 0;
        let mut i = 0;
        while i < end {
            at += self.fields[i].width;
            i += 1;
        }
        at
    }

    /// The field's width in bytes.
    pub const fn width(&self, name: &str) -> usize {
        self.fields[self.index(name)].width
    }
}

/// `32 old root | 32 new root | 8 batch number | 8 timestamp | 8 chain id | 20 rollup | 16 rho |
/// 4 record bytes`, then the records.
pub const HEADER: Layout = Layout {
    name: "HEADER",
    doc: "The batch header; the records follow it. `RHO` keys the batch's salt steps: the contract does not read it, wallets do.",
    fields: &[
        f("OLD_ROOT", 32),
        f("NEW_ROOT", 32),
        f("BATCH_NUMBER", 8),
        f("TIMESTAMP", 8),
        f("CHAIN_ID", 8),
        f("ROLLUP", 20),
        f("RHO", 16),
        f("RECORD_BYTES", 4),
    ],
};

/// A slot with no transaction: `0x00 | u16 n | n zero bytes`.
pub const NOOP: Layout = Layout {
    name: "NOOP",
    doc: "An unused slot: its kind, then the count of zero bytes that follow.",
    fields: &[f("KIND", 1), f("REST", 2)],
};

/// Deposits, credited (0x01) or refunded (0x06).
pub const DEPOSIT: Layout = Layout {
    name: "DEPOSIT",
    doc: "A deposit consumed from the L1 queue, credited (0x01) or refunded (0x06); ACCOUNT is u32::MAX for a new account.",
    fields: &[
        f("KIND", 1),
        f("INDEX", 8),
        f("L1", 20),
        f("KEY", 32),
        f("ACCOUNT", 4),
        f("AMOUNT", 8),
    ],
};

pub const WITHDRAWAL: Layout = Layout {
    name: "WITHDRAWAL",
    doc: "A withdrawal to the account's L1 owner.",
    fields: &[f("KIND", 1), f("ACCOUNT", 4), f("L1", 20), f("AMOUNT", 8)],
};

pub const FORCED_WITHDRAWAL: Layout = Layout {
    name: "FORCED_WITHDRAWAL",
    doc: "The answer to a forced withdrawal request: what it asked, and what was paid.",
    fields: &[
        f("KIND", 1),
        f("INDEX", 8),
        f("ACCOUNT", 4),
        f("REQUESTER", 20),
        f("AMOUNT", 8),
        f("PAID", 8),
    ],
};

pub const FORCED_CANCEL: Layout = Layout {
    name: "FORCED_CANCEL",
    doc: "The answer to a forced cancel: SERVED is 1 (the order floor was raised) or 0.",
    fields: &[
        f("KIND", 1),
        f("INDEX", 8),
        f("ACCOUNT", 4),
        f("REQUESTER", 20),
        f("ORDER_ID", 8),
        f("SERVED", 1),
    ],
};

pub const FORCED_TRADE: Layout = Layout {
    name: "FORCED_TRADE",
    doc: "The answer to a forced trade: the request's terms, and SERVED 1 (made in L2) or 0.",
    fields: &[
        f("KIND", 1),
        f("INDEX", 8),
        f("ACCOUNT_A", 4),
        f("ACCOUNT_B", 4),
        f("REQUESTER", 20),
        f("SIGNER", 20),
        f("MARKET", 1),
        f("A_BUYS", 1),
        f("SIZE", 8),
        f("PRICE", 8),
        f("SERVED", 1),
    ],
};

/// A market's new mark price (0x04) or funding index (0x05, two's complement).
pub const MARKET: Layout = Layout {
    name: "MARKET",
    doc: "A market's new mark price (0x04) or funding index (0x05, two's complement).",
    fields: &[f("KIND", 1), f("ID", 1), f("VALUE", 8)],
};

/// After the records: the number of blobs, then one claim per blob.
pub const BLOBS: Layout = Layout {
    name: "BLOBS",
    doc: "After the records: the number of blob claims that follow.",
    fields: &[f("COUNT", 4)],
};

pub const BLOB_CLAIM: Layout = Layout {
    name: "BLOB_CLAIM",
    doc: "One blob's claim: its versioned hash, and its polynomial's value Y at Z (the proof computed both from the records it proved).",
    fields: &[f("VERSIONED_HASH", 32), f("Z", 16), f("Y", 32)],
};

/// Every layout, in the generated file's order.
pub const LAYOUTS: [&Layout; 10] = [
    &HEADER,
    &NOOP,
    &DEPOSIT,
    &WITHDRAWAL,
    &FORCED_WITHDRAWAL,
    &FORCED_CANCEL,
    &FORCED_TRADE,
    &MARKET,
    &BLOBS,
    &BLOB_CLAIM,
];

/// The kind bytes, by their Solidity names.
pub fn kinds() -> [(&'static str, u8); 9] {
    use crate::tx::{
        deposit::DepositRecord, forced_cancel::ForcedCancelRecord, forced_trade::ForcedTradeRecord,
        forced_withdrawal::ForcedWithdrawalRecord, funding_tick::FundingIndexRecord,
        oracle_tick::MarkPriceRecord, withdrawal::WithdrawalRecord,
    };
    [
        ("NOOP", crate::pubdata::PubData::NOOP),
        ("DEPOSIT", DepositRecord::CREDITED),
        ("WITHDRAWAL", WithdrawalRecord::KIND),
        ("FORCED_WITHDRAWAL", ForcedWithdrawalRecord::KIND),
        ("MARK_PRICE", MarkPriceRecord::KIND),
        ("FUNDING_INDEX", FundingIndexRecord::KIND),
        ("DEPOSIT_REFUNDED", DepositRecord::REFUNDED),
        ("FORCED_CANCEL", ForcedCancelRecord::KIND),
        ("FORCED_TRADE", ForcedTradeRecord::KIND),
    ]
}

/// Writes one record field by field, each checked against its layout: the name in order and
/// the width exact. Dropping it before every field is written is a programming error.
#[derive(Debug)]
pub struct Writer<'a> {
    layout: &'static Layout,
    out: &'a mut Vec<u8>,
    next: usize,
}

impl<'a> Writer<'a> {
    pub fn new(layout: &'static Layout, out: &'a mut Vec<u8>) -> Self {
        Writer {
            layout,
            out,
            next: 0,
        }
    }

    /// Appends field `name`'s bytes.
    pub fn put(&mut self, name: &str, bytes: &[u8]) -> &mut Self {
        let field = self.layout.fields.get(self.next);
        assert!(
            field.is_some_and(|f| f.name == name && f.width == bytes.len()),
            "{} field {name} ({} bytes) written out of its layout",
            self.layout.name,
            bytes.len()
        );
        self.out.extend_from_slice(bytes);
        self.next += 1;
        self
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_eq!(
                self.next,
                self.layout.fields.len(),
                "{} record left unfinished",
                self.layout.name
            );
        }
    }
}

/// The Solidity constants of every layout and kind: `contracts/src/PubdataLayout.sol`.
pub fn solidity() -> String {
    let mut s = String::from(
        "// SPDX-License-Identifier: UNLICENSED\n\
         // Generated from state/src/layout.rs by `ZKPERP_BLESS=1 cargo test -p zkperp-state --test layout`: do not edit.\n\
         pragma solidity 0.8.37;\n\n\
         /// The public data's layout (docs/CONTRACTS.md): each record's length, and each field's\n\
         /// offset from the record's first byte and width in bytes. Big-endian throughout.\n\
         abstract contract PubdataLayout {\n",
    );
    for (name, byte) in kinds() {
        s.push_str(&format!(
            "    uint8 internal constant KIND_{name} = 0x{byte:02x};\n"
        ));
    }
    for layout in LAYOUTS {
        s.push_str(&format!("\n    /// {}\n", layout.doc));
        s.push_str(&format!(
            "    uint256 internal constant {}_LEN = {};\n",
            layout.name,
            layout.len()
        ));
        for field in layout.fields {
            s.push_str(&format!(
                "    uint256 internal constant {}_{} = {};\n    uint256 internal constant {}_{}_BYTES = {};\n",
                layout.name,
                field.name,
                layout.offset(field.name),
                layout.name,
                field.name,
                field.width
            ));
        }
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pubdata::{BatchPublicData, L1Record};

    #[test]
    fn lengths_are_the_records_and_offsets_add_up() {
        use crate::tx::{
            deposit::DepositRecord, forced_cancel::ForcedCancelRecord,
            forced_trade::ForcedTradeRecord, forced_withdrawal::ForcedWithdrawalRecord,
            funding_tick::FundingIndexRecord, oracle_tick::MarkPriceRecord,
            withdrawal::WithdrawalRecord,
        };
        assert_eq!(HEADER.len(), BatchPublicData::HEADER_LEN);
        assert_eq!(DEPOSIT.len(), DepositRecord::LEN);
        assert_eq!(WITHDRAWAL.len(), WithdrawalRecord::LEN);
        assert_eq!(FORCED_WITHDRAWAL.len(), ForcedWithdrawalRecord::LEN);
        assert_eq!(FORCED_CANCEL.len(), ForcedCancelRecord::LEN);
        assert_eq!(FORCED_TRADE.len(), ForcedTradeRecord::LEN);
        assert_eq!(MARKET.len(), MarkPriceRecord::LEN);
        assert_eq!(MARKET.len(), FundingIndexRecord::LEN);
        assert_eq!(BLOB_CLAIM.len(), crate::blob::BlobClaim::LEN);
        assert_eq!(DEPOSIT.offset("AMOUNT"), 65);
        assert_eq!(DEPOSIT.width("KEY"), 32);
        assert_eq!(HEADER.offset("RECORD_BYTES"), 124);
        for layout in LAYOUTS {
            let last = layout.fields.last().expect("fields");
            assert_eq!(layout.offset(last.name) + last.width, layout.len());
        }
    }

    #[test]
    #[should_panic(expected = "written out of its layout")]
    fn a_field_of_the_wrong_width_is_refused() {
        let mut out = Vec::new();
        let mut w = Writer::new(&WITHDRAWAL, &mut out);
        w.put("KIND", &[2]).put("ACCOUNT", &[0; 8]);
    }

    #[test]
    #[should_panic(expected = "written out of its layout")]
    fn a_field_out_of_order_is_refused() {
        let mut out = Vec::new();
        let mut w = Writer::new(&WITHDRAWAL, &mut out);
        w.put("KIND", &[2]).put("L1", &[0; 20]);
    }
}
