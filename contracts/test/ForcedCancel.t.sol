// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Pubdata} from "./utils/Pubdata.sol";
import {RollupFixture} from "./Rollup.t.sol";
import {Rollup} from "../src/Rollup.sol";

/// The forced-cancel queue: requestForcedCancel, its answers (0x07 records) and the freeze on it.
contract RollupForcedCancelTest is RollupFixture {
    function cancelDeadlineOf(uint64 index) internal view returns (uint64 deadline) {
        (,,, deadline) = rollup.forcedCancels(index);
    }

    function requestCancel(address who, uint32 account, uint64 orderId) internal returns (uint64 index) {
        index = rollup.forcedCancelCount();
        vm.prank(who);
        rollup.requestForcedCancel(account, orderId);
    }

    // ---- Requests ----

    function test_forcedCancel_requestRecordsTheFields() public {
        assertEq(rollup.QUEUE_FORCED_CANCEL(), 2, "queue id");
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.ForcedCancelRequested(0, 2, ALICE, 1000, uint64(T0 + GRACE));
        vm.prank(ALICE);
        rollup.requestForcedCancel(2, 1000);
        (address requester, uint32 account, uint64 orderId, uint64 deadline) = rollup.forcedCancels(0);
        assertEq(requester, ALICE, "requester");
        assertEq(account, 2, "account");
        assertEq(orderId, 1000, "order id");
        assertEq(deadline, T0 + GRACE, "deadline");
        assertEq(rollup.forcedCancelCount(), 1, "count");
        assertEq(rollup.forcedCancelsAnswered(), 0, "answered");
        // Its own queue: the forced withdrawals' counters do not move.
        assertEq(rollup.forcedCount(), 0, "no forced withdrawal");
    }

    /// A flood in one block is due `SPACING` apart; a request long after the last gets the full
    /// grace period only.
    function test_forcedCancel_deadlinesStagger() public {
        for (uint64 i = 0; i < 5; ++i) {
            requestCancel(address(uint160(0x5000 + i)), 7, 1);
            assertEq(cancelDeadlineOf(i), T0 + GRACE + i * SPACING, "staggered");
        }
        vm.warp(T0 + 3 hours);
        requestCancel(ALICE, 7, 1);
        assertEq(cancelDeadlineOf(5), T0 + 3 hours + GRACE, "now + grace");
    }

    /// Each forced queue staggers on its own previous deadline: a flood of forced withdrawals
    /// does not delay a forced cancel, nor the other way round.
    function test_forcedCancel_staggersApartFromForcedWithdrawals() public {
        for (uint256 i = 0; i < 3; ++i) {
            vm.prank(BOB);
            rollup.requestForcedWithdrawal(3, 1);
        }
        requestCancel(ALICE, 2, 5);
        assertEq(cancelDeadlineOf(0), T0 + GRACE, "not behind the withdrawals");
        for (uint256 i = 0; i < 3; ++i) {
            requestCancel(ALICE, 2, 5);
        }
        vm.prank(BOB);
        rollup.requestForcedWithdrawal(3, 1);
        (,,, uint64 forcedDeadline) = rollup.forcedRequests(3);
        assertEq(forcedDeadline, T0 + GRACE + 3 * SPACING, "withdrawals behind their own only");
    }

    /// `0 < orderId < 2^40`: 0 would cancel nothing, and no order id reaches 2^40.
    function test_forcedCancel_refusesOrderIdZeroAndOverWidth() public {
        vm.prank(ALICE);
        vm.expectRevert(Rollup.BadAmount.selector);
        rollup.requestForcedCancel(2, 0);
        vm.prank(ALICE);
        vm.expectRevert(Rollup.BadAmount.selector);
        rollup.requestForcedCancel(2, uint64(1 << 40));
        vm.prank(ALICE);
        vm.expectRevert(Rollup.BadAmount.selector);
        rollup.requestForcedCancel(2, type(uint64).max);
        assertEq(rollup.forcedCancelCount(), 0, "nothing queued");
        requestCancel(ALICE, 2, 1);
        requestCancel(ALICE, 2, uint64((1 << 40) - 1));
        assertEq(rollup.forcedCancelCount(), 2, "both bounds accepted");
    }

    function test_forcedCancel_refusedWhileFrozen() public {
        freezeNow();
        vm.prank(ALICE);
        vm.expectRevert(Rollup.IsFrozen.selector);
        rollup.requestForcedCancel(2, 10);
    }

    // ---- Answers ----

    /// A served and a refused answer, in order: the cursor moves past both, nothing else moves
    /// (no value, no other queue), and BatchApplied keeps its fields.
    function test_forcedCancel_answersAdvanceTheCursor() public {
        deposit(ALICE, KEY_A, 1000);
        apply_(Pubdata.deposit(0, ALICE, KEY_A, NEW, 1000));
        requestCancel(ALICE, 2, 77);
        requestCancel(BOB, 2, 5);
        vm.prank(CAROL);
        rollup.requestForcedWithdrawal(2, 10);

        bytes memory b =
            batchOf(abi.encodePacked(Pubdata.forcedCancel(0, 2, ALICE, 77, 1), Pubdata.forcedCancel(1, 2, BOB, 5, 0)));
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.ForcedCancelAnswered(0, 2, true);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.ForcedCancelAnswered(1, 2, false);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.BatchApplied(2, rollup.stateRoot(), newRootOf(b), rollup.lastBatchTimestamp() + 1, 1, 0);
        rollup.applyBatch(b);
        assertEq(rollup.forcedCancelsAnswered(), 2, "both answered");
        assertEq(rollup.forcedAnswered(), 0, "the forced withdrawal is still pending");
        assertEq(rollup.depositsConsumed(), 1, "deposits untouched");
        assertEq(rollup.l2Collateral(), 1000, "no value moved");
        assertEq(rollup.totalClaimable(), 0, "nothing claimable");
        solvent();
    }

    /// Both forced queues in one batch, records interleaved: each kind consumes its own queue.
    function test_forcedCancel_andForcedWithdrawalsInOneBatch() public {
        requestCancel(ALICE, 2, 9);
        requestCancel(ALICE, 2, 10);
        vm.prank(BOB);
        rollup.requestForcedWithdrawal(3, 1);
        apply_(
            abi.encodePacked(
                Pubdata.forcedCancel(0, 2, ALICE, 9, 1),
                Pubdata.forced(0, 3, BOB, 1, 0),
                Pubdata.forcedCancel(1, 2, ALICE, 10, 1)
            )
        );
        assertEq(rollup.forcedCancelsAnswered(), 2, "cancels");
        assertEq(rollup.forcedAnswered(), 1, "withdrawals");
    }

    function test_forcedCancel_answersOutOfOrderRevert() public {
        requestCancel(ALICE, 2, 77);
        requestCancel(BOB, 3, 5);
        // The second before the first.
        bytes memory skip = batchOf(Pubdata.forcedCancel(1, 3, BOB, 5, 0));
        vm.expectRevert(abi.encodeWithSelector(Rollup.ForcedCancelOutOfOrder.selector, uint64(0), uint64(1)));
        rollup.applyBatch(skip);
        // The same request twice in one batch.
        bytes memory twice = batchOf(
            abi.encodePacked(Pubdata.forcedCancel(0, 2, ALICE, 77, 1), Pubdata.forcedCancel(0, 2, ALICE, 77, 1))
        );
        vm.expectRevert(abi.encodeWithSelector(Rollup.ForcedCancelOutOfOrder.selector, uint64(1), uint64(0)));
        rollup.applyBatch(twice);
        apply_(Pubdata.forcedCancel(0, 2, ALICE, 77, 1));
        // Answered already, in a later batch.
        bytes memory again = batchOf(Pubdata.forcedCancel(0, 2, ALICE, 77, 1));
        vm.expectRevert(abi.encodeWithSelector(Rollup.ForcedCancelOutOfOrder.selector, uint64(1), uint64(0)));
        rollup.applyBatch(again);
        // A forced-withdrawal index does not stand in for a cancel's: queue 0 is empty here.
        bytes memory wrongQueue = batchOf(Pubdata.forced(1, 3, BOB, 5, 0));
        vm.expectRevert(abi.encodeWithSelector(Rollup.ForcedOutOfOrder.selector, uint64(0), uint64(1)));
        rollup.applyBatch(wrongQueue);
        apply_(Pubdata.forcedCancel(1, 3, BOB, 5, 0));
        assertEq(rollup.forcedCancelsAnswered(), 2, "both answered in order");
    }

    /// Nothing beyond the queue: an answer to a request not yet made.
    function test_forcedCancel_answerBeforeTheRequestReverts() public {
        bytes memory early = batchOf(Pubdata.forcedCancel(0, 2, ALICE, 77, 0));
        vm.expectRevert(abi.encodeWithSelector(Rollup.ForcedCancelOutOfOrder.selector, uint64(0), uint64(0)));
        rollup.applyBatch(early);
        requestCancel(ALICE, 2, 77);
        rollup.applyBatch(early);
        bytes memory ahead = batchOf(Pubdata.forcedCancel(1, 2, ALICE, 77, 0));
        vm.expectRevert(abi.encodeWithSelector(Rollup.ForcedCancelOutOfOrder.selector, uint64(1), uint64(1)));
        rollup.applyBatch(ahead);
    }

    /// Account, requester and order id must be the request's, and `served` a boolean byte.
    function test_forcedCancel_answerNotAsRequestedReverts() public {
        requestCancel(ALICE, 2, 77);
        bytes[6] memory wrong = [
            Pubdata.forcedCancel(0, 3, ALICE, 77, 1),
            Pubdata.forcedCancel(0, 2, BOB, 77, 1),
            Pubdata.forcedCancel(0, 2, ALICE, 78, 1),
            Pubdata.forcedCancel(0, 2, ALICE, 76, 0),
            Pubdata.forcedCancel(0, 2, ALICE, 77, 2),
            Pubdata.forcedCancel(0, 2, ALICE, 77, 0xff)
        ];
        for (uint256 i = 0; i < wrong.length; ++i) {
            bytes memory b = batchOf(wrong[i]);
            vm.expectRevert(Rollup.ForcedCancelMismatch.selector);
            rollup.applyBatch(b);
        }
        assertEq(rollup.forcedCancelsAnswered(), 0, "unanswered");
        apply_(Pubdata.forcedCancel(0, 2, ALICE, 77, 0));
        assertEq(rollup.forcedCancelsAnswered(), 1, "the exact answer applies");
    }

    /// The full path: a proven batch with a forced-cancel answer goes through submitBatch.
    function test_forcedCancel_answeredByAProvenBatch() public {
        requestCancel(ALICE, 2, 77);
        bytes memory b = batchOf(Pubdata.forcedCancel(0, 2, ALICE, 77, 1));
        uint256[8] memory proof = batchProof(b);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.ForcedCancelAnswered(0, 2, true);
        vm.prank(OPERATOR);
        rollup.submitBatch(0, b, proof, "");
        assertEq(rollup.forcedCancelsAnswered(), 1, "answered");
    }

    // ---- Freeze ----

    function test_forcedCancel_freezeExactlyAtTheDeadline() public {
        requestCancel(ALICE, 2, 77);
        vm.warp(T0 + GRACE - 1);
        vm.expectRevert(Rollup.NotOverdue.selector);
        rollup.freeze();
        vm.warp(T0 + GRACE);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.Frozen(2, 0, BOB);
        vm.prank(BOB);
        rollup.freeze();
        assertTrue(rollup.frozen(), "frozen");
        assertEq(rollup.frozenAt(), T0 + GRACE, "frozenAt");
    }

    /// An answer before the deadline removes the request from the freeze rule; the next one is
    /// due at its own staggered deadline, and not a second before.
    function test_forcedCancel_answeredInTimePreventsTheFreeze() public {
        requestCancel(ALICE, 2, 77);
        requestCancel(BOB, 3, 5);
        apply_(Pubdata.forcedCancel(0, 2, ALICE, 77, 1));
        uint64 due = cancelDeadlineOf(1);
        assertEq(due, T0 + GRACE + SPACING, "second deadline");
        vm.warp(due - 1);
        vm.expectRevert(Rollup.NotOverdue.selector);
        rollup.freeze();
        apply_(Pubdata.forcedCancel(1, 3, BOB, 5, 0));
        vm.warp(due + 365 days);
        vm.expectRevert(Rollup.NotOverdue.selector);
        rollup.freeze();
    }

    /// Several queues overdue: `Frozen` names forced withdrawals first, then forced cancels,
    /// then deposits.
    function test_forcedCancel_freezeNamesTheQueuesInOrder() public {
        deposit(ALICE, KEY_A, 100);
        vm.warp(T0 + 1 hours);
        requestCancel(ALICE, 2, 77);
        vm.warp(T0 + 2 hours);
        vm.prank(BOB);
        rollup.requestForcedWithdrawal(2, 10);

        // Only the deposit is due, with both forced requests pending.
        uint256 snap = vm.snapshotState();
        vm.warp(T0 + GRACE);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.Frozen(1, 0, address(this));
        rollup.freeze();
        vm.revertToState(snap);

        // The deposit and the cancel: the cancel.
        snap = vm.snapshotState();
        vm.warp(T0 + 1 hours + GRACE);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.Frozen(2, 0, address(this));
        rollup.freeze();
        vm.revertToState(snap);

        // All three: the forced withdrawal.
        vm.warp(T0 + 2 hours + GRACE);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.Frozen(0, 0, address(this));
        rollup.freeze();
    }

    /// The new root of a batch's header (bytes 32..64).
    function newRootOf(bytes memory b) internal pure returns (uint256 v) {
        assembly {
            v := mload(add(b, 64))
        }
    }
}
