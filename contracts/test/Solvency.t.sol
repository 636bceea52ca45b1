// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Test, Vm} from "./utils/Test.sol";
import {TestKey} from "./utils/TestKey.sol";
import {Pubdata} from "./utils/Pubdata.sol";
import {RollupHarness} from "./utils/RollupHarness.sol";
import {Rollup} from "../src/Rollup.sol";
import {TestToken} from "../src/TestToken.sol";
import {IVerifier} from "../src/IVerifier.sol";

/// Drives the rollup through random sequences of deposits, batches (consuming deposits, credited
/// or refunded, crediting withdrawals, answering forced requests in full or in part), claims,
/// forced requests, freezes (on either queue), reclaims, exit registrations and exit claims. Every call it makes is one the rules allow, so each step moves state.
contract SolvencyHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint256 internal constant R = TestKey.R;

    RollupHarness public immutable rollup;
    TestToken public immutable token;
    TestKey.Key internal exitKey;
    address[3] public actors = [address(0xA1), address(0xA2), address(0xA3)];

    struct Queued {
        address l1;
        bytes32 key;
        uint32 account;
        uint64 amount;
    }

    Queued[] public queue;
    /// Accounts with a registered exit, and what their claims paid in total.
    uint32[] public registered;
    uint256 public exitPaid;
    uint256 public rootCounter;
    uint256 public calls;

    constructor(RollupHarness rollup_, TestToken token_, TestKey.Key memory exitKey_) {
        rollup = rollup_;
        token = token_;
        exitKey = exitKey_;
        for (uint256 i = 0; i < actors.length; ++i) {
            vm.prank(actors[i]);
            token_.approve(address(rollup_), type(uint256).max);
        }
    }

    function actor(uint256 seed) internal view returns (address) {
        return actors[seed % actors.length];
    }

    /// A deposit to a new account or, one time in two, to an existing id.
    function deposit(uint256 who, uint64 amount, uint32 target) external {
        if (rollup.frozen()) return;
        amount = uint64(1 + amount % 1e12);
        address a = actor(who);
        bytes32 key = bytes32(who % 5);
        uint32 account = target % 2 == 0 ? type(uint32).max : target % 16;
        queue.push(Queued(a, key, account, amount));
        vm.prank(a);
        rollup.deposit(key, account, amount);
        ++calls;
    }

    /// A batch consuming up to `take` deposits (refunding those whose bit is set in `refunds`),
    /// paying out up to what L2 holds, and answering the oldest forced request if asked to.
    function batch(uint256 take, uint256 refunds, uint256 who, uint256 withdraw, bool answer, uint64 paid) external {
        if (rollup.frozen()) return;
        uint64 first = rollup.depositsConsumed();
        uint256 n = take % (queue.length - first + 1);
        bytes memory records;
        uint256 available = rollup.l2Collateral();
        for (uint256 i = 0; i < n; ++i) {
            Queued memory q = queue[first + i];
            if ((refunds >> i) & 1 == 1) {
                records = abi.encodePacked(
                    records, Pubdata.depositRefunded(uint64(first + i), q.l1, q.key, q.account, q.amount)
                );
            } else {
                records =
                    abi.encodePacked(records, Pubdata.deposit(uint64(first + i), q.l1, q.key, q.account, q.amount));
                available += q.amount;
            }
        }
        uint64 out = uint64(withdraw % (available + 1));
        if (out != 0) {
            records = abi.encodePacked(records, Pubdata.withdrawal(7, actor(who), out));
            available -= out;
        }
        uint64 next = rollup.forcedAnswered();
        if (answer && next < rollup.forcedCount()) {
            (address requester, uint32 account, uint64 amount,) = rollup.forcedRequests(next);
            // Anything from nothing to all of it, as far as L2 holds.
            uint256 most = amount < available ? amount : available;
            uint64 pay = uint64(paid % (most + 1));
            records = abi.encodePacked(records, Pubdata.forced(next, account, requester, amount, pay));
            available -= pay;
        }
        uint64 ts = rollup.lastBatchTimestamp() + 1;
        if (block.timestamp < ts) vm.warp(ts);
        uint256 newRoot = uint256(keccak256(abi.encode(++rootCounter))) % R;
        rollup.applyBatch(
            Pubdata.batch(
                rollup.stateRoot(),
                newRoot,
                rollup.batchCount() + 1,
                ts,
                uint64(block.chainid),
                address(rollup),
                records,
                ""
            )
        );
        ++calls;
    }

    function claim(uint256 who) external {
        address a = actor(who);
        if (rollup.claimable(a) == 0) return;
        vm.prank(a);
        rollup.claim();
        ++calls;
    }

    function requestForced(uint256 who, uint32 account, uint64 amount) external {
        if (rollup.frozen()) return;
        vm.prank(actor(who));
        rollup.requestForcedWithdrawal(account, uint64(1 + amount % 1e12));
        ++calls;
    }

    /// Acts on one call in eight, so most runs see many batches before a freeze: waits for the
    /// first due of the two queues' oldest entries (a forced request or a deposit), then freezes.
    function freeze(uint256 wait) external {
        if (rollup.frozen() || wait % 8 != 0) return;
        uint256 due = type(uint256).max;
        uint64 forced = rollup.forcedAnswered();
        if (forced < rollup.forcedCount()) (,,, due) = rollup.forcedRequests(forced);
        uint64 dep = rollup.depositsConsumed();
        if (dep < rollup.depositCount() && rollup.depositDeadline(dep) < due) due = rollup.depositDeadline(dep);
        if (due == type(uint256).max) return;
        if (block.timestamp < due) vm.warp(due + wait % 3 * 8);
        rollup.freeze();
        ++calls;
    }

    function reclaim(uint256 seed) external {
        uint64 first = rollup.depositsConsumed();
        if (!rollup.frozen() || queue.length == first) return;
        uint64 index = uint64(first + seed % (queue.length - first));
        if (rollup.depositReclaimed(index)) return;
        Queued memory q = queue[index];
        vm.prank(q.l1);
        rollup.reclaimDeposit(index, q.key, q.account, q.amount);
        ++calls;
    }

    /// Registers an exit while the window is open, for up to twice the L2 collateral, so that
    /// registered exits often exceed the pool and are paid pro rata.
    function registerExit(uint32 account, uint256 who, uint256 amount) external {
        if (!rollup.frozen() || block.timestamp >= rollup.frozenAt() + rollup.claimWindow()) return;
        if (rollup.exitOwner(account) != address(0)) return;
        address a = actor(who);
        amount = amount % (rollup.l2Collateral() * 2 + 1);
        uint256[8] memory proof = TestKey.prove(exitKey, rollup.exitInputs(account, a, amount), 1);
        vm.prank(a);
        rollup.registerExit(account, amount, proof);
        registered.push(account);
        ++calls;
    }

    /// Claims a registered exit; one call in two first waits for the window to close.
    function claimExit(uint256 seed) external {
        if (!rollup.frozen() || registered.length == 0) return;
        uint256 end = rollup.frozenAt() + rollup.claimWindow();
        if (block.timestamp < end) {
            if (seed % 2 == 0) return;
            vm.warp(end);
        }
        uint32 account = registered[seed % registered.length];
        if (rollup.exitClaimed(account)) return;
        address owner = rollup.exitOwner(account);
        uint256 before = token.balanceOf(owner);
        rollup.claimExit(account);
        exitPaid += token.balanceOf(owner) - before;
        ++calls;
    }

    /// Sum of the queued deposits neither consumed nor reclaimed.
    function pendingSum() external view returns (uint256 sum) {
        for (uint256 i = rollup.depositsConsumed(); i < queue.length; ++i) {
            if (!rollup.depositReclaimed(uint64(i))) sum += queue[i].amount;
        }
    }

    function claimableSum() external view returns (uint256 sum) {
        for (uint256 i = 0; i < actors.length; ++i) {
            sum += rollup.claimable(actors[i]);
        }
    }
}

