// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Test} from "./utils/Test.sol";
import {TestKey} from "./utils/TestKey.sol";
import {Pubdata} from "./utils/Pubdata.sol";
import {RollupHarness} from "./utils/RollupHarness.sol";
import {BlobBinding} from "../src/BlobBinding.sol";
import {Rollup} from "../src/Rollup.sol";
import {TestToken} from "../src/TestToken.sol";
import {IERC20} from "../src/IERC20.sol";
import {IVerifier} from "../src/IVerifier.sol";
import {Groth16Verifier} from "../src/Groth16Verifier.sol";

/// Shared fixture: a rollup over two markets whose batch and exit verifiers use test keys
/// (TestKey), so the tests can both apply batches through the harness and make proofs.
abstract contract RollupFixture is Test {
    uint256 constant R = TestKey.R;
    uint256 constant MARKETS = 2;
    uint256 constant GRACE = 1 days;
    uint256 constant SPACING = 10 minutes;
    uint256 constant DEPOSIT_SPACING = 5 minutes;
    uint256 constant CLAIM_WINDOW = 7 days;
    uint256 constant MIN_DEPOSIT = 1;
    uint256 constant MIN_FORCED_AMOUNT = 1;
    /// A deposit's target "new account".
    uint32 constant NEW = type(uint32).max;
    uint256 constant T0 = 1_700_000_000;

    address constant OPERATOR = address(0x0E0E);
    address constant ALICE = address(0xA11CE);
    address constant BOB = address(0xB0B);
    address constant CAROL = address(0xCA201);
    bytes32 constant KEY_A = bytes32(uint256(0xA));
    bytes32 constant KEY_B = bytes32(uint256(0xB));

    uint256 genesis = uint256(keccak256("genesis")) % R;
    TestToken token;
    RollupHarness rollup;
    TestKey.Key batchKey;
    TestKey.Key exitKey;
    uint256 rootCounter;

    function setUp() public virtual {
        vm.warp(T0);
        token = new TestToken();
        batchKey = TestKey.make(1, 101);
        exitKey = TestKey.make(4 + MARKETS, 202);
        IVerifier[] memory shapes = new IVerifier[](1);
        shapes[0] = TestKey.deploy(batchKey);
        rollup = new RollupHarness(config(shapes, TestKey.deploy(exitKey)));
        address[3] memory users = [ALICE, BOB, CAROL];
        for (uint256 i = 0; i < 3; ++i) {
            token.mint(users[i], 1_000_000e6);
            vm.prank(users[i]);
            token.approve(address(rollup), type(uint256).max);
        }
    }

    /// The fixture's configuration over the given verifiers; tests change single fields of it.
    function config(IVerifier[] memory shapes, IVerifier exitVerifier) internal view returns (Rollup.Config memory) {
        return Rollup.Config({
            token: token,
            operator: OPERATOR,
            genesisRoot: genesis,
            marketCount: MARKETS,
            gracePeriod: GRACE,
            forcedSpacing: SPACING,
            depositSpacing: DEPOSIT_SPACING,
            claimWindow: CLAIM_WINDOW,
            maxBatchAge: 1 days,
            minDeposit: MIN_DEPOSIT,
            minForcedAmount: MIN_FORCED_AMOUNT,
            batchVerifiers: shapes,
            exitVerifier: exitVerifier,
            configHash: keccak256("network"),
            exitKeyHash: sha256("exit key")
        });
    }

    /// A deposit that asks for a new account.
    function deposit(address who, bytes32 key, uint64 amount) internal returns (uint64 index) {
        return depositTo(who, key, NEW, amount);
    }

    function depositTo(address who, bytes32 key, uint32 account, uint64 amount) internal returns (uint64 index) {
        index = rollup.depositCount();
        vm.prank(who);
        rollup.deposit(key, account, amount);
    }

    function nextRoot() internal returns (uint256) {
        return uint256(keccak256(abi.encode("root", ++rootCounter))) % R;
    }

    /// A batch on the current root with the next batch number, one second after the last (the
    /// clock moved if needed).
    function batchOf(bytes memory records) internal returns (bytes memory) {
        uint64 ts = rollup.lastBatchTimestamp() + 1;
        if (ts < T0) ts = uint64(T0);
        // At the L1's time: never older than maxBatchAge.
        if (ts < block.timestamp) ts = uint64(block.timestamp);
        if (block.timestamp < ts) vm.warp(ts);
        return batchFor(rollup.stateRoot(), nextRoot(), next(), ts, records, "");
    }

    /// A batch for this deployment: the header names this chain and the rollup's address.
    function batchFor(
        uint256 oldRoot,
        uint256 newRoot,
        uint64 number,
        uint64 timestamp,
        bytes memory records,
        bytes memory accounts
    ) internal view returns (bytes memory) {
        return Pubdata.batch(
            oldRoot, newRoot, number, timestamp, uint64(block.chainid), address(rollup), records, accounts
        );
    }

    /// The number the next batch must carry.
    function next() internal view returns (uint64) {
        return rollup.batchCount() + 1;
    }

    function apply_(bytes memory records) internal returns (bytes memory b) {
        b = batchOf(records);
        rollup.applyBatch(b);
    }

    function batchProof(bytes memory b) internal view returns (uint256[8] memory) {
        uint256[] memory input = new uint256[](1);
        input[0] = Pubdata.commitment(b);
        return TestKey.prove(batchKey, input, 17);
    }

    function exitProof(uint32 account, address owner, uint256 amount) internal view returns (uint256[8] memory) {
        return TestKey.prove(exitKey, rollup.exitInputs(account, owner, amount), 23);
    }

    /// Makes a forced request by CAROL and lets its deadline pass, then freezes.
    function freezeNow() internal {
        vm.prank(CAROL);
        rollup.requestForcedWithdrawal(9, 1);
        (,,, uint64 deadline) = rollup.forcedRequests(rollup.forcedCount() - 1);
        vm.warp(deadline);
        rollup.freeze();
    }

    /// `owner` registers the exit of `account` for `amount`, with a proof for exactly that.
    function register(uint32 account, address owner, uint256 amount) internal {
        uint256[8] memory p = exitProof(account, owner, amount);
        vm.prank(owner);
        rollup.registerExit(account, amount, p);
    }

    /// To the first second of the claims: the registration window has just closed.
    function closeWindow() internal {
        vm.warp(rollup.frozenAt() + CLAIM_WINDOW);
    }

    function solvent() internal view {
        assertEq(
            token.balanceOf(address(rollup)),
            rollup.totalClaimable() + rollup.pendingDeposits() + rollup.l2Collateral(),
            "balance == claimable + pending deposits + L2 collateral"
        );
    }
}

