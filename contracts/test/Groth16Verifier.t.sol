// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Test} from "./utils/Test.sol";
import {TestKey} from "./utils/TestKey.sol";
import {Groth16Verifier} from "../src/Groth16Verifier.sol";

/// The verifier's pairing check and its refusals, with a test key whose trapdoor is known
/// (TestKey). A proof made by the real prover replaces the happy path when fixtures exist.
contract Groth16VerifierTest is Test {
    uint256 constant R = TestKey.R;
    uint256 constant Q = TestKey.Q;

    TestKey.Key key1;
    Groth16Verifier v1;
    TestKey.Key key6;
    Groth16Verifier v6;

    function setUp() public {
        key1 = TestKey.make(1, 1);
        v1 = TestKey.deploy(key1);
        key6 = TestKey.make(6, 6);
        v6 = TestKey.deploy(key6);
    }

    function one(uint256 x) internal pure returns (uint256[] memory input) {
        input = new uint256[](1);
        input[0] = x;
    }

    function six() internal pure returns (uint256[] memory input) {
        input = new uint256[](6);
        input[0] = R - 1;
        input[1] = 0;
        input[2] = 7;
        input[3] = uint256(uint160(address(0xBEEF)));
        input[4] = 1 << 99;
        input[5] = 123456;
    }

    function test_keyHashIsTheHashOfTheConstructorArguments() public {
        uint256[2][] memory ic = new uint256[2][](key1.ic.length);
        for (uint256 i = 0; i < key1.ic.length; ++i) {
            ic[i] = TestKey.mulG1(key1.ic[i]);
        }
        uint256[2] memory alpha = TestKey.mulG1(key1.a);
        uint256[4] memory g2 = TestKey.g2();
        assertEq(v1.keyHash(), keccak256(abi.encode(alpha, g2, g2, g2, ic)), "the arguments' hash");
        assertTrue(v1.keyHash() != v6.keyHash(), "another key, another hash");
        // The same arguments deployed again: the same hash.
        assertEq(TestKey.deploy(key1).keyHash(), v1.keyHash(), "deterministic");
    }

    function test_validProofVerifies() public view {
        uint256[8] memory p = TestKey.prove(key1, one(42), 5);
        assertTrue(v1.verifyProof(p, one(42)), "one input");
        uint256[8] memory p6 = TestKey.prove(key6, six(), 9);
        assertTrue(v6.verifyProof(p6, six()), "six inputs");
        assertEq(v1.publicInputCount(), 1, "count 1");
        assertEq(v6.publicInputCount(), 6, "count 6");
    }

    function test_gas_verifyOneInput() public view {
        uint256[8] memory p = TestKey.prove(key1, one(uint256(keccak256("commitment")) >> 3), 5);
        assertTrue(v1.verifyProof(p, one(uint256(keccak256("commitment")) >> 3)), "verifies");
    }

    function test_proofForAnotherInputFails() public view {
        uint256[8] memory p = TestKey.prove(key1, one(42), 5);
        assertFalse(v1.verifyProof(p, one(43)), "other input");
        uint256[8] memory p6 = TestKey.prove(key6, six(), 9);
        for (uint256 i = 0; i < 6; ++i) {
            uint256[] memory input = six();
            input[i] = (input[i] + 1) % R;
            assertFalse(v6.verifyProof(p6, input), "one input changed");
        }
    }

    /// x + R is the same scalar to ecMul: without the range check this proof would verify.
    function test_inputAtOrAboveModulusIsRefused() public view {
        uint256[8] memory p = TestKey.prove(key1, one(42), 5);
        assertFalse(v1.verifyProof(p, one(42 + R)), "42 + R");
        uint256[8] memory p0 = TestKey.prove(key1, one(0), 5);
        assertFalse(v1.verifyProof(p0, one(R)), "R itself");
        uint256[8] memory p6 = TestKey.prove(key6, six(), 9);
        uint256[] memory input = six();
        input[0] = R - 1 + R;
        assertFalse(v6.verifyProof(p6, input), "R - 1 + R");
    }

    /// Each coordinate c replaced by c + Q (the same field element to a reducing
    /// implementation) and by Q itself: all refused, none reverts.
    function test_coordinateAtOrAboveModulusIsRefused() public view {
        uint256[8] memory p = TestKey.prove(key1, one(42), 5);
        for (uint256 i = 0; i < 8; ++i) {
            uint256[8] memory bad = p;
            bad[i] = p[i] + Q;
            assertFalse(v1.verifyProof(bad, one(42)), "c + Q");
            bad[i] = Q;
            assertFalse(v1.verifyProof(bad, one(42)), "Q");
        }
    }

    function test_wrongInputCountIsRefused() public view {
        uint256[8] memory p = TestKey.prove(key1, one(42), 5);
        uint256[] memory two = new uint256[](2);
        two[0] = 42;
        assertFalse(v1.verifyProof(p, two), "two inputs");
        assertFalse(v1.verifyProof(p, new uint256[](0)), "no input");
    }

    function test_pointOffCurveReturnsFalse() public view {
        uint256[8] memory p = TestKey.prove(key1, one(42), 5);
        p[0] = 1;
        p[1] = 3;
        assertFalse(v1.verifyProof(p, one(42)), "A off curve");
        p = TestKey.prove(key1, one(42), 5);
        p[2] = 1;
        assertFalse(v1.verifyProof(p, one(42)), "B off curve");
        p = TestKey.prove(key1, one(42), 5);
        p[6] = 0;
        p[7] = 0;
        assertFalse(v1.verifyProof(p, one(42)), "C at infinity");
    }

    /// Groth16 proofs are malleable: (-A, -B, C) verifies the same statement. The rollup does not
    /// rely on proof uniqueness (see RollupTest.test_submitBatch_malleatedProofCannotReapply).
    function test_malleatedProofStillVerifies() public view {
        uint256[8] memory p = TestKey.prove(key1, one(42), 5);
        assertTrue(v1.verifyProof(TestKey.malleate(p), one(42)), "malleated");
    }

    function test_constructorRefusesBadKeys() public {
        uint256[2] memory alpha = TestKey.mulG1(3);
        uint256[2][] memory ic = new uint256[2][](2);
        ic[0] = TestKey.mulG1(4);
        ic[1] = TestKey.mulG1(5);
        new Groth16Verifier(alpha, TestKey.g2(), TestKey.g2(), TestKey.g2(), ic);

        vm.expectRevert(Groth16Verifier.BadVerifyingKey.selector);
        new Groth16Verifier([alpha[0], alpha[1] + 1], TestKey.g2(), TestKey.g2(), TestKey.g2(), ic);

        vm.expectRevert(Groth16Verifier.BadVerifyingKey.selector);
        new Groth16Verifier([alpha[0] + Q, alpha[1]], TestKey.g2(), TestKey.g2(), TestKey.g2(), ic);

        uint256[4] memory badG2 = TestKey.g2();
        badG2[3] = Q;
        vm.expectRevert(Groth16Verifier.BadVerifyingKey.selector);
        new Groth16Verifier(alpha, TestKey.g2(), badG2, TestKey.g2(), ic);

        uint256[2][] memory offCurve = new uint256[2][](2);
        offCurve[0] = ic[0];
        offCurve[1] = [uint256(1), 3];
        vm.expectRevert(Groth16Verifier.BadVerifyingKey.selector);
        new Groth16Verifier(alpha, TestKey.g2(), TestKey.g2(), TestKey.g2(), offCurve);

        vm.expectRevert(Groth16Verifier.BadVerifyingKey.selector);
        new Groth16Verifier(alpha, TestKey.g2(), TestKey.g2(), TestKey.g2(), new uint256[2][](1));

        vm.expectRevert(Groth16Verifier.BadVerifyingKey.selector);
        new Groth16Verifier(alpha, TestKey.g2(), TestKey.g2(), TestKey.g2(), new uint256[2][](14));
    }

    function testFuzz_onlyTheProvenInputVerifies(uint256 x, uint256 y, uint256 c) public view {
        x = x % R;
        uint256[8] memory p = TestKey.prove(key1, one(x), c);
        assertTrue(v1.verifyProof(p, one(x)), "proven input");
        vm.assume(y != x);
        assertFalse(v1.verifyProof(p, one(y)), "any other input");
    }
}
