//! # zkperp-prover: Groth16 on BN254 for the batch and exit circuits
//!
//! ```text
//!   SealedBatch ──BatchCircuit──> Groth16::prove (proving key from the KeyCache) ──> Proof
//!        │                                                                        │
//!        └──publish(shape, depth).public.commitment() ── the one public input ─────┤
//!                                                                                 v
//!                                             export::evm_proof (calldata, EIP-197 layout)
//!                                             export::snarkjs_* (verification_key/proof/public)
//! ```
//! Keys are made once per circuit (a batch shape, the exit circuit) and cached on disk
//! ([`KeyCache`]): the file carries a fingerprint of what the circuit depends on (the
//! configuration and the shape), so a changed deployment never proves against stale keys, and a
//! SHA-256 of its payload, so the fast unchecked load of a file we wrote still detects
//! corruption. Proving is CPU-bound and long (seconds to minutes): [`BatchProver::prove`] is
//! synchronous, to be run on a blocking thread ([`spawn_prover`] does that with std threads).

pub mod ceremony;
pub mod circom;
pub mod export;
pub mod r1cs;
pub mod wtns;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ark_bn254::Bn254;
use ark_groth16::{Groth16, PreparedVerifyingKey};
use ark_relations::gr1cs::{ConstraintSynthesizer, SynthesisError};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zkperp_circuits::batch::BatchCircuit;
use zkperp_circuits::exit::ExitCircuit;
use zkperp_circuits::witness::WitnessError;
use zkperp_state::batch::{SealedBatch, Shape, ShapeError};
use zkperp_state::da::{PayloadSourceError, Publication};
use zkperp_state::exit::{ExitError, ExitWitness};
use zkperp_state::state::StateConfig;
use zkperp_state::Fr;

pub type Proof = ark_groth16::Proof<Bn254>;
pub type ProvingKey = ark_groth16::ProvingKey<Bn254>;
pub type VerifyingKey = ark_groth16::VerifyingKey<Bn254>;