contract RollupDepositTest is RollupFixture {
    function test_deposit_queuesWithRunningHashAndEvent() public {
        bytes32 h0 = keccak256(abi.encodePacked(bytes32(0), uint64(0), ALICE, KEY_A, NEW, uint64(5e6)));
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.Deposited(0, ALICE, KEY_A, NEW, 5e6, uint64(T0 + GRACE), h0);
        deposit(ALICE, KEY_A, 5e6);

        // A top-up of an existing account names it; the id is hashed with the rest.
        bytes32 h1 = keccak256(abi.encodePacked(h0, uint64(1), BOB, KEY_B, uint32(7), uint64(7)));
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.Deposited(1, BOB, KEY_B, 7, 7, uint64(T0 + GRACE + DEPOSIT_SPACING), h1);
        depositTo(BOB, KEY_B, 7, 7);

        assertEq(rollup.depositHash(0), h0, "h0");
        assertEq(rollup.depositHash(1), h1, "h1");
        assertEq(rollup.depositCount(), 2, "count");
        assertEq(rollup.depositsConsumed(), 0, "consumed");
        assertEq(rollup.pendingDeposits(), 5e6 + 7, "pending");
        assertEq(token.balanceOf(address(rollup)), 5e6 + 7, "custody");
        assertEq(token.balanceOf(ALICE), 1_000_000e6 - 5e6, "alice paid");
        solvent();
    }

    function test_deposit_refusesZeroAndOverWidth() public {
        vm.prank(ALICE);
        vm.expectRevert(Rollup.BadAmount.selector);
        rollup.deposit(KEY_A, NEW, 0);
        vm.prank(ALICE);
        vm.expectRevert(Rollup.BadAmount.selector);
        rollup.deposit(KEY_A, NEW, uint64(1 << 63));
        assertEq(rollup.depositCount(), 0, "nothing queued");
    }

    /// A deposit below the deployment's minimum is refused; the minimum itself is accepted.
    function test_deposit_refusesBelowTheMinimum() public {
        IVerifier[] memory shapes = new IVerifier[](1);
        shapes[0] = rollup.batchVerifier(0);
        Rollup.Config memory c = config(shapes, rollup.exitVerifier());
        c.minDeposit = 100;
        Rollup r = new Rollup(c);
        assertEq(r.minDeposit(), 100, "minDeposit");
        vm.startPrank(ALICE);
        token.approve(address(r), type(uint256).max);
        vm.expectRevert(Rollup.BadAmount.selector);
        r.deposit(KEY_A, NEW, 99);
        vm.expectRevert(Rollup.BadAmount.selector);
        r.deposit(KEY_A, 3, 1);
        r.deposit(KEY_A, NEW, 100);
        vm.stopPrank();
        assertEq(r.depositCount(), 1, "the minimum is accepted");
    }

    /// The target account is part of the queued record: a batch must consume the deposit with
    /// the account it was made for, and a reclaim must name it too.
    function test_deposit_targetIsBoundByTheRunningHash() public {
        depositTo(ALICE, KEY_A, 5, 100);
        uint32[3] memory others = [NEW, 4, 6];
        for (uint256 i = 0; i < others.length; ++i) {
            bytes memory b = batchOf(Pubdata.deposit(0, ALICE, KEY_A, others[i], 100));
            vm.expectRevert(Rollup.DepositMismatch.selector);
            rollup.applyBatch(b);
            b = batchOf(Pubdata.depositRefunded(0, ALICE, KEY_A, others[i], 100));
            vm.expectRevert(Rollup.DepositMismatch.selector);
            rollup.applyBatch(b);
        }
        depositTo(BOB, KEY_B, 0, 50);
        apply_(Pubdata.deposit(0, ALICE, KEY_A, 5, 100));
        assertEq(rollup.depositsConsumed(), 1, "consumed as queued");

        freezeNow();
        vm.prank(BOB);
        vm.expectRevert(Rollup.NotReclaimable.selector);
        rollup.reclaimDeposit(1, KEY_B, NEW, 50);
        vm.prank(BOB);
        vm.expectRevert(Rollup.NotReclaimable.selector);
        rollup.reclaimDeposit(1, KEY_B, 1, 50);
        vm.prank(BOB);
        rollup.reclaimDeposit(1, KEY_B, 0, 50);
        assertEq(rollup.pendingDeposits(), 0, "reclaimed with its own target");
        solvent();
    }

    /// A flood of deposits in one block is due now + grace, + spacing, + 2 spacing, ...: the
    /// operator is owed `DEPOSIT_SPACING` seconds per deposit. A deposit long after the previous
    /// one gets exactly now + grace.
    function test_deposit_deadlinesStagger() public {
        for (uint64 i = 0; i < 20; ++i) {
            deposit(ALICE, KEY_A, 1);
            assertEq(rollup.depositDeadline(i), T0 + GRACE + i * DEPOSIT_SPACING, "staggered");
        }
        // The flood's last deadline is T0 + GRACE + 19 * 5 minutes; a deposit an hour later is
        // still behind it, so it is pushed to one spacing after it.
        vm.warp(T0 + 1 hours);
        deposit(BOB, KEY_B, 1);
        assertEq(rollup.depositDeadline(20), T0 + GRACE + 20 * DEPOSIT_SPACING, "pushed by the flood");
        vm.warp(T0 + 3 hours);
        deposit(BOB, KEY_B, 1);
        assertEq(rollup.depositDeadline(21), T0 + 3 hours + GRACE, "a late deposit gets the full grace only");
        // Forced requests have their own stagger: a deposit flood does not delay them.
        vm.prank(CAROL);
        rollup.requestForcedWithdrawal(2, 1);
        (,,, uint64 forcedDeadline) = rollup.forcedRequests(0);
        assertEq(forcedDeadline, T0 + 3 hours + GRACE, "own queue");
    }

    function test_deposit_refusesWithoutFunds() public {
        address poor = address(0xDEAD);
        vm.prank(poor);
        vm.expectRevert(Rollup.TransferFailed.selector);
        rollup.deposit(KEY_A, NEW, 1);
    }

    function test_batch_consumesDepositsInOrder() public {
        deposit(ALICE, KEY_A, 100);
        deposit(BOB, KEY_B, 200);
        deposit(ALICE, KEY_A, 300);
        apply_(
            abi.encodePacked(
                Pubdata.deposit(0, ALICE, KEY_A, NEW, 100),
                Pubdata.markPrice(0, 5),
                Pubdata.deposit(1, BOB, KEY_B, NEW, 200)
            )
        );
        assertEq(rollup.depositsConsumed(), 2, "two consumed");
        assertEq(rollup.pendingDeposits(), 300, "one pending");
        assertEq(rollup.l2Collateral(), 300, "credited to L2");
        apply_(Pubdata.deposit(2, ALICE, KEY_A, NEW, 300));
        assertEq(rollup.depositsConsumed(), 3, "all consumed");
        assertEq(rollup.pendingDeposits(), 0, "none pending");
        assertEq(rollup.l2Collateral(), 600, "all in L2");
        solvent();
    }

    function test_batch_refusesOutOfOrderDeposits() public {
        deposit(ALICE, KEY_A, 100);
        deposit(BOB, KEY_B, 200);
        bytes memory skip = batchOf(Pubdata.deposit(1, BOB, KEY_B, NEW, 200));
        vm.expectRevert(abi.encodeWithSelector(Rollup.DepositOutOfOrder.selector, uint64(0), uint64(1)));
        rollup.applyBatch(skip);
        bytes memory swapped = batchOf(
            abi.encodePacked(Pubdata.deposit(1, BOB, KEY_B, NEW, 200), Pubdata.deposit(0, ALICE, KEY_A, NEW, 100))
        );
        vm.expectRevert(abi.encodeWithSelector(Rollup.DepositOutOfOrder.selector, uint64(0), uint64(1)));
        rollup.applyBatch(swapped);
        bytes memory twice = batchOf(
            abi.encodePacked(Pubdata.deposit(0, ALICE, KEY_A, NEW, 100), Pubdata.deposit(0, ALICE, KEY_A, NEW, 100))
        );
        vm.expectRevert(abi.encodeWithSelector(Rollup.DepositOutOfOrder.selector, uint64(1), uint64(0)));
        rollup.applyBatch(twice);
        apply_(Pubdata.deposit(0, ALICE, KEY_A, NEW, 100));
        bytes memory again = batchOf(Pubdata.deposit(0, ALICE, KEY_A, NEW, 100));
        vm.expectRevert(abi.encodeWithSelector(Rollup.DepositOutOfOrder.selector, uint64(1), uint64(0)));
        rollup.applyBatch(again);
    }

    function test_batch_refusesDepositNotAsQueued() public {
        deposit(ALICE, KEY_A, 100);
        bytes[6] memory wrong = [
            Pubdata.deposit(0, ALICE, KEY_A, NEW, 101),
            Pubdata.deposit(0, BOB, KEY_A, NEW, 100),
            Pubdata.deposit(0, ALICE, KEY_B, NEW, 100),
            Pubdata.deposit(0, ALICE, KEY_A, NEW, 99),
            Pubdata.deposit(0, ALICE, KEY_A, 2, 100),
            Pubdata.deposit(0, ALICE, KEY_A, NEW - 1, 100)
        ];
        for (uint256 i = 0; i < wrong.length; ++i) {
            bytes memory b = batchOf(wrong[i]);
            vm.expectRevert(Rollup.DepositMismatch.selector);
            rollup.applyBatch(b);
        }
        // A deposit that was never queued.
        bytes memory ghost = batchOf(
            abi.encodePacked(Pubdata.deposit(0, ALICE, KEY_A, NEW, 100), Pubdata.deposit(1, ALICE, KEY_A, NEW, 1))
        );
        vm.expectRevert(Rollup.DepositMismatch.selector);
        rollup.applyBatch(ghost);
    }

    /// A deposit the state machine could not credit (0x06) is consumed from the queue like a
    /// credited one, and its amount becomes claimable by the depositor instead of entering L2.
    function test_batch_refundedDepositIsClaimableByTheDepositor() public {
        deposit(ALICE, KEY_A, 100);
        deposit(BOB, KEY_B, 200);
        deposit(ALICE, KEY_A, 300);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.DepositRefunded(1, BOB, 200);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.BatchApplied(1, genesis, uint256(keccak256(abi.encode("root", uint256(1)))) % R, uint64(T0), 3, 0);
        apply_(
            abi.encodePacked(
                Pubdata.deposit(0, ALICE, KEY_A, NEW, 100),
                Pubdata.depositRefunded(1, BOB, KEY_B, NEW, 200),
                Pubdata.deposit(2, ALICE, KEY_A, NEW, 300)
            )
        );
        assertEq(rollup.depositsConsumed(), 3, "all consumed");
        assertEq(rollup.pendingDeposits(), 0, "none pending");
        assertEq(rollup.l2Collateral(), 400, "only the credited ones in L2");
        assertEq(rollup.claimable(BOB), 200, "refund claimable");
        assertEq(rollup.totalClaimable(), 200, "total claimable");
        solvent();

        uint256 before = token.balanceOf(BOB);
        vm.prank(BOB);
        rollup.claim();
        assertEq(token.balanceOf(BOB), before + 200, "refunded");
        solvent();
        // Consumed, so not reclaimable after a freeze either.
        freezeNow();
        vm.prank(BOB);
        vm.expectRevert(Rollup.NotReclaimable.selector);
        rollup.reclaimDeposit(1, KEY_B, NEW, 200);
    }

    function test_batch_refundedDepositCheckedAgainstTheQueue() public {
        deposit(ALICE, KEY_A, 100);
        deposit(BOB, KEY_B, 200);
        bytes memory skip = batchOf(Pubdata.depositRefunded(1, BOB, KEY_B, NEW, 200));
        vm.expectRevert(abi.encodeWithSelector(Rollup.DepositOutOfOrder.selector, uint64(0), uint64(1)));
        rollup.applyBatch(skip);
        // Any other field than the queued one, including the address paid: refused.
        bytes[5] memory wrong = [
            Pubdata.depositRefunded(0, ALICE, KEY_A, 2, 100),
            Pubdata.depositRefunded(0, BOB, KEY_A, NEW, 100),
            Pubdata.depositRefunded(0, ALICE, KEY_B, NEW, 100),
            Pubdata.depositRefunded(0, ALICE, KEY_A, NEW, 101),
            Pubdata.depositRefunded(0, CAROL, KEY_A, NEW, 100)
        ];
        for (uint256 i = 0; i < wrong.length; ++i) {
            bytes memory b = batchOf(wrong[i]);
            vm.expectRevert(Rollup.DepositMismatch.selector);
            rollup.applyBatch(b);
        }
        bytes memory twice = batchOf(
            abi.encodePacked(
                Pubdata.depositRefunded(0, ALICE, KEY_A, NEW, 100), Pubdata.deposit(0, ALICE, KEY_A, NEW, 100)
            )
        );
        vm.expectRevert(abi.encodeWithSelector(Rollup.DepositOutOfOrder.selector, uint64(1), uint64(0)));
        rollup.applyBatch(twice);
        bytes memory ghost = batchOf(
            abi.encodePacked(
                Pubdata.deposit(0, ALICE, KEY_A, NEW, 100),
                Pubdata.depositRefunded(1, BOB, KEY_B, NEW, 200),
                Pubdata.depositRefunded(2, BOB, KEY_B, NEW, 1)
            )
        );
        vm.expectRevert(Rollup.DepositMismatch.selector);
        rollup.applyBatch(ghost);
    }

    /// A refund never entered L2, so it cannot fund a withdrawal.
    function test_batch_refundedDepositDoesNotFundPayouts() public {
        deposit(ALICE, KEY_A, 100);
        deposit(BOB, KEY_B, 200);
        bytes memory b = batchOf(
            abi.encodePacked(
                Pubdata.deposit(0, ALICE, KEY_A, NEW, 100),
                Pubdata.depositRefunded(1, BOB, KEY_B, NEW, 200),
                Pubdata.withdrawal(2, ALICE, 101)
            )
        );
        vm.expectRevert(Rollup.Overdraft.selector);
        rollup.applyBatch(b);
        apply_(
            abi.encodePacked(
                Pubdata.deposit(0, ALICE, KEY_A, NEW, 100),
                Pubdata.depositRefunded(1, BOB, KEY_B, NEW, 200),
                Pubdata.withdrawal(2, ALICE, 100)
            )
        );
        assertEq(rollup.l2Collateral(), 0, "L2 empty");
        assertEq(rollup.totalClaimable(), 300, "withdrawal and refund");
        solvent();
    }
}

