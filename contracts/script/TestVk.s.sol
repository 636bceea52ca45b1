// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Vm} from "../test/utils/Test.sol";
import {TestKey} from "../test/utils/TestKey.sol";

/// Prints a verifying key file (Deploy.s.sol's format) for a test key whose trapdoor is public
/// (test/utils/TestKey.sol). It made test/data/test-vk-*.json:
///   node_modules/.bin/forge script script/TestVk.s.sol --sig "run(uint256,uint256)" 1 101
///   node_modules/.bin/forge script script/TestVk.s.sol --sig "run(uint256,uint256)" 6 202
/// Such a key accepts forged proofs: for tests and a throwaway devnet only, never a real chain.
contract TestVk {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    function run(uint256 inputs, uint256 seed) external view returns (string memory json) {
        TestKey.Key memory key = TestKey.make(inputs, seed);
        uint256[2] memory alpha = TestKey.mulG1(key.a);
        uint256[4] memory g2 = TestKey.g2();
        string memory g2s = _list(_arr4(g2));
        uint256[] memory ic = new uint256[](2 * key.ic.length);
        for (uint256 i = 0; i < key.ic.length; ++i) {
            uint256[2] memory p = TestKey.mulG1(key.ic[i]);
            (ic[2 * i], ic[2 * i + 1]) = (p[0], p[1]);
        }
        uint256[] memory a = new uint256[](2);
        (a[0], a[1]) = (alpha[0], alpha[1]);
        json = string.concat(
            '{"alpha":', _list(a), ',"beta":', g2s, ',"gamma":', g2s, ',"delta":', g2s, ',"ic":', _list(ic), "}"
        );
    }

    function _arr4(uint256[4] memory x) private pure returns (uint256[] memory out) {
        out = new uint256[](4);
        for (uint256 i = 0; i < 4; ++i) {
            out[i] = x[i];
        }
    }

    function _list(uint256[] memory xs) private pure returns (string memory s) {
        s = "[";
        for (uint256 i = 0; i < xs.length; ++i) {
            s = string.concat(s, i == 0 ? '"' : ',"', vm.toString(xs[i]), '"');
        }
        s = string.concat(s, "]");
    }
}
