//! # zkperp-circuits: the circuit twins of the native state machine
//!
//! Every native rule in `zkperp-state` has a gadget here with the same name, in a file of the same
//! name; in-circuit types take the `Var` suffix (`Point` / `PointVar`, `MerkleProof` /
//! `MerkleProofVar`). The native code is the specification: each module's tests run the same
//! random inputs through both and compare, and tamper with one witness value per rule to show the
//! rule is enforced.
//!
//! ```text
//!   witness (native values: leaves, Merkle paths,          constraints over BN254's scalar field
//!   signatures, from zkperp_state's Receipts)   ──AllocVar──>  (arkworks 0.6, R1CS for Groth16)
//!
//!   units       range checks: every value entering a circuit fits its protocol width;
//!               comparison with a constant; canonical bits of a field element
//!   eq          equalities that refuse unequal constants (arkworks' accept them silently)
//!   poseidon    circom Poseidon, round for round as zkperp_state::poseidon::permute
//!   babyjubjub  PointVar: always a point of the prime-order subgroup; add, double,
//!               fixed-base (Base8) and variable-base scalar multiplication
//!   eddsa       PublicKeyVar::verify / conditional_enforce_valid (EdDSA-Poseidon)
//!   merkle      MerkleProofVar::root_for, enforce_update (sparse Merkle tree of Poseidon)
//! ```
//!
//! Constraint counts (measured by the tests, which assert them):
//!
//! | gadget | constraints |
//! |---|---|
//! | `poseidon` of 2 / 5 / 8 inputs | 240 / 321 / 402 |
//! | `enforce_unsigned_bits(x, n)` / `enforce_signed_bits(x, n)` | n + 1 / n + 3 |
//! | `point_from_coordinates` (on curve and in the subgroup) | 20 |
//! | `PointVar::add` / `PointVar::double` | 6 / 5 |
//! | `mul_base8_le` (251-bit scalar) / `mul` (254-bit scalar) | 831 / 2,789 |
//! | `PublicKeyVar::verify` (EdDSA-Poseidon, inputs allocated) | 4,753 |
//! | `enforce_canonical_bits` (254 bits, below r) | 385 |
//! | Merkle `root_for` / `enforce_update`, per level | 241 / 482 (+1 / +2 per path) |
//!
//! The transaction gadgets and the batch circuit are built on these.

pub mod babyjubjub;
pub mod batch;
pub mod blob;
pub mod cipher;
pub mod da;
pub mod domain;
pub mod eddsa;
pub mod eq;
pub mod exit;
pub mod funding;
pub mod leaf;
pub mod limits;
pub mod margin;
pub mod market;
pub mod merkle;
pub mod order;
pub mod permutation;
pub mod poseidon;
pub mod pubdata;
pub mod record;
pub mod sha256;
pub mod stats;
pub mod table;
pub mod transcript;
pub mod tx;
pub mod units;
pub mod witness;

pub use zkperp_state::Fr;
