// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Vm} from "../test/utils/Test.sol";
import {Rollup} from "../src/Rollup.sol";
import {Groth16Verifier} from "../src/Groth16Verifier.sol";
import {TestToken} from "../src/TestToken.sol";
import {IERC20} from "../src/IERC20.sol";
import {IVerifier} from "../src/IVerifier.sol";

/// Deploys the verifiers, the collateral (a TestToken unless TOKEN is given) and the rollup.
///
///   PRIVATE_KEY=0x.. GENESIS_ROOT=<decimal> MARKET_COUNT=<1..8> \
///   BATCH_VK=<path.json>[,<path.json>..] EXIT_VK=<path.json> [OPERATOR=0x..] [TOKEN=0x..] \
///   [GRACE_PERIOD=<s>] [FORCED_SPACING=<s>] [DEPOSIT_SPACING=<s>] \
///   [CLAIM_WINDOW=<s>] [MIN_DEPOSIT=<units>] [MIN_FORCED_AMOUNT=<units>] \
///   CONFIG_HASH=0x.. EXIT_KEY_HASH=0x.. \
///   node_modules/.bin/forge script script/Deploy.s.sol --rpc-url http://127.0.0.1:8545 --broadcast
///
/// A verifying key file (paths relative to contracts/) is JSON with decimal or 0x-hex strings:
///   {"alpha": [x, y], "beta": [x.c1, x.c0, y.c1, y.c0], "gamma": [..4], "delta": [..4],
///    "ic": [x0, y0, x1, y1, ...]}      (IC flattened: 2 * (public inputs + 1) numbers,
///    or as points [[x0, y0], ..] as the prover exports it)
/// The batch key has 1 public input; the exit key 4 + MARKET_COUNT (Rollup.exitInputs).
/// BATCH_VK lists one key per batch shape, comma-separated: the shape index is the position.
/// CONFIG_HASH and EXIT_KEY_HASH pin what exits need (Rollup.configHash, Rollup.exitKeyHash).
contract Deploy {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    struct Config {
        address operator;
        /// Zero: deploy a TestToken whose minter is the deployer.
        address token;
        uint256 genesisRoot;
        uint256 marketCount;
        uint256 gracePeriod;
        uint256 forcedSpacing;
        uint256 depositSpacing;
        uint256 claimWindow;
        uint256 maxBatchAge;
        uint256 minDeposit;
        uint256 minForcedAmount;
        /// Comma-separated key files, one per batch shape.
        string batchVk;
        string exitVk;
        bytes32 configHash;
        bytes32 exitKeyHash;
    }

    struct Deployment {
        IERC20 token;
        /// The first shape's verifier (`batchVerifiers[0]`).
        Groth16Verifier batchVerifier;
        Groth16Verifier[] batchVerifiers;
        Groth16Verifier exitVerifier;
        Rollup rollup;
    }

    struct Key {
        uint256[2] alpha;
        uint256[4] beta;
        uint256[4] gamma;
        uint256[4] delta;
        uint256[2][] ic;
    }

    error BadKeyFile(string path);

    function run() external returns (Deployment memory d) {
        uint256 pk = vm.envUint("PRIVATE_KEY");
        Config memory c = Config({
            operator: vm.envOr("OPERATOR", vm.addr(pk)),
            token: vm.envOr("TOKEN", address(0)),
            genesisRoot: vm.envUint("GENESIS_ROOT"),
            marketCount: vm.envUint("MARKET_COUNT"),
            gracePeriod: vm.envOr("GRACE_PERIOD", uint256(1 days)),
            forcedSpacing: vm.envOr("FORCED_SPACING", uint256(60)),
            depositSpacing: vm.envOr("DEPOSIT_SPACING", uint256(60)),
            claimWindow: vm.envOr("CLAIM_WINDOW", uint256(14 days)),
            maxBatchAge: vm.envOr("MAX_BATCH_AGE", uint256(1 days)),
            minDeposit: vm.envOr("MIN_DEPOSIT", uint256(1)),
            minForcedAmount: vm.envOr("MIN_FORCED_AMOUNT", uint256(1)),
            batchVk: vm.envString("BATCH_VK"),
            exitVk: vm.envString("EXIT_VK"),
            configHash: vm.envBytes32("CONFIG_HASH"),
            exitKeyHash: vm.envBytes32("EXIT_KEY_HASH")
        });
        vm.startBroadcast(pk);
        d = deploy(c);
        vm.stopBroadcast();
    }

    function deploy(Config memory c) public returns (Deployment memory d) {
        string[] memory batchKeys = vm.split(c.batchVk, ",");
        Key memory e = loadKey(c.exitVk, 4 + c.marketCount);
        d.token = c.token == address(0) ? IERC20(address(new TestToken())) : IERC20(c.token);
        d.batchVerifiers = new Groth16Verifier[](batchKeys.length);
        IVerifier[] memory shapes = new IVerifier[](batchKeys.length);
        for (uint256 i = 0; i < batchKeys.length; ++i) {
            Key memory b = loadKey(batchKeys[i], 1);
            d.batchVerifiers[i] = new Groth16Verifier(b.alpha, b.beta, b.gamma, b.delta, b.ic);
            shapes[i] = d.batchVerifiers[i];
        }
        d.batchVerifier = d.batchVerifiers[0];
        d.exitVerifier = new Groth16Verifier(e.alpha, e.beta, e.gamma, e.delta, e.ic);
        d.rollup = new Rollup(
            Rollup.Config({
                token: d.token,
                operator: c.operator,
                genesisRoot: c.genesisRoot,
                marketCount: c.marketCount,
                gracePeriod: c.gracePeriod,
                forcedSpacing: c.forcedSpacing,
                depositSpacing: c.depositSpacing,
                claimWindow: c.claimWindow,
                maxBatchAge: c.maxBatchAge,
                minDeposit: c.minDeposit,
                minForcedAmount: c.minForcedAmount,
                batchVerifiers: shapes,
                exitVerifier: d.exitVerifier,
                configHash: c.configHash,
                exitKeyHash: c.exitKeyHash
            })
        );
    }

    /// Reads a verifying key and checks it has `inputs` public inputs.
    function loadKey(string memory path, uint256 inputs) public view returns (Key memory k) {
        string memory json = vm.readFile(path);
        uint256[] memory alpha = vm.parseJsonUintArray(json, ".alpha");
        uint256[] memory beta = vm.parseJsonUintArray(json, ".beta");
        uint256[] memory gamma = vm.parseJsonUintArray(json, ".gamma");
        uint256[] memory delta = vm.parseJsonUintArray(json, ".delta");
        if (alpha.length != 2 || beta.length != 4 || gamma.length != 4 || delta.length != 4) revert BadKeyFile(path);
        uint256[] memory ic = flatIc(json);
        if (ic.length != 2 * (inputs + 1)) revert BadKeyFile(path);
        k.alpha = [alpha[0], alpha[1]];
        k.beta = [beta[0], beta[1], beta[2], beta[3]];
        k.gamma = [gamma[0], gamma[1], gamma[2], gamma[3]];
        k.delta = [delta[0], delta[1], delta[2], delta[3]];
        k.ic = new uint256[2][](inputs + 1);
        for (uint256 i = 0; i <= inputs; ++i) {
            k.ic[i] = [ic[2 * i], ic[2 * i + 1]];
        }
    }

    /// IC flattened `[x0, y0, x1, y1, ..]`, or as points `[[x0, y0], [x1, y1], ..]` (the prover's
    /// `export::evm_verifying_key`), returned flattened.
    function flatIc(string memory json) internal view returns (uint256[] memory ic) {
        if (!vm.keyExistsJson(json, ".ic[0][0]")) return vm.parseJsonUintArray(json, ".ic");
        uint256 n;
        while (vm.keyExistsJson(json, string.concat(".ic[", vm.toString(n), "]"))) ++n;
        ic = new uint256[](2 * n);
        for (uint256 i = 0; i < n; ++i) {
            uint256[] memory point = vm.parseJsonUintArray(json, string.concat(".ic[", vm.toString(i), "]"));
            if (point.length != 2) revert BadKeyFile("ic point");
            ic[2 * i] = point[0];
            ic[2 * i + 1] = point[1];
        }
    }
}
