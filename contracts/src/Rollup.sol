// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {IERC20} from "./IERC20.sol";
import {IVerifier} from "./IVerifier.sol";
import {BlobBinding} from "./BlobBinding.sol";
import {PubdataLayout} from "./PubdataLayout.sol";

/// @title zkperp rollup: collateral custody, the L1 queues, proven batches, freeze and exits
/// @notice What flows in and out:
///
///   deposit(key, account, amount) --> deposit queue (hash, deadlines) -+
///   requestForcedWithdrawal() ------> forced queue (deadlines) --------+--> submitBatch(pubdata, proof)
///   requestForcedCancel() ----------> forced-cancel queue (deadlines) -+     header names this chain
///   requestForcedTrade() -----------> forced-trade queue (deadlines) --+     and this rollup; consumes
///                                                                      |     each queue in order,
///                                                                      |     moves the root, credits
///   claim() <---------------------- claimable[l1 address] <------------+     claims (withdrawals, what
///                                                                             forced answers paid,
///                                                                             refunded deposits)
///   freeze()  anyone, once the oldest unanswered forced request (withdrawal, cancel or trade)
///             or the oldest unconsumed deposit is due; then no batch, deposit or request, and:
///   registerExit(account, amount, proof)  once per account, within claimWindow of the freeze
///   claimExit(account)                    after the window: the registered amount, or its
///                                         pro-rata share if registered exits exceed the pool
///   reclaimDeposit()                      unconsumed deposits, back to their depositors
///   claim()                               still pays what batches credited, in full
///
/// The public data is parsed exactly as `state/src/pubdata.rs` lays it out (the single source of
/// truth; docs/CONTRACTS.md repeats the byte map). The batch proof has one public input, the
/// commitment `sha256(pubdata)` with its top three bits cleared.
///
/// Operator powers: the `operator` alone submits batches and may hand that role to another
/// address. Nothing else: the verifying keys (one batch verifier per batch shape, and the exit
/// verifier), the token, the grace period, spacings, minimum amounts, claim window and market
/// count are fixed at deployment, and no function moves funds except as the queues, proven
/// batches, claims, exits and reclaims dictate.
///
/// The insurance fund is L2 account 0, and no function of this contract moves its capital: only
/// deposits, liquidations, deleverages and fees move it, inside L2, enforced by the batch proof
/// (no signature withdraws from it). Its collateral is part of l2Collateral like any account's.
/// After a freeze it does not exit (registerExit refuses account 0): its value stays in the pool
/// that pays the users' exits, which is what an insurance fund is for. Moving fund capital would
/// take an explicit governance function with a delay; this contract has none.
///
/// Solvency: the token balance of this contract always covers
///   totalClaimable + pendingDeposits + l2Collateral,
/// where l2Collateral is what proven batches credited to L2 accounts and not yet paid out. Each
/// term is paid only from itself: claim() from totalClaimable (in full, freeze or not: those
/// withdrawals left L2 before it), reclaimDeposit() from pendingDeposits, exits from
/// l2Collateral. Exits are proven against the last root at the last marks, and their sum can
/// exceed l2Collateral (bankrupt accounts not yet liquidated at the freeze hold negative value,
/// which an exit counts as zero, while their counterparties hold the matching gains). So exits
/// are not paid first come, first served, which would put the whole shortfall on the last
/// exiter: they are registered for claimWindow, then each is paid
/// `amount * min(1, exitPool / totalExitRegistered)`, rounded down, where exitPool is
/// l2Collateral when the window closes. Every exiter bears the same fraction, the sum paid
/// never exceeds the pool, and claims and unconsumed deposits are untouched.
contract Rollup is PubdataLayout {
    // ---- Widths and layout (state/src/units.rs, state/src/pubdata.rs) ----

    /// BN254 scalar field: roots and public inputs are elements of it.
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// `sha256` read big-endian with the top three bits cleared: below 2^253 < R.
    uint256 internal constant COMMITMENT_MASK = (1 << 253) - 1;
    /// Deposit and forced-withdrawal amounts: `amount < 2^63` (units.rs AMOUNT_BITS), and at
    /// least the deployment's minDeposit / minForcedAmount (both at least 1).
    uint256 internal constant AMOUNT_LIMIT = 1 << 63;
    /// An exit pays a total value, `|TV| < 2^100` (units.rs); the exit circuit range-checks it.
    uint256 internal constant EXIT_AMOUNT_LIMIT = 1 << 100;
    /// Order ids: `orderId < 2^40` (units.rs ORDER_ID_BITS).
    uint256 internal constant ORDER_ID_LIMIT = 1 << 40;
    /// Markets per deployment (units.rs MAX_MARKETS).
    uint256 internal constant MAX_MARKETS = 8;
    /// The insurance fund's L2 account (units.rs AccountId::INSURANCE_FUND).
    uint32 internal constant INSURANCE_FUND = 0;
    /// The fee account's L2 account (units.rs AccountId::FEES). Neither system account has an
    /// owner key that could sign a forced trade, so neither may be a party to one.
    uint32 internal constant FEE_ACCOUNT = 1;
    /// Forced-trade sizes, in lots: `0 < size < 2^40` (units.rs SIZE_BITS).
    uint256 internal constant SIZE_LIMIT = 1 << 40;
    /// Forced-trade prices, in ticks: `0 < price < 2^40` (units.rs PRICE_BITS).
    uint256 internal constant PRICE_LIMIT = 1 << 40;
    /// secp256k1n / 2: a signature's `s` must not exceed it (EIP-2), so each signed message has
    /// one accepted signature and the malleated twin `(r, n - s, v ^ 1)` is refused.
    uint256 internal constant SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    /// EIP-712: the domain's type, name and version (chain id and address are read at call time).
    bytes32 internal constant EIP712_DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant EIP712_NAME_HASH = keccak256("zkperp");
    bytes32 internal constant EIP712_VERSION_HASH = keccak256("1");
    /// EIP-712 type of the terms party B signs (ForcedTradeTerms, field for field).
    bytes32 internal constant FORCED_TRADE_TYPEHASH = keccak256(
        "ForcedTrade(uint32 accountA,uint32 accountB,uint8 market,bool aBuys,uint64 size,uint64 price,uint64 expiry,uint64 nonce)"
    );

    // The public data's kinds, record lengths, field offsets and widths: PubdataLayout.sol,
    // generated from the one table in state/src/layout.rs.
    /// `submitBatch`'s `kzg`: per blob, `48 commitment | 48 opening proof at z`.
    uint256 internal constant KZG_PAIR_LEN = 96;

    /// A deposit's target meaning "open a new account" (any other value names an existing one).
    uint32 public constant NEW_ACCOUNT = type(uint32).max;
    /// The queue a freeze names as overdue (event Frozen).
    uint8 public constant QUEUE_FORCED = 0;
    uint8 public constant QUEUE_DEPOSIT = 1;
    uint8 public constant QUEUE_FORCED_CANCEL = 2;
    uint8 public constant QUEUE_FORCED_TRADE = 3;

    // ---- Fixed at deployment ----

    IERC20 public immutable token;
    IVerifier public immutable exitVerifier;
    /// Seconds the operator has to answer a forced request (withdrawal, cancel or trade), or
    /// consume a deposit, before anyone may freeze.
    uint256 public immutable gracePeriod;
    /// Seconds between consecutive forced requests' deadlines, at least, in each forced queue
    /// (withdrawals, cancels, trades: each staggered on its own): a request's deadline is
    /// `max(now + gracePeriod, previous deadline in its queue + forcedSpacing)`, so the operator
    /// always has `forcedSpacing` seconds per request and a flood of requests cannot force a
    /// freeze.
    uint256 public immutable forcedSpacing;
    /// The same for deposits: a deposit's deadline is
    /// `max(now + gracePeriod, previous deposit's deadline + depositSpacing)`.
    uint256 public immutable depositSpacing;
    /// Seconds after the freeze during which exits are registered; claims start when it ends.
    /// Long enough for every owner to notice the freeze and make an exit proof (1 hour..365
    /// days; weeks in production).
    uint256 public immutable claimWindow;
    /// A batch's time may lag the L1's by at most this many seconds. The batch time is what
    /// orders' expiry and quotes' freshness are judged at, so without a floor an operator could
    /// seal a batch "in the past" and fill an order long after it expired or tick a mark from
    /// old quotes. It must exceed the deployment's worst proving and submission lag (the node
    /// stops sealing when its backlog ages toward it), or an honest batch could be refused.
    uint256 public immutable maxBatchAge;
    /// Number of markets of the state (`StateConfig::markets.len()`), 1..=8.
    uint256 public immutable marketCount;
    /// The smallest deposit accepted. Every deposit costs the operator a slot of a batch, so a
    /// floor makes filling the queue cost real collateral (locked until consumed or reclaimed)
    /// rather than dust; at least 1, below 2^63.
    uint256 public immutable minDeposit;
    /// The smallest forced withdrawal accepted, for the same reason: each costs a batch slot
    /// and the operator must answer it in time; at least 1, below 2^63. (It bounds the request,
    /// not the answer: an answer may pay less, see _answerForced.)
    uint256 public immutable minForcedAmount;
    /// What an exit needs besides L1 data and the owner's key, pinned so that a wallet can
    /// check a copy from anywhere: the keccak256 of the deployment's network file with its
    /// deployment-specific fields cleared (`Network::pinned_hash`: the state configuration,
    /// shape, fees and verifying keys), and the SHA-256 of the exit proving key's bytes (the
    /// checksum its key file carries). Nonzero; the contract never reads them.
    bytes32 public immutable configHash;
    bytes32 public immutable exitKeyHash;
    /// One verifier per batch shape, indexed by shape id. Written by the constructor only.
    IVerifier[] internal batchVerifiers;

    // ---- State ----

    address public operator;
    /// Set by freeze(), for good. With frozenAt and exitPoolFixed it fills the rest of the
    /// operator's slot: submitBatch reads both in one cold read, and freeze() writes a slot
    /// already in use. (The four queues' counters below fill two slots of their own and half of
    /// a third: the forced trades'.)
    bool public frozen;
    /// The block time of the freeze (0 while not frozen): the exit claim window starts here.
    uint64 public frozenAt;
    /// Set by the first exit claim, with exitPool (packed here: the first claim writes a slot
    /// already in use).
    bool public exitPoolFixed;
    /// The last verified state root.
    uint256 public stateRoot;
    /// Batches applied so far; the next batch must carry the number `batchCount + 1`.
    uint64 public batchCount;
    /// Timestamp of the last batch; each batch's is at least this (see _applyBatch).
    uint64 public lastBatchTimestamp;
    uint64 public depositCount;
    uint64 public depositsConsumed;
    uint64 public forcedCount;
    uint64 public forcedAnswered;
    /// Forced cancels requested so far, and answered so far (the next one to answer).
    uint64 public forcedCancelCount;
    uint64 public forcedCancelsAnswered;
    /// Forced trades requested so far, and answered so far (the next one to answer). A slot of
    /// their own (the other counters' slots are full): a batch without a forced-trade record
    /// never reads it (see Cursor.forcedTradeLoaded).
    uint64 public forcedTradeCount;
    uint64 public forcedTradesAnswered;

    /// `depositHash[i]`: the running hash after deposit `i`, `h_{-1} = 0`,
    /// `h_i = keccak256(h_{i-1} | u64 index | address l1 | bytes32 packed key | u32 account | u64 amount)`:
    /// the pubdata deposit record without its kind byte.
    mapping(uint64 => bytes32) public depositHash;
    /// When deposit `i` is due: from then on, if no batch consumed it, anyone may freeze.
    mapping(uint64 => uint64) public depositDeadline;
    mapping(uint64 => bool) public depositReclaimed;

    struct ForcedRequest {
        address requester;
        uint32 account;
        uint64 amount;
        uint64 deadline;
    }

    mapping(uint64 => ForcedRequest) public forcedRequests;

    /// A forced cancel: every order of `account` with an id below `orderId` is to be cancelled.
    struct ForcedCancel {
        address requester;
        uint32 account;
        uint64 orderId;
        uint64 deadline;
    }

    mapping(uint64 => ForcedCancel) public forcedCancels;

    /// What party B signs (EIP-712 type `ForcedTrade`, these fields in this order): account A
    /// (the requester's) trades `size` lots of `market` at `price` ticks with account B, A buying
    /// if `aBuys` (B selling), else A selling; the offer may be submitted until `expiry` (L1
    /// time, inclusive); `nonce` is any value that makes otherwise-equal offers distinct.
    struct ForcedTradeTerms {
        uint32 accountA;
        uint32 accountB;
        uint8 market;
        bool aBuys;
        uint64 size;
        uint64 price;
        uint64 expiry;
        uint64 nonce;
    }

    /// A queued forced trade: the terms as signed (without expiry and nonce, which only the door
    /// uses), who sent it (party A's claimed owner) and who signed it (party B's claimed owner);
    /// the proof checks both claims. Three slots: requester, accounts, market and side; signer
    /// and deadline; size and price.
    struct ForcedTrade {
        address requester;
        uint32 accountA;
        uint32 accountB;
        uint8 market;
        bool aBuys;
        address signer;
        uint64 deadline;
        uint64 size;
        uint64 price;
    }

    mapping(uint64 => ForcedTrade) public forcedTrades;
    /// EIP-712 digests of the forced trades queued so far: each signed offer enters once.
    mapping(bytes32 => bool) public forcedTradeUsed;

    struct Market {
        uint64 markPrice;
        int64 fundingIndex;
    }

    /// The latest published mark price and funding index of each market (0 until published).
    mapping(uint256 => Market) public markets;

    mapping(address => uint256) public claimable;
    /// Exits, per account: the L1 owner that registered it (zero: none), the amount proven,
    /// and whether it was paid.
    mapping(uint32 => address) public exitOwner;
    mapping(uint32 => uint256) public exitAmount;
    mapping(uint32 => bool) public exitClaimed;
    /// Sum of the registered exits' amounts.
    uint256 public totalExitRegistered;
    /// l2Collateral when the first exit was claimed (the window closed; nothing else moves it
    /// after a freeze): what every exit shares. Set once, with exitPoolFixed.
    uint256 public exitPool;

    uint256 public totalClaimable;
    /// Queued deposits neither consumed by a batch nor reclaimed.
    uint256 public pendingDeposits;
    /// Collateral credited to L2 accounts by proven batches and not yet withdrawn or paid to an
    /// exit.
    uint256 public l2Collateral;

    // ---- Events ----

    event Deposited(
        uint64 indexed index,
        address indexed l1Address,
        bytes32 publicKey,
        uint32 account,
        uint64 amount,
        uint64 deadline,
        bytes32 runningHash
    );
    event ForcedWithdrawalRequested(
        uint64 indexed index, uint32 indexed account, address indexed requester, uint64 amount, uint64 deadline
    );
    event ForcedCancelRequested(
        uint64 indexed index, uint32 indexed account, address requester, uint64 orderId, uint64 deadline
    );
    /// `requester`: the sender (party A's claimed owner); `signer`: who signed the terms (party
    /// B's claimed owner), recovered from the signature.
    event ForcedTradeRequested(
        uint64 indexed index,
        uint32 indexed accountA,
        uint32 indexed accountB,
        address requester,
        address signer,
        uint8 market,
        bool aBuys,
        uint64 size,
        uint64 price,
        uint64 deadline
    );
    event BatchApplied(
        uint64 indexed batchNumber,
        uint256 oldRoot,
        uint256 newRoot,
        uint64 timestamp,
        uint64 depositsConsumed,
        uint64 forcedAnswered
    );
    event WithdrawalCredited(
        uint64 indexed batchNumber, uint32 indexed account, address indexed l1Address, uint64 amount
    );
    event DepositRefunded(uint64 indexed index, address indexed l1Address, uint64 amount);
    event ForcedWithdrawalAnswered(uint64 indexed index, uint32 indexed account, uint64 paid);
    /// `served`: the account's order floor was raised (false: refused, no such account or
    /// another owner).
    event ForcedCancelAnswered(uint64 indexed index, uint32 indexed account, bool served);
    /// `served`: the trade was made in L2 (false: refused on a ground the proof shows).
    event ForcedTradeAnswered(uint64 indexed index, uint32 indexed accountA, uint32 indexed accountB, bool served);
    event MarkPriceUpdated(uint256 indexed market, uint64 price);
    event FundingIndexUpdated(uint256 indexed market, int64 fundingIndex);
    event Claimed(address indexed l1Address, uint256 amount);
    /// `queue`: QUEUE_FORCED, QUEUE_DEPOSIT, QUEUE_FORCED_CANCEL or QUEUE_FORCED_TRADE;
    /// `overdueIndex`: the overdue entry's index in it.
    event Frozen(uint8 queue, uint64 overdueIndex, address by);
    event ExitRegistered(uint32 indexed account, address indexed l1Address, uint256 amount);
    /// `amount`: as registered; `paid`: what the claim paid (less if the pool fell short).
    event Exited(uint32 indexed account, address indexed l1Address, uint256 amount, uint256 paid);
    event DepositReclaimed(uint64 indexed index, address indexed depositor, uint64 amount);
    event OperatorChanged(address indexed previous, address indexed next);

    // ---- Errors ----

    error NotOperator();
    error IsFrozen();
    error NotFrozen();
    error BadConfig();
    error BadAmount();
    error TransferFailed();
    error UnknownShape();
    error InvalidProof();
    error MalformedPubdata();
    /// The public data claims a blob whose versioned hash is not the transaction's blob `index`,
    /// or the transaction carries more blobs than the public data claims.
    error WrongBlob(uint256 index);
    error WrongDomain();
    error WrongOldRoot(uint256 expected, uint256 got);
    error BadNewRoot();
    error BadTimestamp();
    error BadBatchNumber(uint64 expected, uint64 got);
    error DepositOutOfOrder(uint64 expected, uint64 got);
    error DepositMismatch();
    error ForcedOutOfOrder(uint64 expected, uint64 got);
    error ForcedMismatch();
    error ForcedCancelOutOfOrder(uint64 expected, uint64 got);
    error ForcedCancelMismatch();
    error ForcedTradeOutOfOrder(uint64 expected, uint64 got);
    error ForcedTradeMismatch();
    /// A forced trade's two parties are one account.
    error SameAccount();
    /// A forced trade names the insurance fund (0) or the fee account (1).
    error SystemAccount(uint32 account);
    /// A forced trade on a market with no published mark price yet.
    error NoMarkPrice(uint256 market);
    /// A forced trade's price is 0 or not below 2^40.
    error BadPrice();
    /// A forced trade submitted after its terms' expiry.
    error OfferExpired(uint64 expiry);
    /// Not a canonical secp256k1 signature (v not 27 or 28, r or s zero, s above n/2), or one
    /// that recovers no address.
    error BadSignature();
    /// These exact terms (this EIP-712 digest) were queued already.
    error ForcedTradeReplayed(bytes32 digest);
    error UnknownRecord(uint8 kind);
    error UnknownMarket(uint256 market);
    error Overdraft();
    error NothingToClaim();
    error NotOverdue();
    error AlreadyExited();
    error ExitWindowClosed();
    error ExitWindowOpen();
    error NotRegistered();
    error InsuranceFundExit();
    error AlreadyClaimed();
    error NotReclaimable();

    /// Everything a deployment fixes, for the contract's whole life (no setter anywhere). The
    /// constructor takes it as one tuple, fields in this order:
    ///   (token, operator, genesisRoot, marketCount, gracePeriod, forcedSpacing, depositSpacing,
    ///    claimWindow, maxBatchAge, minDeposit, minForcedAmount, batchVerifiers, exitVerifier,
    ///    configHash, exitKeyHash)
    struct Config {
        /// The collateral (a contract; no fee-on-transfer token, see deposit()).
        IERC20 token;
        /// The one address allowed to submit batches (it may hand the role on).
        address operator;
        /// `State::genesis(config).root()` of the deployment's configuration.
        uint256 genesisRoot;
        /// `StateConfig::markets.len()`, 1..=8.
        uint256 marketCount;
        /// Seconds, 60..=365 days.
        uint256 gracePeriod;
        /// Seconds, 1..=gracePeriod.
        uint256 forcedSpacing;
        /// Seconds, 1..=gracePeriod.
        uint256 depositSpacing;
        /// Seconds, 1 hour..=365 days.
        uint256 claimWindow;
        /// Seconds, 10 minutes..=30 days.
        uint256 maxBatchAge;
        /// Token units, 1..2^63.
        uint256 minDeposit;
        /// Token units, 1..2^63.
        uint256 minForcedAmount;
        /// The batch verifier of each shape, indexed by shape id (1 public input each).
        IVerifier[] batchVerifiers;
        /// The exit verifier (4 + marketCount public inputs, see exitInputs()).
        IVerifier exitVerifier;
        /// See configHash and exitKeyHash; nonzero.
        bytes32 configHash;
        bytes32 exitKeyHash;
    }

    constructor(Config memory config) {
        // The header carries the chain id in 8 bytes (and signingDomain() keeps it below 2^224).
        if (block.chainid >= 1 << 64) revert BadConfig();
        if (
            address(config.token) == address(0) || config.operator == address(0)
                || address(config.exitVerifier) == address(0)
        ) {
            revert BadConfig();
        }
        if (address(config.token).code.length == 0) revert BadConfig();
        if (config.genesisRoot >= R || config.marketCount == 0 || config.marketCount > MAX_MARKETS) {
            revert BadConfig();
        }
        // A forced request must be answerable (at least a minute) and a freeze reachable.
        if (config.gracePeriod < 60 || config.gracePeriod > 365 days) revert BadConfig();
        // At least a second per entry (else a flood could still be due at once), and no more
        // than the grace period (a lone entry's deadline stays now + gracePeriod); both queues.
        if (config.forcedSpacing == 0 || config.forcedSpacing > config.gracePeriod) revert BadConfig();
        if (config.depositSpacing == 0 || config.depositSpacing > config.gracePeriod) revert BadConfig();
        // Owners need time to see the freeze and prove their exits; claims must come eventually.
        if (config.claimWindow < 1 hours || config.claimWindow > 365 days) revert BadConfig();
        // Room for proving and submission, and still a bound worth having.
        if (config.maxBatchAge < 10 minutes || config.maxBatchAge > 30 days) revert BadConfig();
        if (config.minDeposit == 0 || config.minDeposit >= AMOUNT_LIMIT) revert BadConfig();
        if (config.minForcedAmount == 0 || config.minForcedAmount >= AMOUNT_LIMIT) revert BadConfig();
        if (config.configHash == 0 || config.exitKeyHash == 0) revert BadConfig();
        if (config.batchVerifiers.length == 0) revert BadConfig();
        for (uint256 i = 0; i < config.batchVerifiers.length; ++i) {
            if (address(config.batchVerifiers[i]) == address(0)) revert BadConfig();
            batchVerifiers.push(config.batchVerifiers[i]);
        }
        token = config.token;
        operator = config.operator;
        stateRoot = config.genesisRoot;
        marketCount = config.marketCount;
        gracePeriod = config.gracePeriod;
        forcedSpacing = config.forcedSpacing;
        depositSpacing = config.depositSpacing;
        claimWindow = config.claimWindow;
        maxBatchAge = config.maxBatchAge;
        minDeposit = config.minDeposit;
        minForcedAmount = config.minForcedAmount;
        exitVerifier = config.exitVerifier;
        configHash = config.configHash;
        exitKeyHash = config.exitKeyHash;
        emit OperatorChanged(address(0), config.operator);
    }

    // ---- Operator ----

    /// The operator hands its one power (submitting batches) to `next`.
    function setOperator(address next) external {
        if (msg.sender != operator) revert NotOperator();
        if (next == address(0)) revert BadConfig();
        emit OperatorChanged(operator, next);
        operator = next;
    }

    /// The value every L2 signature commits to (orders, cancels, withdrawals, reads, oracle
    /// quotes, agent keys; PROTOCOL.md 6b): `chain id << 160 | rollup address`, below 2^224 and
    /// so a field element. A signature made for one deployment is worthless on any other, and
    /// each batch names the deployment it was proven for in its header (WrongDomain).
    function signingDomain() public view returns (uint256) {
        return (block.chainid << 160) | uint160(address(this));
    }

    function batchVerifier(uint256 shape) external view returns (IVerifier) {
        return batchVerifiers[shape];
    }

    function shapeCount() external view returns (uint256) {
        return batchVerifiers.length;
    }

    // ---- Deposits ----

    /// Queues `amount` units for L2 account `account`, or for a new account if `account` is
    /// NEW_ACCOUNT; `publicKey` (the packed Baby Jubjub key, circomlib) and the sender are the
    /// new account's key and L1 owner. The state machine credits an existing account only if its
    /// owner matches (PROTOCOL.md 6b); a deposit it cannot credit (no such account, another
    /// owner, an invalid key, a full tree, a balance overflow) is refunded to the sender by the
    /// batch that consumes it (0x06). The sender
    /// may also reclaim it after a freeze if no batch consumed it. `minDeposit <= amount < 2^63`.
    /// Batches must consume deposits in order, each by its deadline, staggered exactly as forced
    /// requests are (`depositSpacing`): if the oldest unconsumed deposit reaches it, anyone may
    /// freeze, so the operator cannot hold a deposit (and the collateral it brings) hostage.
    function deposit(bytes32 publicKey, uint32 account, uint64 amount) external {
        if (frozen) revert IsFrozen();
        if (amount < minDeposit || amount >= AMOUNT_LIMIT) revert BadAmount();
        uint64 index = depositCount;
        bytes32 prev;
        uint64 previousDeadline;
        if (index != 0) {
            prev = depositHash[index - 1];
            previousDeadline = depositDeadline[index - 1];
        }
        bytes32 h = keccak256(abi.encodePacked(prev, index, msg.sender, publicKey, account, amount));
        uint64 deadline = _nextDeadline(previousDeadline, depositSpacing);
        depositHash[index] = h;
        depositDeadline[index] = deadline;
        depositCount = index + 1;
        pendingDeposits += amount;
        emit Deposited(index, msg.sender, publicKey, account, amount, deadline, h);
        // The queue records `amount`, so exactly that must arrive (no fee-on-transfer tokens).
        uint256 before = token.balanceOf(address(this));
        _pull(msg.sender, amount);
        if (token.balanceOf(address(this)) != before + amount) revert TransferFailed();
    }

    /// After a freeze, the depositor takes back a deposit no batch consumed. The caller supplies
    /// the record (from its Deposited event); it is checked against the running hash.
    function reclaimDeposit(uint64 index, bytes32 publicKey, uint32 account, uint64 amount) external {
        if (!frozen) revert NotFrozen();
        if (index < depositsConsumed || index >= depositCount || depositReclaimed[index]) revert NotReclaimable();
        bytes32 prev = index == 0 ? bytes32(0) : depositHash[index - 1];
        if (keccak256(abi.encodePacked(prev, index, msg.sender, publicKey, account, amount)) != depositHash[index]) {
            revert NotReclaimable();
        }
        depositReclaimed[index] = true;
        pendingDeposits -= amount;
        emit DepositReclaimed(index, msg.sender, amount);
        _push(msg.sender, amount);
    }

    // ---- Forced requests (withdrawals, cancels, trades) and freeze ----

    /// Asks the rollup to pay `amount` of L2 account `account` to the sender. The next batches
    /// must answer it (paid in full, in part as far as the margin rule allows, or refused on a
    /// listed ground) by its deadline; if the oldest unanswered request reaches its deadline,
    /// anyone may freeze the rollup. The deadline is `now + gracePeriod`, pushed to
    /// `previous deadline + forcedSpacing` when requests crowd: a flood of requests delays the
    /// later ones instead of freezing the rollup. `minForcedAmount <= amount < 2^63`.
    function requestForcedWithdrawal(uint32 account, uint64 amount) external {
        if (frozen) revert IsFrozen();
        if (amount < minForcedAmount || amount >= AMOUNT_LIMIT) revert BadAmount();
        uint64 index = forcedCount;
        uint64 deadline = _nextDeadline(index == 0 ? 0 : forcedRequests[index - 1].deadline, forcedSpacing);
        forcedRequests[index] =
            ForcedRequest({requester: msg.sender, account: account, amount: amount, deadline: deadline});
        forcedCount = index + 1;
        emit ForcedWithdrawalRequested(index, account, msg.sender, amount, deadline);
    }

    /// Asks the rollup to cancel every order of L2 account `account` whose order id is below
    /// `orderId`: the state machine raises the account's order floor to `max(floor, orderId)`,
    /// and an order whose id is below the floor can never fill. This is the L1 way out for a
    /// trader whose signed cancels the operator will not include: their resting orders stop
    /// being fillable without the operator's consent. The contract cannot read leaves, so it
    /// only queues the request; the next batches must answer it, in order, by its deadline:
    /// served if the sender is the account's L1 owner, refused if the account does not exist or
    /// has another owner. The proof decides which; the contract checks that the answer is this
    /// request's (_answerForcedCancel). If the oldest unanswered one reaches its deadline,
    /// anyone may freeze the rollup.
    ///
    /// Its own queue, not the forced withdrawals': a batch runs forced cancels in slots of
    /// their own, and each kind's slots consume their own queue in order. Its deadlines are
    /// staggered like the forced withdrawals', with the same `forcedSpacing` but on this
    /// queue's own previous deadline. `0 < orderId < 2^40` (units.rs ORDER_ID_BITS; 0 would
    /// cancel nothing). No minimum amount applies: a forced cancel moves no value, so there is
    /// no amount to put a floor on. As for forced withdrawals, the staggered deadlines are what
    /// guarantee that the operator can always serve the queue within a batch's slots: a flood
    /// of requests only delays the later ones instead of freezing the rollup.
    function requestForcedCancel(uint32 account, uint64 orderId) external {
        if (frozen) revert IsFrozen();
        if (orderId == 0 || orderId >= ORDER_ID_LIMIT) revert BadAmount();
        uint64 index = forcedCancelCount;
        uint64 deadline = _nextDeadline(index == 0 ? 0 : forcedCancels[index - 1].deadline, forcedSpacing);
        forcedCancels[index] =
            ForcedCancel({requester: msg.sender, account: account, orderId: orderId, deadline: deadline});
        forcedCancelCount = index + 1;
        emit ForcedCancelRequested(index, account, msg.sender, orderId, deadline);
    }

    /// Asks the rollup to make a trade between L2 accounts A and B that both owners agreed on:
    /// A buys `size` lots of `market` from B at `price` if `aBuys`, else sells them to B. This is
    /// the L1 way out for a trader holding a position whom the operator censors: a forced
    /// withdrawal takes out only what the margin rule leaves free, and a forced cancel only
    /// stops orders, but a position can be closed or handed over only by a trade, and every
    /// trade needs the operator. Here the operator must serve it or refuse it on a ground the
    /// proof shows, by its deadline, or anyone may freeze the rollup.
    ///
    /// Party A authorises by sending this transaction (the proof checks that the sender is
    /// account A's L1 owner); party B by an EIP-712 signature of `terms` by B's L1 owner key
    /// (`forcedTradeDigest`), which the contract verifies here and the proof checks is B's owner.
    /// The door refuses, each with its own error: a freeze; A equal to B; a system account
    /// (insurance fund, fee account: no owner key signs for them) on either side; an unknown
    /// market or one without a published mark; `size` or `price` outside `1..2^40`; terms past
    /// `expiry`; a non-canonical signature (v not 27/28, r or s zero, s above n/2) or one that
    /// recovers no address; terms already queued (same digest). So a malformed or replayed
    /// signature never enters the queue. A valid signature by a key that is not B's owner does
    /// enter, with that signer: the contract cannot read leaves, and the proof refuses it
    /// (answered, never a freeze). So does a request from a sender who is not A's owner, or one
    /// the accounts' margin cannot carry: refused by the proof, likewise.
    ///
    /// Its own queue, answered by `0x08` records in order (_answerForcedTrade), with deadlines
    /// staggered like the other forced queues' (the same `forcedSpacing`, on this queue's own
    /// previous deadline). No minimum amount: the spacing is what keeps a flood from forcing a
    /// freeze (it only delays the requests behind it), a forced trade moves no L1 value, and it
    /// needs both owners' consent, so nobody can push a trade onto a stranger's account.
    function requestForcedTrade(ForcedTradeTerms calldata terms, uint8 v, bytes32 r, bytes32 s) external {
        if (frozen) revert IsFrozen();
        // One copy, whose ABI decoding checks each field's width once (smaller code than
        // reading each field from calldata, checked, at every use).
        ForcedTradeTerms memory t = terms;
        _checkForcedTradeTerms(t);
        bytes32 digest = _forcedTradeDigest(t);
        address signer = _recoverCanonical(digest, v, r, s);
        if (forcedTradeUsed[digest]) revert ForcedTradeReplayed(digest);
        forcedTradeUsed[digest] = true;
        _queueForcedTrade(t, signer);
    }

    /// Appends the checked terms to the forced-trade queue, with the sender and the recovered
    /// signer (a function of its own: the event's ten fields and the signature's do not fit on
    /// one stack).
    function _queueForcedTrade(ForcedTradeTerms memory terms, address signer) private {
        uint64 index = forcedTradeCount;
        uint64 deadline = _nextDeadline(index == 0 ? 0 : forcedTrades[index - 1].deadline, forcedSpacing);
        forcedTrades[index] = ForcedTrade({
            requester: msg.sender,
            accountA: terms.accountA,
            accountB: terms.accountB,
            market: terms.market,
            aBuys: terms.aBuys,
            signer: signer,
            deadline: deadline,
            size: terms.size,
            price: terms.price
        });
        forcedTradeCount = index + 1;
        emit ForcedTradeRequested(
            index,
            terms.accountA,
            terms.accountB,
            msg.sender,
            signer,
            terms.market,
            terms.aBuys,
            terms.size,
            terms.price,
            deadline
        );
    }

    /// The door's checks on the terms themselves (requestForcedTrade lists them).
    function _checkForcedTradeTerms(ForcedTradeTerms memory terms) private view {
        if (terms.accountA == terms.accountB) revert SameAccount();
        if (terms.accountA == INSURANCE_FUND || terms.accountA == FEE_ACCOUNT) revert SystemAccount(terms.accountA);
        if (terms.accountB == INSURANCE_FUND || terms.accountB == FEE_ACCOUNT) revert SystemAccount(terms.accountB);
        if (terms.market >= marketCount) revert UnknownMarket(terms.market);
        // A trade is margined at the mark: without one the state machine cannot judge it.
        if (markets[terms.market].markPrice == 0) revert NoMarkPrice(terms.market);
        if (terms.size == 0 || terms.size >= SIZE_LIMIT) revert BadAmount();
        if (terms.price == 0 || terms.price >= PRICE_LIMIT) revert BadPrice();
        if (block.timestamp > terms.expiry) revert OfferExpired(terms.expiry);
    }

    /// The signer of `digest`, for a canonical signature only: `v` 27 or 28, `0 < r`,
    /// `0 < s <= n/2` (EIP-2: the malleated twin `(r, n - s)` is refused), and ecrecover must
    /// recover an address. `r < n` is not checked here: ecrecover recovers nothing for a larger
    /// one, which is refused as well.
    function _recoverCanonical(bytes32 digest, uint8 v, bytes32 r, bytes32 s) private pure returns (address signer) {
        if ((v != 27 && v != 28) || r == 0 || s == 0 || uint256(s) > SECP256K1_HALF_N) revert BadSignature();
        signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert BadSignature();
    }

    /// EIP-712 domain separator of this deployment: `EIP712Domain(string name,string
    /// version,uint256 chainId,address verifyingContract)` with name "zkperp", version "1", this
    /// chain and this contract. Computed at each call, so after a chain split the side whose id
    /// changed refuses signatures made for the other (a few hundred gas; no cache to go stale).
    function eip712DomainSeparator() public view returns (bytes32) {
        return keccak256(
            abi.encode(EIP712_DOMAIN_TYPEHASH, EIP712_NAME_HASH, EIP712_VERSION_HASH, block.chainid, address(this))
        );
    }

    /// What party B's owner signs for `terms`: `keccak256("\x19\x01" | eip712DomainSeparator() |
    /// structHash)`, with `structHash = keccak256(abi.encode(typeHash, accountA, accountB,
    /// market, aBuys, size, price, expiry, nonce))` and `typeHash = keccak256("ForcedTrade(uint32
    /// accountA,uint32 accountB,uint8 market,bool aBuys,uint64 size,uint64 price,uint64
    /// expiry,uint64 nonce)")` (EIP-712: each field one 32-byte word). Wallets and tests check
    /// their hashing against it.
    function forcedTradeDigest(ForcedTradeTerms calldata terms) external view returns (bytes32) {
        return _forcedTradeDigest(terms);
    }

    function _forcedTradeDigest(ForcedTradeTerms memory terms) private view returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(
                FORCED_TRADE_TYPEHASH,
                terms.accountA,
                terms.accountB,
                terms.market,
                terms.aBuys,
                terms.size,
                terms.price,
                terms.expiry,
                terms.nonce
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", eip712DomainSeparator(), structHash));
    }

    /// The deadline of a queue's next entry: `max(now + gracePeriod, previous + spacing)`, where
    /// `previous` is the deadline of the entry before it (0 for the first: `spacing` is at most
    /// `gracePeriod`, so the first gets `now + gracePeriod`). A lone entry gets the full grace
    /// period; a flood is due `spacing` apart, so the operator is owed `spacing` seconds per
    /// entry however they arrive, and spam delays the entries behind it instead of freezing.
    function _nextDeadline(uint64 previous, uint256 spacing) private view returns (uint64) {
        uint256 due = block.timestamp + gracePeriod;
        uint256 staggered = previous + spacing;
        if (staggered > due) due = staggered;
        // Fits: block time is far below 2^64 and each entry adds at most a year, so 2^64 is out
        // of reach of any number of entries anyone could pay for.
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint64(due);
    }

    /// Freezes the rollup for good once the oldest unanswered forced withdrawal, the oldest
    /// unanswered forced cancel, the oldest unanswered forced trade or the oldest unconsumed
    /// deposit is due: possible from its deadline second on (`block.timestamp >= deadline`),
    /// never before. Each queue is served in order and its deadlines never decrease, so its
    /// oldest entry is its first due. The queues are looked at in this order: forced
    /// withdrawals, forced cancels, forced trades, deposits; when several are overdue, `Frozen`
    /// names the first overdue one.
    function freeze() external {
        if (frozen) revert IsFrozen();
        uint8 queue = QUEUE_FORCED;
        uint64 index = forcedAnswered;
        if (index >= forcedCount || block.timestamp < forcedRequests[index].deadline) {
            queue = QUEUE_FORCED_CANCEL;
            index = forcedCancelsAnswered;
            if (index >= forcedCancelCount || block.timestamp < forcedCancels[index].deadline) {
                queue = QUEUE_FORCED_TRADE;
                index = forcedTradesAnswered;
                if (index >= forcedTradeCount || block.timestamp < forcedTrades[index].deadline) {
                    queue = QUEUE_DEPOSIT;
                    index = depositsConsumed;
                    if (index >= depositCount || block.timestamp < depositDeadline[index]) revert NotOverdue();
                }
            }
        }
        frozen = true;
        // forge-lint: disable-next-line(unsafe-typecast)
        frozenAt = uint64(block.timestamp);
        emit Frozen(queue, index, msg.sender);
    }

    // ---- Batches ----

    /// Applies a proven batch. `pubdata` is `BatchPublicData::to_bytes()`; `proof` is the batch
    /// proof of shape `shape` (encoding: IVerifier); `kzg` holds, per blob the public data
    /// claims, its KZG commitment and the opening at the claim's `z` (48 bytes each), for the
    /// point-evaluation precompile. The transaction carries the blobs themselves, in order.
    function submitBatch(uint256 shape, bytes calldata pubdata, uint256[8] calldata proof, bytes calldata kzg)
        external
    {
        if (msg.sender != operator) revert NotOperator();
        if (shape >= batchVerifiers.length) revert UnknownShape();
        uint256[] memory input = new uint256[](1);
        input[0] = uint256(sha256(pubdata)) & COMMITMENT_MASK;
        if (!batchVerifiers[shape].verifyProof(proof, input)) revert InvalidProof();
        _applyBatch(pubdata, kzg);
    }

    /// The running totals of one batch, kept in memory while its records are walked.
    struct Cursor {
        uint64 batchNumber;
        uint64 nextDeposit;
        uint64 nextForced;
        uint64 nextForcedCancel;
        /// Read from storage at the batch's first forced-trade record only (then
        /// `forcedTradeLoaded`), and written back only then: the forced-trade counters have a
        /// slot of their own, which a batch without forced trades need not touch.
        uint64 nextForcedTrade;
        bool forcedTradeLoaded;
        bytes32 depositHash;
        /// Consumed deposits credited to L2 accounts (0x01).
        uint256 deposited;
        /// Consumed deposits refunded to their depositors (0x06): claimable, never in L2.
        uint256 refunded;
        /// Paid out of L2 to claimants: withdrawals and what forced answers paid.
        uint256 withdrawn;
    }

    /// Checks `pubdata` against the contract's state and applies it. The caller has verified
    /// the proof of its commitment. Refuses (reverts) unless: not frozen; the layout is exact;
    /// the header's chain id and rollup address are this chain's and this contract's (the
    /// signatures the proof checked were made for this domain); the old root is the current root; the new root is a field element; the batch number is
    /// exactly `batchCount + 1`; the timestamp is not before the last batch's, not in the
    /// future and not more than `maxBatchAge` behind the L1's; deposits (credited or refunded) are the next queued ones in order, record for
    /// record; forced answers are the next requests in order, field for field, and forced-cancel
    /// and forced-trade answers the next entries of their own queues, in order, field for
    /// field; markets exist.
    /// The batch number is what makes a batch impossible to apply twice, even one that changes
    /// no leaf (its root stays where it was) at the same second as the previous batch.
    function _applyBatch(bytes calldata pubdata, bytes calldata kzg) internal {
        if (frozen) revert IsFrozen();
        uint256 len = pubdata.length;
        if (len < HEADER_LEN + BLOBS_LEN) revert MalformedPubdata();
        uint256 recordsEnd = HEADER_LEN + _uint(pubdata, HEADER_RECORD_BYTES, HEADER_RECORD_BYTES_BYTES);
        if (len < recordsEnd + BLOBS_LEN) revert MalformedPubdata();
        _checkBlobs(pubdata, recordsEnd, kzg);

        if (
            _uint(pubdata, HEADER_CHAIN_ID, HEADER_CHAIN_ID_BYTES) != block.chainid
                || _uint(pubdata, HEADER_ROLLUP, HEADER_ROLLUP_BYTES) != uint160(address(this))
        ) revert WrongDomain();
        uint256 oldRoot = _uint(pubdata, HEADER_OLD_ROOT, HEADER_OLD_ROOT_BYTES);
        uint256 newRoot = _uint(pubdata, HEADER_NEW_ROOT, HEADER_NEW_ROOT_BYTES);
        uint64 number = uint64(_uint(pubdata, HEADER_BATCH_NUMBER, HEADER_BATCH_NUMBER_BYTES));
        uint64 timestamp = uint64(_uint(pubdata, HEADER_TIMESTAMP, HEADER_TIMESTAMP_BYTES));
        if (oldRoot != stateRoot) revert WrongOldRoot(stateRoot, oldRoot);
        if (newRoot >= R) revert BadNewRoot();
        uint64 expected = batchCount + 1;
        if (number != expected) revert BadBatchNumber(expected, number);
        if (timestamp < lastBatchTimestamp || timestamp > block.timestamp || timestamp + maxBatchAge < block.timestamp) revert BadTimestamp();

        Cursor memory c;
        c.batchNumber = number;
        c.nextDeposit = depositsConsumed;
        c.nextForced = forcedAnswered;
        c.nextForcedCancel = forcedCancelsAnswered;
        c.depositHash = c.nextDeposit == 0 ? bytes32(0) : depositHash[c.nextDeposit - 1];

        uint256 off = HEADER_LEN;
        while (off < recordsEnd) {
            uint8 kind = uint8(_uint(pubdata, off, 1));
            uint256 size;
            if (kind == KIND_NOOP) {
                // An unused slot of the batch's shape: `0x00 | u16 n | n bytes`.
                if (off + NOOP_LEN > recordsEnd) revert MalformedPubdata();
                off += NOOP_LEN + _uint(pubdata, off + NOOP_REST, NOOP_REST_BYTES);
                if (off > recordsEnd) revert MalformedPubdata();
                continue;
            } else if (kind == KIND_DEPOSIT || kind == KIND_DEPOSIT_REFUNDED) {
                size = DEPOSIT_LEN;
            } else if (kind == KIND_WITHDRAWAL) {
                size = WITHDRAWAL_LEN;
            } else if (kind == KIND_FORCED_WITHDRAWAL) {
                size = FORCED_WITHDRAWAL_LEN;
            } else if (kind == KIND_FORCED_CANCEL) {
                size = FORCED_CANCEL_LEN;
            } else if (kind == KIND_FORCED_TRADE) {
                size = FORCED_TRADE_LEN;
            } else if (kind == KIND_MARK_PRICE || kind == KIND_FUNDING_INDEX) {
                size = MARKET_LEN;
            } else {
                revert UnknownRecord(kind);
            }
            if (off + size > recordsEnd) revert MalformedPubdata();
            if (kind == KIND_DEPOSIT) {
                _consumeDeposit(pubdata, off, c);
            } else if (kind == KIND_DEPOSIT_REFUNDED) {
                _refundDeposit(pubdata, off, c);
            } else if (kind == KIND_WITHDRAWAL) {
                _creditWithdrawal(pubdata, off, c);
            } else if (kind == KIND_FORCED_WITHDRAWAL) {
                _answerForced(pubdata, off, c);
            } else if (kind == KIND_FORCED_CANCEL) {
                _answerForcedCancel(pubdata, off, c);
            } else if (kind == KIND_FORCED_TRADE) {
                _answerForcedTrade(pubdata, off, c);
            } else {
                _updateMarket(pubdata, off, kind);
            }
            off += size;
        }

        if (c.nextDeposit != depositsConsumed) {
            // Every consumed record hashed into the chain must land on the queue's own hash.
            if (c.nextDeposit > depositCount || c.depositHash != depositHash[c.nextDeposit - 1]) {
                revert DepositMismatch();
            }
            depositsConsumed = c.nextDeposit;
            pendingDeposits -= c.deposited + c.refunded;
        }
        forcedAnswered = c.nextForced;
        // Not in BatchApplied (its signature is fixed): read forcedCancelsAnswered() or the
        // ForcedCancelAnswered events.
        forcedCancelsAnswered = c.nextForcedCancel;
        // Likewise not in BatchApplied: forcedTradesAnswered() or the ForcedTradeAnswered events.
        if (c.forcedTradeLoaded) forcedTradesAnswered = c.nextForcedTrade;
        // Withdrawals leave L2 collateral. The proof enforces conservation; this check refuses a
        // batch that would pay out more than was ever credited, whatever the proof says.
        // Refunded deposits never entered L2: they cannot fund a payout.
        uint256 available = l2Collateral + c.deposited;
        if (c.withdrawn > available) revert Overdraft();
        l2Collateral = available - c.withdrawn;
        totalClaimable += c.withdrawn + c.refunded;
        stateRoot = newRoot;
        lastBatchTimestamp = timestamp;
        batchCount = number;
        emit BatchApplied(number, oldRoot, newRoot, timestamp, c.nextDeposit, c.nextForced);
    }

    /// Checks the blob claims after the records (`recordsEnd`): exactly as many blobs in the
    /// transaction as claimed, each claim's versioned hash the transaction's blob at its index
    /// (BLOBHASH), and the blob's polynomial worth the claimed `y` at the claimed `z` (the
    /// point-evaluation precompile, with the commitment and opening from `kzg`). The proof fixed
    /// `z` and `y` from the records it proved, so the blobs hold exactly those records.
    function _checkBlobs(bytes calldata pubdata, uint256 recordsEnd, bytes calldata kzg) private view {
        uint256 count = _uint(pubdata, recordsEnd + BLOBS_COUNT, BLOBS_COUNT_BYTES);
        uint256 claims = recordsEnd + BLOBS_LEN;
        if (pubdata.length != claims + count * BLOB_CLAIM_LEN || kzg.length != count * KZG_PAIR_LEN) {
            revert MalformedPubdata();
        }
        for (uint256 j = 0; j < count; ++j) {
            uint256 off = claims + j * BLOB_CLAIM_LEN;
            bytes32 vh = BlobBinding.versionedHash(j);
            if (bytes32(pubdata[off + BLOB_CLAIM_VERSIONED_HASH:off + BLOB_CLAIM_VERSIONED_HASH + 32]) != vh) {
                revert WrongBlob(j);
            }
            uint256 k = j * KZG_PAIR_LEN;
            BlobBinding.verifyOpening(
                vh,
                _uint(pubdata, off + BLOB_CLAIM_Z, BLOB_CLAIM_Z_BYTES),
                _uint(pubdata, off + BLOB_CLAIM_Y, BLOB_CLAIM_Y_BYTES),
                kzg[k:k + 48],
                kzg[k + 48:k + KZG_PAIR_LEN]
            );
        }
        if (blobhash(count) != 0) revert WrongBlob(count);
    }

    /// `0x01 | u64 index | address l1 | bytes32 packed key | u32 account | u64 amount`: credited
    /// to L2 (to `account`, or to the new account the state machine opened for it).
    function _consumeDeposit(bytes calldata pubdata, uint256 off, Cursor memory c) private pure {
        c.deposited += _hashDeposit(pubdata, off, c);
    }

    /// `0x06 | u64 index | address l1 | bytes32 packed key | u32 account | u64 amount`: consumed
    /// from the queue exactly like 0x01, but the state machine could not credit it (invalid key,
    /// a target account that does not exist or has another owner, collateral overflow, full
    /// tree), so the amount becomes claimable by the depositor, the record's `l1` (bound to
    /// the depositing address by the running hash).
    function _refundDeposit(bytes calldata pubdata, uint256 off, Cursor memory c) private {
        uint64 index = c.nextDeposit;
        uint64 amount = _hashDeposit(pubdata, off, c);
        address l1 = address(uint160(_uint(pubdata, off + DEPOSIT_L1, DEPOSIT_L1_BYTES)));
        claimable[l1] += amount;
        c.refunded += amount;
        emit DepositRefunded(index, l1, amount);
    }

    /// Checks a deposit record's index, chains its 72 bytes after the kind onto the running
    /// hash, moves the cursor and returns its amount.
    function _hashDeposit(bytes calldata pubdata, uint256 off, Cursor memory c) private pure returns (uint64 amount) {
        uint64 index = uint64(_uint(pubdata, off + DEPOSIT_INDEX, DEPOSIT_INDEX_BYTES));
        if (index != c.nextDeposit) revert DepositOutOfOrder(c.nextDeposit, index);
        amount = uint64(_uint(pubdata, off + DEPOSIT_AMOUNT, DEPOSIT_AMOUNT_BYTES));
        bytes32 h = c.depositHash;
        assembly ("memory-safe") {
            // Scratch memory past the free pointer: 32 bytes of hash, then the record's 72 bytes
            // after its kind (DEPOSIT_LEN - DEPOSIT_INDEX).
            let m := mload(0x40)
            mstore(m, h)
            calldatacopy(add(m, 32), add(pubdata.offset, add(off, DEPOSIT_INDEX)), sub(DEPOSIT_LEN, DEPOSIT_INDEX))
            h := keccak256(m, add(32, sub(DEPOSIT_LEN, DEPOSIT_INDEX)))
        }
        c.depositHash = h;
        c.nextDeposit = index + 1;
    }

    /// `0x02 | u32 account | address l1 | u64 amount`
    function _creditWithdrawal(bytes calldata pubdata, uint256 off, Cursor memory c) private {
        uint32 account = uint32(_uint(pubdata, off + WITHDRAWAL_ACCOUNT, WITHDRAWAL_ACCOUNT_BYTES));
        address l1 = address(uint160(_uint(pubdata, off + WITHDRAWAL_L1, WITHDRAWAL_L1_BYTES)));
        uint64 amount = uint64(_uint(pubdata, off + WITHDRAWAL_AMOUNT, WITHDRAWAL_AMOUNT_BYTES));
        claimable[l1] += amount;
        c.withdrawn += amount;
        emit WithdrawalCredited(c.batchNumber, account, l1, amount);
    }

    /// `0x03 | u64 index | u32 account | address requester | u64 amount | u64 paid`: the answer
    /// to the next request. Index, account, requester and amount must be the request's; `paid`
    /// is what the proof decided the account can pay (all of it, as much as the margin rule
    /// allows, or 0 on a listed ground of refusal): the contract only bounds it by the amount
    /// asked, and credits it to the requester.
    function _answerForced(bytes calldata pubdata, uint256 off, Cursor memory c) private {
        uint64 index = uint64(_uint(pubdata, off + FORCED_WITHDRAWAL_INDEX, FORCED_WITHDRAWAL_INDEX_BYTES));
        if (index != c.nextForced || index >= forcedCount) revert ForcedOutOfOrder(c.nextForced, index);
        ForcedRequest storage req = forcedRequests[index];
        uint32 account = uint32(_uint(pubdata, off + FORCED_WITHDRAWAL_ACCOUNT, FORCED_WITHDRAWAL_ACCOUNT_BYTES));
        address requester =
            address(uint160(_uint(pubdata, off + FORCED_WITHDRAWAL_REQUESTER, FORCED_WITHDRAWAL_REQUESTER_BYTES)));
        uint64 amount = uint64(_uint(pubdata, off + FORCED_WITHDRAWAL_AMOUNT, FORCED_WITHDRAWAL_AMOUNT_BYTES));
        uint64 paid = uint64(_uint(pubdata, off + FORCED_WITHDRAWAL_PAID, FORCED_WITHDRAWAL_PAID_BYTES));
        if (account != req.account || requester != req.requester || amount != req.amount || paid > amount) {
            revert ForcedMismatch();
        }
        if (paid != 0) {
            claimable[requester] += paid;
            c.withdrawn += paid;
        }
        c.nextForced = index + 1;
        emit ForcedWithdrawalAnswered(index, account, paid);
    }

    /// `0x07 | u64 index | u32 account | address requester | u64 orderId | u8 served`: the answer
    /// to the next forced cancel. Index, account, requester and order id must be the request's,
    /// and `served` a boolean byte. The proof decides it: 1 if the requester is the account's L1
    /// owner (the state machine raised the order floor), 0 if the account does not exist or has
    /// another owner. Nothing moves on L1 either way; the answer only clears the request.
    function _answerForcedCancel(bytes calldata pubdata, uint256 off, Cursor memory c) private {
        uint64 index = uint64(_uint(pubdata, off + FORCED_CANCEL_INDEX, FORCED_CANCEL_INDEX_BYTES));
        if (index != c.nextForcedCancel || index >= forcedCancelCount) {
            revert ForcedCancelOutOfOrder(c.nextForcedCancel, index);
        }
        ForcedCancel storage req = forcedCancels[index];
        uint32 account = uint32(_uint(pubdata, off + FORCED_CANCEL_ACCOUNT, FORCED_CANCEL_ACCOUNT_BYTES));
        address requester =
            address(uint160(_uint(pubdata, off + FORCED_CANCEL_REQUESTER, FORCED_CANCEL_REQUESTER_BYTES)));
        uint64 orderId = uint64(_uint(pubdata, off + FORCED_CANCEL_ORDER_ID, FORCED_CANCEL_ORDER_ID_BYTES));
        uint256 served = _uint(pubdata, off + FORCED_CANCEL_SERVED, FORCED_CANCEL_SERVED_BYTES);
        if (account != req.account || requester != req.requester || orderId != req.orderId || served > 1) {
            revert ForcedCancelMismatch();
        }
        c.nextForcedCancel = index + 1;
        emit ForcedCancelAnswered(index, account, served == 1);
    }

    /// `0x08 | u64 index | u32 accountA | u32 accountB | address requester | address signer |
    /// u8 market | u8 aBuys | u64 size | u64 price | u8 served`: the answer to the next forced
    /// trade. Every field but `served` must be the request's (aBuys as 1 or 0), and `served` a
    /// boolean byte. The proof decides it: 1 if the requester is account A's L1 owner, the
    /// signer account B's, and the trade passes the state machine's rules (the trade was made
    /// in L2), 0 on a ground of refusal the proof shows. Nothing moves on L1 either way: the
    /// trade happens inside L2, and the answer only clears the request.
    function _answerForcedTrade(bytes calldata pubdata, uint256 off, Cursor memory c) private {
        if (!c.forcedTradeLoaded) {
            c.nextForcedTrade = forcedTradesAnswered;
            c.forcedTradeLoaded = true;
        }
        uint64 index = uint64(_uint(pubdata, off + FORCED_TRADE_INDEX, FORCED_TRADE_INDEX_BYTES));
        if (index != c.nextForcedTrade || index >= forcedTradeCount) {
            revert ForcedTradeOutOfOrder(c.nextForcedTrade, index);
        }
        ForcedTrade storage req = forcedTrades[index];
        uint256 served = _uint(pubdata, off + FORCED_TRADE_SERVED, FORCED_TRADE_SERVED_BYTES);
        if (
            _uint(pubdata, off + FORCED_TRADE_ACCOUNT_A, FORCED_TRADE_ACCOUNT_A_BYTES) != req.accountA
                || _uint(pubdata, off + FORCED_TRADE_ACCOUNT_B, FORCED_TRADE_ACCOUNT_B_BYTES) != req.accountB
                || _uint(pubdata, off + FORCED_TRADE_REQUESTER, FORCED_TRADE_REQUESTER_BYTES) != uint160(req.requester)
                || _uint(pubdata, off + FORCED_TRADE_SIGNER, FORCED_TRADE_SIGNER_BYTES) != uint160(req.signer)
                || _uint(pubdata, off + FORCED_TRADE_MARKET, FORCED_TRADE_MARKET_BYTES) != req.market
                || _uint(pubdata, off + FORCED_TRADE_A_BUYS, FORCED_TRADE_A_BUYS_BYTES) != (req.aBuys ? 1 : 0)
                || _uint(pubdata, off + FORCED_TRADE_SIZE, FORCED_TRADE_SIZE_BYTES) != req.size
                || _uint(pubdata, off + FORCED_TRADE_PRICE, FORCED_TRADE_PRICE_BYTES) != req.price || served > 1
        ) revert ForcedTradeMismatch();
        c.nextForcedTrade = index + 1;
        emit ForcedTradeAnswered(index, req.accountA, req.accountB, served == 1);
    }

    /// `0x04 | u8 market | u64 price` or `0x05 | u8 market | i64 funding index`
    function _updateMarket(bytes calldata pubdata, uint256 off, uint8 kind) private {
        uint256 market = _uint(pubdata, off + MARKET_ID, MARKET_ID_BYTES);
        if (market >= marketCount) revert UnknownMarket(market);
        // An 8-byte field: exactly a u64 (a price) or the bit pattern of an i64 (an index).
        // forge-lint: disable-next-line(unsafe-typecast)
        uint64 value = uint64(_uint(pubdata, off + MARKET_VALUE, MARKET_VALUE_BYTES));
        if (kind == KIND_MARK_PRICE) {
            markets[market].markPrice = value;
            emit MarkPriceUpdated(market, value);
        } else {
            // forge-lint: disable-next-line(unsafe-typecast)
            int64 index = int64(value);
            markets[market].fundingIndex = index;
            emit FundingIndexUpdated(market, index);
        }
    }

    /// The big-endian unsigned integer of `size` bytes (1..=32) at `pos`. The caller has checked
    /// that the bytes lie inside `data`.
    function _uint(bytes calldata data, uint256 pos, uint256 size) private pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := shr(sub(256, shl(3, size)), calldataload(add(data.offset, pos)))
        }
    }

    // ---- Claims ----

    /// Pays the sender everything proven batches credited to it (withdrawals, what forced
    /// answers paid, refunded deposits). Works before and after a freeze.
    function claim() external {
        uint256 amount = claimable[msg.sender];
        if (amount == 0) revert NothingToClaim();
        claimable[msg.sender] = 0;
        totalClaimable -= amount;
        emit Claimed(msg.sender, amount);
        _push(msg.sender, amount);
    }

    // ---- Exits ----

    /// The exit verifier's public inputs, in order (docs/CONTRACTS.md):
    ///   [0] the last verified state root
    ///   [1] the account id
    ///   [2] the L1 owner, as a 160-bit integer: the caller
    ///   [3] the amount: the account's total value at the published prices, 0 if negative
    ///   [4 + m] the last published mark price of market m, for m < marketCount
    function exitInputs(uint32 account, address owner, uint256 amount) public view returns (uint256[] memory input) {
        input = new uint256[](4 + marketCount);
        input[0] = stateRoot;
        input[1] = account;
        input[2] = uint256(uint160(owner));
        input[3] = amount;
        for (uint256 m = 0; m < marketCount; ++m) {
            input[4 + m] = markets[m].markPrice;
        }
    }

    /// After a freeze and before `frozenAt + claimWindow`, the L1 owner of `account` registers
    /// its exit, once, with a proof made against the last verified root and published marks:
    /// `amount` is the account's total value (0 if negative). Nothing is paid yet: the exits
    /// registered by the end of the window share the pool (claimExit).
    function registerExit(uint32 account, uint256 amount, uint256[8] calldata proof) external {
        if (!frozen) revert NotFrozen();
        // The insurance fund's value stays in the pool: no key holder takes it out.
        if (account == INSURANCE_FUND) revert InsuranceFundExit();
        if (block.timestamp >= frozenAt + claimWindow) revert ExitWindowClosed();
        if (exitOwner[account] != address(0)) revert AlreadyExited();
        if (amount >= EXIT_AMOUNT_LIMIT) revert BadAmount();
        if (!exitVerifier.verifyProof(proof, exitInputs(account, msg.sender, amount))) revert InvalidProof();
        exitOwner[account] = msg.sender;
        exitAmount[account] = amount;
        // At most 2^32 accounts of less than 2^100 each: no overflow.
        totalExitRegistered += amount;
        emit ExitRegistered(account, msg.sender, amount);
    }

    /// From `frozenAt + claimWindow` on, pays a registered exit to the owner that registered it,
    /// once; anyone may call. The first claim fixes the pool (l2Collateral, which nothing but
    /// claims moves after a freeze). Each exit is paid its amount if the registered exits fit in
    /// the pool, else `amount * exitPool / totalExitRegistered` rounded down, whatever the order
    /// of the claims.
    function claimExit(uint32 account) external {
        if (!frozen) revert NotFrozen();
        if (block.timestamp < frozenAt + claimWindow) revert ExitWindowOpen();
        address owner = exitOwner[account];
        if (owner == address(0)) revert NotRegistered();
        if (exitClaimed[account]) revert AlreadyClaimed();
        if (!exitPoolFixed) {
            exitPool = l2Collateral;
            exitPoolFixed = true;
        }
        uint256 amount = exitAmount[account];
        uint256 paid = _exitShare(amount, exitPool);
        exitClaimed[account] = true;
        // Sum of the shares <= exitPool <= l2Collateral at the first claim: never underflows.
        l2Collateral -= paid;
        emit Exited(account, owner, amount, paid);
        if (paid != 0) _push(owner, paid);
    }

    /// What claimExit(account) pays: 0 if the account has no registered exit or was paid. Final
    /// once the claim window has closed; until then an estimate on the current registrations,
    /// which later ones can only lower.
    function exitPayout(uint32 account) external view returns (uint256) {
        if (exitOwner[account] == address(0) || exitClaimed[account]) return 0;
        return _exitShare(exitAmount[account], exitPoolFixed ? exitPool : l2Collateral);
    }

    /// `amount` if every registered exit fits in `pool`, else its pro-rata share, rounded down,
    /// so the shares of all registered exits sum to at most `pool`. No overflow: in the second
    /// case `amount <= total < 2^132` and `pool < total`.
    function _exitShare(uint256 amount, uint256 pool) private view returns (uint256) {
        uint256 total = totalExitRegistered;
        return total <= pool ? amount : amount * pool / total;
    }

    // ---- Token transfers (tolerating tokens that return nothing) ----

    function _pull(address from, uint256 amount) private {
        _call(abi.encodeCall(IERC20.transferFrom, (from, address(this), amount)));
    }

    function _push(address to, uint256 amount) private {
        _call(abi.encodeCall(IERC20.transfer, (to, amount)));
    }

    function _call(bytes memory data) private {
        (bool ok, bytes memory ret) = address(token).call(data);
        if (!ok || (ret.length != 0 && !abi.decode(ret, (bool)))) revert TransferFailed();
    }
}
