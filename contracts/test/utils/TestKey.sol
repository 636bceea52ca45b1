// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Groth16Verifier} from "../../src/Groth16Verifier.sol";

/// A Groth16 verifying key whose trapdoor the tests know, so they can make proofs that pass the
/// real pairing check for any public inputs, before the batch and exit circuits have keys.
///
/// With beta = gamma = delta = the G2 generator g2, alpha = a*g1 and IC[i] = ic_i*g1, the check
/// e(A, B) = e(alpha, beta) e(vk_x, gamma) e(C, delta) holds for B = g2, C = c*g1 and
/// A = (a + vk_x + c)*g1, where vk_x = ic_0 + sum input_i * ic_{i+1} (mod r). Such a key proves
/// nothing (anyone who reads this file can forge), which is exactly what a test needs, and is
/// why it lives in test/ only.
library TestKey {
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 internal constant Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583;

    // The G2 generator in EIP-197 order: x.c1, x.c0, y.c1, y.c0.
    uint256 internal constant G2_X1 = 11559732032986387107991004021392285783925812861821192530917403151452391805634;
    uint256 internal constant G2_X0 = 10857046999023057135944570762232829481370756359578518086990519993285655852781;
    uint256 internal constant G2_Y1 = 4082367875863433681332203403145435568316851327593401208105741076214120093531;
    uint256 internal constant G2_Y0 = 8495653923123431417604973247489272438418190587263600148770280649306958101930;

    struct Key {
        uint256 a;
        uint256[] ic;
    }

    /// A key for `n` public inputs, its scalars derived from `seed`.
    function make(uint256 n, uint256 seed) internal pure returns (Key memory key) {
        key.a = uint256(keccak256(abi.encode(seed, "alpha"))) % R;
        key.ic = new uint256[](n + 1);
        for (uint256 i = 0; i <= n; ++i) {
            key.ic[i] = uint256(keccak256(abi.encode(seed, "ic", i))) % R;
        }
    }

    function g2() internal pure returns (uint256[4] memory) {
        return [G2_X1, G2_X0, G2_Y1, G2_Y0];
    }

    function deploy(Key memory key) internal returns (Groth16Verifier) {
        uint256[2][] memory ic = new uint256[2][](key.ic.length);
        for (uint256 i = 0; i < key.ic.length; ++i) {
            ic[i] = mulG1(key.ic[i]);
        }
        return new Groth16Verifier(mulG1(key.a), g2(), g2(), g2(), ic);
    }

    /// A proof that verifies for exactly `input` under `key` (`c` varies the proof).
    function prove(Key memory key, uint256[] memory input, uint256 c) internal view returns (uint256[8] memory proof) {
        uint256 vkx = key.ic[0];
        for (uint256 i = 0; i < input.length; ++i) {
            vkx = addmod(vkx, mulmod(input[i] % R, key.ic[i + 1], R), R);
        }
        c = c % R;
        uint256[2] memory a = mulG1(addmod(addmod(key.a, vkx, R), c, R));
        uint256[2] memory cc = mulG1(c);
        proof = [a[0], a[1], G2_X1, G2_X0, G2_Y1, G2_Y0, cc[0], cc[1]];
    }

    /// `(-A, -B, C)`: the same statement, a different proof (Groth16 proofs are malleable).
    function malleate(uint256[8] memory p) internal pure returns (uint256[8] memory m) {
        m = p;
        m[1] = p[1] == 0 ? 0 : Q - p[1];
        m[4] = p[4] == 0 ? 0 : Q - p[4];
        m[5] = p[5] == 0 ? 0 : Q - p[5];
    }

    /// `s * g1` through the ecMul precompile.
    function mulG1(uint256 s) internal view returns (uint256[2] memory out) {
        uint256[3] memory inp = [uint256(1), 2, s];
        bool ok;
        assembly {
            ok := staticcall(gas(), 0x07, inp, 96, out, 64)
        }
        require(ok, "ecMul");
    }
}
