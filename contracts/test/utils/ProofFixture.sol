// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Vm} from "./Test.sol";
import {Groth16Verifier} from "../../src/Groth16Verifier.sol";

/// Reads the fixtures the prover crate writes (`prover/tests/prove.rs`, `export::evm_fixture`):
/// a verifying key `.vk` as the verifier's constructor arguments and a proof `.proof` as the
/// verifier's `uint256[8]`, all as 0x-hex words.
library ProofFixture {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// A verifier holding the fixture's key.
    function verifier(string memory json) internal returns (Groth16Verifier) {
        uint256[] memory alpha = vm.parseJsonUintArray(json, ".vk.alpha");
        uint256[] memory beta = vm.parseJsonUintArray(json, ".vk.beta");
        uint256[] memory gamma = vm.parseJsonUintArray(json, ".vk.gamma");
        uint256[] memory delta = vm.parseJsonUintArray(json, ".vk.delta");
        uint256 n;
        while (vm.keyExistsJson(json, string.concat(".vk.ic[", vm.toString(n), "]"))) ++n;
        uint256[2][] memory ic = new uint256[2][](n);
        for (uint256 i = 0; i < n; ++i) {
            uint256[] memory point = vm.parseJsonUintArray(json, string.concat(".vk.ic[", vm.toString(i), "]"));
            ic[i] = [point[0], point[1]];
        }
        return new Groth16Verifier(
            [alpha[0], alpha[1]],
            [beta[0], beta[1], beta[2], beta[3]],
            [gamma[0], gamma[1], gamma[2], gamma[3]],
            [delta[0], delta[1], delta[2], delta[3]],
            ic
        );
    }

    function proof(string memory json) internal pure returns (uint256[8] memory p) {
        uint256[] memory words = vm.parseJsonUintArray(json, ".proof");
        for (uint256 i = 0; i < 8; ++i) {
            p[i] = words[i];
        }
    }
}
