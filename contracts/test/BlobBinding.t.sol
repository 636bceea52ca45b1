// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Test} from "./utils/Test.sol";
import {BlobBinding} from "../src/BlobBinding.sol";

/// Exposes BlobBinding's internal functions as external calls.
contract BlobBindingHarness {
    function versionedHash(uint256 index) external view returns (bytes32) {
        return BlobBinding.versionedHash(index);
    }

    function verifyOpening(bytes32 vh, uint256 z, uint256 y, bytes calldata commitment, bytes calldata proof)
        external
        view
    {
        BlobBinding.verifyOpening(vh, z, y, commitment, proof);
    }

    /// The rollup's use: blob `index` of this transaction opens to `y` at `z`.
    function bind(uint256 index, uint256 z, uint256 y, bytes calldata commitment, bytes calldata proof)
        external
        view
        returns (bytes32 vh)
    {
        vh = BlobBinding.versionedHash(index);
        BlobBinding.verifyOpening(vh, z, y, commitment, proof);
    }

    /// The gas of one verifyOpening, measured around the library call (no external-call cost).
    function verifyOpeningGas(bytes32 vh, uint256 z, uint256 y, bytes calldata commitment, bytes calldata proof)
        external
        view
        returns (uint256 used)
    {
        used = gasleft();
        BlobBinding.verifyOpening(vh, z, y, commitment, proof);
        used -= gasleft();
    }
}