contract RollupBatchTest is RollupFixture {
    function test_batch_movesRootAndCounts() public {
        uint256 before = rollup.stateRoot();
        bytes memory b = batchOf(Pubdata.markPrice(1, 77));
        uint256 newRoot = uint256(keccak256(abi.encode("root", rootCounter))) % R;
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.BatchApplied(1, before, newRoot, uint64(T0), 0, 0);
        rollup.applyBatch(b);
        assertEq(rollup.stateRoot(), newRoot, "root moved");
        assertEq(rollup.batchCount(), 1, "batch counted");
        assertEq(rollup.lastBatchTimestamp(), T0, "timestamp");
    }

    /// The header names the deployment the batch was proven for (and whose domain its signatures
    /// commit to): another chain's or another rollup's batch is refused, root and all correct.
    function test_batch_refusesAnotherDomain() public {
        uint256 root = rollup.stateRoot();
        uint64 chain = uint64(block.chainid);
        address here = address(rollup);
        bytes[4] memory wrong = [
            Pubdata.batch(root, root, 1, uint64(T0), chain + 1, here, "", ""),
            Pubdata.batch(root, root, 1, uint64(T0), 0, here, "", ""),
            Pubdata.batch(root, root, 1, uint64(T0), chain, address(uint160(here) ^ 1), "", ""),
            Pubdata.batch(root, root, 1, uint64(T0), chain, address(0), "", "")
        ];
        for (uint256 i = 0; i < wrong.length; ++i) {
            vm.expectRevert(Rollup.WrongDomain.selector);
            rollup.applyBatch(wrong[i]);
        }
        // The chain id is the block's, read at each batch: after a chain split, the side whose id
        // changed refuses the batches made for the other.
        bytes memory ok = Pubdata.batch(root, root, 1, uint64(T0), chain, here, "", "");
        vm.chainId(chain + 1);
        vm.expectRevert(Rollup.WrongDomain.selector);
        rollup.applyBatch(ok);
        vm.chainId(chain);
        rollup.applyBatch(ok);
        assertEq(rollup.batchCount(), 1, "the right domain applies");
    }

    /// Submitted with a valid proof for the wrong domain's bytes: the proof passes, the domain
    /// check refuses.
    function test_submitBatch_refusesAnotherDomainEvenProven() public {
        uint256 root = rollup.stateRoot();
        bytes memory b = Pubdata.batch(root, root, 1, uint64(T0), uint64(block.chainid) + 1, address(rollup), "", "");
        uint256[8] memory p = batchProof(b);
        vm.prank(OPERATOR);
        vm.expectRevert(Rollup.WrongDomain.selector);
        rollup.submitBatch(0, b, p, "");
    }

    function test_signingDomain_isChainIdAndAddress() public {
        assertEq(rollup.signingDomain(), (block.chainid << 160) | uint160(address(rollup)), "domain");
        vm.chainId(5);
        assertEq(rollup.signingDomain(), (uint256(5) << 160) | uint160(address(rollup)), "follows the chain");
        vm.chainId(type(uint64).max);
        assertTrue(rollup.signingDomain() < R, "a field element");
    }

    function test_batch_refusesWrongOldRoot() public {
        bytes memory b = batchFor(genesis + 1, 5, 1, uint64(T0), "", "");
        vm.expectRevert(abi.encodeWithSelector(Rollup.WrongOldRoot.selector, genesis, genesis + 1));
        rollup.applyBatch(b);
    }

    function test_batch_cannotBeAppliedTwice() public {
        deposit(ALICE, KEY_A, 100);
        bytes memory b =
            apply_(abi.encodePacked(Pubdata.deposit(0, ALICE, KEY_A, NEW, 100), Pubdata.withdrawal(2, ALICE, 40)));
        vm.warp(block.timestamp + 10);
        vm.expectRevert(abi.encodeWithSelector(Rollup.WrongOldRoot.selector, rollup.stateRoot(), genesis));
        rollup.applyBatch(b);
        assertEq(rollup.claimable(ALICE), 40, "credited once");
    }

    /// A batch that changes no leaf leaves the root where it was, and the next batch may carry
    /// the same timestamp: its number, exactly one more than the last, is what stops it from
    /// being applied again.
    function test_batch_unchangedRootCannotBeReplayed() public {
        uint256 root = rollup.stateRoot();
        bytes memory b = batchFor(root, root, 1, uint64(T0), Pubdata.markPrice(0, 5), "");
        rollup.applyBatch(b);
        vm.expectRevert(abi.encodeWithSelector(Rollup.BadBatchNumber.selector, uint64(2), uint64(1)));
        rollup.applyBatch(b);
        vm.warp(T0 + 100);
        vm.expectRevert(abi.encodeWithSelector(Rollup.BadBatchNumber.selector, uint64(2), uint64(1)));
        rollup.applyBatch(b);
        // The same content under the next number is a new batch.
        rollup.applyBatch(batchFor(root, root, 2, uint64(T0), Pubdata.markPrice(0, 5), ""));
        assertEq(rollup.batchCount(), 2, "two batches");
    }

    function test_batch_numberMustBeTheNext() public {
        uint256 root = rollup.stateRoot();
        uint64[4] memory wrong = [uint64(0), 2, 3, type(uint64).max];
        for (uint256 i = 0; i < wrong.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(Rollup.BadBatchNumber.selector, uint64(1), wrong[i]));
            rollup.applyBatch(batchFor(root, root, wrong[i], uint64(T0), "", ""));
        }
        rollup.applyBatch(batchFor(root, root, 1, uint64(T0), "", ""));
        vm.expectRevert(abi.encodeWithSelector(Rollup.BadBatchNumber.selector, uint64(2), uint64(3)));
        rollup.applyBatch(batchFor(root, root, 3, uint64(T0), "", ""));
        rollup.applyBatch(batchFor(root, root, 2, uint64(T0), "", ""));
        assertEq(rollup.batchCount(), 2, "counted");
    }

    /// Timestamps never decrease (equal is allowed, as `State::begin_batch` allows it) and are
    /// never in the future.
    function test_batch_timestampRules() public {
        uint256 root = rollup.stateRoot();
        vm.expectRevert(Rollup.BadTimestamp.selector);
        rollup.applyBatch(batchFor(root, root, 1, uint64(T0 + 1), "", ""));
        rollup.applyBatch(batchFor(root, root, 1, uint64(T0), "", ""));
        rollup.applyBatch(batchFor(root, root, 2, uint64(T0), "", ""));
        vm.warp(T0 + 50);
        vm.expectRevert(Rollup.BadTimestamp.selector);
        rollup.applyBatch(batchFor(root, root, 3, uint64(T0 - 1), "", ""));
        vm.expectRevert(Rollup.BadTimestamp.selector);
        rollup.applyBatch(batchFor(root, root, 3, uint64(T0 + 51), "", ""));
        rollup.applyBatch(batchFor(root, root, 3, uint64(T0 + 50), "", ""));
        assertEq(rollup.lastBatchTimestamp(), T0 + 50, "latest");
        vm.expectRevert(Rollup.BadTimestamp.selector);
        rollup.applyBatch(batchFor(root, root, 4, uint64(T0 + 49), "", ""));
        // Not more than maxBatchAge behind the L1: an operator cannot seal "in the past" to
        // fill expired orders or tick old quotes. At the bound itself it is accepted.
        uint256 age = rollup.maxBatchAge();
        vm.warp(T0 + 60 + age + 1);
        vm.expectRevert(Rollup.BadTimestamp.selector);
        rollup.applyBatch(batchFor(root, root, 4, uint64(T0 + 60), "", ""));
        vm.warp(T0 + 60 + age);
        rollup.applyBatch(batchFor(root, root, 4, uint64(T0 + 60), "", ""));
    }

    function test_batch_refusesNewRootOutsideField() public {
        vm.expectRevert(Rollup.BadNewRoot.selector);
        rollup.applyBatch(batchFor(genesis, R, 1, uint64(T0), "", ""));
    }

    /// A real blob's claim and KZG values (test/data/blob_binding.json), and another blob's hash.
    struct BlobCase {
        bytes32 vh;
        bytes32 other;
        uint128 z;
        uint256 y;
        bytes kzg;
    }

    function blobCase() internal view returns (BlobCase memory c) {
        string memory json = vm.readFile("test/data/blob_binding.json");
        c.vh = vm.parseJsonBytes32(json, ".cases[1].versioned_hash");
        c.other = vm.parseJsonBytes32(json, ".cases[0].versioned_hash");
        c.z = uint128(uint256(vm.parseJsonBytes32(json, ".cases[1].z")));
        c.y = uint256(vm.parseJsonBytes32(json, ".cases[1].y"));
        c.kzg = bytes.concat(
            vm.parseJsonBytes(json, ".cases[1].kzg_commitment"), vm.parseJsonBytes(json, ".cases[1].kzg_proof")
        );
    }

    function carry(bytes32 a) internal {
        bytes32[] memory hashes = new bytes32[](1);
        hashes[0] = a;
        vm.blobhashes(hashes);
    }

    /// A batch's blobs: each claim must name the transaction's blob at its index (BLOBHASH), the
    /// transaction must carry no blob beyond the claims, and the KZG values come whole.
    function test_batch_blobClaimsNameTheTransactionsBlobs() public {
        BlobCase memory c = blobCase();
        bytes memory claimed = batchFor(genesis, 5, 1, uint64(T0), "", Pubdata.blobClaim(c.vh, c.z, c.y));
        // No blob in the transaction.
        vm.expectRevert(abi.encodeWithSelector(BlobBinding.NoBlob.selector, 0));
        rollup.applyBatch(claimed, c.kzg);
        // Another blob than the one claimed.
        carry(c.other);
        vm.expectRevert(abi.encodeWithSelector(Rollup.WrongBlob.selector, 0));
        rollup.applyBatch(claimed, c.kzg);
        // A blob more than claimed.
        bytes32[] memory two = new bytes32[](2);
        (two[0], two[1]) = (c.vh, c.other);
        vm.blobhashes(two);
        vm.expectRevert(abi.encodeWithSelector(Rollup.WrongBlob.selector, 1));
        rollup.applyBatch(claimed, c.kzg);
        // KZG values missing or one byte long.
        carry(c.vh);
        vm.expectRevert(Rollup.MalformedPubdata.selector);
        rollup.applyBatch(claimed, "");
        vm.expectRevert(Rollup.MalformedPubdata.selector);
        rollup.applyBatch(claimed, bytes.concat(c.kzg, hex"00"));
        // The true claim applies.
        rollup.applyBatch(claimed, c.kzg);
        assertEq(rollup.stateRoot(), 5, "applied");
    }

    /// The opening must verify at the claimed z and y: another evaluation, another point or
    /// another proof is refused by the point-evaluation precompile. A refused opening burns the
    /// gas given to the precompile, hence the cap on those calls.
    function test_batch_blobOpeningsAreChecked() public {
        BlobCase memory c = blobCase();
        carry(c.vh);
        bytes memory wrongY = batchFor(genesis, 5, 1, uint64(T0), "", Pubdata.blobClaim(c.vh, c.z, c.y ^ 1));
        vm.expectRevert(abi.encodeWithSelector(BlobBinding.BlobOpeningFailed.selector, c.vh));
        rollup.applyBatch{gas: 1_000_000}(wrongY, c.kzg);
        bytes memory wrongZ = batchFor(genesis, 5, 1, uint64(T0), "", Pubdata.blobClaim(c.vh, c.z ^ 1, c.y));
        vm.expectRevert(abi.encodeWithSelector(BlobBinding.BlobOpeningFailed.selector, c.vh));
        rollup.applyBatch{gas: 1_000_000}(wrongZ, c.kzg);
        bytes memory claimed = batchFor(genesis, 5, 1, uint64(T0), "", Pubdata.blobClaim(c.vh, c.z, c.y));
        bytes memory badProof = bytes.concat(c.kzg);
        badProof[60] ^= 0x01;
        vm.expectRevert(abi.encodeWithSelector(BlobBinding.BlobOpeningFailed.selector, c.vh));
        rollup.applyBatch{gas: 1_000_000}(claimed, badProof);
        rollup.applyBatch(claimed, c.kzg);
        assertEq(rollup.stateRoot(), 5, "applied");
    }

    function test_batch_refusesMalformedLayout() public {
        bytes memory ok = batchFor(genesis, 5, 1, uint64(T0), Pubdata.markPrice(0, 5), "");
        // Truncated by one byte, one byte too long, and too short for a header.
        bytes memory cut = new bytes(ok.length - 1);
        for (uint256 i = 0; i < cut.length; ++i) {
            cut[i] = ok[i];
        }
        vm.expectRevert(Rollup.MalformedPubdata.selector);
        rollup.applyBatch(cut);
        vm.expectRevert(Rollup.MalformedPubdata.selector);
        rollup.applyBatch(abi.encodePacked(ok, uint8(0)));
        vm.expectRevert(Rollup.MalformedPubdata.selector);
        rollup.applyBatch(new bytes(115));
        // A record that runs past the declared record bytes.
        bytes memory records = abi.encodePacked(Pubdata.markPrice(0, 5), uint8(0x04), uint8(0));
        vm.expectRevert(Rollup.MalformedPubdata.selector);
        rollup.applyBatch(batchFor(genesis, 5, 1, uint64(T0), records, ""));
        // Unknown kinds and markets.
        vm.expectRevert(abi.encodeWithSelector(Rollup.UnknownRecord.selector, uint8(0x09)));
        rollup.applyBatch(batchFor(genesis, 5, 1, uint64(T0), abi.encodePacked(uint8(0x09)), ""));
        // A forced-cancel answer one byte short of its 42, a forced-trade answer of its 76.
        vm.expectRevert(Rollup.MalformedPubdata.selector);
        rollup.applyBatch(batchFor(genesis, 5, 1, uint64(T0), abi.encodePacked(uint8(0x07), new bytes(40)), ""));
        vm.expectRevert(Rollup.MalformedPubdata.selector);
        rollup.applyBatch(batchFor(genesis, 5, 1, uint64(T0), abi.encodePacked(uint8(0x08), new bytes(74)), ""));
        // No-op slots: a lone 0x00 has no length; a length past the record bytes is refused.
        vm.expectRevert(Rollup.MalformedPubdata.selector);
        rollup.applyBatch(batchFor(genesis, 5, 1, uint64(T0), abi.encodePacked(uint8(0x00)), ""));
        vm.expectRevert(Rollup.MalformedPubdata.selector);
        rollup.applyBatch(batchFor(genesis, 5, 1, uint64(T0), abi.encodePacked(uint8(0), uint16(8), new bytes(7)), ""));
        vm.expectRevert(abi.encodeWithSelector(Rollup.UnknownMarket.selector, MARKETS));
        rollup.applyBatch(batchFor(genesis, 5, 1, uint64(T0), Pubdata.markPrice(uint8(MARKETS), 5), ""));
        rollup.applyBatch(ok);
    }

    /// Unused slots of a batch shape are skipped, whatever kind they stand in for.
    function test_batch_skipsNoopSlots() public {
        apply_(
            abi.encodePacked(
                Pubdata.noop(10),
                Pubdata.markPrice(0, 1000),
                Pubdata.noop(73),
                Pubdata.noop(33),
                Pubdata.noop(49),
                Pubdata.noop(42)
            )
        );
        (uint64 price,) = rollup.markets(0);
        assertEq(price, 1000, "the record between no-ops applies");
    }

    function test_batch_storesMarkPricesAndFunding() public {
        apply_(
            abi.encodePacked(
                Pubdata.markPrice(0, 1000),
                Pubdata.fundingIndex(0, -12345),
                Pubdata.markPrice(1, (1 << 40) - 1),
                Pubdata.fundingIndex(1, type(int64).max)
            )
        );
        (uint64 p0, int64 f0) = rollup.markets(0);
        (uint64 p1, int64 f1) = rollup.markets(1);
        assertEq(p0, 1000, "price 0");
        assertEq(int256(f0), -12345, "funding 0");
        assertEq(p1, (1 << 40) - 1, "price 1");
        assertEq(int256(f1), type(int64).max, "funding 1");
        apply_(Pubdata.markPrice(0, 999));
        (p0, f0) = rollup.markets(0);
        assertEq(p0, 999, "latest price");
        assertEq(int256(f0), -12345, "funding kept");
    }

    function test_withdrawal_claimableThenClaimedOnce() public {
        deposit(ALICE, KEY_A, 1000);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.WithdrawalCredited(1, 2, ALICE, 400);
        apply_(abi.encodePacked(Pubdata.deposit(0, ALICE, KEY_A, NEW, 1000), Pubdata.withdrawal(2, ALICE, 400)));
        apply_(Pubdata.withdrawal(2, ALICE, 100));
        assertEq(rollup.claimable(ALICE), 500, "claimable");
        assertEq(rollup.l2Collateral(), 500, "left in L2");
        solvent();

        uint256 before = token.balanceOf(ALICE);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.Claimed(ALICE, 500);
        vm.prank(ALICE);
        rollup.claim();
        assertEq(token.balanceOf(ALICE), before + 500, "paid");
        assertEq(rollup.claimable(ALICE), 0, "cleared");
        solvent();

        vm.prank(ALICE);
        vm.expectRevert(Rollup.NothingToClaim.selector);
        rollup.claim();
        vm.prank(BOB);
        vm.expectRevert(Rollup.NothingToClaim.selector);
        rollup.claim();
    }

    function test_withdrawal_neverMoreThanL2Holds() public {
        deposit(ALICE, KEY_A, 1000);
        bytes memory b =
            batchOf(abi.encodePacked(Pubdata.deposit(0, ALICE, KEY_A, NEW, 1000), Pubdata.withdrawal(2, BOB, 1001)));
        vm.expectRevert(Rollup.Overdraft.selector);
        rollup.applyBatch(b);
    }

    function test_operator_handsOverItsRole() public {
        vm.prank(ALICE);
        vm.expectRevert(Rollup.NotOperator.selector);
        rollup.setOperator(ALICE);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.OperatorChanged(OPERATOR, BOB);
        vm.prank(OPERATOR);
        rollup.setOperator(BOB);
        assertEq(rollup.operator(), BOB, "new operator");
    }
}

