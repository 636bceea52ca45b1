// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Pubdata} from "./utils/Pubdata.sol";
import {ProofFixture} from "./utils/ProofFixture.sol";
import {RollupFixture} from "./Rollup.t.sol";
import {Rollup} from "../src/Rollup.sol";
import {IVerifier} from "../src/IVerifier.sol";

/// The forced-trade queue: requestForcedTrade (its door checks and party B's EIP-712
/// signature), its answers (0x08 records) and the freeze on it.
contract RollupForcedTradeTest is RollupFixture {
    /// secp256k1's group order n.
    uint256 constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    /// Party B's L1 owner key, and another key that owns nothing here.
    uint256 constant B_KEY = 0xB0B0B0;
    uint256 constant MALLORY_KEY = 0x3A11;
    uint32 constant A = 2;
    uint32 constant B = 3;
    uint64 constant MARK = 500_000;
    uint64 constant SIZE_LIMIT = 1 << 40;
    uint64 constant PRICE_LIMIT = 1 << 40;

    address bOwner;

    function setUp() public override {
        super.setUp();
        bOwner = vm.addr(B_KEY);
        // Market 0 has a mark; market 1 has none.
        apply_(Pubdata.markPrice(0, MARK));
    }

    // ---- Helpers ----

    /// ALICE (account A's owner) buys 5 lots of market 0 at the mark from account B; the offer
    /// is good for 30 days.
    function terms(uint64 nonce) internal pure returns (Rollup.ForcedTradeTerms memory) {
        return Rollup.ForcedTradeTerms({
            accountA: A,
            accountB: B,
            market: 0,
            aBuys: true,
            size: 5,
            price: MARK,
            expiry: uint64(T0 + 30 days),
            nonce: nonce
        });
    }

    /// The EIP-712 digest built by hand: the domain and type strings spelled out here, each
    /// field one word (abi.encode), then `0x1901 | domain | struct hash`.
    function digestOf(Rollup.ForcedTradeTerms memory t, uint256 chainId, address verifyingContract)
        internal
        pure
        returns (bytes32)
    {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256(bytes("zkperp")),
                keccak256(bytes("1")),
                chainId,
                verifyingContract
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "ForcedTrade(uint32 accountA,uint32 accountB,uint8 market,bool aBuys,uint64 size,uint64 price,uint64 expiry,uint64 nonce)"
                ),
                t.accountA,
                t.accountB,
                t.market,
                t.aBuys,
                t.size,
                t.price,
                t.expiry,
                t.nonce
            )
        );
        return keccak256(abi.encodePacked(bytes2(0x1901), domain, structHash));
    }

    function digestOf(Rollup.ForcedTradeTerms memory t) internal view returns (bytes32) {
        return digestOf(t, block.chainid, address(rollup));
    }

    struct Sig {
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    function sign(uint256 key, Rollup.ForcedTradeTerms memory t) internal view returns (Sig memory sig) {
        (sig.v, sig.r, sig.s) = vm.sign(key, digestOf(t));
    }

    /// `who` submits `t` signed by `key`.
    function request(address who, Rollup.ForcedTradeTerms memory t, uint256 key) internal returns (uint64 index) {
        index = rollup.forcedTradeCount();
        Sig memory sig = sign(key, t);
        vm.prank(who);
        rollup.requestForcedTrade(t, sig.v, sig.r, sig.s);
    }

    /// `who` submits `t`, signed by B's owner, and the door refuses it with `err`.
    function expectRefused(address who, Rollup.ForcedTradeTerms memory t, bytes memory err) internal {
        Sig memory sig = sign(B_KEY, t);
        vm.prank(who);
        vm.expectRevert(err);
        rollup.requestForcedTrade(t, sig.v, sig.r, sig.s);
    }

    function deadlineOf(uint64 index) internal view returns (uint64 deadline) {
        (,,,,,, deadline,,) = rollup.forcedTrades(index);
    }

    /// The answer record of request `index` made with `t` by ALICE and signed by B's owner.
    function answer(uint64 index, Rollup.ForcedTradeTerms memory t, uint8 served)
        internal
        view
        returns (Pubdata.ForcedTrade memory)
    {
        return Pubdata.ForcedTrade({
            index: index,
            accountA: t.accountA,
            accountB: t.accountB,
            requester: ALICE,
            signer: bOwner,
            market: t.market,
            aBuys: t.aBuys ? 1 : 0,
            size: t.size,
            price: t.price,
            served: served
        });
    }

    // ---- The EIP-712 digest ----

    /// forcedTradeDigest is the EIP-712 hash of the terms built independently here, over this
    /// deployment's domain; the domain is read at each call (another chain id, another digest).
    function test_forcedTrade_digestIsTheEip712Hash() public {
        Rollup.ForcedTradeTerms memory t = terms(7);
        assertEq(rollup.forcedTradeDigest(t), digestOf(t), "digest");
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("zkperp"),
                keccak256("1"),
                block.chainid,
                address(rollup)
            )
        );
        assertEq(rollup.eip712DomainSeparator(), domain, "domain separator");
        // Each field is hashed: change any one and the digest changes.
        t.aBuys = false;
        assertEq(rollup.forcedTradeDigest(t), digestOf(t), "the side");
        assertTrue(rollup.forcedTradeDigest(t) != rollup.forcedTradeDigest(terms(7)), "the side is signed");
        uint64 chainBefore = uint64(block.chainid);
        vm.chainId(chainBefore + 1);
        assertEq(rollup.forcedTradeDigest(t), digestOf(t, chainBefore + 1, address(rollup)), "new chain id");
        assertTrue(rollup.eip712DomainSeparator() != domain, "the domain follows the chain id");
    }

    /// A fixed vector for other implementations (the Rust signer): the digest of these terms on
    /// the fixtures' deployment (chain 31337, ProofFixture.ROLLUP), computed independently with
    /// node and js-sha3's keccak256 over the EIP-712 encoding:
    ///   domain separator 0x36d2467a331f53450a16dbf617e921447644dddf45093de538bb840d125d1f67
    ///   struct hash      0x7b124d408d87b0915829336a933e0067bf94842181929014e1e0eb0481450541
    function test_forcedTrade_digestVector() public {
        Rollup onFixture = ProofFixture.deployRollup(
            ProofFixture.config(token, OPERATOR, genesis, MARKETS, singleVerifier(), IVerifier(address(0xE)))
        );
        Rollup.ForcedTradeTerms memory t = Rollup.ForcedTradeTerms({
            accountA: 2, accountB: 3, market: 0, aBuys: true, size: 5, price: 500_000, expiry: 1_700_086_400, nonce: 7
        });
        assertEq(
            onFixture.eip712DomainSeparator(),
            0x36d2467a331f53450a16dbf617e921447644dddf45093de538bb840d125d1f67,
            "domain separator"
        );
        assertEq(
            onFixture.forcedTradeDigest(t), 0xf86aa12d3d0c84700cdcb0a6f7a433b0a1373ff2212e1572a564202eded377d5, "digest"
        );
        assertEq(onFixture.forcedTradeDigest(t), digestOf(t, 31337, ProofFixture.ROLLUP), "the test's own hashing");
    }

    function singleVerifier() internal view returns (IVerifier[] memory shapes) {
        shapes = new IVerifier[](1);
        shapes[0] = rollup.batchVerifier(0);
    }

    // ---- Requests ----

    function test_forcedTrade_requestRecordsTheFields() public {
        assertEq(rollup.QUEUE_FORCED_TRADE(), 3, "queue id");
        Rollup.ForcedTradeTerms memory t = terms(1);
        t.aBuys = false;
        Sig memory sig = sign(B_KEY, t);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.ForcedTradeRequested(0, A, B, ALICE, bOwner, 0, false, 5, MARK, uint64(T0 + GRACE));
        vm.prank(ALICE);
        rollup.requestForcedTrade(t, sig.v, sig.r, sig.s);
        (
            address requester,
            uint32 accountA,
            uint32 accountB,
            uint8 market,
            bool aBuys,
            address signer,
            uint64 deadline,
            uint64 size,
            uint64 price
        ) = rollup.forcedTrades(0);
        assertEq(requester, ALICE, "requester");
        assertEq(accountA, A, "account A");
        assertEq(accountB, B, "account B");
        assertEq(market, 0, "market");
        assertFalse(aBuys, "A sells");
        assertEq(signer, bOwner, "signer");
        assertEq(deadline, T0 + GRACE, "deadline");
        assertEq(size, 5, "size");
        assertEq(price, MARK, "price");
        assertEq(rollup.forcedTradeCount(), 1, "count");
        assertEq(rollup.forcedTradesAnswered(), 0, "answered");
        assertTrue(rollup.forcedTradeUsed(digestOf(t)), "digest used");
        // Its own queue: the other forced queues' counters do not move.
        assertEq(rollup.forcedCount(), 0, "no forced withdrawal");
        assertEq(rollup.forcedCancelCount(), 0, "no forced cancel");
    }

    /// A flood in one block is due `SPACING` apart; a request long after the last gets the full
    /// grace period only.
    function test_forcedTrade_deadlinesStagger() public {
        for (uint64 i = 0; i < 5; ++i) {
            request(address(uint160(0x5000 + i)), terms(i), B_KEY);
            assertEq(deadlineOf(i), T0 + GRACE + i * SPACING, "staggered");
        }
        vm.warp(T0 + 3 hours);
        request(ALICE, terms(99), B_KEY);
        assertEq(deadlineOf(5), T0 + 3 hours + GRACE, "now + grace");
    }

    /// Each forced queue staggers on its own previous deadline: floods of forced withdrawals and
    /// forced cancels do not delay a forced trade, nor the other way round.
    function test_forcedTrade_staggersApartFromTheOtherForcedQueues() public {
        for (uint256 i = 0; i < 3; ++i) {
            vm.prank(BOB);
            rollup.requestForcedWithdrawal(3, 1);
            vm.prank(BOB);
            rollup.requestForcedCancel(3, 1);
        }
        request(ALICE, terms(0), B_KEY);
        assertEq(deadlineOf(0), T0 + GRACE, "not behind the other queues");
        for (uint64 i = 1; i < 4; ++i) {
            request(ALICE, terms(i), B_KEY);
        }
        vm.prank(BOB);
        rollup.requestForcedCancel(3, 1);
        (,,, uint64 cancelDeadline) = rollup.forcedCancels(3);
        assertEq(cancelDeadline, T0 + GRACE + 3 * SPACING, "cancels behind their own only");
    }

    /// The bounds are inclusive where they should be: size and price up to 2^40 - 1, and the
    /// offer at its expiry second.
    function test_forcedTrade_acceptsTheBounds() public {
        Rollup.ForcedTradeTerms memory t = terms(1);
        t.size = SIZE_LIMIT - 1;
        t.price = PRICE_LIMIT - 1;
        t.expiry = uint64(block.timestamp);
        t.market = 0;
        request(ALICE, t, B_KEY);
        t = terms(2);
        t.size = 1;
        t.price = 1;
        request(ALICE, t, B_KEY);
        assertEq(rollup.forcedTradeCount(), 2, "both queued");
    }

    function test_forcedTrade_refusedWhileFrozen() public {
        freezeNow();
        expectRefused(ALICE, terms(1), abi.encodeWithSelector(Rollup.IsFrozen.selector));
    }

    function test_forcedTrade_refusesOneAccountOnBothSides() public {
        Rollup.ForcedTradeTerms memory t = terms(1);
        t.accountB = t.accountA;
        expectRefused(ALICE, t, abi.encodeWithSelector(Rollup.SameAccount.selector));
    }

    /// The insurance fund (0) and the fee account (1) are never a party, on either side.
    function test_forcedTrade_refusesSystemAccounts() public {
        for (uint32 sys = 0; sys < 2; ++sys) {
            Rollup.ForcedTradeTerms memory t = terms(1);
            t.accountA = sys;
            expectRefused(ALICE, t, abi.encodeWithSelector(Rollup.SystemAccount.selector, sys));
            t = terms(1);
            t.accountB = sys;
            expectRefused(ALICE, t, abi.encodeWithSelector(Rollup.SystemAccount.selector, sys));
        }
        assertEq(rollup.forcedTradeCount(), 0, "nothing queued");
    }

    function test_forcedTrade_refusesAnUnknownMarketOrOneWithoutAMark() public {
        Rollup.ForcedTradeTerms memory t = terms(1);
        t.market = uint8(MARKETS);
        expectRefused(ALICE, t, abi.encodeWithSelector(Rollup.UnknownMarket.selector, MARKETS));
        t.market = 255;
        expectRefused(ALICE, t, abi.encodeWithSelector(Rollup.UnknownMarket.selector, 255));
        // Market 1 exists but no batch has published its mark yet.
        t.market = 1;
        expectRefused(ALICE, t, abi.encodeWithSelector(Rollup.NoMarkPrice.selector, 1));
        apply_(Pubdata.markPrice(1, 7));
        request(ALICE, t, B_KEY);
        assertEq(rollup.forcedTradeCount(), 1, "queued once the mark exists");
    }

    /// `0 < size < 2^40` (BadAmount) and `0 < price < 2^40` (BadPrice).
    function test_forcedTrade_refusesSizeAndPriceOutOfRange() public {
        uint64[3] memory bad = [uint64(0), SIZE_LIMIT, type(uint64).max];
        for (uint256 i = 0; i < bad.length; ++i) {
            Rollup.ForcedTradeTerms memory t = terms(1);
            t.size = bad[i];
            expectRefused(ALICE, t, abi.encodeWithSelector(Rollup.BadAmount.selector));
            t = terms(1);
            t.price = bad[i] == SIZE_LIMIT ? PRICE_LIMIT : bad[i];
            expectRefused(ALICE, t, abi.encodeWithSelector(Rollup.BadPrice.selector));
        }
        assertEq(rollup.forcedTradeCount(), 0, "nothing queued");
    }

    /// `block.timestamp <= expiry`: refused one second after.
    function test_forcedTrade_refusesAnExpiredOffer() public {
        Rollup.ForcedTradeTerms memory t = terms(1);
        vm.warp(t.expiry + 1);
        expectRefused(ALICE, t, abi.encodeWithSelector(Rollup.OfferExpired.selector, t.expiry));
        vm.warp(t.expiry);
        request(ALICE, t, B_KEY);
    }

    /// v must be 27 or 28, r and s non-zero, s at most n/2; a signature that recovers no address
    /// is refused too. None enters the queue.
    function test_forcedTrade_refusesNonCanonicalSignatures() public {
        Rollup.ForcedTradeTerms memory t = terms(1);
        Sig memory good = sign(B_KEY, t);
        uint8[4] memory badV = [0, 1, 29, 255];
        for (uint256 i = 0; i < badV.length; ++i) {
            refuseSignature(t, badV[i], good.r, good.s);
        }
        refuseSignature(t, good.v, 0, good.s);
        refuseSignature(t, good.v, good.r, 0);
        // r >= n: ecrecover recovers nothing.
        refuseSignature(t, good.v, bytes32(type(uint256).max), good.s);
        // The malleated twin (r, n - s, the other v) recovers the same signer, and is refused.
        uint8 twinV = good.v == 27 ? 28 : 27;
        bytes32 twinS = bytes32(SECP256K1_N - uint256(good.s));
        assertEq(ecrecover(digestOf(t), twinV, good.r, twinS), bOwner, "a real twin");
        refuseSignature(t, twinV, good.r, twinS);
        assertEq(rollup.forcedTradeCount(), 0, "nothing queued");
        // The canonical one is accepted.
        vm.prank(ALICE);
        rollup.requestForcedTrade(t, good.v, good.r, good.s);
        assertEq(rollup.forcedTradeCount(), 1, "queued");
    }

    function refuseSignature(Rollup.ForcedTradeTerms memory t, uint8 v, bytes32 r, bytes32 s) internal {
        vm.prank(ALICE);
        vm.expectRevert(Rollup.BadSignature.selector);
        rollup.requestForcedTrade(t, v, r, s);
    }

    /// The same signed terms enter once, whoever sends them; another nonce is another offer.
    function test_forcedTrade_refusesAReplay() public {
        Rollup.ForcedTradeTerms memory t = terms(1);
        Sig memory sig = sign(B_KEY, t);
        vm.prank(ALICE);
        rollup.requestForcedTrade(t, sig.v, sig.r, sig.s);
        vm.prank(ALICE);
        vm.expectRevert(abi.encodeWithSelector(Rollup.ForcedTradeReplayed.selector, digestOf(t)));
        rollup.requestForcedTrade(t, sig.v, sig.r, sig.s);
        vm.prank(BOB);
        vm.expectRevert(abi.encodeWithSelector(Rollup.ForcedTradeReplayed.selector, digestOf(t)));
        rollup.requestForcedTrade(t, sig.v, sig.r, sig.s);
        request(ALICE, terms(2), B_KEY);
        assertEq(rollup.forcedTradeCount(), 2, "one per digest");
    }

    /// A valid signature by a key that is not B's owner, or one made over other terms (which
    /// recovers some other address), is not refused at the door: the contract cannot read
    /// leaves. It is queued with the address it recovers to, and the proof refuses it (served
    /// 0): an answer, never a freeze.
    function test_forcedTrade_queuesAnotherSignerForTheProofToRefuse() public {
        Rollup.ForcedTradeTerms memory t = terms(1);
        request(ALICE, t, MALLORY_KEY);
        (,,,,, address signer,,,) = rollup.forcedTrades(0);
        assertEq(signer, vm.addr(MALLORY_KEY), "another key");

        // B's signature over other terms (another price) submitted with these.
        Rollup.ForcedTradeTerms memory other = terms(2);
        other.price = MARK + 1;
        Sig memory sig = sign(B_KEY, other);
        Rollup.ForcedTradeTerms memory sent = terms(2);
        address recovered = ecrecover(digestOf(sent), sig.v, sig.r, sig.s);
        assertTrue(recovered != address(0) && recovered != bOwner, "recovers someone else");
        vm.prank(ALICE);
        rollup.requestForcedTrade(sent, sig.v, sig.r, sig.s);
        (,,,,, signer,,,) = rollup.forcedTrades(1);
        assertEq(signer, recovered, "queued with the recovered address");

        // Both refused by the batch, and the queue moves on.
        Pubdata.ForcedTrade memory r0 = answer(0, t, 0);
        r0.signer = vm.addr(MALLORY_KEY);
        Pubdata.ForcedTrade memory r1 = answer(1, sent, 0);
        r1.signer = recovered;
        apply_(abi.encodePacked(Pubdata.forcedTrade(r0), Pubdata.forcedTrade(r1)));
        assertEq(rollup.forcedTradesAnswered(), 2, "answered");
    }

    // ---- Answers ----

    /// A served and a refused answer, in order: the cursor moves past both, nothing else moves
    /// (no value, no other queue), and BatchApplied keeps its fields.
    function test_forcedTrade_answersAdvanceTheCursor() public {
        deposit(ALICE, KEY_A, 1000);
        apply_(Pubdata.deposit(0, ALICE, KEY_A, NEW, 1000));
        Rollup.ForcedTradeTerms memory t0 = terms(1);
        Rollup.ForcedTradeTerms memory t1 = terms(2);
        t1.aBuys = false;
        request(ALICE, t0, B_KEY);
        request(ALICE, t1, B_KEY);
        vm.prank(CAROL);
        rollup.requestForcedWithdrawal(2, 10);

        bytes memory b =
            batchOf(abi.encodePacked(Pubdata.forcedTrade(answer(0, t0, 1)), Pubdata.forcedTrade(answer(1, t1, 0))));
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.ForcedTradeAnswered(0, A, B, true);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.ForcedTradeAnswered(1, A, B, false);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.BatchApplied(3, rollup.stateRoot(), newRootOf(b), rollup.lastBatchTimestamp() + 1, 1, 0);
        rollup.applyBatch(b);
        assertEq(rollup.forcedTradesAnswered(), 2, "both answered");
        assertEq(rollup.forcedAnswered(), 0, "the forced withdrawal is still pending");
        assertEq(rollup.depositsConsumed(), 1, "deposits untouched");
        assertEq(rollup.l2Collateral(), 1000, "no value moved");
        assertEq(rollup.totalClaimable(), 0, "nothing claimable");
        solvent();
    }

    /// The three forced queues in one batch, records interleaved: each kind consumes its own
    /// queue; the next batch picks the forced-trade cursor up where this one left it.
    function test_forcedTrade_andTheOtherForcedQueuesInOneBatch() public {
        request(ALICE, terms(1), B_KEY);
        request(ALICE, terms(2), B_KEY);
        request(ALICE, terms(3), B_KEY);
        vm.prank(BOB);
        rollup.requestForcedWithdrawal(3, 1);
        vm.prank(BOB);
        rollup.requestForcedCancel(3, 9);
        apply_(
            abi.encodePacked(
                Pubdata.forcedTrade(answer(0, terms(1), 1)),
                Pubdata.forced(0, 3, BOB, 1, 0),
                Pubdata.forcedCancel(0, 3, BOB, 9, 1),
                Pubdata.forcedTrade(answer(1, terms(2), 0))
            )
        );
        assertEq(rollup.forcedTradesAnswered(), 2, "trades");
        assertEq(rollup.forcedAnswered(), 1, "withdrawals");
        assertEq(rollup.forcedCancelsAnswered(), 1, "cancels");
        // A batch without a forced-trade record leaves the cursor alone.
        apply_(Pubdata.markPrice(0, MARK + 1));
        assertEq(rollup.forcedTradesAnswered(), 2, "untouched");
        apply_(Pubdata.forcedTrade(answer(2, terms(3), 1)));
        assertEq(rollup.forcedTradesAnswered(), 3, "the third, a batch later");
    }

    function test_forcedTrade_answersOutOfOrderRevert() public {
        request(ALICE, terms(1), B_KEY);
        request(ALICE, terms(2), B_KEY);
        // The second before the first.
        bytes memory skip = batchOf(Pubdata.forcedTrade(answer(1, terms(2), 0)));
        vm.expectRevert(abi.encodeWithSelector(Rollup.ForcedTradeOutOfOrder.selector, uint64(0), uint64(1)));
        rollup.applyBatch(skip);
        // The same request twice in one batch.
        bytes memory twice = batchOf(
            abi.encodePacked(Pubdata.forcedTrade(answer(0, terms(1), 1)), Pubdata.forcedTrade(answer(0, terms(1), 1)))
        );
        vm.expectRevert(abi.encodeWithSelector(Rollup.ForcedTradeOutOfOrder.selector, uint64(1), uint64(0)));
        rollup.applyBatch(twice);
        apply_(Pubdata.forcedTrade(answer(0, terms(1), 1)));
        // Answered already, in a later batch.
        bytes memory again = batchOf(Pubdata.forcedTrade(answer(0, terms(1), 1)));
        vm.expectRevert(abi.encodeWithSelector(Rollup.ForcedTradeOutOfOrder.selector, uint64(1), uint64(0)));
        rollup.applyBatch(again);
        apply_(Pubdata.forcedTrade(answer(1, terms(2), 0)));
        assertEq(rollup.forcedTradesAnswered(), 2, "both answered in order");
    }

    /// Nothing beyond the queue: an answer to a request not yet made.
    function test_forcedTrade_answerBeforeTheRequestReverts() public {
        bytes memory early = batchOf(Pubdata.forcedTrade(answer(0, terms(1), 0)));
        vm.expectRevert(abi.encodeWithSelector(Rollup.ForcedTradeOutOfOrder.selector, uint64(0), uint64(0)));
        rollup.applyBatch(early);
        request(ALICE, terms(1), B_KEY);
        rollup.applyBatch(early);
        bytes memory ahead = batchOf(Pubdata.forcedTrade(answer(1, terms(1), 0)));
        vm.expectRevert(abi.encodeWithSelector(Rollup.ForcedTradeOutOfOrder.selector, uint64(1), uint64(1)));
        rollup.applyBatch(ahead);
    }

    /// Every field but `served` must be the request's, the side as 1 or 0, and `served` a
    /// boolean byte.
    function test_forcedTrade_answerNotAsRequestedReverts() public {
        Rollup.ForcedTradeTerms memory t = terms(1);
        request(ALICE, t, B_KEY);
        Pubdata.ForcedTrade[13] memory wrong;
        for (uint256 i = 0; i < wrong.length; ++i) {
            wrong[i] = answer(0, t, 1);
        }
        wrong[0].accountA = A + 1;
        wrong[1].accountB = B + 1;
        wrong[2].accountA = B;
        wrong[2].accountB = A;
        wrong[3].requester = BOB;
        wrong[4].signer = ALICE;
        wrong[5].market = 1;
        wrong[6].aBuys = 0;
        wrong[7].aBuys = 2;
        wrong[8].size = t.size + 1;
        wrong[9].price = t.price - 1;
        wrong[10].served = 2;
        wrong[11].served = 0xff;
        wrong[12].size = t.size | (1 << 40);
        for (uint256 i = 0; i < wrong.length; ++i) {
            bytes memory b = batchOf(Pubdata.forcedTrade(wrong[i]));
            vm.expectRevert(Rollup.ForcedTradeMismatch.selector);
            rollup.applyBatch(b);
        }
        assertEq(rollup.forcedTradesAnswered(), 0, "unanswered");
        apply_(Pubdata.forcedTrade(answer(0, t, 0)));
        assertEq(rollup.forcedTradesAnswered(), 1, "the exact answer applies");
    }

    /// A record cut short is malformed, never read past the records.
    function test_forcedTrade_truncatedRecordIsMalformed() public {
        request(ALICE, terms(1), B_KEY);
        bytes memory rec = Pubdata.forcedTrade(answer(0, terms(1), 1));
        assertEq(rec.length, 76, "76 bytes");
        bytes memory cut = new bytes(75);
        for (uint256 i = 0; i < 75; ++i) {
            cut[i] = rec[i];
        }
        bytes memory b = batchOf(cut);
        vm.expectRevert(Rollup.MalformedPubdata.selector);
        rollup.applyBatch(b);
    }

    /// The full path: a proven batch with a forced-trade answer goes through submitBatch.
    function test_forcedTrade_answeredByAProvenBatch() public {
        request(ALICE, terms(1), B_KEY);
        bytes memory b = batchOf(Pubdata.forcedTrade(answer(0, terms(1), 1)));
        uint256[8] memory proof = batchProof(b);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.ForcedTradeAnswered(0, A, B, true);
        vm.prank(OPERATOR);
        rollup.submitBatch(0, b, proof, "");
        assertEq(rollup.forcedTradesAnswered(), 1, "answered");
    }

    // ---- Freeze ----

    function test_forcedTrade_freezeExactlyAtTheDeadline() public {
        request(ALICE, terms(1), B_KEY);
        vm.warp(T0 + GRACE - 1);
        vm.expectRevert(Rollup.NotOverdue.selector);
        rollup.freeze();
        vm.warp(T0 + GRACE);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.Frozen(3, 0, BOB);
        vm.prank(BOB);
        rollup.freeze();
        assertTrue(rollup.frozen(), "frozen");
        assertEq(rollup.frozenAt(), T0 + GRACE, "frozenAt");
    }

    /// An answer before the deadline removes the request from the freeze rule; the next one is
    /// due at its own staggered deadline, and not a second before.
    function test_forcedTrade_answeredInTimePreventsTheFreeze() public {
        request(ALICE, terms(1), B_KEY);
        request(ALICE, terms(2), B_KEY);
        apply_(Pubdata.forcedTrade(answer(0, terms(1), 1)));
        uint64 due = deadlineOf(1);
        assertEq(due, T0 + GRACE + SPACING, "second deadline");
        vm.warp(due - 1);
        vm.expectRevert(Rollup.NotOverdue.selector);
        rollup.freeze();
        apply_(Pubdata.forcedTrade(answer(1, terms(2), 0)));
        vm.warp(due + 365 days);
        vm.expectRevert(Rollup.NotOverdue.selector);
        rollup.freeze();
    }

    /// Several queues overdue: `Frozen` names forced withdrawals first, then forced cancels,
    /// then forced trades, then deposits.
    function test_forcedTrade_freezeNamesTheQueuesInOrder() public {
        deposit(ALICE, KEY_A, 100);
        vm.warp(T0 + 1 hours);
        request(ALICE, terms(1), B_KEY);
        vm.warp(T0 + 2 hours);
        vm.prank(BOB);
        rollup.requestForcedCancel(2, 77);
        vm.warp(T0 + 3 hours);
        vm.prank(BOB);
        rollup.requestForcedWithdrawal(2, 10);

        uint8[4] memory named = [1, 3, 2, 0];
        for (uint256 i = 0; i < named.length; ++i) {
            uint256 snap = vm.snapshotState();
            vm.warp(T0 + i * 1 hours + GRACE);
            vm.expectEmit(true, true, true, true, address(rollup));
            emit Rollup.Frozen(named[i], 0, address(this));
            rollup.freeze();
            vm.revertToState(snap);
        }
    }

    /// The new root of a batch's header (bytes 32..64).
    function newRootOf(bytes memory b) internal pure returns (uint256 v) {
        assembly {
            v := mload(add(b, 64))
        }
    }
}
