// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {TestKey} from "./utils/TestKey.sol";
import {Pubdata} from "./utils/Pubdata.sol";
import {RollupFixture} from "./Rollup.t.sol";

/// One successful call per path, so `forge test --match-contract GasTest --gas-report` gives
/// the gas of each path (docs/CONTRACTS.md, docs/PERFORMANCE.md). The batch verifier is the real
/// Groth16Verifier with a test key: the same 4 pairings, 1 ecMul and 1 ecAdd as a production key.
/// With --gas-report forge runs each call as its own transaction, so the figures include the
/// 21,000 base and the calldata; each is also written by name to snapshots/GasTest.json (not
/// committed: a plain `forge test` writes execution-only figures there).
contract GasTest is RollupFixture {
    function setUp() public override {
        super.setUp();
        // Steady state: the rollup already holds tokens and has a queue.
        deposit(CAROL, KEY_B, 1);
    }

    function test_gas_deposit() public {
        deposit(ALICE, KEY_A, 1000e6);
        vm.snapshotGasLastCall("GasTest", "deposit");
    }

    function test_gas_requestForcedWithdrawal() public {
        vm.prank(ALICE);
        rollup.requestForcedWithdrawal(2, 10e6);
        vm.snapshotGasLastCall("GasTest", "requestForcedWithdrawal");
    }

    /// The sample shape: 2 deposits, 2 withdrawals, 1 forced request paid, a mark price and a
    /// funding index for each of the 2 markets, 4 changed accounts.
    function test_gas_submitBatch_sample() public {
        deposit(ALICE, KEY_A, 1000e6);
        vm.prank(BOB);
        rollup.requestForcedWithdrawal(2, 10e6);
        bytes memory records = abi.encodePacked(
            Pubdata.deposit(0, CAROL, KEY_B, NEW, 1),
            Pubdata.deposit(1, ALICE, KEY_A, NEW, 1000e6),
            Pubdata.withdrawal(2, ALICE, 100e6),
            Pubdata.withdrawal(3, BOB, 5e6),
            Pubdata.forced(0, 2, BOB, 10e6, 10e6)
        );
        records = abi.encodePacked(
            records,
            Pubdata.markPrice(0, 65_000_0),
            Pubdata.markPrice(1, 3_000_00),
            Pubdata.fundingIndex(0, 12),
            Pubdata.fundingIndex(1, -4)
        );
        bytes memory accounts;
        for (uint32 i = 0; i < 4; ++i) {
            accounts = abi.encodePacked(accounts, Pubdata.accountUpdate(i, uint256(keccak256(abi.encode(i))) % R));
        }
        submit(records, accounts);
        vm.snapshotGasLastCall(
            "GasTest", "submitBatch sample (2 deposits, 2 withdrawals, 1 forced, 4 market records, 4 accounts)"
        );
    }

    /// Data availability only, for 0 and 64 changed accounts: the difference is the marginal
    /// execution gas of one DA entry (36 bytes hashed by sha256 and walked by the length check).
    function test_gas_submitBatch_da0() public {
        submit("", "");
        vm.snapshotGasLastCall("GasTest", "submitBatch empty (no record, no account)");
    }

    function test_gas_submitBatch_da64() public {
        bytes memory accounts;
        for (uint32 i = 0; i < 64; ++i) {
            accounts = abi.encodePacked(accounts, Pubdata.accountUpdate(i, uint256(keccak256(abi.encode(i))) % R));
        }
        submit("", accounts);
        vm.snapshotGasLastCall("GasTest", "submitBatch 64 accounts of data availability");
    }

    /// One deposit record, credited or refunded (the refund writes a fresh `claimable` slot where
    /// the credit only moves totals).
    function test_gas_submitBatch_depositCredited() public {
        submit(Pubdata.deposit(0, CAROL, KEY_B, NEW, 1), "");
        vm.snapshotGasLastCall("GasTest", "submitBatch 1 credited deposit");
    }

    function test_gas_submitBatch_depositRefunded() public {
        submit(Pubdata.depositRefunded(0, CAROL, KEY_B, NEW, 1), "");
        vm.snapshotGasLastCall("GasTest", "submitBatch 1 refunded deposit");
    }

    function test_gas_verifyProof() public {
        uint256[] memory input = new uint256[](1);
        input[0] = uint256(keccak256("commitment")) >> 3;
        uint256[8] memory p = TestKey.prove(batchKey, input, 7);
        rollup.batchVerifier(0).verifyProof(p, input);
        vm.snapshotGasLastCall("GasTest", "verifyProof, 1 public input");
    }

    function test_gas_claim() public {
        apply_(abi.encodePacked(Pubdata.deposit(0, CAROL, KEY_B, NEW, 1), Pubdata.withdrawal(2, ALICE, 1)));
        vm.prank(ALICE);
        rollup.claim();
        vm.snapshotGasLastCall("GasTest", "claim");
    }

    function test_gas_freeze() public {
        vm.prank(ALICE);
        rollup.requestForcedWithdrawal(2, 10e6);
        vm.warp(block.timestamp + GRACE);
        rollup.freeze();
        vm.snapshotGasLastCall("GasTest", "freeze");
    }

    function test_gas_exit() public {
        apply_(
            abi.encodePacked(Pubdata.deposit(0, CAROL, KEY_B, NEW, 1), Pubdata.markPrice(0, 7), Pubdata.markPrice(1, 9))
        );
        freezeNow();
        uint256[8] memory p = exitProof(2, ALICE, 1);
        vm.prank(ALICE);
        rollup.exit(2, 1, p);
        vm.snapshotGasLastCall("GasTest", "exit, 2 markets (6 public inputs)");
    }

    function test_gas_reclaimDeposit() public {
        freezeNow();
        vm.prank(CAROL);
        rollup.reclaimDeposit(0, KEY_B, NEW, 1);
        vm.snapshotGasLastCall("GasTest", "reclaimDeposit");
    }

    function submit(bytes memory records, bytes memory accounts) internal {
        uint64 ts = rollup.lastBatchTimestamp() + 1;
        if (ts < T0) ts = uint64(T0);
        bytes memory b = batchFor(rollup.stateRoot(), nextRoot(), rollup.batchCount() + 1, ts, records, accounts);
        uint256[8] memory p = batchProof(b);
        vm.prank(OPERATOR);
        rollup.submitBatch(0, b, p);
    }
}
