//! The network file: everything the services of one deployment must agree on, written once by
//! `zkperp deploy` and read by `zkperp node` (and by anyone who wants to check a deployment).
//!
//! It holds public facts only: the L1 addresses and the block to follow events from, the state
//! configuration (markets, oracle keys, tree depths, system accounts) whose genesis root the
//! rollup starts from, the batch shape and fees that fix what a replay of the journal produces,
//! and the verifying keys deployed on L1, so a service can refuse a proving key that is not the
//! deployment's. No private key is ever in it.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zkperp_contracts::alloy::primitives::Address;
use zkperp_core::config::SequencerConfig;
use zkperp_core::engine::FeeSchedule;
pub use zkperp_prover::ceremony::deployment::Setup;
use zkperp_prover::{export, BatchProver, KeyCache};
use zkperp_state::batch::Shape;
use zkperp_state::state::StateConfig;

/// The file's format version: a service refuses a file of another.
pub const VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub version: u32,
    pub chain_id: u64,
    /// An RPC URL of the L1 (services may be given another with `--rpc`).
    pub rpc: String,
    pub rollup: Address,
    pub token: Address,
    /// The one address allowed to submit batches.
    pub operator: Address,
    /// The rollup's deployment block: event scans start here.
    pub deploy_block: u64,
    /// The batch circuit's shape (its verifier is the rollup's shape 0).
    pub shape: String,
    pub maker_fee_ppm: u32,
    pub taker_fee_ppm: u32,
    pub state: StateConfig,
    /// The batch and exit verifying keys as deployed (snarkjs-style JSON of the EVM export).
    pub batch_verifying_key: Value,
    pub exit_verifying_key: Value,
    /// Where the keys came from: a development setup, or a ceremony's transcripts (pinned with
    /// the rest of the file, so the rollup commits to the transcript it was deployed from).
    #[serde(default)]
    pub setup: Setup,
}

impl Network {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the network file {}", path.display()))?;
        let network: Network = serde_json::from_str(&text)
            .with_context(|| format!("the network file {} is not valid", path.display()))?;
        if network.version != VERSION {
            bail!(
                "the network file {} is version {}, this binary reads version {VERSION}",
                path.display(),
                network.version
            );
        }
        network
            .state
            .validate()
            .with_context(|| format!("the state configuration in {}", path.display()))?;
        let domain = network.state.domain;
        if domain.chain_id != network.chain_id || domain.rollup.0 != network.rollup.into_array() {
            bail!(
                "the network file {} binds signatures to chain {} and rollup 0x{}, not to its own \
                 chain {} and rollup {}",
                path.display(),
                domain.chain_id,
                hex::encode(domain.rollup.0),
                network.chain_id,
                network.rollup
            );
        }
        network.shape()?;
        Ok(network)
    }

    /// Written to a temporary file and renamed: a reader never sees half a file.
    /// What the rollup pins of this file (`Rollup.configHash`): keccak256 of its JSON with the
    /// fields cleared that are only known after the deployment or are a local choice (the RPC
    /// URL, the rollup's and token's addresses, the operator, the deploy block, the rollup in
    /// the signing domain). Those the wallet checks against the chain itself.
    pub fn pinned_hash(&self) -> Result<[u8; 32]> {
        let mut pinned = self.clone();
        pinned.rpc = String::new();
        pinned.rollup = Address::ZERO;
        pinned.token = Address::ZERO;
        pinned.operator = Address::ZERO;
        pinned.deploy_block = 0;
        pinned.state.domain.rollup = Default::default();
        Ok(zkperp_contracts::alloy::primitives::keccak256(serde_json::to_vec(&pinned)?).0)
    }

    /// Checks this file and the rollup it names against each other: the rollup pins this
    /// file's hash and holds its token. A copy of the file from anywhere is good if this passes.
    pub async fn check_pinned(&self, l1: &zkperp_contracts::L1) -> Result<[u8; 32]> {
        let (config, exit_key) = l1.pins().await?;
        if config != self.pinned_hash()? {
            bail!(
                "this network file is not the one the rollup {} pins (its configHash is 0x{}): \
                 take the deployment's own",
                self.rollup,
                hex::encode(config)
            );
        }
        let token = l1.token().await?;
        if token != self.token {
            bail!(
                "the network file names the token {}, the rollup {} holds {token}",
                self.token,
                self.rollup
            );
        }
        Ok(exit_key)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(self)? + "\n")
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    pub fn shape(&self) -> Result<Shape> {
        self.shape
            .parse()
            .map_err(|e| anyhow::anyhow!("shape {}: {e}", self.shape))
    }

    pub fn sequencer_config(&self) -> Result<SequencerConfig> {
        Ok(SequencerConfig {
            state: self.state.clone(),
            fees: FeeSchedule {
                maker_ppm: self.maker_fee_ppm,
                taker_ppm: self.taker_fee_ppm,
            },
            shape: self.shape()?,
        })
    }

    /// The deployment's batch prover from `keys_dir`: never a new key (no other key's proofs
    /// verify on this rollup), and refused unless its verifying key is the one deployed.
    pub async fn batch_prover(&self, keys_dir: &Path) -> Result<BatchProver> {
        let shape = self.shape()?;
        let state = Arc::new(self.state.clone());
        let keys = KeyCache::new(keys_dir);
        let prover = tokio::task::spawn_blocking(move || BatchProver::load(state, shape, &keys))
            .await??
            .with_context(|| {
                format!(
                    "no batch proving key for this network's configuration and shape {} in {}: \
                     use the keys directory `zkperp deploy` made",
                    shape.id(),
                    keys_dir.display()
                )
            })?;
        if serde_json::to_value(export::evm_verifying_key(prover.verifying_key()))?
            != self.batch_verifying_key
        {
            bail!(
                "the batch key in {} is not the one deployed on the rollup",
                keys_dir.display()
            );
        }
        Ok(prover)
    }

    /// What `GET /v1/info` tells wallets.
    pub fn info(&self, rpc: &str) -> Value {
        json!({
            "rpc": rpc,
            "chain_id": self.chain_id,
            "rollup": self.rollup.to_string(),
            "token": self.token.to_string(),
            "operator": self.operator.to_string(),
        })
    }
}
