// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Vm} from "./Test.sol";
import {Groth16Verifier} from "../../src/Groth16Verifier.sol";
import {Rollup} from "../../src/Rollup.sol";
import {TestToken} from "../../src/TestToken.sol";
import {IVerifier} from "../../src/IVerifier.sol";

/// Reads the fixtures the prover crate writes (`prover/tests/prove.rs`, `export::evm_fixture`):
/// a verifying key `.vk` as the verifier's constructor arguments and a proof `.proof` as the
/// verifier's `uint256[8]`, all as 0x-hex words.
library ProofFixture {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// The deployment the Rust fixtures are made for (their batch headers and signatures name
    /// it): chain 31337 and the rollup at the address spelled by the ASCII bytes
    /// "zkperp-test-rollup-1", 0x7a6b706572702d746573742d726f6c6c75702d31.
    uint64 internal constant CHAIN_ID = 31337;
    address internal constant ROLLUP = address(bytes20("zkperp-test-rollup-1"));

    /// The configuration the fixture suites deploy: the fixture's genesis root, markets and
    /// verifiers; a day's grace period, a minute's spacing, minimum amounts of one unit.
    function config(
        TestToken token,
        address operator,
        uint256 genesisRoot,
        uint256 marketCount,
        IVerifier[] memory batchVerifiers,
        IVerifier exitVerifier
    ) internal pure returns (Rollup.Config memory) {
        return Rollup.Config({
            token: token,
            operator: operator,
            genesisRoot: genesisRoot,
            marketCount: marketCount,
            gracePeriod: 1 days,
            forcedSpacing: 60,
            depositSpacing: 60,
            claimWindow: 7 days,
            maxBatchAge: 1 days,
            minDeposit: 1,
            minForcedAmount: 1,
            batchVerifiers: batchVerifiers,
            exitVerifier: exitVerifier,
            configHash: keccak256("network"),
            exitKeyHash: sha256("exit key")
        });
    }

    /// Deploys a Rollup with `config` at ROLLUP on chain CHAIN_ID, as forge-std's deployCodeTo
    /// does: the creation code with its arguments runs as ROLLUP's code (so the constructor's
    /// storage writes land there), and what it returns, the runtime code with its immutables
    /// filled in, becomes ROLLUP's code.
    function deployRollup(Rollup.Config memory config) internal returns (Rollup) {
        vm.chainId(CHAIN_ID);
        vm.etch(ROLLUP, abi.encodePacked(type(Rollup).creationCode, abi.encode(config)));
        (bool ok, bytes memory runtime) = ROLLUP.call("");
        require(ok, "the Rollup constructor reverted");
        vm.etch(ROLLUP, runtime);
        return Rollup(ROLLUP);
    }

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

    /// The batch's blobs as its transaction carries them: sets the blob hashes BLOBHASH reads
    /// (`.versioned_hashes`) and returns `submitBatch`'s `kzg` argument (`.kzg`).
    function carryBlobs(string memory json) internal returns (bytes memory) {
        vm.blobhashes(vm.parseJsonBytes32Array(json, ".versioned_hashes"));
        return vm.parseJsonBytes(json, ".kzg");
    }

    function proof(string memory json) internal pure returns (uint256[8] memory p) {
        uint256[] memory words = vm.parseJsonUintArray(json, ".proof");
        for (uint256 i = 0; i < 8; ++i) {
            p[i] = words[i];
        }
    }

    /// Queues on `rollup` the deposits a batch fixture consumes (`.deposits`), each made by its
    /// owner with tokens minted for it, exactly as the Rust side saw them. A deposit without an
    /// `account` field asks for a new account (the fixtures' deposits open accounts); a wrong
    /// guess would not pass unnoticed: the batch's records would not hash to the queue.
    function queueDeposits(string memory json, TestToken token, Rollup rollup) internal {
        for (uint256 i = 0; vm.keyExistsJson(json, string.concat(".deposits[", vm.toString(i), "]")); ++i) {
            string memory k = string.concat(".deposits[", vm.toString(i), "]");
            address owner = vm.parseJsonAddress(json, string.concat(k, ".l1_address"));
            uint64 amount = uint64(vm.parseJsonUint(json, string.concat(k, ".amount")));
            uint32 account = vm.keyExistsJson(json, string.concat(k, ".account"))
                ? uint32(vm.parseJsonUint(json, string.concat(k, ".account")))
                : rollup.NEW_ACCOUNT();
            token.mint(owner, amount);
            vm.startPrank(owner);
            token.approve(address(rollup), amount);
            rollup.deposit(vm.parseJsonBytes32(json, string.concat(k, ".public_key")), account, amount);
            vm.stopPrank();
        }
    }
}