contract SolvencyInvariantTest is Test {
    RollupHarness rollup;
    TestToken token;
    SolvencyHandler handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        token = new TestToken();
        TestKey.Key memory batchKey = TestKey.make(1, 1);
        TestKey.Key memory exitKey = TestKey.make(6, 2);
        IVerifier[] memory shapes = new IVerifier[](1);
        shapes[0] = TestKey.deploy(batchKey);
        rollup = new RollupHarness(
            Rollup.Config({
                token: token,
                operator: address(this),
                genesisRoot: 0,
                marketCount: 2,
                gracePeriod: 1 hours,
                forcedSpacing: 60,
                depositSpacing: 30,
                claimWindow: 1 days,
                maxBatchAge: 1 days,
                minDeposit: 1,
                minForcedAmount: 1,
                batchVerifiers: shapes,
                exitVerifier: TestKey.deploy(exitKey),
                configHash: keccak256("network"),
                exitKeyHash: sha256("exit key")
            })
        );
        handler = new SolvencyHandler(rollup, token, exitKey);
        // Enough for every deposit a run can make (depth 64, at most 10^12 units each).
        for (uint256 i = 0; i < 3; ++i) {
            token.mint(handler.actors(i), 1e15);
        }
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// The brief's invariant, and its exact form.
    function invariant_tokenBalanceCoversEveryClaim() public view {
        uint256 balance = token.balanceOf(address(rollup));
        assertGe(balance, rollup.totalClaimable() + rollup.pendingDeposits(), "balance >= claimable + pending");
        assertEq(
            balance,
            rollup.totalClaimable() + rollup.pendingDeposits() + rollup.l2Collateral(),
            "balance == claimable + pending + L2"
        );
    }

    /// Each run moved the rollup: were every handler call to revert (`fail_on_revert` is off so
    /// the fuzzer may try anything), the invariants above would hold without testing anything.
    function afterInvariant() public view {
        assertTrue(handler.calls() > 0, "the run made no successful call");
    }

    /// Exits share the pool: what their claims paid never exceeds it, and came out of L2.
    function invariant_exitsNeverExceedThePool() public view {
        if (!rollup.exitPoolFixed()) {
            assertEq(handler.exitPaid(), 0, "nothing paid before the pool is fixed");
            return;
        }
        assertGe(rollup.exitPool(), handler.exitPaid(), "pool >= paid");
        assertEq(rollup.l2Collateral() + handler.exitPaid(), rollup.exitPool(), "paid from L2 alone");
    }

    function invariant_totalsMatchTheirParts() public view {
        assertEq(rollup.totalClaimable(), handler.claimableSum(), "claimable total");
        assertEq(rollup.pendingDeposits(), handler.pendingSum(), "pending total");
    }
}
