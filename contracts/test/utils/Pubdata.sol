// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/// Builds batch public data exactly as the one layout table lays it out (`state/src/layout.rs`,
/// generated into `src/PubdataLayout.sol`; `test/Layout.t.sol` checks these builders against
/// it): big-endian, fixed width, `32 old root | 32 new root | 8 batch number | 8 timestamp | 8
/// chain id | 20 rollup address | 16 rho | 4 record bytes | records | 4 blob count | (32
/// versioned hash | 16 z | 32 y) per blob`. Records:
///   0x01 deposit          u64 index | address l1 | bytes32 packed key | u32 account | u64 amount
///   0x06 deposit refunded the same fields as 0x01
///   0x02 withdrawal       u32 account | address l1 | u64 amount
///   0x03 forced answer    u64 index | u32 account | address requester | u64 amount | u64 paid
///   0x04 mark price       u8 market | u64 price
///   0x05 funding index    u8 market | i64 index
///   0x07 forced cancel    u64 index | u32 account | address requester | u64 order id | u8 served
///   0x08 forced trade     u64 index | u32 account A | u32 account B | address requester |
///                         address signer | u8 market | u8 aBuys | u64 size | u64 price | u8 served
///   0x00 no-op slot       u16 n | n zero bytes (an unused slot, as long as its kind's record)
library Pubdata {
    /// The fields of a 0x08 record, in its order. `aBuys` and `served` are bytes, 1 or 0; any
    /// other value is malformed, and tests build it on purpose.
    struct ForcedTrade {
        uint64 index;
        uint32 accountA;
        uint32 accountB;
        address requester;
        address signer;
        uint8 market;
        uint8 aBuys;
        uint64 size;
        uint64 price;
        uint8 served;
    }

    /// An unused slot whose kind's records are `len` bytes long.
    function noop(uint16 len) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(0x00), uint16(len - 3), new bytes(len - 3));
    }

    /// `account` is the deposit's target: an existing account id or NEW_ACCOUNT (2^32 - 1).
    function deposit(uint64 index, address l1, bytes32 key, uint32 account, uint64 amount)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodePacked(uint8(0x01), index, l1, key, account, amount);
    }

    function depositRefunded(uint64 index, address l1, bytes32 key, uint32 account, uint64 amount)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodePacked(uint8(0x06), index, l1, key, account, amount);
    }

    function withdrawal(uint32 account, address l1, uint64 amount) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(0x02), account, l1, amount);
    }

    /// `paid`: what the answer pays the requester, 0 (refused) to `amount` (served in full).
    function forced(uint64 index, uint32 account, address requester, uint64 amount, uint64 paid)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodePacked(uint8(0x03), index, account, requester, amount, paid);
    }

    /// `served`: 1 (the order floor was raised) or 0 (refused); any other byte is malformed, and
    /// tests build it on purpose.
    function forcedCancel(uint64 index, uint32 account, address requester, uint64 orderId, uint8 served)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodePacked(uint8(0x07), index, account, requester, orderId, served);
    }

    /// 76 bytes: `0x08 | u64 index | u32 accountA | u32 accountB | address requester | address
    /// signer | u8 market | u8 aBuys | u64 size | u64 price | u8 served`.
    function forcedTrade(ForcedTrade memory t) internal pure returns (bytes memory) {
        return abi.encodePacked(
            abi.encodePacked(uint8(0x08), t.index, t.accountA, t.accountB, t.requester, t.signer),
            abi.encodePacked(t.market, t.aBuys, t.size, t.price, t.served)
        );
    }

    function markPrice(uint8 market, uint64 price) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(0x04), market, price);
    }

    function fundingIndex(uint8 market, int64 index) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(0x05), market, index);
    }

    /// One blob's claim: `32 versioned hash | 16 z | 32 y`.
    function blobClaim(bytes32 versionedHash, uint128 z, uint256 y) internal pure returns (bytes memory) {
        return abi.encodePacked(versionedHash, z, y);
    }

    /// `records` and `blobs` are concatenations of the encoders above; `chainId` and `rollup`
    /// name the deployment the batch is for (the rollup checks both). Empty `blobs` claims no
    /// blob (no real shape does: the tests of other rules use it).
    function batch(
        uint256 oldRoot,
        uint256 newRoot,
        uint64 batchNumber,
        uint64 timestamp,
        uint64 chainId,
        address rollup,
        bytes memory records,
        bytes memory blobs
    ) internal pure returns (bytes memory) {
        return batch(oldRoot, newRoot, batchNumber, timestamp, chainId, rollup, 0, records, blobs);
    }

    /// The same with the batch's `rho` (what keys its salt steps; the rollup does not read it).
    function batch(
        uint256 oldRoot,
        uint256 newRoot,
        uint64 batchNumber,
        uint64 timestamp,
        uint64 chainId,
        address rollup,
        uint128 rho,
        bytes memory records,
        bytes memory blobs
    ) internal pure returns (bytes memory) {
        require(blobs.length % 80 == 0, "blob claims");
        return abi.encodePacked(
            oldRoot,
            newRoot,
            batchNumber,
            timestamp,
            chainId,
            rollup,
            rho,
            uint32(records.length),
            records,
            uint32(blobs.length / 80),
            blobs
        );
    }

    /// The proof's public input: sha256 with the top three bits cleared.
    function commitment(bytes memory data) internal pure returns (uint256) {
        return uint256(sha256(data)) & ((1 << 253) - 1);
    }
}
