// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Rollup} from "../../src/Rollup.sol";

/// Test-only: exposes Rollup's internal `_applyBatch`, the part of `submitBatch` after the proof
/// check, so batch rules can be tested with public data built in the test. src/ has no bypass.
contract RollupHarness is Rollup {
    constructor(Config memory config) Rollup(config) {}

    /// A batch that claims no blob.
    function applyBatch(bytes calldata pubdata) external {
        _applyBatch(pubdata, pubdata[0:0]);
    }

    /// A batch with its blobs' KZG commitments and openings (the test sets `vm.blobhashes`).
    function applyBatch(bytes calldata pubdata, bytes calldata kzg) external {
        _applyBatch(pubdata, kzg);
    }
}
