//! The trusted setup as a multi-party ceremony in snarkjs' formats (issue 19; docs/CEREMONY.md).
//!
//! ```text
//!   circuit ──R1cs::synthesize──> .r1cs ─┐
//!   public phase 1 (.ptau, prepared) ────┴──Zkey::new──> zkey_0 ──contribute──> zkey_1 … ──beacon──> final .zkey
//!                                                                                   │
//!                        the batch and exit provers (CircomReduction) <─────────────┘
//! ```
//! Every file here is the format snarkjs reads and writes, so a participant may contribute with
//! snarkjs and an auditor may check the transcript with `snarkjs zkey verify`: the formats are
//! in docs/design/ceremony-formats.md.

pub mod binfile;
pub mod contribute;
pub mod deployment;
pub mod points;
pub mod ptau;
pub mod rng;
pub mod verify;
pub mod zkey;

/// A file that is not what it claims to be: which kind of file and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} file: {reason}")]
pub struct FormatError {
    pub kind: &'static str,
    pub reason: String,
}

impl FormatError {
    pub fn new(kind: &'static str, reason: impl Into<String>) -> Self {
        FormatError {
            kind,
            reason: reason.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    R1cs(#[from] crate::r1cs::R1csError),
    #[error(
        "the .ptau is not prepared for phase 2 (it has no Lagrange sections): prepare it with \
         `zkperp ceremony prepare` or `snarkjs powersoftau prepare phase2`"
    )]
    NotPrepared,
    #[error(
        "the .ptau's power {power} is too small: this circuit needs a .ptau of power {needed} or more"
    )]
    PtauTooSmall { power: u32, needed: u32 },
    /// A transcript check failed: which one, and for which contribution.
    #[error("the transcript does not verify: {0}")]
    Verify(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
}
