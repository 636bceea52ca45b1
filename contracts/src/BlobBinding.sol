// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/// @title Binds an EIP-4844 blob to the batch proof (issue 18, data availability v2)
/// @notice The batch proof outputs, per blob, a versioned hash `vh`, a point `z` and a value
/// `y`: the blob's polynomial evaluates to `y` at `z`. The contract checks that claim against
/// the blob the transaction really carried:
///
///   1. `vh` is read with `blobhash(i)` (BLOBHASH, EIP-4844), never from calldata: only a blob
///      that rode in this transaction has its versioned hash there, and the consensus layer
///      keeps the blob available for the blob retention period;
///   2. the point-evaluation precompile (address 0x0a) checks a KZG opening of the blob's
///      commitment at `z` to `y`, and that `vh` is the commitment's versioned hash.
///
/// EIP-4844 facts relied on:
///   - versioned hash = `0x01 || sha256(commitment)[1:]` (VERSIONED_HASH_VERSION_KZG = 0x01),
///     commitment a 48-byte compressed BLS12-381 G1 point; the precompile recomputes it from
///     the commitment it is given and fails if it differs from `vh`;
///   - input: `vh (32) | z (32, BE) | y (32, BE) | commitment (48) | proof (48)`, 192 bytes
///     exactly; `z` and `y` must be canonical scalars of BLS12-381 (below BLS_MODULUS): the
///     precompile itself fails on `z >= BLS_MODULUS` or `y >= BLS_MODULUS`, so a proof cannot
///     name `y + BLS_MODULUS` for `y`;
///   - a fixed price of 50,000 gas; on success it returns 64 bytes,
///     `FIELD_ELEMENTS_PER_BLOB (4096) | BLS_MODULUS`, both 32-byte big-endian; on failure the
///     call fails (all the gas forwarded to it is consumed, nothing is returned).
///
/// Internal functions only, to be inlined into the rollup (which is near the 24,576-byte
/// limit).
library BlobBinding {
    /// The point-evaluation precompile's address (EIP-4844), as a number: inline assembly takes
    /// number constants only.
    uint256 internal constant POINT_EVALUATION = 0x0a;
    /// Field elements per blob, the first word the precompile returns on success.
    uint256 internal constant FIELD_ELEMENTS_PER_BLOB = 4096;
    /// BLS12-381's scalar field r, the second word the precompile returns on success.
    uint256 internal constant BLS_MODULUS =
        52435875175126190479447740508185965837690552500527637822603658699938581184513;
    /// KZG commitments and proofs are compressed G1 points.
    uint256 internal constant G1_COMPRESSED_LEN = 48;

    /// The transaction carries no blob at `index` (`blobhash(index)` is zero).
    error NoBlob(uint256 index);
    /// A KZG commitment or proof is not 48 bytes.
    error BadKzgLength(uint256 commitmentLength, uint256 proofLength);
    /// The precompile refused the opening: wrong `y`, `z` or proof, a commitment whose versioned
    /// hash is not `versionedHash`, a non-canonical `z` or `y`, or an invalid point.
    error BlobOpeningFailed(bytes32 versionedHash);

    /// @notice The versioned hash of the transaction's blob `index`, from BLOBHASH: the proof
    /// that this blob rode in this transaction.
    /// @dev Reverts with NoBlob when the transaction has no blob at `index` (BLOBHASH is zero
    /// then; a real versioned hash starts with 0x01, so it is never zero).
    function versionedHash(uint256 index) internal view returns (bytes32 vh) {
        vh = blobhash(index);
        if (vh == 0) revert NoBlob(index);
    }

    /// @notice Checks with the point-evaluation precompile that the blob whose versioned hash
    /// is `vh` evaluates to `y` at `z`, `commitment` being its KZG commitment and `proof` the
    /// opening proof. Reverts with BlobOpeningFailed unless the precompile succeeds and returns
    /// `FIELD_ELEMENTS_PER_BLOB | BLS_MODULUS`.
    /// @dev `vh` must come from `versionedHash` (BLOBHASH), never from calldata. `z` and `y`
    /// at or above BLS_MODULUS are refused by the precompile (non-canonical). Costs the
    /// precompile's 50,000 gas plus a few hundred.
    function verifyOpening(bytes32 vh, uint256 z, uint256 y, bytes calldata commitment, bytes calldata proof)
        internal
        view
    {
        if (commitment.length != G1_COMPRESSED_LEN || proof.length != G1_COMPRESSED_LEN) {
            revert BadKzgLength(commitment.length, proof.length);
        }
        bool ok;
        assembly ("memory-safe") {
            // The 192-byte input in scratch memory past the free pointer (not reserved: nothing
            // else allocates before it is read): vh | z | y | commitment | proof.
            let m := mload(0x40)
            mstore(m, vh)
            mstore(add(m, 0x20), z)
            mstore(add(m, 0x40), y)
            calldatacopy(add(m, 0x60), commitment.offset, 48)
            calldatacopy(add(m, 0x90), proof.offset, 48)
            // The 64-byte output over the input's first two words. Statements run in order (an
            // expression's arguments run right to left, so the call is not nested in the check).
            // All the gas is forwarded, not 50,000: a hard fork may reprice the precompile and
            // this code is immutable. The price: a refused opening burns 63/64 of the gas left
            // (precompile failures consume what they were given), in a transaction that reverts.
            let success := staticcall(gas(), POINT_EVALUATION, m, 0xc0, m, 0x40)
            // Success alone is not enough: a call to an address without code (a chain without
            // the precompile) also succeeds, returning nothing. So the return must be exactly
            // the 64 bytes the precompile returns on a valid opening.
            ok := and(
                and(success, eq(returndatasize(), 0x40)),
                and(eq(mload(m), FIELD_ELEMENTS_PER_BLOB), eq(mload(add(m, 0x20)), BLS_MODULUS))
            )
        }
        if (!ok) revert BlobOpeningFailed(vh);
    }
}
