// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {IVerifier} from "./IVerifier.sol";

/// @title Groth16 verifier over BN254 with the verifying key in immutables
/// @notice One deployment per circuit: the batch circuit of each shape (1 public input, the
/// public-data commitment) and the exit circuit (4 + number of markets inputs). The key is set once
/// by the constructor and lives in the contract's code: there is no storage and no setter.
/// @dev The check is the standard Groth16 equation as one EIP-197 product,
///   e(-A, B) * e(alpha, beta) * e(vk_x, gamma) * e(C, delta) == 1,
///   vk_x = IC[0] + sum_i input[i] * IC[i + 1],
/// with the points encoded as in IVerifier (G2: c1 then c0).
///
/// Malformed input returns false, it never reverts:
///   - `input.length` different from the key's number of public inputs;
///   - any public input `>= R` (the scalar field): ecMul would reduce it silently, so the same
///     proof would verify for `x` and `x + R`; such inputs are refused, not reduced;
///   - any proof coordinate `>= Q` (the base field);
///   - a point not on its curve or (G2) not in the subgroup: the precompile call fails and that
///     failure is returned as false. A failing precompile consumes the gas forwarded to it; the
///     1/64 left to this frame by EIP-150 is enough to return false for any reasonable gas limit.
/// The point at infinity is encoded (0, 0), as in EIP-196/197.
contract Groth16Verifier is IVerifier {
    /// The BN254 scalar field (public inputs live here).
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// The BN254 base field (point coordinates live here).
    uint256 internal constant Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583;

    /// The exit circuit has 4 + markets (at most 8) public inputs; headroom to 12.
    uint256 public constant MAX_PUBLIC_INPUTS = 12;

    uint256 public immutable publicInputCount;

    /// keccak256(abi.encode(alpha, beta, gamma, delta, ic)) of the constructor's arguments: the
    /// deployed key's fingerprint, to compare with the key a ceremony's transcript exports
    /// (`zkperp ceremony export` prints it; docs/CEREMONY.md).
    bytes32 public immutable keyHash;

    uint256 internal immutable alphaX;
    uint256 internal immutable alphaY;
    // G2 points, each `[x.c1, x.c0, y.c1, y.c0]`.
    uint256 internal immutable beta0;
    uint256 internal immutable beta1;
    uint256 internal immutable beta2;
    uint256 internal immutable beta3;
    uint256 internal immutable gamma0;
    uint256 internal immutable gamma1;
    uint256 internal immutable gamma2;
    uint256 internal immutable gamma3;
    uint256 internal immutable delta0;
    uint256 internal immutable delta1;
    uint256 internal immutable delta2;
    uint256 internal immutable delta3;
    // IC[0..=MAX_PUBLIC_INPUTS]; the ones beyond publicInputCount are zero and never read.
    uint256 internal immutable ic0x;
    uint256 internal immutable ic0y;
    uint256 internal immutable ic1x;
    uint256 internal immutable ic1y;
    uint256 internal immutable ic2x;
    uint256 internal immutable ic2y;
    uint256 internal immutable ic3x;
    uint256 internal immutable ic3y;
    uint256 internal immutable ic4x;
    uint256 internal immutable ic4y;
    uint256 internal immutable ic5x;
    uint256 internal immutable ic5y;
    uint256 internal immutable ic6x;
    uint256 internal immutable ic6y;
    uint256 internal immutable ic7x;
    uint256 internal immutable ic7y;
    uint256 internal immutable ic8x;
    uint256 internal immutable ic8y;
    uint256 internal immutable ic9x;
    uint256 internal immutable ic9y;
    uint256 internal immutable ic10x;
    uint256 internal immutable ic10y;
    uint256 internal immutable ic11x;
    uint256 internal immutable ic11y;
    uint256 internal immutable ic12x;
    uint256 internal immutable ic12y;

    error BadVerifyingKey();

    /// @param ic `IC[0..=n]` as `[x, y]` pairs for `n` public inputs, `1 <= n <= MAX_PUBLIC_INPUTS`.
    /// Every coordinate must be `< Q` and every G1 point on the curve (checked here, so a key with
    /// a typo fails at deployment, not at the first proof).
    constructor(
        uint256[2] memory alpha,
        uint256[4] memory beta,
        uint256[4] memory gamma,
        uint256[4] memory delta,
        uint256[2][] memory ic
    ) {
        uint256 n = ic.length;
        if (n < 2 || n > MAX_PUBLIC_INPUTS + 1) revert BadVerifyingKey();
        _requireG1(alpha[0], alpha[1]);
        for (uint256 i = 0; i < 4; ++i) {
            if (beta[i] >= Q || gamma[i] >= Q || delta[i] >= Q) revert BadVerifyingKey();
        }
        for (uint256 i = 0; i < n; ++i) {
            _requireG1(ic[i][0], ic[i][1]);
        }
        publicInputCount = n - 1;
        keyHash = keccak256(abi.encode(alpha, beta, gamma, delta, ic));
        (alphaX, alphaY) = (alpha[0], alpha[1]);
        (beta0, beta1, beta2, beta3) = (beta[0], beta[1], beta[2], beta[3]);
        (gamma0, gamma1, gamma2, gamma3) = (gamma[0], gamma[1], gamma[2], gamma[3]);
        (delta0, delta1, delta2, delta3) = (delta[0], delta[1], delta[2], delta[3]);
        uint256[2][] memory p = new uint256[2][](MAX_PUBLIC_INPUTS + 1);
        for (uint256 i = 0; i < n; ++i) {
            p[i] = ic[i];
        }
        (ic0x, ic0y, ic1x, ic1y, ic2x, ic2y) = (p[0][0], p[0][1], p[1][0], p[1][1], p[2][0], p[2][1]);
        (ic3x, ic3y, ic4x, ic4y, ic5x, ic5y) = (p[3][0], p[3][1], p[4][0], p[4][1], p[5][0], p[5][1]);
        (ic6x, ic6y, ic7x, ic7y, ic8x, ic8y) = (p[6][0], p[6][1], p[7][0], p[7][1], p[8][0], p[8][1]);
        (ic9x, ic9y, ic10x, ic10y) = (p[9][0], p[9][1], p[10][0], p[10][1]);
        (ic11x, ic11y, ic12x, ic12y) = (p[11][0], p[11][1], p[12][0], p[12][1]);
    }

    /// @inheritdoc IVerifier
    function verifyProof(uint256[8] calldata proof, uint256[] calldata input) external view returns (bool) {
        uint256 n = input.length;
        if (n != publicInputCount) return false;
        for (uint256 i = 0; i < 8; ++i) {
            if (proof[i] >= Q) return false;
        }
        // vk_x = IC[0] + sum input[i] * IC[i + 1]
        (uint256 x, uint256 y) = (ic0x, ic0y);
        for (uint256 i = 0; i < n; ++i) {
            uint256 s = input[i];
            if (s >= R) return false;
            if (s == 0) continue;
            (uint256 px, uint256 py) = _ic(i + 1);
            bool ok;
            (ok, px, py) = _mul(px, py, s);
            if (!ok) return false;
            (ok, x, y) = _add(x, y, px, py);
            if (!ok) return false;
        }
        return _pairing(proof, x, y);
    }

    function _pairing(uint256[8] calldata proof, uint256 vkx, uint256 vky) private view returns (bool) {
        uint256[24] memory p;
        // -A: negate y (the point at infinity (0, 0) is its own negative).
        p[0] = proof[0];
        p[1] = proof[1] == 0 ? 0 : Q - proof[1];
        (p[2], p[3], p[4], p[5]) = (proof[2], proof[3], proof[4], proof[5]);
        (p[6], p[7]) = (alphaX, alphaY);
        (p[8], p[9], p[10], p[11]) = (beta0, beta1, beta2, beta3);
        (p[12], p[13]) = (vkx, vky);
        (p[14], p[15], p[16], p[17]) = (gamma0, gamma1, gamma2, gamma3);
        (p[18], p[19]) = (proof[6], proof[7]);
        (p[20], p[21], p[22], p[23]) = (delta0, delta1, delta2, delta3);
        uint256[1] memory out;
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x08, p, 768, out, 32)
        }
        return ok && out[0] == 1;
    }

    function _add(uint256 ax, uint256 ay, uint256 bx, uint256 by) private view returns (bool ok, uint256 x, uint256 y) {
        uint256[4] memory inp = [ax, ay, bx, by];
        uint256[2] memory out;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x06, inp, 128, out, 64)
        }
        (x, y) = (out[0], out[1]);
    }

    function _mul(uint256 px, uint256 py, uint256 s) private view returns (bool ok, uint256 x, uint256 y) {
        uint256[3] memory inp = [px, py, s];
        uint256[2] memory out;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x07, inp, 96, out, 64)
        }
        (x, y) = (out[0], out[1]);
    }

    function _ic(uint256 i) private view returns (uint256, uint256) {
        if (i == 1) return (ic1x, ic1y);
        if (i == 2) return (ic2x, ic2y);
        if (i == 3) return (ic3x, ic3y);
        if (i == 4) return (ic4x, ic4y);
        if (i == 5) return (ic5x, ic5y);
        if (i == 6) return (ic6x, ic6y);
        if (i == 7) return (ic7x, ic7y);
        if (i == 8) return (ic8x, ic8y);
        if (i == 9) return (ic9x, ic9y);
        if (i == 10) return (ic10x, ic10y);
        if (i == 11) return (ic11x, ic11y);
        return (ic12x, ic12y);
    }

    /// A G1 point of the key: coordinates `< Q` and on `y^2 = x^3 + 3`, or the point at infinity.
    function _requireG1(uint256 x, uint256 y) private pure {
        if (x >= Q || y >= Q) revert BadVerifyingKey();
        if (x == 0 && y == 0) return;
        if (mulmod(y, y, Q) != addmod(mulmod(mulmod(x, x, Q), x, Q), 3, Q)) revert BadVerifyingKey();
    }
}