contract RollupForcedTest is RollupFixture {
    function test_forced_requestRecordsDeadline() public {
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.ForcedWithdrawalRequested(0, 2, ALICE, 50, uint64(T0 + GRACE));
        vm.prank(ALICE);
        rollup.requestForcedWithdrawal(2, 50);
        (address requester, uint32 account, uint64 amount, uint64 deadline) = rollup.forcedRequests(0);
        assertEq(requester, ALICE, "requester");
        assertEq(account, 2, "account");
        assertEq(amount, 50, "amount");
        assertEq(deadline, T0 + GRACE, "deadline");
        vm.prank(ALICE);
        vm.expectRevert(Rollup.BadAmount.selector);
        rollup.requestForcedWithdrawal(2, 0);
        vm.prank(ALICE);
        vm.expectRevert(Rollup.BadAmount.selector);
        rollup.requestForcedWithdrawal(2, uint64(1 << 63));
    }

    function test_forced_answeredInOrder_paidIsClaimable() public {
        deposit(ALICE, KEY_A, 1000);
        apply_(Pubdata.deposit(0, ALICE, KEY_A, NEW, 1000));
        vm.prank(ALICE);
        rollup.requestForcedWithdrawal(2, 300);
        vm.prank(BOB);
        rollup.requestForcedWithdrawal(2, 10);

        bytes memory skip = batchOf(Pubdata.forced(1, 2, BOB, 10, 0));
        vm.expectRevert(abi.encodeWithSelector(Rollup.ForcedOutOfOrder.selector, uint64(0), uint64(1)));
        rollup.applyBatch(skip);
        bytes[6] memory wrong = [
            Pubdata.forced(0, 3, ALICE, 300, 300),
            Pubdata.forced(0, 2, BOB, 300, 300),
            Pubdata.forced(0, 2, ALICE, 301, 301),
            Pubdata.forced(0, 2, ALICE, 299, 0),
            // More paid than asked, whatever the proof says.
            Pubdata.forced(0, 2, ALICE, 300, 301),
            Pubdata.forced(0, 2, ALICE, 300, type(uint64).max)
        ];
        for (uint256 i = 0; i < wrong.length; ++i) {
            bytes memory b = batchOf(wrong[i]);
            vm.expectRevert(Rollup.ForcedMismatch.selector);
            rollup.applyBatch(b);
        }

        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.ForcedWithdrawalAnswered(0, 2, 300);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.ForcedWithdrawalAnswered(1, 2, 0);
        apply_(abi.encodePacked(Pubdata.forced(0, 2, ALICE, 300, 300), Pubdata.forced(1, 2, BOB, 10, 0)));
        assertEq(rollup.forcedAnswered(), 2, "both answered");
        assertEq(rollup.claimable(ALICE), 300, "served");
        assertEq(rollup.claimable(BOB), 0, "refused");
        assertEq(rollup.l2Collateral(), 700, "left in L2");
        solvent();

        // Nothing beyond the queue can be answered.
        bytes memory ahead = batchOf(Pubdata.forced(2, 2, ALICE, 1, 0));
        vm.expectRevert(abi.encodeWithSelector(Rollup.ForcedOutOfOrder.selector, uint64(2), uint64(2)));
        rollup.applyBatch(ahead);
    }

    /// A request the margin rule limits is served up to what it allows: the answer's `paid`,
    /// anything from 0 to the amount asked, is what the requester may claim and what leaves L2.
    function test_forced_partialAnswerCreditsWhatItPaid() public {
        deposit(ALICE, KEY_A, 1000);
        apply_(Pubdata.deposit(0, ALICE, KEY_A, NEW, 1000));
        vm.prank(ALICE);
        rollup.requestForcedWithdrawal(2, 300);
        vm.prank(BOB);
        rollup.requestForcedWithdrawal(3, 500);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.ForcedWithdrawalAnswered(0, 2, 120);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.ForcedWithdrawalAnswered(1, 3, 1);
        apply_(abi.encodePacked(Pubdata.forced(0, 2, ALICE, 300, 120), Pubdata.forced(1, 3, BOB, 500, 1)));
        assertEq(rollup.claimable(ALICE), 120, "paid, not asked");
        assertEq(rollup.claimable(BOB), 1, "one unit");
        assertEq(rollup.l2Collateral(), 1000 - 121, "what was paid left L2");
        assertEq(rollup.forcedAnswered(), 2, "answered: no second answer for the rest");
        solvent();
        // A partial answer is still bounded by what L2 holds.
        vm.prank(ALICE);
        rollup.requestForcedWithdrawal(2, 5000);
        bytes memory b = batchOf(Pubdata.forced(2, 2, ALICE, 5000, 880));
        vm.expectRevert(Rollup.Overdraft.selector);
        rollup.applyBatch(b);
        apply_(Pubdata.forced(2, 2, ALICE, 5000, 879));
        assertEq(rollup.l2Collateral(), 0, "drained exactly");
        solvent();
    }

    /// A forced withdrawal below the deployment's minimum is refused; the minimum is accepted.
    function test_forced_refusesBelowTheMinimum() public {
        IVerifier[] memory shapes = new IVerifier[](1);
        shapes[0] = rollup.batchVerifier(0);
        Rollup.Config memory c = config(shapes, rollup.exitVerifier());
        c.minForcedAmount = 50;
        Rollup r = new Rollup(c);
        assertEq(r.minForcedAmount(), 50, "minForcedAmount");
        vm.prank(ALICE);
        vm.expectRevert(Rollup.BadAmount.selector);
        r.requestForcedWithdrawal(2, 49);
        vm.prank(ALICE);
        r.requestForcedWithdrawal(2, 50);
        assertEq(r.forcedCount(), 1, "the minimum is accepted");
    }

    function test_freeze_exactlyAtTheDeadline() public {
        vm.expectRevert(Rollup.NotOverdue.selector);
        rollup.freeze();
        vm.prank(ALICE);
        rollup.requestForcedWithdrawal(2, 50);
        vm.warp(T0 + GRACE - 1);
        vm.expectRevert(Rollup.NotOverdue.selector);
        rollup.freeze();
        vm.warp(T0 + GRACE);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.Frozen(0, 0, BOB);
        vm.prank(BOB);
        rollup.freeze();
        assertTrue(rollup.frozen(), "frozen");
        assertEq(rollup.frozenAt(), T0 + GRACE, "frozenAt");
        vm.expectRevert(Rollup.IsFrozen.selector);
        rollup.freeze();
    }

    /// A deposit no batch consumes lets anyone freeze at its deadline second, not before.
    function test_freeze_onAnOverdueDeposit() public {
        deposit(ALICE, KEY_A, 100);
        assertEq(rollup.depositDeadline(0), T0 + GRACE, "deadline");
        vm.warp(T0 + GRACE - 1);
        vm.expectRevert(Rollup.NotOverdue.selector);
        rollup.freeze();
        vm.warp(T0 + GRACE);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.Frozen(1, 0, BOB);
        vm.prank(BOB);
        rollup.freeze();
        assertTrue(rollup.frozen(), "frozen");
        assertEq(rollup.frozenAt(), T0 + GRACE, "frozenAt");
        // The deposit is the depositor's again.
        vm.prank(ALICE);
        rollup.reclaimDeposit(0, KEY_A, NEW, 100);
        solvent();
    }

    /// Consumed deposits are not overdue, however old; the oldest unconsumed one is, at its own
    /// staggered deadline.
    function test_freeze_onTheOldestUnconsumedDepositOnly() public {
        for (uint256 i = 0; i < 3; ++i) {
            deposit(ALICE, KEY_A, 100);
        }
        apply_(abi.encodePacked(Pubdata.deposit(0, ALICE, KEY_A, NEW, 100), Pubdata.deposit(1, ALICE, KEY_A, NEW, 100)));
        uint64 due = rollup.depositDeadline(2);
        assertEq(due, T0 + GRACE + 2 * DEPOSIT_SPACING, "third deadline");
        vm.warp(due - 1);
        vm.expectRevert(Rollup.NotOverdue.selector);
        rollup.freeze();
        apply_(Pubdata.deposit(2, ALICE, KEY_A, NEW, 100));
        vm.warp(due + 365 days);
        vm.expectRevert(Rollup.NotOverdue.selector);
        rollup.freeze();
        // A new deposit starts its own grace period.
        deposit(BOB, KEY_B, 5);
        vm.warp(block.timestamp + GRACE);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.Frozen(1, 3, address(this));
        rollup.freeze();
    }

    /// When both queues are overdue the forced request is named; when only the deposit is, the
    /// deposit is, even with a forced request pending (not yet due).
    function test_freeze_namesTheOverdueQueue() public {
        deposit(ALICE, KEY_A, 100);
        vm.warp(T0 + 1 hours);
        vm.prank(BOB);
        rollup.requestForcedWithdrawal(2, 10);
        uint256 snap = vm.snapshotState();
        vm.warp(T0 + GRACE);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.Frozen(1, 0, address(this));
        rollup.freeze();
        vm.revertToState(snap);
        vm.warp(T0 + 1 hours + GRACE);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.Frozen(0, 0, address(this));
        rollup.freeze();
    }

    function test_freeze_notOnceTheRequestIsAnswered() public {
        vm.prank(ALICE);
        rollup.requestForcedWithdrawal(2, 50);
        // Later than the spacing: the second request's deadline is its own now + grace.
        uint256 second = T0 + SPACING + 10;
        vm.warp(second);
        vm.prank(BOB);
        rollup.requestForcedWithdrawal(3, 60);
        apply_(Pubdata.forced(0, 2, ALICE, 50, 0));
        vm.warp(second + GRACE - 1);
        vm.expectRevert(Rollup.NotOverdue.selector);
        rollup.freeze();
        vm.warp(second + GRACE);
        rollup.freeze();
        (,,, uint64 deadline) = rollup.forcedRequests(1);
        assertEq(deadline, second + GRACE, "the second request's deadline");
    }

    function test_freeze_stopsBatchesDepositsAndRequests() public {
        deposit(ALICE, KEY_A, 100);
        freezeNow();
        bytes memory b = batchOf(Pubdata.deposit(0, ALICE, KEY_A, NEW, 100));
        vm.expectRevert(Rollup.IsFrozen.selector);
        rollup.applyBatch(b);
        uint256[8] memory proof = batchProof(b);
        vm.prank(OPERATOR);
        vm.expectRevert(Rollup.IsFrozen.selector);
        rollup.submitBatch(0, b, proof, "");
        vm.prank(ALICE);
        vm.expectRevert(Rollup.IsFrozen.selector);
        rollup.deposit(KEY_A, NEW, 1);
        vm.prank(ALICE);
        vm.expectRevert(Rollup.IsFrozen.selector);
        rollup.requestForcedWithdrawal(2, 1);
    }

    function test_claim_stillWorksAfterFreeze() public {
        deposit(ALICE, KEY_A, 100);
        apply_(abi.encodePacked(Pubdata.deposit(0, ALICE, KEY_A, NEW, 100), Pubdata.withdrawal(2, ALICE, 60)));
        freezeNow();
        vm.prank(ALICE);
        rollup.claim();
        assertEq(rollup.claimable(ALICE), 0, "claimed");
        solvent();
    }
}

