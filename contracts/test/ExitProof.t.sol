// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Test} from "./utils/Test.sol";
import {ProofFixture} from "./utils/ProofFixture.sol";
import {Rollup} from "../src/Rollup.sol";
import {TestToken} from "../src/TestToken.sol";
import {IVerifier} from "../src/IVerifier.sol";
import {Groth16Verifier} from "../src/Groth16Verifier.sol";

/// Real proofs end to end on L1: the batch fixture (`test/data/batch_proof.json`: two markets
/// priced, two deposits) moves the rollup to its root; the rollup is frozen over an unanswered
/// forced request; then account 2 registers its exit with a real exit proof
/// (`test/data/exit_proof.json`, made by `prover/tests/prove.rs` against that root and the batch's
/// mark prices) and, the claim window over, is paid exactly its proven value. Both keys are the
/// ones the prover generated. The rollup is deployed where the fixtures say (chain 31337, address
/// "zkperp-test-rollup-1": ProofFixture.deployRollup).
contract ExitProofTest is Test {
    address constant OPERATOR = address(0x0E0E);

    string batch;
    string exitJson;
    TestToken token;
    Rollup rollup;
    Groth16Verifier exitVerifier;
    uint32 account;
    address owner;
    uint256 amount;
    uint256[8] exitProof;

    function setUp() public {
        batch = vm.readFile("test/data/batch_proof.json");
        exitJson = vm.readFile("test/data/exit_proof.json");
        token = new TestToken();
        IVerifier[] memory shapes = new IVerifier[](1);
        shapes[0] = ProofFixture.verifier(batch);
        exitVerifier = ProofFixture.verifier(exitJson);
        rollup = ProofFixture.deployRollup(
            ProofFixture.config(token, OPERATOR, vm.parseJsonUint(batch, ".old_root"), 2, shapes, exitVerifier)
        );
        account = uint32(vm.parseJsonUint(exitJson, ".account"));
        owner = vm.parseJsonAddress(exitJson, ".owner");
        amount = vm.parseJsonUint(exitJson, ".amount");
        exitProof = ProofFixture.proof(exitJson);

        vm.warp(vm.parseJsonUint(batch, ".timestamp") + 1);
        ProofFixture.queueDeposits(batch, token, rollup);
        bytes memory kzg = ProofFixture.carryBlobs(batch);
        vm.prank(OPERATOR);
        rollup.submitBatch(0, vm.parseJsonBytes(batch, ".pubdata"), ProofFixture.proof(batch), kzg);
        assertEq(rollup.stateRoot(), vm.parseJsonUint(exitJson, ".root"), "the exit's root is the batch's");
    }

    /// A forced request nobody answers, then the freeze at its deadline.
    function freeze() internal {
        vm.prank(address(0xF0F0));
        rollup.requestForcedWithdrawal(account, 1);
        (,,, uint64 deadline) = rollup.forcedRequests(0);
        vm.warp(deadline);
        rollup.freeze();
    }

    function test_realExitProof_verifiesAgainstTheRollupsInputs() public view {
        uint256[] memory input = rollup.exitInputs(account, owner, amount);
        uint256[] memory expected = vm.parseJsonUintArray(exitJson, ".inputs");
        assertEq(input.length, expected.length, "input count");
        for (uint256 i = 0; i < input.length; ++i) {
            assertEq(input[i], expected[i], string.concat("input ", vm.toString(i)));
        }
        assertTrue(exitVerifier.verifyProof(exitProof, input), "the verifier accepts the prover's proof");
    }

    function test_realExit_paysTheProvenValueOnce() public {
        freeze();
        uint256 before = rollup.l2Collateral();
        vm.prank(owner);
        rollup.registerExit(account, amount, exitProof);
        assertEq(rollup.exitOwner(account), owner, "registered to the owner");
        assertEq(rollup.exitAmount(account), amount, "the proven value");

        vm.prank(owner);
        vm.expectRevert(Rollup.AlreadyExited.selector);
        rollup.registerExit(account, amount, exitProof);

        vm.warp(rollup.frozenAt() + rollup.claimWindow());
        rollup.claimExit(account);
        assertEq(token.balanceOf(owner), amount, "paid exactly the proven value");
        assertEq(rollup.l2Collateral(), before - amount, "taken from the L2 collateral");
        assertTrue(rollup.exitClaimed(account), "marked paid");
        vm.expectRevert(Rollup.AlreadyClaimed.selector);
        rollup.claimExit(account);
    }

    function test_realExit_refusedBeforeAFreeze() public {
        vm.prank(owner);
        vm.expectRevert(Rollup.NotFrozen.selector);
        rollup.registerExit(account, amount, exitProof);
    }

    /// The proof binds the amount, the account and the L1 owner it pays: any other is refused.
    function test_realExit_refusesAnyOtherAmountAccountOrOwner() public {
        freeze();
        uint256[3] memory amounts = [amount + 1, amount - 1, 0];
        for (uint256 i = 0; i < amounts.length; ++i) {
            vm.prank(owner);
            vm.expectRevert(Rollup.InvalidProof.selector);
            rollup.registerExit(account, amounts[i], exitProof);
        }
        vm.prank(owner);
        vm.expectRevert(Rollup.InvalidProof.selector);
        rollup.registerExit(account + 1, amount, exitProof);
        vm.prank(address(0xBAD));
        vm.expectRevert(Rollup.InvalidProof.selector);
        rollup.registerExit(account, amount, exitProof);
        assertEq(rollup.exitOwner(account), address(0), "still free to register");
    }

    function test_realExit_refusesATamperedProof() public {
        freeze();
        for (uint256 i = 0; i < 8; ++i) {
            uint256[8] memory p = exitProof;
            p[i] += 1;
            vm.prank(owner);
            try rollup.registerExit{gas: 5_000_000}(account, amount, p) {
                revert(string.concat("tampered coordinate accepted: ", vm.toString(i)));
            } catch (bytes memory reason) {
                assertEq(reason, abi.encodeWithSelector(Rollup.InvalidProof.selector), vm.toString(i));
            }
        }
    }

    /// One successful real exit registration, for `forge test --match-test test_gas_ --gas-report`.
    function test_gas_realRegisterExit() public {
        freeze();
        vm.prank(owner);
        rollup.registerExit(account, amount, exitProof);
        vm.snapshotGasLastCall("RealProof", "registerExit");
    }
}
