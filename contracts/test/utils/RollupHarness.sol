// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Rollup} from "../../src/Rollup.sol";
import {IERC20} from "../../src/IERC20.sol";
import {IVerifier} from "../../src/IVerifier.sol";

/// Test-only: exposes Rollup's internal `_applyBatch`, the part of `submitBatch` after the proof
/// check, so batch rules can be tested with public data built in the test. src/ has no bypass.
contract RollupHarness is Rollup {
    constructor(
        IERC20 token_,
        address operator_,
        uint256 genesisRoot,
        uint256 marketCount_,
        uint256 gracePeriod_,
        uint256 forcedSpacing_,
        IVerifier[] memory batchVerifiers_,
        IVerifier exitVerifier_
    )
        Rollup(
            token_, operator_, genesisRoot, marketCount_, gracePeriod_, forcedSpacing_, batchVerifiers_, exitVerifier_
        )
    {}

    function applyBatch(bytes calldata pubdata) external {
        _applyBatch(pubdata);
    }
}
