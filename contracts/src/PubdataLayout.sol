// SPDX-License-Identifier: UNLICENSED
// Generated from state/src/layout.rs by `ZKPERP_BLESS=1 cargo test -p zkperp-state --test layout`: do not edit.
pragma solidity 0.8.37;

/// The public data's layout (docs/CONTRACTS.md): each record's length, and each field's
/// offset from the record's first byte and width in bytes. Big-endian throughout.
abstract contract PubdataLayout {
    uint8 internal constant KIND_NOOP = 0x00;
    uint8 internal constant KIND_DEPOSIT = 0x01;
    uint8 internal constant KIND_WITHDRAWAL = 0x02;
    uint8 internal constant KIND_FORCED_WITHDRAWAL = 0x03;
    uint8 internal constant KIND_MARK_PRICE = 0x04;
    uint8 internal constant KIND_FUNDING_INDEX = 0x05;
    uint8 internal constant KIND_DEPOSIT_REFUNDED = 0x06;
    uint8 internal constant KIND_FORCED_CANCEL = 0x07;
    uint8 internal constant KIND_FORCED_TRADE = 0x08;

    /// The batch header; the records follow it. `RHO` keys the batch's salt steps: the contract does not read it, wallets do.
    uint256 internal constant HEADER_LEN = 128;
    uint256 internal constant HEADER_OLD_ROOT = 0;
    uint256 internal constant HEADER_OLD_ROOT_BYTES = 32;
    uint256 internal constant HEADER_NEW_ROOT = 32;
    uint256 internal constant HEADER_NEW_ROOT_BYTES = 32;
    uint256 internal constant HEADER_BATCH_NUMBER = 64;
    uint256 internal constant HEADER_BATCH_NUMBER_BYTES = 8;
    uint256 internal constant HEADER_TIMESTAMP = 72;
    uint256 internal constant HEADER_TIMESTAMP_BYTES = 8;
    uint256 internal constant HEADER_CHAIN_ID = 80;
    uint256 internal constant HEADER_CHAIN_ID_BYTES = 8;
    uint256 internal constant HEADER_ROLLUP = 88;
    uint256 internal constant HEADER_ROLLUP_BYTES = 20;
    uint256 internal constant HEADER_RHO = 108;
    uint256 internal constant HEADER_RHO_BYTES = 16;
    uint256 internal constant HEADER_RECORD_BYTES = 124;
    uint256 internal constant HEADER_RECORD_BYTES_BYTES = 4;

    /// An unused slot: its kind, then the count of zero bytes that follow.
    uint256 internal constant NOOP_LEN = 3;
    uint256 internal constant NOOP_KIND = 0;
    uint256 internal constant NOOP_KIND_BYTES = 1;
    uint256 internal constant NOOP_REST = 1;
    uint256 internal constant NOOP_REST_BYTES = 2;

    /// A deposit consumed from the L1 queue, credited (0x01) or refunded (0x06); ACCOUNT is u32::MAX for a new account.
    uint256 internal constant DEPOSIT_LEN = 73;
    uint256 internal constant DEPOSIT_KIND = 0;
    uint256 internal constant DEPOSIT_KIND_BYTES = 1;
    uint256 internal constant DEPOSIT_INDEX = 1;
    uint256 internal constant DEPOSIT_INDEX_BYTES = 8;
    uint256 internal constant DEPOSIT_L1 = 9;
    uint256 internal constant DEPOSIT_L1_BYTES = 20;
    uint256 internal constant DEPOSIT_KEY = 29;
    uint256 internal constant DEPOSIT_KEY_BYTES = 32;
    uint256 internal constant DEPOSIT_ACCOUNT = 61;
    uint256 internal constant DEPOSIT_ACCOUNT_BYTES = 4;
    uint256 internal constant DEPOSIT_AMOUNT = 65;
    uint256 internal constant DEPOSIT_AMOUNT_BYTES = 8;

    /// A withdrawal to the account's L1 owner.
    uint256 internal constant WITHDRAWAL_LEN = 33;
    uint256 internal constant WITHDRAWAL_KIND = 0;
    uint256 internal constant WITHDRAWAL_KIND_BYTES = 1;
    uint256 internal constant WITHDRAWAL_ACCOUNT = 1;
    uint256 internal constant WITHDRAWAL_ACCOUNT_BYTES = 4;
    uint256 internal constant WITHDRAWAL_L1 = 5;
    uint256 internal constant WITHDRAWAL_L1_BYTES = 20;
    uint256 internal constant WITHDRAWAL_AMOUNT = 25;
    uint256 internal constant WITHDRAWAL_AMOUNT_BYTES = 8;

    /// The answer to a forced withdrawal request: what it asked, and what was paid.
    uint256 internal constant FORCED_WITHDRAWAL_LEN = 49;
    uint256 internal constant FORCED_WITHDRAWAL_KIND = 0;
    uint256 internal constant FORCED_WITHDRAWAL_KIND_BYTES = 1;
    uint256 internal constant FORCED_WITHDRAWAL_INDEX = 1;
    uint256 internal constant FORCED_WITHDRAWAL_INDEX_BYTES = 8;
    uint256 internal constant FORCED_WITHDRAWAL_ACCOUNT = 9;
    uint256 internal constant FORCED_WITHDRAWAL_ACCOUNT_BYTES = 4;
    uint256 internal constant FORCED_WITHDRAWAL_REQUESTER = 13;
    uint256 internal constant FORCED_WITHDRAWAL_REQUESTER_BYTES = 20;
    uint256 internal constant FORCED_WITHDRAWAL_AMOUNT = 33;
    uint256 internal constant FORCED_WITHDRAWAL_AMOUNT_BYTES = 8;
    uint256 internal constant FORCED_WITHDRAWAL_PAID = 41;
    uint256 internal constant FORCED_WITHDRAWAL_PAID_BYTES = 8;

    /// The answer to a forced cancel: SERVED is 1 (the order floor was raised) or 0.
    uint256 internal constant FORCED_CANCEL_LEN = 42;
    uint256 internal constant FORCED_CANCEL_KIND = 0;
    uint256 internal constant FORCED_CANCEL_KIND_BYTES = 1;
    uint256 internal constant FORCED_CANCEL_INDEX = 1;
    uint256 internal constant FORCED_CANCEL_INDEX_BYTES = 8;
    uint256 internal constant FORCED_CANCEL_ACCOUNT = 9;
    uint256 internal constant FORCED_CANCEL_ACCOUNT_BYTES = 4;
    uint256 internal constant FORCED_CANCEL_REQUESTER = 13;
    uint256 internal constant FORCED_CANCEL_REQUESTER_BYTES = 20;
    uint256 internal constant FORCED_CANCEL_ORDER_ID = 33;
    uint256 internal constant FORCED_CANCEL_ORDER_ID_BYTES = 8;
    uint256 internal constant FORCED_CANCEL_SERVED = 41;
    uint256 internal constant FORCED_CANCEL_SERVED_BYTES = 1;

    /// The answer to a forced trade: the request's terms, and SERVED 1 (made in L2) or 0.
    uint256 internal constant FORCED_TRADE_LEN = 76;
    uint256 internal constant FORCED_TRADE_KIND = 0;
    uint256 internal constant FORCED_TRADE_KIND_BYTES = 1;
    uint256 internal constant FORCED_TRADE_INDEX = 1;
    uint256 internal constant FORCED_TRADE_INDEX_BYTES = 8;
    uint256 internal constant FORCED_TRADE_ACCOUNT_A = 9;
    uint256 internal constant FORCED_TRADE_ACCOUNT_A_BYTES = 4;
    uint256 internal constant FORCED_TRADE_ACCOUNT_B = 13;
    uint256 internal constant FORCED_TRADE_ACCOUNT_B_BYTES = 4;
    uint256 internal constant FORCED_TRADE_REQUESTER = 17;
    uint256 internal constant FORCED_TRADE_REQUESTER_BYTES = 20;
    uint256 internal constant FORCED_TRADE_SIGNER = 37;
    uint256 internal constant FORCED_TRADE_SIGNER_BYTES = 20;
    uint256 internal constant FORCED_TRADE_MARKET = 57;
    uint256 internal constant FORCED_TRADE_MARKET_BYTES = 1;
    uint256 internal constant FORCED_TRADE_A_BUYS = 58;
    uint256 internal constant FORCED_TRADE_A_BUYS_BYTES = 1;
    uint256 internal constant FORCED_TRADE_SIZE = 59;
    uint256 internal constant FORCED_TRADE_SIZE_BYTES = 8;
    uint256 internal constant FORCED_TRADE_PRICE = 67;
    uint256 internal constant FORCED_TRADE_PRICE_BYTES = 8;
    uint256 internal constant FORCED_TRADE_SERVED = 75;
    uint256 internal constant FORCED_TRADE_SERVED_BYTES = 1;

    /// A market's new mark price (0x04) or funding index (0x05, two's complement).
    uint256 internal constant MARKET_LEN = 10;
    uint256 internal constant MARKET_KIND = 0;
    uint256 internal constant MARKET_KIND_BYTES = 1;
    uint256 internal constant MARKET_ID = 1;
    uint256 internal constant MARKET_ID_BYTES = 1;
    uint256 internal constant MARKET_VALUE = 2;
    uint256 internal constant MARKET_VALUE_BYTES = 8;

    /// After the records: the number of blob claims that follow.
    uint256 internal constant BLOBS_LEN = 4;
    uint256 internal constant BLOBS_COUNT = 0;
    uint256 internal constant BLOBS_COUNT_BYTES = 4;

    /// One blob's claim: its versioned hash, and its polynomial's value Y at Z (the proof computed both from the records it proved).
    uint256 internal constant BLOB_CLAIM_LEN = 80;
    uint256 internal constant BLOB_CLAIM_VERSIONED_HASH = 0;
    uint256 internal constant BLOB_CLAIM_VERSIONED_HASH_BYTES = 32;
    uint256 internal constant BLOB_CLAIM_Z = 32;
    uint256 internal constant BLOB_CLAIM_Z_BYTES = 16;
    uint256 internal constant BLOB_CLAIM_Y = 48;
    uint256 internal constant BLOB_CLAIM_Y_BYTES = 32;
}