contract RollupAfterFreezeTest is RollupFixture {
    function test_reclaim_onlyAfterFreezeOnlyUnconsumedOnlyOnce() public {
        deposit(ALICE, KEY_A, 100);
        deposit(BOB, KEY_B, 200);
        deposit(ALICE, KEY_A, 300);
        apply_(Pubdata.deposit(0, ALICE, KEY_A, NEW, 100));

        vm.prank(BOB);
        vm.expectRevert(Rollup.NotFrozen.selector);
        rollup.reclaimDeposit(1, KEY_B, NEW, 200);

        freezeNow();
        // Consumed: gone into L2, exits pay it.
        vm.prank(ALICE);
        vm.expectRevert(Rollup.NotReclaimable.selector);
        rollup.reclaimDeposit(0, KEY_A, NEW, 100);
        // Not the depositor, or not the record.
        vm.prank(ALICE);
        vm.expectRevert(Rollup.NotReclaimable.selector);
        rollup.reclaimDeposit(1, KEY_B, NEW, 200);
        vm.prank(BOB);
        vm.expectRevert(Rollup.NotReclaimable.selector);
        rollup.reclaimDeposit(1, KEY_B, NEW, 201);
        vm.prank(BOB);
        vm.expectRevert(Rollup.NotReclaimable.selector);
        rollup.reclaimDeposit(1, KEY_A, NEW, 200);
        vm.prank(BOB);
        vm.expectRevert(Rollup.NotReclaimable.selector);
        rollup.reclaimDeposit(3, KEY_B, NEW, 200);

        uint256 before = token.balanceOf(BOB);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.DepositReclaimed(1, BOB, 200);
        vm.prank(BOB);
        rollup.reclaimDeposit(1, KEY_B, NEW, 200);
        assertEq(token.balanceOf(BOB), before + 200, "bob refunded");
        vm.prank(BOB);
        vm.expectRevert(Rollup.NotReclaimable.selector);
        rollup.reclaimDeposit(1, KEY_B, NEW, 200);

        vm.prank(ALICE);
        rollup.reclaimDeposit(2, KEY_A, NEW, 300);
        assertEq(rollup.pendingDeposits(), 0, "all reclaimed");
        solvent();
    }

    function setUpExit() internal {
        deposit(ALICE, KEY_A, 1000);
        deposit(BOB, KEY_B, 500);
        apply_(
            abi.encodePacked(
                Pubdata.deposit(0, ALICE, KEY_A, NEW, 1000),
                Pubdata.deposit(1, BOB, KEY_B, NEW, 500),
                Pubdata.markPrice(0, 111),
                Pubdata.markPrice(1, 222)
            )
        );
    }

    function test_exit_refusedBeforeFreeze() public {
        setUpExit();
        uint256[8] memory p = exitProof(2, ALICE, 900);
        vm.prank(ALICE);
        vm.expectRevert(Rollup.NotFrozen.selector);
        rollup.registerExit(2, 900, p);
        vm.expectRevert(Rollup.NotFrozen.selector);
        rollup.claimExit(2);
        assertEq(rollup.exitPayout(2), 0, "nothing to show");
    }

    function test_exit_publicInputs() public {
        setUpExit();
        uint256[] memory input = rollup.exitInputs(2, ALICE, 900);
        assertEq(input.length, 4 + MARKETS, "length");
        assertEq(input[0], rollup.stateRoot(), "root");
        assertEq(input[1], 2, "account");
        assertEq(input[2], uint160(ALICE), "owner");
        assertEq(input[3], 900, "amount");
        assertEq(input[4], 111, "mark 0");
        assertEq(input[5], 222, "mark 1");
    }

    function test_registerExit_oncePerAccountByItsOwner() public {
        setUpExit();
        freezeNow();
        uint256[8] memory p = exitProof(2, ALICE, 900);
        // The owner is the caller: a proof made for ALICE is useless to BOB.
        vm.prank(BOB);
        vm.expectRevert(Rollup.InvalidProof.selector);
        rollup.registerExit(2, 900, p);
        // The amount is proven.
        vm.prank(ALICE);
        vm.expectRevert(Rollup.InvalidProof.selector);
        rollup.registerExit(2, 901, p);
        // The account is proven.
        vm.prank(ALICE);
        vm.expectRevert(Rollup.InvalidProof.selector);
        rollup.registerExit(3, 900, p);

        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.ExitRegistered(2, ALICE, 900);
        vm.prank(ALICE);
        rollup.registerExit(2, 900, p);
        assertEq(rollup.exitOwner(2), ALICE, "owner");
        assertEq(rollup.exitAmount(2), 900, "amount");
        assertEq(rollup.totalExitRegistered(), 900, "total");
        assertEq(rollup.exitPayout(2), 900, "the pool covers it so far");
        // Registering pays nothing.
        assertEq(rollup.l2Collateral(), 1500, "still in L2");
        solvent();

        vm.prank(ALICE);
        vm.expectRevert(Rollup.AlreadyExited.selector);
        rollup.registerExit(2, 900, p);
        uint256[8] memory p0 = exitProof(2, ALICE, 0);
        vm.prank(ALICE);
        vm.expectRevert(Rollup.AlreadyExited.selector);
        rollup.registerExit(2, 0, p0);
        assertEq(rollup.totalExitRegistered(), 900, "counted once");
    }

    /// The insurance fund (account 0) does not exit: its value stays in the pool that pays the
    /// users' exits, even with a valid proof by its L1 owner.
    function test_registerExit_refusesTheInsuranceFund() public {
        setUpExit();
        freezeNow();
        uint256[8] memory p = exitProof(0, ALICE, 100);
        vm.prank(ALICE);
        vm.expectRevert(Rollup.InsuranceFundExit.selector);
        rollup.registerExit(0, 100, p);
        assertEq(rollup.totalExitRegistered(), 0, "nothing registered");
    }

    /// Registration is open from the freeze to one second before `frozenAt + claimWindow`.
    function test_registerExit_onlyInsideTheWindow() public {
        setUpExit();
        freezeNow();
        uint256 end = rollup.frozenAt() + CLAIM_WINDOW;
        register(2, ALICE, 900);
        vm.warp(end - 1);
        register(3, BOB, 500);
        vm.warp(end);
        uint256[8] memory p = exitProof(4, CAROL, 1);
        vm.prank(CAROL);
        vm.expectRevert(Rollup.ExitWindowClosed.selector);
        rollup.registerExit(4, 1, p);
        vm.warp(end + 365 days);
        vm.prank(CAROL);
        vm.expectRevert(Rollup.ExitWindowClosed.selector);
        rollup.registerExit(4, 1, p);
        assertEq(rollup.totalExitRegistered(), 1400, "the two inside the window");
    }

    /// Claims start exactly when the window closes, each pays once, to the registered owner,
    /// whoever calls.
    function test_claimExit_onlyAfterTheWindowOnce() public {
        setUpExit();
        freezeNow();
        register(2, ALICE, 900);
        uint256 end = rollup.frozenAt() + CLAIM_WINDOW;
        vm.expectRevert(Rollup.ExitWindowOpen.selector);
        rollup.claimExit(2);
        vm.warp(end - 1);
        vm.expectRevert(Rollup.ExitWindowOpen.selector);
        rollup.claimExit(2);
        vm.warp(end);
        uint256 before = token.balanceOf(ALICE);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.Exited(2, ALICE, 900, 900);
        vm.prank(CAROL);
        rollup.claimExit(2);
        assertEq(token.balanceOf(ALICE), before + 900, "paid to the owner");
        assertTrue(rollup.exitClaimed(2), "marked");
        assertEq(rollup.exitPayout(2), 0, "nothing more");
        assertEq(rollup.l2Collateral(), 600, "left in L2");
        solvent();
        vm.expectRevert(Rollup.AlreadyClaimed.selector);
        rollup.claimExit(2);
        vm.prank(ALICE);
        vm.expectRevert(Rollup.AlreadyClaimed.selector);
        rollup.claimExit(2);
    }

    function test_claimExit_unregisteredReverts() public {
        setUpExit();
        freezeNow();
        register(2, ALICE, 900);
        closeWindow();
        vm.expectRevert(Rollup.NotRegistered.selector);
        rollup.claimExit(3);
        vm.expectRevert(Rollup.NotRegistered.selector);
        rollup.claimExit(type(uint32).max);
        assertEq(rollup.exitPayout(3), 0, "nothing to show");
    }

    /// When the registered exits fit in the pool every one is paid in full; what nobody
    /// registered stays in the contract.
    function test_claimExit_fullWhenThePoolCoversAll() public {
        setUpExit();
        freezeNow();
        register(2, ALICE, 900);
        register(3, BOB, 500);
        closeWindow();
        rollup.claimExit(3);
        rollup.claimExit(2);
        assertEq(rollup.exitPool(), 1500, "the pool");
        assertEq(token.balanceOf(BOB), 1_000_000e6 - 500 + 500, "bob in full");
        assertEq(token.balanceOf(ALICE), 1_000_000e6 - 1000 + 900, "alice in full");
        assertEq(rollup.l2Collateral(), 100, "unregistered value stays");
        solvent();
    }

    /// Three exits of 100, 200 and 300 against a pool of 300: each is paid half, 50, 100 and 150,
    /// in whatever order they are claimed.
    function test_claimExit_proRataWhenThePoolFallsShort() public {
        deposit(ALICE, KEY_A, 100);
        deposit(BOB, KEY_B, 200);
        apply_(abi.encodePacked(Pubdata.deposit(0, ALICE, KEY_A, NEW, 100), Pubdata.deposit(1, BOB, KEY_B, NEW, 200)));
        freezeNow();
        assertEq(rollup.l2Collateral(), 300, "pool");
        register(2, ALICE, 100);
        register(3, BOB, 200);
        register(4, CAROL, 300);
        assertEq(rollup.exitPayout(2), 50, "estimate, alice");
        assertEq(rollup.exitPayout(4), 150, "estimate, carol");
        closeWindow();
        uint256[3] memory before = [token.balanceOf(ALICE), token.balanceOf(BOB), token.balanceOf(CAROL)];
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.Exited(4, CAROL, 300, 150);
        rollup.claimExit(4);
        assertEq(rollup.exitPayout(2), 50, "unchanged by the first claim");
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.Exited(2, ALICE, 100, 50);
        rollup.claimExit(2);
        vm.warp(block.timestamp + 365 days);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.Exited(3, BOB, 200, 100);
        rollup.claimExit(3);
        assertEq(token.balanceOf(ALICE) - before[0], 50, "alice");
        assertEq(token.balanceOf(BOB) - before[1], 100, "bob");
        assertEq(token.balanceOf(CAROL) - before[2], 150, "carol");
        assertEq(rollup.l2Collateral(), 0, "drained exactly");
        solvent();
    }

    /// The case pro rata exists for. Deposits: Alice 1000, Bob 500, Carol 500 (2000 in L2). Alice
    /// is long against Bob's short and the mark moved 900 her way: Bob's account is bankrupt
    /// (total value -400) and nobody liquidated it before the freeze. Alice had withdrawn 200
    /// (claimable, so it left L2: 1800 remain). Proven at the last marks, Alice's exit is 1700,
    /// Carol's 500, Bob's 0: 2200 registered against 1800. First come, first served would pay
    /// Alice 1700 and leave Carol 100; instead each gets 1800/2200 of their value, in any order,
    /// and Alice's earlier withdrawal is still paid in full.
    function test_claimExit_bankruptAccountEveryExiterBearsTheSameFraction() public {
        deposit(ALICE, KEY_A, 1000);
        deposit(BOB, KEY_B, 500);
        deposit(CAROL, KEY_A, 500);
        apply_(
            abi.encodePacked(
                Pubdata.deposit(0, ALICE, KEY_A, NEW, 1000),
                Pubdata.deposit(1, BOB, KEY_B, NEW, 500),
                Pubdata.deposit(2, CAROL, KEY_A, NEW, 500),
                Pubdata.markPrice(0, 900),
                Pubdata.withdrawal(2, ALICE, 200)
            )
        );
        freezeNow();
        uint256 pool = rollup.l2Collateral();
        assertEq(pool, 1800, "L2 after the withdrawal");
        register(2, ALICE, 1700);
        register(3, BOB, 0);
        register(4, CAROL, 500);
        uint256 total = rollup.totalExitRegistered();
        assertEq(total, 2200, "registered above the pool");
        closeWindow();

        uint32[3] memory accounts = [uint32(2), 3, 4];
        address[3] memory owners = [ALICE, BOB, CAROL];
        uint256[3] memory amounts = [uint256(1700), 0, 500];
        uint256[3] memory paid;
        // Claimed in two different orders from the same state: the same payouts.
        uint256 snap = vm.snapshotState();
        for (uint256 order = 0; order < 2; ++order) {
            vm.revertToState(snap);
            uint256 sum;
            for (uint256 k = 0; k < 3; ++k) {
                uint256 i = order == 0 ? k : 2 - k;
                uint256 before = token.balanceOf(owners[i]);
                rollup.claimExit(accounts[i]);
                uint256 got = token.balanceOf(owners[i]) - before;
                if (order == 0) paid[i] = got;
                else assertEq(got, paid[i], "order does not matter");
                sum += got;
            }
            assertTrue(sum <= pool, "never more than the pool");
            assertEq(rollup.l2Collateral(), pool - sum, "paid from L2 only");
            solvent();
        }
        assertEq(paid[0], 1390, "alice: 1700 * 1800 / 2200, rounded down");
        assertEq(paid[1], 0, "bob: nothing");
        assertEq(paid[2], 409, "carol: 500 * 1800 / 2200, rounded down");
        // The same fraction for each: paid / amount = pool / total, up to the rounding.
        for (uint256 i = 0; i < 3; ++i) {
            assertTrue(paid[i] * total <= amounts[i] * pool, "not above the fraction");
            assertTrue(amounts[i] * pool < (paid[i] + 1) * total, "less than a unit below it");
        }
        // The withdrawal credited before the freeze is not part of the pool: paid in full.
        uint256 beforeClaim = token.balanceOf(ALICE);
        vm.prank(ALICE);
        rollup.claim();
        assertEq(token.balanceOf(ALICE) - beforeClaim, 200, "claimable in full");
        solvent();
    }

    /// Whatever the pool and the registered amounts, the claims pay exactly each exit's share,
    /// never more than its amount, and never more than the pool in total.
    function testFuzz_claimExit_sumNeverExceedsThePool(uint64 poolSeed, uint256[6] memory seeds, uint8 start) public {
        uint64 pool = uint64(1 + poolSeed % 1e12);
        deposit(ALICE, KEY_A, pool);
        apply_(Pubdata.deposit(0, ALICE, KEY_A, NEW, pool));
        freezeNow();
        uint256[6] memory amounts;
        uint256 total;
        for (uint256 i = 0; i < 6; ++i) {
            // Half of them around the pool's size, half anywhere below 2^100.
            amounts[i] = seeds[i] % 2 == 0 ? (seeds[i] >> 1) % (uint256(pool) + 1) : (seeds[i] >> 1) % (1 << 100);
            total += amounts[i];
            register(uint32(10 + i), address(uint160(0x1000 + i)), amounts[i]);
        }
        closeWindow();
        uint256 sum;
        for (uint256 k = 0; k < 6; ++k) {
            uint256 i = (uint256(start) + k) % 6;
            rollup.claimExit(uint32(10 + i));
            uint256 got = token.balanceOf(address(uint160(0x1000 + i)));
            uint256 share = total <= pool ? amounts[i] : amounts[i] * pool / total;
            assertEq(got, share, "the share");
            assertTrue(got <= amounts[i], "never more than registered");
            sum += got;
        }
        assertTrue(sum <= pool, "never more than the pool");
        assertEq(rollup.l2Collateral(), pool - sum, "paid from L2");
        solvent();
    }

    function test_exit_againstTheLastRootAndPrices() public {
        setUpExit();
        uint256[8] memory stale = exitProof(2, ALICE, 900);
        apply_(Pubdata.markPrice(0, 112));
        freezeNow();
        vm.prank(ALICE);
        vm.expectRevert(Rollup.InvalidProof.selector);
        rollup.registerExit(2, 900, stale);
        uint256[8] memory fresh = exitProof(2, ALICE, 900);
        vm.prank(ALICE);
        rollup.registerExit(2, 900, fresh);
    }

    function test_exit_amountWidth() public {
        setUpExit();
        freezeNow();
        uint256 big = 1 << 100;
        uint256[8] memory p = exitProof(2, ALICE, big);
        vm.prank(ALICE);
        vm.expectRevert(Rollup.BadAmount.selector);
        rollup.registerExit(2, big, p);
        register(2, ALICE, big - 1);
        assertEq(rollup.totalExitRegistered(), big - 1, "the widest amount");
    }

    /// Claims, reclaims and exits all work during and after the window, each from its own term.
    function test_exit_windowLeavesClaimsAndReclaimsAlone() public {
        deposit(ALICE, KEY_A, 1000);
        deposit(BOB, KEY_B, 300);
        apply_(abi.encodePacked(Pubdata.deposit(0, ALICE, KEY_A, NEW, 1000), Pubdata.withdrawal(2, ALICE, 400)));
        freezeNow();
        register(2, ALICE, 5000);
        vm.prank(BOB);
        rollup.reclaimDeposit(1, KEY_B, NEW, 300);
        closeWindow();
        rollup.claimExit(2);
        assertEq(rollup.l2Collateral(), 0, "the pool went to the one exit");
        vm.prank(ALICE);
        rollup.claim();
        assertEq(token.balanceOf(ALICE), 1_000_000e6 - 1000 + 600 + 400, "exit share and withdrawal");
        assertEq(token.balanceOf(address(rollup)), 0, "all out");
        solvent();
    }
}