/// Real KZG openings, checked by forge's point-evaluation precompile against the blob hashes
/// the transaction carries (`vm.blobhashes`). The three blobs (5, 300 and 4,096 elements),
/// their c-kzg commitments, versioned hashes and opening proofs at the challenge z come from
/// `test/data/blob_binding.json`, written by `state/tests/golden_blob.rs` (regenerate with
/// `ZKPERP_BLESS=1 cargo test -p zkperp-state --test golden_blob`).
///
/// A failed opening consumes all the gas forwarded to the precompile (63/64 of what is left,
/// as for any precompile failure), so the calls expected to fail there get FAILING_CALL_GAS:
/// without a cap each one would burn ~31/32 of the test's remaining gas.
contract BlobBindingTest is Test {
    string constant FILE = "test/data/blob_binding.json";
    uint256 constant CASES = 3;
    /// Ample for a valid opening (~50,500 gas inside the harness).
    uint256 constant FAILING_CALL_GAS = 200_000;
    uint256 constant BLS_MODULUS = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001;

    struct Case {
        bytes32 vh;
        uint256 z;
        uint256 y;
        bytes commitment;
        bytes proof;
    }

    BlobBindingHarness h;
    Case[CASES] cases;

    function setUp() public {
        h = new BlobBindingHarness();
        string memory json = vm.readFile(FILE);
        for (uint256 i = 0; i < CASES; ++i) {
            string memory c = string.concat(".cases[", vm.toString(i), "]");
            cases[i] = Case({
                vh: vm.parseJsonBytes32(json, string.concat(c, ".versioned_hash")),
                z: uint256(vm.parseJsonBytes32(json, string.concat(c, ".z"))),
                y: uint256(vm.parseJsonBytes32(json, string.concat(c, ".y"))),
                commitment: vm.parseJsonBytes(json, string.concat(c, ".kzg_commitment")),
                proof: vm.parseJsonBytes(json, string.concat(c, ".kzg_proof"))
            });
        }
    }

    /// The transaction carries the three blobs, case i as blob i.
    function carryBlobs() internal {
        bytes32[] memory hashes = new bytes32[](CASES);
        for (uint256 i = 0; i < CASES; ++i) {
            hashes[i] = cases[i].vh;
        }
        vm.blobhashes(hashes);
    }

    function failed(bytes32 vh) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(BlobBinding.BlobOpeningFailed.selector, vh);
    }

    function test_fixtureVersionedHashIsSha256OfCommitment() public view {
        for (uint256 i = 0; i < CASES; ++i) {
            Case storage c = cases[i];
            assertEq(c.commitment.length, 48, "commitment length");
            assertEq(c.proof.length, 48, "proof length");
            assertTrue(c.z < BLS_MODULUS && c.y < BLS_MODULUS, "canonical z, y");
            bytes32 expected = (sha256(c.commitment) & ~bytes32(uint256(0xff) << 248)) | bytes32(uint256(1) << 248);
            assertEq(c.vh, expected, "0x01 || sha256(commitment)[1:]");
        }
    }

    function test_eachCaseVerifies() public {
        carryBlobs();
        for (uint256 i = 0; i < CASES; ++i) {
            Case storage c = cases[i];
            bytes32 vh = h.versionedHash(i);
            assertEq(vh, c.vh, "blobhash(i)");
            h.verifyOpening(vh, c.z, c.y, c.commitment, c.proof);
            // The failing tests' gas cap is ample: a refusal under it is the data's, not gas.
            h.verifyOpening{gas: FAILING_CALL_GAS}(vh, c.z, c.y, c.commitment, c.proof);
            assertEq(h.bind(i, c.z, c.y, c.commitment, c.proof), c.vh, "bind");
        }
    }

    function test_wrongYFails() public {
        carryBlobs();
        for (uint256 i = 0; i < CASES; ++i) {
            Case storage c = cases[i];
            bytes32 vh = h.versionedHash(i);
            vm.expectRevert(failed(vh));
            h.verifyOpening{gas: FAILING_CALL_GAS}(vh, c.z, addmod(c.y, 1, BLS_MODULUS), c.commitment, c.proof);
        }
    }

    function test_otherZFails() public {
        carryBlobs();
        for (uint256 i = 0; i < CASES; ++i) {
            Case storage c = cases[i];
            bytes32 vh = h.versionedHash(i);
            vm.expectRevert(failed(vh));
            h.verifyOpening{gas: FAILING_CALL_GAS}(vh, cases[(i + 1) % CASES].z, c.y, c.commitment, c.proof);
        }
    }

    /// `y + r` names the same scalar as `y` (the opening is otherwise valid), but the precompile
    /// takes canonical scalars only.
    function test_nonCanonicalYFails() public {
        carryBlobs();
        for (uint256 i = 0; i < CASES; ++i) {
            Case storage c = cases[i];
            bytes32 vh = h.versionedHash(i);
            vm.expectRevert(failed(vh));
            h.verifyOpening{gas: FAILING_CALL_GAS}(vh, c.z, c.y + BLS_MODULUS, c.commitment, c.proof);
        }
    }

    /// `z + r` names the same point as `z`: refused as non-canonical.
    function test_nonCanonicalZFails() public {
        carryBlobs();
        Case storage c = cases[0];
        bytes32 vh = h.versionedHash(0);
        vm.expectRevert(failed(vh));
        h.verifyOpening{gas: FAILING_CALL_GAS}(vh, c.z + BLS_MODULUS, c.y, c.commitment, c.proof);
    }

    /// The precompile binds the commitment to the versioned hash (sha256): another blob's
    /// commitment, with its own valid proof, z and y, does not pass under this blob's hash.
    function test_otherCommitmentFails() public {
        carryBlobs();
        for (uint256 i = 0; i < CASES; ++i) {
            bytes32 vh = h.versionedHash(i);
            Case storage other = cases[(i + 1) % CASES];
            vm.expectRevert(failed(vh));
            h.verifyOpening{gas: FAILING_CALL_GAS}(vh, other.z, other.y, other.commitment, other.proof);
        }
    }

    function test_otherProofFails() public {
        carryBlobs();
        for (uint256 i = 0; i < CASES; ++i) {
            Case storage c = cases[i];
            bytes32 vh = h.versionedHash(i);
            vm.expectRevert(failed(vh));
            h.verifyOpening{gas: FAILING_CALL_GAS}(vh, c.z, c.y, c.commitment, cases[(i + 1) % CASES].proof);
        }
    }

    /// A blob the transaction does not carry has no versioned hash: blobhash is zero past the
    /// transaction's blobs, and in a transaction without blobs.
    function test_missingBlobReverts() public {
        vm.expectRevert(abi.encodeWithSelector(BlobBinding.NoBlob.selector, 0));
        h.versionedHash(0);
        carryBlobs();
        vm.expectRevert(abi.encodeWithSelector(BlobBinding.NoBlob.selector, CASES));
        h.versionedHash(CASES);
        Case storage c = cases[0];
        vm.expectRevert(abi.encodeWithSelector(BlobBinding.NoBlob.selector, CASES));
        h.bind(CASES, c.z, c.y, c.commitment, c.proof);
    }

    function test_badKzgLengthReverts() public {
        carryBlobs();
        Case storage c = cases[0];
        bytes32 vh = h.versionedHash(0);
        bytes memory short = new bytes(47);
        for (uint256 k = 0; k < 47; ++k) {
            short[k] = c.commitment[k];
        }
        vm.expectRevert(abi.encodeWithSelector(BlobBinding.BadKzgLength.selector, 47, 48));
        h.verifyOpening(vh, c.z, c.y, short, c.proof);
        bytes memory long = bytes.concat(c.proof, hex"00");
        vm.expectRevert(abi.encodeWithSelector(BlobBinding.BadKzgLength.selector, 48, 49));
        h.verifyOpening(vh, c.z, c.y, c.commitment, long);
    }

    /// Logs the gas of one verifyOpening (the library call alone: 50,000 for the precompile,
    /// plus the input's assembly and checks). Only a floor is asserted.
    function test_gas_verifyOpening() public {
        carryBlobs();
        Case storage c = cases[2];
        bytes32 vh = h.versionedHash(2);
        uint256 used = h.verifyOpeningGas(vh, c.z, c.y, c.commitment, c.proof);
        emit log_named_uint("verifyOpening gas", used);
        assertGe(used, 50_000, "the precompile's fixed price");
    }
}
