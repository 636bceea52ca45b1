// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Test} from "./utils/Test.sol";
import {TestKey} from "./utils/TestKey.sol";
import {Pubdata} from "./utils/Pubdata.sol";
import {ProofFixture} from "./utils/ProofFixture.sol";
import {Rollup} from "../src/Rollup.sol";
import {TestToken} from "../src/TestToken.sol";
import {IVerifier} from "../src/IVerifier.sol";

/// Replays the golden batches the Rust state machine published (`test/data/pubdata_golden.json`,
/// written by `state/tests/golden_pubdata.rs`; regenerate with
/// `ZKPERP_BLESS=1 cargo test -p zkperp-state --test golden_pubdata`) on a rollup deployed at the
/// same genesis root, on the chain and at the address the batches' headers name
/// (ProofFixture.deployRollup): each batch's commitment is the Rust one (the proof is made for the Rust
/// commitment and `submitBatch` recomputes it from the bytes), and its records are applied as the
/// Rust side decoded them. The test's own public-data builder (utils/Pubdata.sol) is checked
/// against the same bytes, so every other test builds batches in the real layout.
contract GoldenPubdataTest is Test {
    string constant FILE = "test/data/pubdata_golden.json";
    address constant OPERATOR = address(0x0E0E);

    uint8 constant NOOP = 0x00;
    uint8 constant DEPOSIT = 0x01;
    uint8 constant WITHDRAWAL = 0x02;
    uint8 constant FORCED = 0x03;
    uint8 constant MARK_PRICE = 0x04;
    uint8 constant FUNDING_INDEX = 0x05;
    uint8 constant DEPOSIT_REFUNDED = 0x06;
    uint8 constant FORCED_CANCEL = 0x07;
    uint8 constant FORCED_TRADE = 0x08;

    /// One decoded record of the golden file (the fields its kind has; the rest are zero).
    struct Record {
        uint8 kind;
        uint64 index;
        address l1;
        bytes32 key;
        uint64 amount;
        uint32 account;
        uint64 paid;
        uint8 market;
        uint64 price;
        int64 fundingIndex;
        uint16 length;
        uint64 orderId;
        bool served;
        /// A forced trade's (0x08) fields beyond those above: `account` is account A, `l1` the
        /// requester, `price` the trade's price. Its signer is one of the TEST_SIGNERS, whose
        /// key signs the terms here (the record does not carry the expiry, nonce or signature).
        uint32 accountB;
        address signer;
        bool aBuys;
        uint64 size;
    }

    /// Keys of the golden file's forced-trade signers (anvil's accounts 1 and 2: the Rust
    /// scenario gives its traders 1 and 2 these L1 addresses).
    uint256[2] TEST_SIGNERS = [
        0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d,
        0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
    ];

    string json;
    TestToken token;
    Rollup rollup;
    TestKey.Key batchKey;

    /// What the records credited so far, computed from the decoded fields alone.
    mapping(address => uint256) expectedClaimable;
    address[] claimants;
    uint256 expectedTotalClaimable;
    uint256 expectedL2;

    function setUp() public {
        json = vm.readFile(FILE);
        vm.warp(1_600_000_000);
        token = new TestToken();
        batchKey = TestKey.make(1, 101);
        IVerifier[] memory shapes = new IVerifier[](1);
        shapes[0] = TestKey.deploy(batchKey);
        rollup = ProofFixture.deployRollup(
            ProofFixture.config(
                token,
                OPERATOR,
                vm.parseJsonUint(json, ".genesis_root"),
                vm.parseJsonUint(json, ".market_count"),
                shapes,
                TestKey.deploy(TestKey.make(4 + vm.parseJsonUint(json, ".market_count"), 202))
            )
        );
    }

    function batchKeyOf(uint256 i) internal pure returns (string memory) {
        return string.concat(".batches[", _str(i), "]");
    }

    function batchCount() internal view returns (uint256 n) {
        while (vm.keyExistsJson(json, batchKeyOf(n))) ++n;
    }

    function records(uint256 i) internal view returns (Record[] memory out) {
        string memory b = batchKeyOf(i);
        uint256 n;
        while (vm.keyExistsJson(json, string.concat(b, ".records[", _str(n), "]"))) ++n;
        out = new Record[](n);
        for (uint256 j = 0; j < n; ++j) {
            out[j] = record(string.concat(b, ".records[", _str(j), "]"));
        }
    }

    function record(string memory k) internal view returns (Record memory r) {
        r.kind = uint8(vm.parseJsonUint(json, string.concat(k, ".kind")));
        if (r.kind == NOOP) {
            r.length = uint16(vm.parseJsonUint(json, string.concat(k, ".length")));
            return r;
        }
        if (r.kind == DEPOSIT || r.kind == DEPOSIT_REFUNDED) {
            r.index = uint64(vm.parseJsonUint(json, string.concat(k, ".index")));
            r.l1 = vm.parseJsonAddress(json, string.concat(k, ".l1_address"));
            r.key = vm.parseJsonBytes32(json, string.concat(k, ".public_key"));
            r.account = uint32(vm.parseJsonUint(json, string.concat(k, ".account")));
            r.amount = uint64(vm.parseJsonUint(json, string.concat(k, ".amount")));
        } else if (r.kind == WITHDRAWAL) {
            r.account = uint32(vm.parseJsonUint(json, string.concat(k, ".account")));
            r.l1 = vm.parseJsonAddress(json, string.concat(k, ".l1_address"));
            r.amount = uint64(vm.parseJsonUint(json, string.concat(k, ".amount")));
        } else if (r.kind == FORCED) {
            r.index = uint64(vm.parseJsonUint(json, string.concat(k, ".index")));
            r.account = uint32(vm.parseJsonUint(json, string.concat(k, ".account")));
            r.l1 = vm.parseJsonAddress(json, string.concat(k, ".requester"));
            r.amount = uint64(vm.parseJsonUint(json, string.concat(k, ".amount")));
            r.paid = uint64(vm.parseJsonUint(json, string.concat(k, ".paid")));
        } else if (r.kind == FORCED_CANCEL) {
            r.index = uint64(vm.parseJsonUint(json, string.concat(k, ".index")));
            r.account = uint32(vm.parseJsonUint(json, string.concat(k, ".account")));
            r.l1 = vm.parseJsonAddress(json, string.concat(k, ".requester"));
            r.orderId = uint64(vm.parseJsonUint(json, string.concat(k, ".order_id")));
            r.served = vm.parseJsonBool(json, string.concat(k, ".served"));
        } else if (r.kind == FORCED_TRADE) {
            forcedTrade(k, r);
        } else if (r.kind == MARK_PRICE) {
            r.market = uint8(vm.parseJsonUint(json, string.concat(k, ".market")));
            r.price = uint64(vm.parseJsonUint(json, string.concat(k, ".price")));
        } else if (r.kind == FUNDING_INDEX) {
            r.market = uint8(vm.parseJsonUint(json, string.concat(k, ".market")));
            r.fundingIndex = int64(vm.parseJsonInt(json, string.concat(k, ".index")));
        } else {
            revert("unknown kind in the golden file");
        }
    }

    /// A forced-trade record (kind 8), keys: the record's fields `index`, `account_a`,
    /// `account_b`, `requester`, `signer`, `market`, `a_buys` (a JSON boolean), `size`, `price`,
    /// `served` (a JSON boolean).
    function forcedTrade(string memory k, Record memory r) internal view {
        r.index = uint64(vm.parseJsonUint(json, string.concat(k, ".index")));
        r.account = uint32(vm.parseJsonUint(json, string.concat(k, ".account_a")));
        r.accountB = uint32(vm.parseJsonUint(json, string.concat(k, ".account_b")));
        r.l1 = vm.parseJsonAddress(json, string.concat(k, ".requester"));
        r.signer = vm.parseJsonAddress(json, string.concat(k, ".signer"));
        r.market = uint8(vm.parseJsonUint(json, string.concat(k, ".market")));
        r.aBuys = vm.parseJsonBool(json, string.concat(k, ".a_buys"));
        r.size = uint64(vm.parseJsonUint(json, string.concat(k, ".size")));
        r.price = uint64(vm.parseJsonUint(json, string.concat(k, ".price")));
        r.served = vm.parseJsonBool(json, string.concat(k, ".served"));
    }

    function encode(Record memory r) internal pure returns (bytes memory) {
        if (r.kind == NOOP) return Pubdata.noop(r.length);
        if (r.kind == DEPOSIT) return Pubdata.deposit(r.index, r.l1, r.key, r.account, r.amount);
        if (r.kind == DEPOSIT_REFUNDED) return Pubdata.depositRefunded(r.index, r.l1, r.key, r.account, r.amount);
        if (r.kind == WITHDRAWAL) return Pubdata.withdrawal(r.account, r.l1, r.amount);
        if (r.kind == FORCED) return Pubdata.forced(r.index, r.account, r.l1, r.amount, r.paid);
        if (r.kind == FORCED_CANCEL) {
            return Pubdata.forcedCancel(r.index, r.account, r.l1, r.orderId, r.served ? 1 : 0);
        }
        if (r.kind == FORCED_TRADE) {
            return Pubdata.forcedTrade(
                Pubdata.ForcedTrade({
                    index: r.index,
                    accountA: r.account,
                    accountB: r.accountB,
                    requester: r.l1,
                    signer: r.signer,
                    market: r.market,
                    aBuys: r.aBuys ? 1 : 0,
                    size: r.size,
                    price: r.price,
                    served: r.served ? 1 : 0
                })
            );
        }
        if (r.kind == MARK_PRICE) return Pubdata.markPrice(r.market, r.price);
        return Pubdata.fundingIndex(r.market, r.fundingIndex);
    }

    function blobs(uint256 i) internal view returns (bytes memory out) {
        string memory b = batchKeyOf(i);
        for (uint256 j = 0; vm.keyExistsJson(json, string.concat(b, ".blobs[", _str(j), "]")); ++j) {
            string memory k = string.concat(b, ".blobs[", _str(j), "]");
            out = abi.encodePacked(
                out,
                Pubdata.blobClaim(
                    vm.parseJsonBytes32(json, string.concat(k, ".versioned_hash")),
                    uint128(vm.parseJsonUint(json, string.concat(k, ".z"))),
                    vm.parseJsonUint(json, string.concat(k, ".y"))
                )
            );
        }
    }

    /// The transaction's blob hashes for batch `i`, as BLOBHASH will read them.
    function versionedHashes(uint256 i) internal view returns (bytes32[] memory out) {
        string memory b = batchKeyOf(i);
        uint256 n = 0;
        while (vm.keyExistsJson(json, string.concat(b, ".blobs[", _str(n), "]"))) ++n;
        out = new bytes32[](n);
        for (uint256 j = 0; j < n; ++j) {
            out[j] = vm.parseJsonBytes32(json, string.concat(b, ".blobs[", _str(j), "].versioned_hash"));
        }
    }

    function field(uint256 i, string memory name) internal view returns (uint256) {
        return vm.parseJsonUint(json, string.concat(batchKeyOf(i), ".", name));
    }

    function pubdata(uint256 i) internal view returns (bytes memory) {
        return vm.parseJsonBytes(json, string.concat(batchKeyOf(i), ".pubdata"));
    }

    function test_golden_fileHasTheCases() public view {
        uint256 n = batchCount();
        assertGe(n, 3, "batches");
        // Indexed by kind: room for every kind the contract knows (0x00..0x08).
        bool[9] memory seen;
        bool servedSeen;
        bool refusedSeen;
        // Forced trades served and refused.
        bool[2] memory tradeAnswers;
        for (uint256 i = 0; i < n; ++i) {
            assertEq(field(i, "batch_number"), i + 1, "numbered from 1");
            Record[] memory rs = records(i);
            for (uint256 j = 0; j < rs.length; ++j) {
                seen[rs[j].kind] = true;
                if (rs[j].kind == FORCED) {
                    if (rs[j].paid == rs[j].amount) servedSeen = true;
                    else if (rs[j].paid == 0) refusedSeen = true;
                }
                if (rs[j].kind == FORCED_TRADE) tradeAnswers[rs[j].served ? 1 : 0] = true;
            }
        }
        for (uint8 k = DEPOSIT; k <= FORCED_TRADE; ++k) {
            assertTrue(seen[k], "every record kind");
        }
        assertTrue(servedSeen && refusedSeen, "a forced answer paid in full and a refused one");
        assertTrue(tradeAnswers[0] && tradeAnswers[1], "a forced trade served and a refused one");
        assertTrue(seen[NOOP], "no-op slots");
    }

    /// utils/Pubdata.sol rebuilds the exact Rust bytes from the decoded fields, and its
    /// commitment is the Rust commitment.
    function test_golden_builderMatchesTheRustBytes() public view {
        for (uint256 i = 0; i < batchCount(); ++i) {
            Record[] memory rs = records(i);
            bytes memory recs;
            for (uint256 j = 0; j < rs.length; ++j) {
                recs = abi.encodePacked(recs, encode(rs[j]));
            }
            bytes memory built = Pubdata.batch(
                field(i, "old_root"),
                field(i, "new_root"),
                uint64(field(i, "batch_number")),
                uint64(field(i, "timestamp")),
                ProofFixture.CHAIN_ID,
                ProofFixture.ROLLUP,
                uint128(field(i, "rho")),
                recs,
                blobs(i)
            );
            bytes memory rust = pubdata(i);
            assertEq(built, rust, "layout");
            assertEq(Pubdata.commitment(rust), field(i, "commitment"), "commitment");
        }
    }

    /// Every golden batch goes through submitBatch (commitment, Groth16 check with the test key,
    /// then _applyBatch), after its deposits and forced requests were queued on L1 exactly as
    /// the Rust side consumed them; the contract ends where the decoded records say.
    function test_golden_contractAppliesEachBatch() public {
        for (uint256 i = 0; i < batchCount(); ++i) {
            Record[] memory rs = records(i);
            uint64 ts = uint64(field(i, "timestamp"));
            if (block.timestamp < ts) vm.warp(ts);
            queue(rs);
            bytes memory data = pubdata(i);
            uint256[] memory input = new uint256[](1);
            input[0] = field(i, "commitment");
            uint256[8] memory proof = TestKey.prove(batchKey, input, 17 + i);
            bytes memory kzg = vm.parseJsonBytes(json, string.concat(batchKeyOf(i), ".kzg"));
            vm.blobhashes(versionedHashes(i));
            expectEvents(i, rs);
            vm.prank(OPERATOR);
            rollup.submitBatch(0, data, proof, kzg);
            checkState(i, rs);

            // Never twice, whether or not the batch moved the root.
            bytes memory refusal = field(i, "old_root") == field(i, "new_root")
                ? abi.encodeWithSelector(Rollup.BadBatchNumber.selector, uint64(i + 2), uint64(i + 1))
                : abi.encodeWithSelector(Rollup.WrongOldRoot.selector, rollup.stateRoot(), field(i, "old_root"));
            vm.prank(OPERATOR);
            vm.expectRevert(refusal);
            rollup.submitBatch(0, data, proof, kzg);
        }
        assertEq(rollup.batchCount(), batchCount(), "every batch applied");
    }

    /// Queues on L1 the deposits, forced withdrawals, forced cancels and forced trades the batch
    /// consumes, each queue in its order.
    function queue(Record[] memory rs) internal {
        for (uint256 j = 0; j < rs.length; ++j) {
            Record memory r = rs[j];
            if (r.kind == DEPOSIT || r.kind == DEPOSIT_REFUNDED) {
                assertEq(rollup.depositCount(), r.index, "deposit index");
                token.mint(r.l1, r.amount);
                vm.startPrank(r.l1);
                token.approve(address(rollup), r.amount);
                rollup.deposit(r.key, r.account, r.amount);
                vm.stopPrank();
            } else if (r.kind == FORCED) {
                assertEq(rollup.forcedCount(), r.index, "forced index");
                vm.prank(r.l1);
                rollup.requestForcedWithdrawal(r.account, r.amount);
            } else if (r.kind == FORCED_CANCEL) {
                assertEq(rollup.forcedCancelCount(), r.index, "forced cancel index");
                vm.prank(r.l1);
                rollup.requestForcedCancel(r.account, r.orderId);
            } else if (r.kind == FORCED_TRADE) {
                queueForcedTrade(r);
            }
        }
    }

    /// The requester submits the terms with party B's signature: the signer's test key signs
    /// the contract's digest of them, and the contract must recover the record's signer.
    function queueForcedTrade(Record memory r) internal {
        assertEq(rollup.forcedTradeCount(), r.index, "forced trade index");
        Rollup.ForcedTradeTerms memory t = Rollup.ForcedTradeTerms({
            accountA: r.account,
            accountB: r.accountB,
            market: r.market,
            aBuys: r.aBuys,
            size: r.size,
            price: r.price,
            expiry: uint64(block.timestamp + 1 days),
            nonce: r.index
        });
        uint256 key = 0;
        for (uint256 i = 0; i < TEST_SIGNERS.length; ++i) {
            if (vm.addr(TEST_SIGNERS[i]) == r.signer) key = TEST_SIGNERS[i];
        }
        require(key != 0, "a forced trade's signer must be one of TEST_SIGNERS");
        (uint8 v, bytes32 sigR, bytes32 sigS) = vm.sign(key, rollup.forcedTradeDigest(t));
        vm.prank(r.l1);
        rollup.requestForcedTrade(t, v, sigR, sigS);
        (,,,,, address signer,,,) = rollup.forcedTrades(r.index);
        assertEq(signer, r.signer, "recovered signer");
    }

    /// The event of each record, in order, then BatchApplied.
    function expectEvents(uint256 i, Record[] memory rs) internal {
        uint64 number = uint64(field(i, "batch_number"));
        uint64 nextDeposit = rollup.depositsConsumed();
        uint64 nextForced = rollup.forcedAnswered();
        for (uint256 j = 0; j < rs.length; ++j) {
            Record memory r = rs[j];
            if (r.kind == NOOP) continue;
            if (r.kind == DEPOSIT) {
                nextDeposit = r.index + 1;
                continue;
            }
            vm.expectEmit(true, true, true, true, address(rollup));
            if (r.kind == DEPOSIT_REFUNDED) {
                nextDeposit = r.index + 1;
                emit Rollup.DepositRefunded(r.index, r.l1, r.amount);
            } else if (r.kind == WITHDRAWAL) {
                emit Rollup.WithdrawalCredited(number, r.account, r.l1, r.amount);
            } else if (r.kind == FORCED) {
                nextForced = r.index + 1;
                emit Rollup.ForcedWithdrawalAnswered(r.index, r.account, r.paid);
            } else if (r.kind == FORCED_CANCEL) {
                emit Rollup.ForcedCancelAnswered(r.index, r.account, r.served);
            } else if (r.kind == FORCED_TRADE) {
                emit Rollup.ForcedTradeAnswered(r.index, r.account, r.accountB, r.served);
            } else if (r.kind == MARK_PRICE) {
                emit Rollup.MarkPriceUpdated(r.market, r.price);
            } else {
                emit Rollup.FundingIndexUpdated(r.market, r.fundingIndex);
            }
        }
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.BatchApplied(
            number, field(i, "old_root"), field(i, "new_root"), uint64(field(i, "timestamp")), nextDeposit, nextForced
        );
    }

    function credit(address to, uint256 amount) internal {
        if (expectedClaimable[to] == 0) claimants.push(to);
        expectedClaimable[to] += amount;
        expectedTotalClaimable += amount;
    }

    function checkState(uint256 i, Record[] memory rs) internal {
        for (uint256 j = 0; j < rs.length; ++j) {
            Record memory r = rs[j];
            if (r.kind == DEPOSIT) {
                expectedL2 += r.amount;
            } else if (r.kind == DEPOSIT_REFUNDED) {
                credit(r.l1, r.amount);
            } else if (r.kind == WITHDRAWAL) {
                expectedL2 -= r.amount;
                credit(r.l1, r.amount);
            } else if (r.kind == FORCED && r.paid != 0) {
                expectedL2 -= r.paid;
                credit(r.l1, r.paid);
            } else if (r.kind == MARK_PRICE) {
                (uint64 price,) = rollup.markets(r.market);
                assertEq(price, r.price, "mark price");
            } else if (r.kind == FUNDING_INDEX) {
                (, int64 index) = rollup.markets(r.market);
                assertEq(int256(index), int256(r.fundingIndex), "funding index");
            }
        }
        assertEq(rollup.stateRoot(), field(i, "new_root"), "root");
        assertEq(rollup.batchCount(), field(i, "batch_number"), "batch number");
        assertEq(rollup.lastBatchTimestamp(), field(i, "timestamp"), "timestamp");
        assertEq(rollup.depositsConsumed(), rollup.depositCount(), "every queued deposit consumed");
        assertEq(rollup.forcedAnswered(), rollup.forcedCount(), "every forced request answered");
        assertEq(rollup.forcedCancelsAnswered(), rollup.forcedCancelCount(), "every forced cancel answered");
        assertEq(rollup.forcedTradesAnswered(), rollup.forcedTradeCount(), "every forced trade answered");
        assertEq(rollup.pendingDeposits(), 0, "nothing pending");
        assertEq(rollup.l2Collateral(), expectedL2, "L2 collateral");
        assertEq(rollup.totalClaimable(), expectedTotalClaimable, "total claimable");
        for (uint256 k = 0; k < claimants.length; ++k) {
            assertEq(rollup.claimable(claimants[k]), expectedClaimable[claimants[k]], "claimable");
        }
        assertEq(
            token.balanceOf(address(rollup)),
            rollup.totalClaimable() + rollup.pendingDeposits() + rollup.l2Collateral(),
            "solvent"
        );
    }

    function _str(uint256 v) internal pure returns (string memory) {
        return vm.toString(v);
    }
}
