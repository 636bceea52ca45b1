//! A deployment's keys from a ceremony: each final `.zkey` verified against the circuit the
//! deployment's configuration defines and the phase 1, then installed as the provers' keys, and
//! the transcript's hashes recorded (the network file carries them, and the rollup pins that
//! file's hash), so anyone can compare what is deployed with the published transcript.

use std::path::Path;
use std::sync::Arc;

use blake2::{Blake2b512, Digest};
use serde::{Deserialize, Serialize};
use zkperp_circuits::batch::BatchCircuit;
use zkperp_circuits::exit::ExitCircuit;
use zkperp_state::batch::Shape;
use zkperp_state::state::StateConfig;

use super::ptau::Ptau;
use super::verify::verify;
use super::zkey::Zkey;
use crate::r1cs::R1cs;
use crate::{BatchProver, ExitProver, KeyCache, ProverError, ProvingKey};

/// Why a ceremony's keys were refused.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeploymentError(String);

fn read(path: &Path) -> Result<Vec<u8>, DeploymentError> {
    std::fs::read(path).map_err(|e| DeploymentError(format!("reading {}: {e}", path.display())))
}

fn at(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> DeploymentError + '_ {
    move |e| DeploymentError(format!("{}: {e}", path.display()))
}

impl From<ProverError> for DeploymentError {
    fn from(e: ProverError) -> Self {
        DeploymentError(e.to_string())
    }
}

fn hex(bytes: impl AsRef<[u8]>) -> String {
    bytes.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn blake2b_hex(bytes: &[u8]) -> String {
    hex(Blake2b512::digest(bytes))
}

/// A deployment's keys from a ceremony's directory (`phase1.ptau`, `batch.zkey`, `exit.zkey`):
/// each transcript is verified against the circuit this configuration (and `shape`) defines and
/// the phase 1, must hold at least one contribution, and is refused with the failed check named;
/// the keys are then installed in `keys_dir` for the services. A phase 1 without contributions
/// (a development one, whose maker knows tau) is refused unless `development_phase1`.
pub fn keys(
    config: &StateConfig,
    shape: Shape,
    dir: &Path,
    keys_dir: &Path,
    development_phase1: bool,
) -> Result<(BatchProver, ExitProver, Setup), DeploymentError> {
    let ptau_path = dir.join("phase1.ptau");
    let ptau_bytes = read(&ptau_path)?;
    let ptau = Ptau::parse(&ptau_bytes).map_err(|e| at(&ptau_path)(&e))?;
    let phase1 = Phase1Record {
        blake2b: blake2b_hex(&ptau_bytes),
        power: ptau.power,
        contributions: ptau.contributions().map_err(|e| at(&ptau_path)(&e))?,
    };
    if phase1.contributions == 0 && !development_phase1 {
        return Err(DeploymentError(format!(
            "{} records no contribution: it is a development phase 1 (its maker knows tau); \
             start from a public one such as the perpetual powers of tau (docs/CEREMONY.md)",
            ptau_path.display()
        )));
    }
    let config = Arc::new(config.clone());
    let transcript = |name: &str,
                      r1cs: Result<R1cs, crate::r1cs::R1csError>|
     -> Result<(ProvingKey, TranscriptRecord), DeploymentError> {
        let path = dir.join(name);
        let r1cs = r1cs.map_err(|e| at(&path)(&e))?;
        let bytes = read(&path)?;
        let key = Zkey::parse(&bytes).map_err(|e| at(&path)(&e))?;
        let verified = verify(&r1cs, &ptau, &key).map_err(|e| at(&path)(&e))?;
        if verified.contributions.is_empty() {
            return Err(DeploymentError(format!(
                "{}: the transcript has no contribution, so whoever made it knows its trapdoor",
                path.display()
            )));
        }
        let record = TranscriptRecord {
            zkey_blake2b: blake2b_hex(&bytes),
            circuit_hash: hex(verified.cs_hash),
            contributions: verified
                .contributions
                .iter()
                .map(|c| ContributionRecord {
                    name: c.name.clone(),
                    hash: hex(c.hash),
                    beacon: c.beacon,
                })
                .collect(),
        };
        Ok((key.proving_key(), record))
    };
    // The exit circuit first: it is the smaller, so a bad transcript there fails fast.
    let (exit_pk, exit) = transcript(
        "exit.zkey",
        R1cs::synthesize(ExitCircuit::blank(config.clone()), false).map(|r| r.0),
    )?;
    let blank = BatchCircuit::blank(config.clone(), shape)
        .map_err(|e| DeploymentError(format!("the batch circuit of {}: {e}", shape.id())))?;
    let (batch_pk, batch) = transcript("batch.zkey", R1cs::synthesize(blank, false).map(|r| r.0))?;
    let cache = KeyCache::new(keys_dir);
    let batch_prover = BatchProver::install(config.clone(), shape, &cache, batch_pk)?;
    let exit_prover = ExitProver::install(config, &cache, exit_pk)?;
    Ok((
        batch_prover,
        exit_prover,
        Setup::Ceremony {
            phase1,
            batch,
            exit,
        },
    ))
}

/// The trusted setup a deployment's keys came from (docs/CEREMONY.md).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Setup {
    /// Made in one step by the deploying machine: whoever ran it could prove anything.
    #[default]
    Development,
    /// From a verified multi-party ceremony.
    Ceremony {
        phase1: Phase1Record,
        batch: TranscriptRecord,
        exit: TranscriptRecord,
    },
}

/// The phase-1 file: its Blake2b-512 (as the perpetual powers of tau publish theirs, `b2sum`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase1Record {
    pub blake2b: String,
    pub power: u32,
    /// Phase-1 contributions the file records (0: a development phase 1).
    pub contributions: u32,
}

/// One circuit's phase-2 transcript: the final `.zkey`'s Blake2b-512, the circuit hash, and every
/// contribution's hash (what each participant published).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptRecord {
    pub zkey_blake2b: String,
    pub circuit_hash: String,
    pub contributions: Vec<ContributionRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContributionRecord {
    pub name: Option<String>,
    pub hash: String,
    pub beacon: bool,
}
