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
///   BATCH_VK=<path.json> EXIT_VK=<path.json> [OPERATOR=0x..] [TOKEN=0x..] [GRACE_PERIOD=<s>] \
///   node_modules/.bin/forge script script/Deploy.s.sol --rpc-url http://127.0.0.1:8545 --broadcast
///
/// A verifying key file (paths relative to contracts/) is JSON with decimal or 0x-hex strings:
///   {"alpha": [x, y], "beta": [x.c1, x.c0, y.c1, y.c0], "gamma": [..4], "delta": [..4],
///    "ic": [x0, y0, x1, y1, ...]}      (IC flattened: 2 * (public inputs + 1) numbers)
/// The batch key has 1 public input; the exit key 4 + MARKET_COUNT (Rollup.exitInputs).
contract Deploy {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    struct Config {
        address operator;
        /// Zero: deploy a TestToken whose minter is the deployer.
        address token;
        uint256 genesisRoot;
        uint256 marketCount;
        uint256 gracePeriod;
        string batchVk;
        string exitVk;
    }

    struct Deployment {
        IERC20 token;
        Groth16Verifier batchVerifier;
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
            batchVk: vm.envString("BATCH_VK"),
            exitVk: vm.envString("EXIT_VK")
        });
        vm.startBroadcast(pk);
        d = deploy(c);
        vm.stopBroadcast();
    }

    function deploy(Config memory c) public returns (Deployment memory d) {
        Key memory b = loadKey(c.batchVk, 1);
        Key memory e = loadKey(c.exitVk, 4 + c.marketCount);
        d.token = c.token == address(0) ? IERC20(address(new TestToken())) : IERC20(c.token);
        d.batchVerifier = new Groth16Verifier(b.alpha, b.beta, b.gamma, b.delta, b.ic);
        d.exitVerifier = new Groth16Verifier(e.alpha, e.beta, e.gamma, e.delta, e.ic);
        IVerifier[] memory shapes = new IVerifier[](1);
        shapes[0] = d.batchVerifier;
        d.rollup = new Rollup(d.token, c.operator, c.genesisRoot, c.marketCount, c.gracePeriod, shapes, d.exitVerifier);
    }

    /// Reads a verifying key and checks it has `inputs` public inputs.
    function loadKey(string memory path, uint256 inputs) public view returns (Key memory k) {
        string memory json = vm.readFile(path);
        uint256[] memory alpha = vm.parseJsonUintArray(json, ".alpha");
        uint256[] memory beta = vm.parseJsonUintArray(json, ".beta");
        uint256[] memory gamma = vm.parseJsonUintArray(json, ".gamma");
        uint256[] memory delta = vm.parseJsonUintArray(json, ".delta");
        uint256[] memory ic = vm.parseJsonUintArray(json, ".ic");
        if (alpha.length != 2 || beta.length != 4 || gamma.length != 4 || delta.length != 4) revert BadKeyFile(path);
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
}
