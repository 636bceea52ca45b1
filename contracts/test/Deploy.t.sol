// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Test} from "./utils/Test.sol";
import {TestKey} from "./utils/TestKey.sol";
import {Pubdata} from "./utils/Pubdata.sol";
import {Deploy} from "../script/Deploy.s.sol";
import {TestToken} from "../src/TestToken.sol";

/// The deploy script's path, with the test keys written by script/TestVk.s.sol: the deployed
/// contracts accept proofs made with the same test keys.
contract DeployTest is Test {
    address constant OPERATOR = address(0x0E0E);

    function config(address token) internal pure returns (Deploy.Config memory) {
        return Deploy.Config({
            operator: OPERATOR,
            token: token,
            genesisRoot: 42,
            marketCount: 2,
            gracePeriod: 1 days,
            forcedSpacing: 60,
            depositSpacing: 30,
            claimWindow: 7 days,
            maxBatchAge: 1 days,
            minDeposit: 1,
            minForcedAmount: 1,
            batchVk: "test/data/test-vk-batch.json",
            exitVk: "test/data/test-vk-exit.json",
            configHash: keccak256("network"),
            exitKeyHash: sha256("exit key")
        });
    }

    function test_deploy_wiresTheContracts() public {
        vm.warp(1_700_000_000);
        TestToken token = new TestToken();
        Deploy script = new Deploy();
        Deploy.Deployment memory d = script.deploy(config(address(token)));
        assertEq(address(d.rollup.token()), address(token), "token");
        assertEq(d.rollup.operator(), OPERATOR, "operator");
        assertEq(d.rollup.stateRoot(), 42, "genesis");
        assertEq(d.rollup.marketCount(), 2, "markets");
        assertEq(address(d.rollup.batchVerifier(0)), address(d.batchVerifier), "shape 0");
        assertEq(address(d.rollup.exitVerifier()), address(d.exitVerifier), "exit verifier");
        assertEq(d.batchVerifier.publicInputCount(), 1, "batch inputs");
        assertEq(d.exitVerifier.publicInputCount(), 6, "exit inputs");

        bytes memory b = Pubdata.batch(
            42, 43, 1, 1_700_000_000, uint64(block.chainid), address(d.rollup), Pubdata.markPrice(1, 10), ""
        );
        uint256[] memory input = new uint256[](1);
        input[0] = Pubdata.commitment(b);
        uint256[8] memory proof = TestKey.prove(TestKey.make(1, 101), input, 3);
        vm.prank(OPERATOR);
        d.rollup.submitBatch(0, b, proof, "");
        assertEq(d.rollup.stateRoot(), 43, "proven batch applied");

        uint256[] memory exitInput = d.rollup.exitInputs(5, address(this), 0);
        assertTrue(d.exitVerifier.verifyProof(TestKey.prove(TestKey.make(6, 202), exitInput, 3), exitInput), "exit key");
    }

    function test_deploy_refusesAKeyOfTheWrongSize() public {
        Deploy script = new Deploy();
        Deploy.Config memory c = config(address(new TestToken()));
        c.marketCount = 3;
        vm.expectRevert(abi.encodeWithSelector(Deploy.BadKeyFile.selector, c.exitVk));
        script.deploy(c);
    }

    function test_deploy_deploysATestTokenWhenNoneIsGiven() public {
        Deploy.Deployment memory d = new Deploy().deploy(config(address(0)));
        assertEq(TestToken(address(d.token)).decimals(), 6, "6 decimals");
    }

    /// One verifier per listed key: the shape index is the key's position.
    function test_deploy_oneVerifierPerBatchShape() public {
        Deploy.Config memory c = config(address(0));
        c.batchVk = "test/data/test-vk-batch.json,test/data/batch_proof_vk.json";
        Deploy.Deployment memory d = new Deploy().deploy(c);
        assertEq(d.rollup.shapeCount(), 2, "two shapes");
        assertEq(address(d.rollup.batchVerifier(0)), address(d.batchVerifiers[0]), "shape 0");
        assertEq(address(d.rollup.batchVerifier(1)), address(d.batchVerifiers[1]), "shape 1");
        assertEq(address(d.batchVerifier), address(d.batchVerifiers[0]), "the first");
        assertEq(d.rollup.forcedSpacing(), 60, "spacing");
        // Each verifier holds its own key: the real proof passes shape 1's and not shape 0's.
        string memory json = vm.readFile("test/data/batch_proof.json");
        uint256[] memory words = vm.parseJsonUintArray(json, ".proof");
        uint256[8] memory p;
        for (uint256 i = 0; i < 8; ++i) {
            p[i] = words[i];
        }
        uint256[] memory input = vm.parseJsonUintArray(json, ".inputs");
        assertTrue(d.batchVerifiers[1].verifyProof(p, input), "shape 1 verifies the real proof");
        assertFalse(d.batchVerifiers[0].verifyProof(p, input), "shape 0 does not");
    }
}
