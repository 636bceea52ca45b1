// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Test} from "./utils/Test.sol";
import {Pubdata} from "./utils/Pubdata.sol";
import {PubdataLayout} from "../src/PubdataLayout.sol";

/// The tests' record builders (utils/Pubdata.sol) write what the one layout table says
/// (src/PubdataLayout.sol, generated from state/src/layout.rs): each record's kind, its length,
/// and every field where the table puts it. Rollup reads the same constants, so a builder that
/// drifted from the table would make every other test here test the wrong bytes.
contract LayoutTest is Test, PubdataLayout {
    /// The big-endian integer of `size` bytes of `data` at `at`.
    function field(bytes memory data, uint256 at, uint256 size) internal pure returns (uint256 v) {
        require(at + size <= data.length, "field out of the record");
        for (uint256 i = 0; i < size; ++i) {
            v = (v << 8) | uint8(data[at + i]);
        }
    }

    function kindAndLength(bytes memory r, uint8 kind, uint256 len, string memory what) internal pure {
        assertEq(uint256(uint8(r[0])), kind, what);
        assertEq(r.length, len, what);
    }

    function test_theRecordBuildersFollowTheTable() public pure {
        address l1 = address(0xA11CE);
        bytes memory r = Pubdata.deposit(7, l1, bytes32(uint256(0x5eed)), 9, 1234);
        kindAndLength(r, KIND_DEPOSIT, DEPOSIT_LEN, "deposit");
        assertEq(field(r, DEPOSIT_INDEX, DEPOSIT_INDEX_BYTES), 7, "deposit index");
        assertEq(field(r, DEPOSIT_L1, DEPOSIT_L1_BYTES), uint160(l1), "deposit l1");
        assertEq(field(r, DEPOSIT_KEY, DEPOSIT_KEY_BYTES), 0x5eed, "deposit key");
        assertEq(field(r, DEPOSIT_ACCOUNT, DEPOSIT_ACCOUNT_BYTES), 9, "deposit account");
        assertEq(field(r, DEPOSIT_AMOUNT, DEPOSIT_AMOUNT_BYTES), 1234, "deposit amount");
        r = Pubdata.depositRefunded(7, l1, bytes32(0), 9, 1234);
        kindAndLength(r, KIND_DEPOSIT_REFUNDED, DEPOSIT_LEN, "refunded deposit");

        r = Pubdata.withdrawal(3, l1, 55);
        kindAndLength(r, KIND_WITHDRAWAL, WITHDRAWAL_LEN, "withdrawal");
        assertEq(field(r, WITHDRAWAL_ACCOUNT, WITHDRAWAL_ACCOUNT_BYTES), 3, "withdrawal account");
        assertEq(field(r, WITHDRAWAL_L1, WITHDRAWAL_L1_BYTES), uint160(l1), "withdrawal l1");
        assertEq(field(r, WITHDRAWAL_AMOUNT, WITHDRAWAL_AMOUNT_BYTES), 55, "withdrawal amount");

        r = Pubdata.forced(4, 5, l1, 66, 44);
        kindAndLength(r, KIND_FORCED_WITHDRAWAL, FORCED_WITHDRAWAL_LEN, "forced withdrawal");
        assertEq(field(r, FORCED_WITHDRAWAL_INDEX, FORCED_WITHDRAWAL_INDEX_BYTES), 4, "forced index");
        assertEq(field(r, FORCED_WITHDRAWAL_ACCOUNT, FORCED_WITHDRAWAL_ACCOUNT_BYTES), 5, "forced account");
        assertEq(field(r, FORCED_WITHDRAWAL_REQUESTER, FORCED_WITHDRAWAL_REQUESTER_BYTES), uint160(l1), "requester");
        assertEq(field(r, FORCED_WITHDRAWAL_AMOUNT, FORCED_WITHDRAWAL_AMOUNT_BYTES), 66, "forced amount");
        assertEq(field(r, FORCED_WITHDRAWAL_PAID, FORCED_WITHDRAWAL_PAID_BYTES), 44, "forced paid");

        r = Pubdata.forcedCancel(8, 2, l1, 99, 1);
        kindAndLength(r, KIND_FORCED_CANCEL, FORCED_CANCEL_LEN, "forced cancel");
        assertEq(field(r, FORCED_CANCEL_ORDER_ID, FORCED_CANCEL_ORDER_ID_BYTES), 99, "order id");
        assertEq(field(r, FORCED_CANCEL_SERVED, FORCED_CANCEL_SERVED_BYTES), 1, "cancel served");

        r = Pubdata.forcedTrade(
            Pubdata.ForcedTrade({
                index: 1,
                accountA: 2,
                accountB: 3,
                requester: l1,
                signer: address(0xB0B),
                market: 1,
                aBuys: 1,
                size: 10,
                price: 500_000,
                served: 1
            })
        );
        kindAndLength(r, KIND_FORCED_TRADE, FORCED_TRADE_LEN, "forced trade");
        assertEq(field(r, FORCED_TRADE_ACCOUNT_B, FORCED_TRADE_ACCOUNT_B_BYTES), 3, "account B");
        assertEq(field(r, FORCED_TRADE_SIGNER, FORCED_TRADE_SIGNER_BYTES), 0xB0B, "signer");
        assertEq(field(r, FORCED_TRADE_MARKET, FORCED_TRADE_MARKET_BYTES), 1, "market");
        assertEq(field(r, FORCED_TRADE_PRICE, FORCED_TRADE_PRICE_BYTES), 500_000, "price");
        assertEq(field(r, FORCED_TRADE_SERVED, FORCED_TRADE_SERVED_BYTES), 1, "trade served");

        r = Pubdata.markPrice(1, 501_000);
        kindAndLength(r, KIND_MARK_PRICE, MARKET_LEN, "mark price");
        assertEq(field(r, MARKET_ID, MARKET_ID_BYTES), 1, "market id");
        assertEq(field(r, MARKET_VALUE, MARKET_VALUE_BYTES), 501_000, "mark");
        r = Pubdata.fundingIndex(0, -3);
        kindAndLength(r, KIND_FUNDING_INDEX, MARKET_LEN, "funding index");
        assertEq(field(r, MARKET_VALUE, MARKET_VALUE_BYTES), uint64(int64(-3)), "funding, two's complement");

        r = Pubdata.noop(10);
        kindAndLength(r, KIND_NOOP, 10, "no-op");
        assertEq(field(r, NOOP_REST, NOOP_REST_BYTES), 10 - NOOP_LEN, "no-op rest");

        r = Pubdata.blobClaim(bytes32(uint256(0xB10B)), 17, 23);
        assertEq(r.length, BLOB_CLAIM_LEN, "claim length");
        assertEq(field(r, BLOB_CLAIM_VERSIONED_HASH, BLOB_CLAIM_VERSIONED_HASH_BYTES), 0xB10B, "versioned hash");
        assertEq(field(r, BLOB_CLAIM_Z, BLOB_CLAIM_Z_BYTES), 17, "z");
        assertEq(field(r, BLOB_CLAIM_Y, BLOB_CLAIM_Y_BYTES), 23, "y");
    }

    function test_theBatchBuilderFollowsTheTable() public pure {
        bytes memory records = Pubdata.markPrice(0, 1);
        bytes memory claims = Pubdata.blobClaim(bytes32(uint256(1)), 2, 3);
        bytes memory b = Pubdata.batch(11, 12, 13, 14, 15, address(0xC0FFEE), 16, records, claims);
        assertEq(b.length, HEADER_LEN + MARKET_LEN + BLOBS_LEN + BLOB_CLAIM_LEN, "batch length");
        assertEq(field(b, HEADER_OLD_ROOT, HEADER_OLD_ROOT_BYTES), 11, "old root");
        assertEq(field(b, HEADER_NEW_ROOT, HEADER_NEW_ROOT_BYTES), 12, "new root");
        assertEq(field(b, HEADER_BATCH_NUMBER, HEADER_BATCH_NUMBER_BYTES), 13, "batch number");
        assertEq(field(b, HEADER_TIMESTAMP, HEADER_TIMESTAMP_BYTES), 14, "timestamp");
        assertEq(field(b, HEADER_CHAIN_ID, HEADER_CHAIN_ID_BYTES), 15, "chain id");
        assertEq(field(b, HEADER_ROLLUP, HEADER_ROLLUP_BYTES), 0xC0FFEE, "rollup");
        assertEq(field(b, HEADER_RHO, HEADER_RHO_BYTES), 16, "rho");
        assertEq(field(b, HEADER_RECORD_BYTES, HEADER_RECORD_BYTES_BYTES), MARKET_LEN, "record bytes");
        uint256 tail = HEADER_LEN + MARKET_LEN;
        assertEq(field(b, tail + BLOBS_COUNT, BLOBS_COUNT_BYTES), 1, "blob count");
        assertEq(field(b, tail + BLOBS_LEN + BLOB_CLAIM_Z, BLOB_CLAIM_Z_BYTES), 2, "claim z");
    }
}
