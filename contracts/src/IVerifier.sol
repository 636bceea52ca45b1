// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/// @notice A Groth16 verifier over BN254 for one circuit (one verifying key).
/// @dev `proof` is `[A.x, A.y, B.x.c1, B.x.c0, B.y.c1, B.y.c0, C.x, C.y]`: the EIP-197 encoding,
/// with each G2 coordinate's imaginary part (c1) before its real part (c0).
/// Returns false (never reverts) for a proof that does not verify, including malformed ones:
/// a wrong number of inputs, an input `>= r`, a coordinate `>= q`, or a point off its curve.
interface IVerifier {
    function verifyProof(uint256[8] calldata proof, uint256[] calldata input) external view returns (bool);
}
