// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {TestKey} from "./utils/TestKey.sol";
import {Pubdata} from "./utils/Pubdata.sol";
import {RollupFixture} from "./Rollup.t.sol";
import {Rollup} from "../src/Rollup.sol";

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

    /// Records the gas of the last call under `name` (snapshots/GasTest.json) and logs it:
    /// `forge test --match-contract GasTest --gas-report -vv` prints every figure as transaction
    /// gas (each call its own transaction: 21,000 base, calldata and cold storage included);
    /// without --gas-report the logged figures are execution gas in the test's warm context.
    function report(string memory name) internal {
        emit log_named_uint(name, vm.snapshotGasLastCall("GasTest", name));
    }

    function test_gas_deposit() public {
        deposit(ALICE, KEY_A, 1000e6);
        report("deposit");
    }

    function test_gas_requestForcedWithdrawal() public {
        vm.prank(ALICE);
        rollup.requestForcedWithdrawal(2, 10e6);
        report("requestForcedWithdrawal");
    }

    function test_gas_requestForcedCancel() public {
        vm.prank(ALICE);
        rollup.requestForcedCancel(2, 1000);
        report("requestForcedCancel");
    }

    /// A forced trade needs a published mark (one batch) and party B's signature. The first
    /// request of a deployment also turns the forced-trade counters' slot from zero; a later one
    /// (below) writes it as a slot already in use.
    function test_gas_requestForcedTrade() public {
        apply_(Pubdata.markPrice(0, 500_000));
        (Rollup.ForcedTradeTerms memory t, uint8 v, bytes32 r, bytes32 s) = signedTrade(1);
        vm.prank(ALICE);
        rollup.requestForcedTrade(t, v, r, s);
        report("requestForcedTrade, the first");
        (t, v, r, s) = signedTrade(2);
        vm.prank(ALICE);
        rollup.requestForcedTrade(t, v, r, s);
        report("requestForcedTrade, a later one");
    }

    /// Account 2 buys 5 lots of market 0 from account 3, signed by account 3's owner key.
    function signedTrade(uint64 nonce)
        internal
        view
        returns (Rollup.ForcedTradeTerms memory t, uint8 v, bytes32 r, bytes32 s)
    {
        t = Rollup.ForcedTradeTerms({
            accountA: 2,
            accountB: 3,
            market: 0,
            aBuys: true,
            size: 5,
            price: 500_000,
            expiry: uint64(block.timestamp + 1 days),
            nonce: nonce
        });
        (v, r, s) = vm.sign(B_OWNER_KEY, rollup.forcedTradeDigest(t));
    }

    uint256 constant B_OWNER_KEY = 0xB0B0B0;

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
        submit(records, "");
        report("submitBatch sample (2 deposits, 2 withdrawals, 1 forced, 4 market records, no blob)");
    }

    /// Data availability: no blob claimed, then one full blob (4,096 elements, from
    /// test/data/blob_binding.json): the difference is what binding one blob costs in execution
    /// (its claim hashed with the public data, BLOBHASH, the point-evaluation precompile's
    /// 50,000 and the KZG calldata), before the blob gas itself.
    function test_gas_submitBatch_da0() public {
        submit("", "");
        report("submitBatch empty (no record, no blob)");
    }

    function test_gas_submitBatch_fullBlob() public {
        string memory json = vm.readFile("test/data/blob_binding.json");
        bytes32 vh = vm.parseJsonBytes32(json, ".cases[2].versioned_hash");
        bytes memory claim = Pubdata.blobClaim(
            vh,
            uint128(uint256(vm.parseJsonBytes32(json, ".cases[2].z"))),
            uint256(vm.parseJsonBytes32(json, ".cases[2].y"))
        );
        bytes memory kzg = bytes.concat(
            vm.parseJsonBytes(json, ".cases[2].kzg_commitment"), vm.parseJsonBytes(json, ".cases[2].kzg_proof")
        );
        bytes32[] memory hashes = new bytes32[](1);
        hashes[0] = vh;
        vm.blobhashes(hashes);
        submitWith("", claim, kzg);
        report("submitBatch one full blob (4,096 elements) claimed and opened");
    }

    /// One deposit record, credited or refunded (the refund writes a fresh `claimable` slot where
    /// the credit only moves totals).
    function test_gas_submitBatch_depositCredited() public {
        submit(Pubdata.deposit(0, CAROL, KEY_B, NEW, 1), "");
        report("submitBatch 1 credited deposit");
    }

    function test_gas_submitBatch_depositRefunded() public {
        submit(Pubdata.depositRefunded(0, CAROL, KEY_B, NEW, 1), "");
        report("submitBatch 1 refunded deposit");
    }

    /// One forced-cancel answer (served): checked against the queued request, nothing credited.
    function test_gas_submitBatch_forcedCancel() public {
        vm.prank(ALICE);
        rollup.requestForcedCancel(2, 1000);
        submit(Pubdata.forcedCancel(0, 2, ALICE, 1000, 1), "");
        report("submitBatch 1 forced cancel answered");
    }

    /// One forced-trade answer (served): checked against the queued request, nothing credited.
    function test_gas_submitBatch_forcedTrade() public {
        apply_(Pubdata.markPrice(0, 500_000));
        (Rollup.ForcedTradeTerms memory t, uint8 v, bytes32 r, bytes32 s) = signedTrade(1);
        vm.prank(ALICE);
        rollup.requestForcedTrade(t, v, r, s);
        // The mark's batch took this second.
        vm.warp(block.timestamp + 1);
        submit(
            Pubdata.forcedTrade(
                Pubdata.ForcedTrade({
                    index: 0,
                    accountA: 2,
                    accountB: 3,
                    requester: ALICE,
                    signer: vm.addr(B_OWNER_KEY),
                    market: 0,
                    aBuys: 1,
                    size: 5,
                    price: 500_000,
                    served: 1
                })
            ),
            ""
        );
        report("submitBatch 1 forced trade answered");
    }

    function test_gas_verifyProof() public {
        uint256[] memory input = new uint256[](1);
        input[0] = uint256(keccak256("commitment")) >> 3;
        uint256[8] memory p = TestKey.prove(batchKey, input, 7);
        rollup.batchVerifier(0).verifyProof(p, input);
        report("verifyProof, 1 public input");
    }

    function test_gas_claim() public {
        apply_(abi.encodePacked(Pubdata.deposit(0, CAROL, KEY_B, NEW, 1), Pubdata.withdrawal(2, ALICE, 1)));
        vm.prank(ALICE);
        rollup.claim();
        report("claim");
    }

    /// Freeze on the forced queue: a request past its deadline (the deposit queue is not due).
    function test_gas_freeze_forcedQueue() public {
        apply_(Pubdata.deposit(0, CAROL, KEY_B, NEW, 1));
        vm.prank(ALICE);
        rollup.requestForcedWithdrawal(2, 10e6);
        vm.warp(block.timestamp + GRACE);
        rollup.freeze();
        report("freeze (forced queue)");
    }

    /// Freeze on the forced-cancel queue: a cancel past its deadline (no forced withdrawal
    /// pending, the deposit queue not due).
    function test_gas_freeze_forcedCancelQueue() public {
        apply_(Pubdata.deposit(0, CAROL, KEY_B, NEW, 1));
        vm.prank(ALICE);
        rollup.requestForcedCancel(2, 1000);
        vm.warp(block.timestamp + GRACE);
        rollup.freeze();
        report("freeze (forced-cancel queue)");
    }

    /// Freeze on the forced-trade queue: a trade past its deadline (no forced withdrawal or
    /// cancel pending, the deposit queue not due).
    function test_gas_freeze_forcedTradeQueue() public {
        apply_(abi.encodePacked(Pubdata.deposit(0, CAROL, KEY_B, NEW, 1), Pubdata.markPrice(0, 500_000)));
        (Rollup.ForcedTradeTerms memory t, uint8 v, bytes32 r, bytes32 s) = signedTrade(1);
        vm.prank(ALICE);
        rollup.requestForcedTrade(t, v, r, s);
        vm.warp(block.timestamp + GRACE);
        rollup.freeze();
        report("freeze (forced-trade queue)");
    }

    /// Freeze on the deposit queue: no forced request pending, the oldest deposit past its
    /// deadline (the forced queues are read first, then the deposit queue).
    function test_gas_freeze_depositQueue() public {
        vm.warp(rollup.depositDeadline(0));
        rollup.freeze();
        report("freeze (deposit queue)");
    }

    /// The exit paths, 2 markets (6 public inputs): registerExit verifies the proof and writes
    /// the registration; claimExit (the first: it also fixes the pool) pays it.
    function test_gas_registerExit() public {
        setUpExit();
        uint256[8] memory p = exitProof(2, ALICE, 1);
        vm.prank(ALICE);
        rollup.registerExit(2, 1, p);
        report("registerExit, 2 markets (6 public inputs)");
    }

    function test_gas_claimExit() public {
        setUpExit();
        register(2, ALICE, 1);
        register(3, BOB, 1);
        closeWindow();
        rollup.claimExit(2);
        report("claimExit, the first (fixes the pool)");
        rollup.claimExit(3);
        report("claimExit, a later one");
    }

    function setUpExit() internal {
        apply_(
            abi.encodePacked(Pubdata.deposit(0, CAROL, KEY_B, NEW, 1), Pubdata.markPrice(0, 7), Pubdata.markPrice(1, 9))
        );
        deposit(ALICE, KEY_A, 1);
        apply_(Pubdata.deposit(1, ALICE, KEY_A, NEW, 1));
        freezeNow();
    }

    function test_gas_reclaimDeposit() public {
        freezeNow();
        vm.prank(CAROL);
        rollup.reclaimDeposit(0, KEY_B, NEW, 1);
        report("reclaimDeposit");
    }

    function submit(bytes memory records, bytes memory blobs) internal {
        submitWith(records, blobs, "");
    }

    function submitWith(bytes memory records, bytes memory blobs, bytes memory kzg) internal {
        uint64 ts = rollup.lastBatchTimestamp() + 1;
        if (ts < T0) ts = uint64(T0);
        bytes memory b = batchFor(rollup.stateRoot(), nextRoot(), rollup.batchCount() + 1, ts, records, blobs);
        uint256[8] memory p = batchProof(b);
        vm.prank(OPERATOR);
        rollup.submitBatch(0, b, p, kzg);
    }
}