/// The full path: commitment, the real Groth16 verifier (with a test key), then _applyBatch.
contract RollupSubmitTest is RollupFixture {
    function sampleBatch() internal returns (bytes memory) {
        deposit(ALICE, KEY_A, 1000);
        deposit(BOB, KEY_B, 2000);
        return batchOf(
            abi.encodePacked(
                Pubdata.deposit(0, ALICE, KEY_A, NEW, 1000),
                Pubdata.deposit(1, BOB, KEY_B, NEW, 2000),
                Pubdata.withdrawal(2, ALICE, 250),
                Pubdata.markPrice(0, 100),
                Pubdata.fundingIndex(0, -3)
            )
        );
    }

    function test_submitBatch_acceptsAProvenBatch() public {
        bytes memory b = sampleBatch();
        uint256[8] memory p = batchProof(b);
        vm.prank(OPERATOR);
        rollup.submitBatch(0, b, p, "");
        assertEq(rollup.batchCount(), 1, "applied");
        assertEq(rollup.depositsConsumed(), 2, "deposits");
        assertEq(rollup.claimable(ALICE), 250, "withdrawal");
        solvent();
    }

    function test_submitBatch_onlyOperatorKnownShape() public {
        bytes memory b = sampleBatch();
        uint256[8] memory p = batchProof(b);
        vm.prank(ALICE);
        vm.expectRevert(Rollup.NotOperator.selector);
        rollup.submitBatch(0, b, p, "");
        vm.prank(OPERATOR);
        vm.expectRevert(Rollup.UnknownShape.selector);
        rollup.submitBatch(1, b, p, "");
    }

    /// Every byte of the public data is bound by the proof: change any one and it fails.
    function test_submitBatch_everyPubdataByteIsBound() public {
        bytes memory b = sampleBatch();
        uint256[8] memory p = batchProof(b);
        for (uint256 i = 0; i < b.length; ++i) {
            bytes memory t = bytes.concat(b);
            t[i] = bytes1(uint8(t[i]) ^ 0x01);
            vm.prank(OPERATOR);
            vm.expectRevert(Rollup.InvalidProof.selector);
            rollup.submitBatch(0, t, p, "");
        }
    }

    function test_submitBatch_refusesProofForAnotherBatch() public {
        bytes memory b = sampleBatch();
        uint256[8] memory p = batchProof(b);
        p[6] = TestKey.mulG1(18)[0];
        p[7] = TestKey.mulG1(18)[1];
        vm.prank(OPERATOR);
        vm.expectRevert(Rollup.InvalidProof.selector);
        rollup.submitBatch(0, b, p, "");
    }

    function test_submitBatch_malleatedProofCannotReapply() public {
        bytes memory b = sampleBatch();
        uint256[8] memory p = batchProof(b);
        vm.prank(OPERATOR);
        rollup.submitBatch(0, b, p, "");
        uint256 root = rollup.stateRoot();
        vm.warp(block.timestamp + 60);
        vm.prank(OPERATOR);
        vm.expectRevert(abi.encodeWithSelector(Rollup.WrongOldRoot.selector, root, genesis));
        rollup.submitBatch(0, b, TestKey.malleate(p), "");
        vm.prank(OPERATOR);
        vm.expectRevert(abi.encodeWithSelector(Rollup.WrongOldRoot.selector, root, genesis));
        rollup.submitBatch(0, b, p, "");
        assertEq(rollup.claimable(ALICE), 250, "credited once");
    }

    /// The fixture's configuration over placeholder verifiers, at genesis root 0.
    function placeholderConfig() internal view returns (Rollup.Config memory c) {
        IVerifier[] memory shapes = new IVerifier[](1);
        shapes[0] = IVerifier(address(1));
        c = config(shapes, IVerifier(address(2)));
        c.genesisRoot = 0;
    }

    function refused(Rollup.Config memory c) internal {
        vm.expectRevert(Rollup.BadConfig.selector);
        new Rollup(c);
    }

    function test_constructor_refusesBadConfig() public {
        Rollup.Config memory c = placeholderConfig();
        c.genesisRoot = R;
        refused(c);
        c = placeholderConfig();
        c.marketCount = 0;
        refused(c);
        c = placeholderConfig();
        c.marketCount = 9;
        refused(c);
        c = placeholderConfig();
        c.gracePeriod = 59;
        refused(c);
        c = placeholderConfig();
        c.gracePeriod = 365 days + 1;
        refused(c);
        c = placeholderConfig();
        c.minDeposit = 0;
        refused(c);
        c = placeholderConfig();
        c.minDeposit = 1 << 63;
        refused(c);
        c = placeholderConfig();
        c.batchVerifiers = new IVerifier[](0);
        refused(c);
        c = placeholderConfig();
        c.batchVerifiers[0] = IVerifier(address(0));
        refused(c);
        c = placeholderConfig();
        c.exitVerifier = IVerifier(address(0));
        refused(c);
        c = placeholderConfig();
        c.token = IERC20(address(0x1234));
        refused(c);
        c = placeholderConfig();
        c.token = IERC20(address(0));
        refused(c);
        c = placeholderConfig();
        c.operator = address(0);
        refused(c);
        c = placeholderConfig();
        c.forcedSpacing = 0;
        refused(c);
        c = placeholderConfig();
        c.forcedSpacing = GRACE + 1;
        refused(c);
        c = placeholderConfig();
        c.minForcedAmount = 0;
        refused(c);
        c = placeholderConfig();
        c.minForcedAmount = 1 << 63;
        refused(c);
        // What exits need is pinned: neither hash may be left out.
        c = placeholderConfig();
        c.configHash = 0;
        refused(c);
        c = placeholderConfig();
        c.exitKeyHash = 0;
        refused(c);
        c = placeholderConfig();
        c.claimWindow = 1 hours - 1;
        refused(c);
        c = placeholderConfig();
        c.claimWindow = 365 days + 1;
        refused(c);
        c = placeholderConfig();
        c.maxBatchAge = 10 minutes - 1;
        refused(c);
        c = placeholderConfig();
        c.maxBatchAge = 30 days + 1;
        refused(c);
        c = placeholderConfig();
        c.depositSpacing = 0;
        refused(c);
        c = placeholderConfig();
        c.depositSpacing = GRACE + 1;
        refused(c);
        c = placeholderConfig();
        c.forcedSpacing = GRACE;
        c.depositSpacing = GRACE;
        c.claimWindow = 1 hours;
        c.maxBatchAge = 10 minutes;
        c.minDeposit = (1 << 63) - 1;
        c.minForcedAmount = (1 << 63) - 1;
        Rollup r = new Rollup(c);
        assertEq(r.configHash(), keccak256("network"), "configHash pinned");
        assertEq(r.exitKeyHash(), sha256("exit key"), "exitKeyHash pinned");
    }

    /// The header's chain id is 8 bytes: the largest 64-bit id deploys. (The constructor refuses
    /// an id of 2^64 or more, a case forge cannot set up: `vm.chainId` refuses it too.)
    function test_constructor_acceptsTheLargest64BitChainId() public {
        vm.chainId(type(uint64).max);
        Rollup r = new Rollup(placeholderConfig());
        assertEq(r.signingDomain() >> 160, type(uint64).max, "domain's chain id");
    }

    // ---- Forced-request spam: staggered deadlines ----

    function deadlineOf(uint64 index) internal view returns (uint64 deadline) {
        (,,, deadline) = rollup.forcedRequests(index);
    }

    /// A flood of requests in one block gets deadlines now + grace, + spacing, + 2 spacing, ...:
    /// the operator is owed `SPACING` seconds per request, whatever the flood.
    function test_forced_floodGetsStaggeredDeadlines() public {
        uint256 t0 = block.timestamp;
        for (uint64 i = 0; i < 20; ++i) {
            vm.prank(address(uint160(0x5000 + i)));
            rollup.requestForcedWithdrawal(7, 1);
            assertEq(deadlineOf(i), t0 + GRACE + i * SPACING, "staggered");
        }
    }

    /// A request long after the previous one is not delayed by it.
    function test_forced_lateRequestGetsTheFullGraceOnly() public {
        vm.prank(ALICE);
        rollup.requestForcedWithdrawal(7, 1);
        vm.warp(block.timestamp + 3 hours);
        vm.prank(ALICE);
        rollup.requestForcedWithdrawal(7, 1);
        assertEq(deadlineOf(1), block.timestamp + GRACE, "now + grace");
    }

    /// Under a flood, the k-th request can freeze the rollup exactly at its staggered deadline
    /// once the earlier ones are answered, and not a second before.
    function test_forced_freezeAtTheStaggeredDeadlineExactly() public {
        for (uint64 i = 0; i < 3; ++i) {
            vm.prank(ALICE);
            rollup.requestForcedWithdrawal(7, 1);
        }
        // The first two are answered (refused) by batches, in order.
        apply_(Pubdata.forced(0, 7, ALICE, 1, 0));
        apply_(Pubdata.forced(1, 7, ALICE, 1, 0));
        assertEq(rollup.forcedAnswered(), 2, "two answered");
        uint64 due = deadlineOf(2);
        assertEq(due, deadlineOf(0) + 2 * SPACING, "third deadline");
        vm.warp(due - 1);
        vm.expectRevert(Rollup.NotOverdue.selector);
        rollup.freeze();
        vm.warp(due);
        rollup.freeze();
        assertTrue(rollup.frozen(), "frozen at the deadline");
    }
}