#[derive(Debug, thiserror::Error)]
pub enum ProverError {
    #[error("synthesis: {0}")]
    Synthesis(#[from] SynthesisError),
    #[error("witness: {0}")]
    Witness(#[from] WitnessError),
    #[error("shape: {0}")]
    Shape(#[from] ShapeError),
    #[error("exit: {0}")]
    Exit(#[from] ExitError),
    #[error("key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("{0}")]
    Serialization(String),
    /// The witness does not satisfy the circuit: the batch breaks a rule or the witness is
    /// inconsistent. Groth16 would produce a proof that fails verification; this refuses first.
    #[error("the witness does not satisfy the circuit (first failing constraint: {0})")]
    Unsatisfied(String),
}

/// Groth16 in the QAP of snarkjs keys ([`circom::CircomReduction`]): every key, whether a
/// ceremony's `.zkey` or a development setup's, is proven with the same reduction.
pub type Snark = Groth16<Bn254, circom::CircomReduction>;

/// A development setup for `circuit`: one party's keys, toxic waste from `rng`. Whoever runs
/// it could prove anything; a deployment takes its keys from a ceremony instead
/// ([`ceremony`], docs/CEREMONY.md).
pub fn setup<C: ConstraintSynthesizer<Fr>>(
    circuit: C,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<ProvingKey, ProverError> {
    Ok(Snark::generate_random_parameters_with_reduction(
        circuit, rng,
    )?)
}

/// A proof of `circuit` with `pk`.
pub fn prove<C: ConstraintSynthesizer<Fr>>(
    pk: &ProvingKey,
    circuit: C,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Proof, ProverError> {
    Ok(Snark::create_random_proof_with_reduction(circuit, pk, rng)?)
}

/// Whether `proof` verifies for `inputs` (an input count that does not match the key is
/// `false`, not an error).
pub fn verify(pvk: &PreparedVerifyingKey<Bn254>, inputs: &[Fr], proof: &Proof) -> bool {
    if inputs.len() + 1 != pvk.vk.gamma_abc_g1.len() {
        return false;
    }
    Groth16::<Bn254>::verify_proof(pvk, proof, inputs).unwrap_or(false)
}

/// Checks `circuit` is satisfied by its witness before spending minutes on a proof of it.
pub fn check_satisfied<C: ConstraintSynthesizer<Fr>>(circuit: C) -> Result<(), ProverError> {
    let cs = ark_relations::gr1cs::ConstraintSystem::<Fr>::new_ref();
    circuit.generate_constraints(cs.clone())?;
    if cs.is_satisfied()? {
        Ok(())
    } else {
        Err(ProverError::Unsatisfied(
            cs.which_is_unsatisfied()?.unwrap_or_default(),
        ))
    }
}

/// Where proving keys live between runs.
#[derive(Debug, Clone)]
pub struct KeyCache {
    dir: PathBuf,
}

/// Where a key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Loaded,
    /// Generated now: there was no file, or it was made for another fingerprint.
    Generated,
}

const MAGIC: &[u8; 8] = b"ZKPERPK1";
const HEADER: usize = 8 + 32 + 32;

impl KeyCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        KeyCache { dir: dir.into() }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pk"))
    }

    /// The key stored under `name` if it was made for `fingerprint`; `Ok(None)` when there is
    /// none or it is another circuit's; an error when the file is damaged.
    pub fn load(
        &self,
        name: &str,
        fingerprint: &[u8; 32],
    ) -> Result<Option<ProvingKey>, ProverError> {
        let path = self.path(name);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ProverError::KeyFile {
                    path,
                    reason: e.to_string(),
                })
            }
        };
        let bad = |reason: &str| ProverError::KeyFile {
            path: path.clone(),
            reason: reason.to_string(),
        };
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err(bad("not a zkperp key file (bad header)"));
        }
        if &bytes[8..40] != fingerprint {
            return Ok(None);
        }
        let payload = &bytes[HEADER..];
        if Sha256::digest(payload).as_slice() != &bytes[40..72] {
            return Err(bad("checksum mismatch: the file is truncated or corrupted"));
        }
        // Unchecked: the checksum says these are the bytes this process's code wrote from a
        // key it generated, so the subgroup checks (the slow part of a checked load) are moot.
        let pk = ProvingKey::deserialize_uncompressed_unchecked(payload)
            .map_err(|e| bad(&format!("undecodable key: {e}")))?;
        Ok(Some(pk))
    }

    /// Writes `pk` under `name` atomically (a temporary file, synced, then renamed).
    pub fn store(
        &self,
        name: &str,
        fingerprint: &[u8; 32],
        pk: &ProvingKey,
    ) -> Result<(), ProverError> {
        let path = self.path(name);
        let io = |e: std::io::Error| ProverError::KeyFile {
            path: path.clone(),
            reason: e.to_string(),
        };
        fs::create_dir_all(&self.dir).map_err(io)?;
        let mut payload = Vec::new();
        pk.serialize_uncompressed(&mut payload)
            .map_err(|e| ProverError::Serialization(e.to_string()))?;
        let tmp = path.with_extension("pk.tmp");
        {
            let mut f = fs::File::create(&tmp).map_err(io)?;
            f.write_all(MAGIC).map_err(io)?;
            f.write_all(fingerprint).map_err(io)?;
            f.write_all(&Sha256::digest(&payload)).map_err(io)?;
            f.write_all(&payload).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        fs::rename(&tmp, &path).map_err(io)?;
        if let Ok(dir) = fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// The key for `name`: loaded when present and made for `fingerprint`, else generated from
    /// `circuit()` and stored.
    pub fn load_or_setup<C: ConstraintSynthesizer<Fr>>(
        &self,
        name: &str,
        fingerprint: &[u8; 32],
        circuit: impl FnOnce() -> Result<C, ProverError>,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(ProvingKey, KeySource), ProverError> {
        if let Some(pk) = self.load(name, fingerprint)? {
            return Ok((pk, KeySource::Loaded));
        }
        tracing::info!(name, "generating proving key");
        let pk = setup(circuit()?, rng)?;
        self.store(name, fingerprint, &pk)?;
        Ok((pk, KeySource::Generated))
    }
}

/// What a circuit's keys depend on, hashed: the circuit kind, the configuration, the shape.
///
/// The signing domain is left out: the circuit takes it as a witness bound to the public data
/// (the L1 checks it), so one key serves every deployment of a configuration, and keys can be
/// made before the rollup's address is known. The version string changes with the circuits.
pub fn fingerprint(kind: &str, config: &StateConfig, shape: Option<&Shape>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"zkperp circuit v3\0");
    h.update(kind.as_bytes());
    h.update([0]);
    let mut config = config.clone();
    config.domain = Default::default();
    h.update(serde_json::to_vec(&config).unwrap_or_default());
    if let Some(shape) = shape {
        h.update(shape.id().as_bytes());
    }
    h.finalize().into()
}

/// A batch proof and the public input it proves.
#[derive(Debug, Clone)]
pub struct BatchProof {
    pub proof: Proof,
    pub commitment: Fr,
}

/// The prover of one batch shape.
#[derive(Debug)]
pub struct BatchProver {
    config: Arc<StateConfig>,
    pk: ProvingKey,
    verifier: BatchVerifier,
}

/// Checks batch proofs of one shape: what a node needs to accept a proof it did not make (a
/// remote prover's), without the proving key.
#[derive(Debug, Clone)]
pub struct BatchVerifier {
    shape: Shape,
    pvk: PreparedVerifyingKey<Bn254>,
}

impl BatchVerifier {
    pub fn new(shape: Shape, vk: &VerifyingKey) -> Self {
        BatchVerifier {
            shape,
            pvk: ark_groth16::prepare_verifying_key(vk),
        }
    }

    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// What `batch` publishes in this shape: its public data and its blobs.
    pub fn publish(&self, batch: &SealedBatch) -> Result<Publication, PayloadSourceError> {
        batch.publish(&self.shape)
    }

    /// The circuit's one public input for `batch`: the commitment to its public data.
    pub fn commitment(&self, batch: &SealedBatch) -> Result<Fr, PayloadSourceError> {
        Ok(self.publish(batch)?.public.commitment())
    }

    /// Whether `proof` proves the batch whose public-data commitment is `commitment`.
    pub fn verify(&self, commitment: Fr, proof: &Proof) -> bool {
        verify(&self.pvk, &[commitment], proof)
    }
}

impl BatchProver {
    /// Loads or generates the keys of `shape` in `cache`.
    pub fn new(
        config: Arc<StateConfig>,
        shape: Shape,
        cache: &KeyCache,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(Self, KeySource), ProverError> {
        let name = format!("batch-{}", shape.id());
        let fp = fingerprint("batch", &config, Some(&shape));
        let (pk, source) = cache.load_or_setup(
            &name,
            &fp,
            || Ok(BatchCircuit::blank(config.clone(), shape)?),
            rng,
        )?;
        let verifier = BatchVerifier::new(shape, &pk.vk);
        Ok((
            BatchProver {
                config,
                pk,
                verifier,
            },
            source,
        ))
    }

    /// Stores `pk` (a ceremony's key for `shape`, checked by the caller against the circuit's
    /// transcript) in `cache` as the key of this configuration and shape, so every service loads
    /// it as it loads any key, and returns its prover.
    pub fn install(
        config: Arc<StateConfig>,
        shape: Shape,
        cache: &KeyCache,
        pk: ProvingKey,
    ) -> Result<Self, ProverError> {
        let name = format!("batch-{}", shape.id());
        cache.store(&name, &fingerprint("batch", &config, Some(&shape)), &pk)?;
        Ok(BatchProver {
            verifier: BatchVerifier::new(shape, &pk.vk),
            config,
            pk,
        })
    }

    /// The deployment's key for `shape` from `cache`, never a new one: a service proving for
    /// a deployed rollup must use the key whose verifier is on L1 (`Ok(None)`: not there, or
    /// made for another configuration or shape).
    pub fn load(
        config: Arc<StateConfig>,
        shape: Shape,
        cache: &KeyCache,
    ) -> Result<Option<Self>, ProverError> {
        let name = format!("batch-{}", shape.id());
        let fp = fingerprint("batch", &config, Some(&shape));
        Ok(cache.load(&name, &fp)?.map(|pk| BatchProver {
            verifier: BatchVerifier::new(shape, &pk.vk),
            config,
            pk,
        }))
    }

    pub fn shape(&self) -> &Shape {
        self.verifier.shape()
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.pk.vk
    }

    /// The verifier of this prover's proofs.
    pub fn verifier(&self) -> &BatchVerifier {
        &self.verifier
    }

    /// Proves `batch` (checking first that its witness satisfies the circuit).
    pub fn prove(
        &self,
        batch: &SealedBatch,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<BatchProof, ProverError> {
        let circuit = BatchCircuit::new(self.config.clone(), *self.shape(), batch)?;
        let commitment = circuit.commitment.unwrap_or_default();
        check_satisfied(circuit.clone())?;
        let proof = prove(&self.pk, circuit, rng)?;
        Ok(BatchProof { proof, commitment })
    }

    pub fn verify(&self, commitment: Fr, proof: &Proof) -> bool {
        self.verifier.verify(commitment, proof)
    }
}

/// The exit prover (one per deployment: the circuit depends on the configuration only).
#[derive(Debug)]
pub struct ExitProver {
    config: Arc<StateConfig>,
    pk: ProvingKey,
    pvk: PreparedVerifyingKey<Bn254>,
}

/// An exit proof and its public inputs, in the contract's order.
#[derive(Debug, Clone)]
pub struct ExitProof {
    pub proof: Proof,
    pub inputs: Vec<Fr>,
}

impl ExitProver {
    pub fn new(
        config: Arc<StateConfig>,
        cache: &KeyCache,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(Self, KeySource), ProverError> {
        let fp = fingerprint("exit", &config, None);
        let (pk, source) =
            cache.load_or_setup("exit", &fp, || Ok(ExitCircuit::blank(config.clone())), rng)?;
        let pvk = ark_groth16::prepare_verifying_key(&pk.vk);
        Ok((ExitProver { config, pk, pvk }, source))
    }

    /// Stores `pk` (a ceremony's exit key, checked by the caller) in `cache` as this
    /// configuration's exit key, and returns its prover.
    pub fn install(
        config: Arc<StateConfig>,
        cache: &KeyCache,
        pk: ProvingKey,
    ) -> Result<Self, ProverError> {
        cache.store("exit", &fingerprint("exit", &config, None), &pk)?;
        let pvk = ark_groth16::prepare_verifying_key(&pk.vk);
        Ok(ExitProver { config, pk, pvk })
    }

    /// The deployment's exit key from `cache`, never a new one: a trader proving an exit must
    /// use the key whose verifier is on L1 (`Ok(None)`: not there, or made for another
    /// configuration).
    pub fn load(config: Arc<StateConfig>, cache: &KeyCache) -> Result<Option<Self>, ProverError> {
        let fp = fingerprint("exit", &config, None);
        Ok(cache.load("exit", &fp)?.map(|pk| {
            let pvk = ark_groth16::prepare_verifying_key(&pk.vk);
            ExitProver { config, pk, pvk }
        }))
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.pk.vk
    }

    /// The SHA-256 of the proving key's bytes (the checksum its key file carries): what the
    /// rollup pins as `exitKeyHash`, so a trader can check a key taken from anywhere.
    pub fn key_hash(&self) -> Result<[u8; 32], ProverError> {
        let mut bytes = Vec::new();
        self.pk
            .serialize_uncompressed(&mut bytes)
            .map_err(|e| ProverError::Serialization(e.to_string()))?;
        Ok(Sha256::digest(&bytes).into())
    }

    /// Proves the exit of `witness`'s account against `state_root` (the last verified root).
    pub fn prove(
        &self,
        witness: ExitWitness,
        state_root: Fr,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<ExitProof, ProverError> {
        let inputs = witness.public_inputs(&self.config, state_root)?;
        let circuit = ExitCircuit::new(self.config.clone(), witness, state_root)?;
        check_satisfied(circuit.clone())?;
        let proof = prove(&self.pk, circuit, rng)?;
        Ok(ExitProof { proof, inputs })
    }

    pub fn verify(&self, inputs: &[Fr], proof: &Proof) -> bool {
        verify(&self.pvk, inputs, proof)
    }
}

/// Runs `job` on a thread of its own (proving must never block an async runtime's workers) and
/// returns a handle to join it.
pub fn spawn_prover<T: Send + 'static>(
    name: &str,
    job: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    std::thread::Builder::new()
        .name(format!("prover-{name}"))
        .spawn(job)
}

/// The key directory a deployment uses by default.
pub fn default_key_dir(base: &Path) -> PathBuf {
    base.join("keys")
}
