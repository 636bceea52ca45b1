// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Test} from "./utils/Test.sol";
import {TestKey} from "./utils/TestKey.sol";
import {ProofFixture} from "./utils/ProofFixture.sol";
import {Rollup} from "../src/Rollup.sol";
import {TestToken} from "../src/TestToken.sol";
import {IVerifier} from "../src/IVerifier.sol";
import {Groth16Verifier} from "../src/Groth16Verifier.sol";

/// A real batch proof made by the prover crate (`test/data/batch_proof.json`, written by
/// `prover/tests/prove.rs`; regenerate with `ZKPERP_BLESS=1 cargo test -p zkperp-prover --test
/// prove`): batch 1 from genesis (two markets priced, two deposits creating accounts), proven
/// with arkworks' Groth16 for the shape `o2-d2` and verified here by the verifier contract with
/// the key the prover generated.
contract BatchProofTest is Test {
    string constant FILE = "test/data/batch_proof.json";
    address constant OPERATOR = address(0x0E0E);
    uint256 constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 constant Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583;

    string json;
    TestToken token;
    Rollup rollup;
    Groth16Verifier verifier;
    bytes pubdata;
    uint256[8] proof;
    /// The batch's KZG commitments and openings (its blobs ride in every test transaction).
    bytes kzg;

    function setUp() public {
        json = vm.readFile(FILE);
        verifier = ProofFixture.verifier(json);
        token = new TestToken();
        IVerifier[] memory shapes = new IVerifier[](1);
        shapes[0] = verifier;
        rollup = ProofFixture.deployRollup(
            ProofFixture.config(
                token, OPERATOR, vm.parseJsonUint(json, ".old_root"), 2, shapes, TestKey.deploy(TestKey.make(6, 202))
            )
        );
        pubdata = vm.parseJsonBytes(json, ".pubdata");
        proof = ProofFixture.proof(json);
        vm.warp(vm.parseJsonUint(json, ".timestamp") + 1);
        ProofFixture.queueDeposits(json, token, rollup);
    }

    /// Submits in a transaction carrying the batch's blobs (BLOBHASH reads a test's own
    /// transaction: set per test, not in setUp).
    function submit(bytes memory data, uint256[8] memory p) internal {
        kzg = ProofFixture.carryBlobs(json);
        vm.prank(OPERATOR);
        rollup.submitBatch(0, data, p, kzg);
    }

    function test_realProof_isAcceptedAndMovesTheRoot() public {
        uint256[] memory input = vm.parseJsonUintArray(json, ".inputs");
        assertTrue(verifier.verifyProof(proof, input), "the verifier accepts the prover's proof");
        submit(pubdata, proof);
        assertEq(rollup.stateRoot(), vm.parseJsonUint(json, ".new_root"), "new root");
        assertEq(rollup.batchCount(), 1, "batch count");
        assertEq(rollup.depositsConsumed(), 2, "deposits consumed");
    }

    function test_realProof_failsWithTheInputChanged() public {
        uint256[] memory input = vm.parseJsonUintArray(json, ".inputs");
        input[0] += 1;
        assertFalse(verifier.verifyProof(proof, input), "input + 1");
        input[0] += R - 1;
        assertFalse(verifier.verifyProof(proof, input), "input + R: refused, not reduced");
        uint256[] memory two = new uint256[](2);
        assertFalse(verifier.verifyProof(proof, two), "wrong input count");
    }

    /// Any public-data byte changed changes the commitment the contract recomputes, and the
    /// proof no longer verifies: header, records and data-availability entries alike.
    function test_realProof_failsWithAnyPubdataByteChanged() public {
        uint256[6] memory offsets = [uint256(5), 40, 70, 90, 150, pubdata.length - 1];
        for (uint256 i = 0; i < offsets.length; ++i) {
            bytes memory changed = bytes.concat(pubdata);
            changed[offsets[i]] = bytes1(uint8(changed[offsets[i]]) ^ 1);
            vm.prank(OPERATOR);
            vm.expectRevert(Rollup.InvalidProof.selector);
            rollup.submitBatch(0, changed, proof, kzg);
        }
    }

    function test_realProof_refusesTamperedProofs() public {
        for (uint256 i = 0; i < 8; ++i) {
            uint256[8] memory p = proof;
            p[i] = (p[i] + 1) % Q;
            vm.prank(OPERATOR);
            try rollup.submitBatch{gas: 5_000_000}(0, pubdata, p, kzg) {
                revert(string.concat("tampered coordinate accepted: ", vm.toString(i)));
            } catch (bytes memory reason) {
                assertEq(reason, abi.encodeWithSelector(Rollup.InvalidProof.selector), vm.toString(i));
            }
        }
        uint256[8] memory outside = proof;
        outside[0] += Q;
        vm.prank(OPERATOR);
        vm.expectRevert(Rollup.InvalidProof.selector);
        rollup.submitBatch(0, pubdata, outside, kzg);
    }

    /// Groth16 proofs are malleable: `(-A, -B, C)` proves the same statement. It can never apply
    /// a batch twice: the root and the batch number have moved on.
    function test_realProof_malleatedCannotReapply() public {
        uint256[8] memory m = TestKey.malleate(proof);
        uint256[] memory input = vm.parseJsonUintArray(json, ".inputs");
        assertTrue(verifier.verifyProof(m, input), "the same statement");
        submit(pubdata, proof);
        bytes memory refusal = abi.encodeWithSelector(
            Rollup.WrongOldRoot.selector, rollup.stateRoot(), vm.parseJsonUint(json, ".old_root")
        );
        vm.prank(OPERATOR);
        vm.expectRevert(refusal);
        rollup.submitBatch(0, pubdata, m, kzg);
    }
}
