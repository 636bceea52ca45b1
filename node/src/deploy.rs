//! `zkperp deploy`: puts a new zkperp network on an L1 and writes its network file.
//!
//! Makes (or loads, from `--keys-dir`) the Groth16 keys of the batch circuit of `--shape` and of
//! the exit circuit for the state configuration, deploys a verifier for each, the rollup (at the
//! configuration's genesis root) and, unless `--token` names one, a test collateral token, then
//! writes [`Network`] to `--out`. The keys directory is part of the deployment: the node proves
//! with its batch key and traders prove exits with its exit key, and no other key verifies.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde_json::json;
use zkperp_contracts::alloy::primitives::{Address, U256};
use zkperp_contracts::alloy::providers::Provider;
use zkperp_contracts::alloy::signers::local::PrivateKeySigner;
use zkperp_contracts::{deploy, provider, DeployConfig, VerifierKey, L1};
use zkperp_prover::{export, BatchProver, ExitProver, KeyCache};
use zkperp_state::batch::Shape;
use zkperp_state::domain::SigningDomain;
use zkperp_state::eddsa::PublicKey;
use zkperp_state::field::fr_to_decimal;
use zkperp_state::state::{StateConfig, SystemOwner};
use zkperp_state::units::L1Address;
use zkperp_state::State;

use crate::network::{Network, Setup, VERSION};
use crate::operator::emit;

#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// The L1's JSON-RPC URL.
    #[arg(long, env = "ZKPERP_L1_RPC", default_value = "http://127.0.0.1:8545")]
    rpc: String,
    /// The operator's L1 private key (0x-hex): it deploys, and is the only batch submitter.
    #[arg(long, env = "ZKPERP_OPERATOR_KEY", hide_env_values = true)]
    operator_key: String,
    /// An oracle's public key (packed, 64 hex digits, as `zkperp keygen` prints it), for every
    /// market; give an odd number, at least 3 (the quorum is 3).
    #[arg(long = "oracle-key", required_unless_present = "state_config")]
    oracle_keys: Vec<String>,
    /// The insurance fund's public key (account 0).
    #[arg(long, required_unless_present = "state_config")]
    fund_key: Option<String>,
    /// The insurance fund owner's L1 address (where its withdrawals go).
    #[arg(long, required_unless_present = "state_config")]
    fund_owner: Option<String>,
    /// The fee account's public key (account 1).
    #[arg(long, required_unless_present = "state_config")]
    fee_key: Option<String>,
    /// The fee account owner's L1 address.
    #[arg(long, required_unless_present = "state_config")]
    fee_owner: Option<String>,
    /// A whole state configuration (JSON, as `GET /v1/config` shows it) instead of the built-in
    /// BTC-USD and ETH-USD markets with the keys above.
    #[arg(long, conflicts_with_all = ["oracle_keys", "fund_key", "fund_owner", "fee_key", "fee_owner"])]
    state_config: Option<PathBuf>,
    /// The collateral token (an ERC-20 with 6 decimals); default: deploy a test token that
    /// anyone may mint (devnets and testnets only).
    #[arg(long)]
    token: Option<String>,
    /// Mint test tokens: `ADDRESS:UNITS` (units of 10^-6), repeatable; only with the test token.
    #[arg(long = "mint", conflicts_with = "token")]
    mints: Vec<String>,
    /// The batch circuit's shape (slots per kind).
    #[arg(long, default_value = "o2-f2-l1-x1-d4-fw1-fc1-ft1-t4-w2-c2")]
    shape: String,
    /// Depth of the accounts tree (with the built-in markets).
    #[arg(long, default_value_t = 16)]
    account_depth: u8,
    /// Depth of each account's orders tree (with the built-in markets).
    #[arg(long, default_value_t = 8)]
    order_depth: u8,
    /// Where the proving keys are made (or found, if made before for this configuration).
    #[arg(long, default_value = ".zkperp/keys")]
    keys_dir: PathBuf,
    /// Take the keys from a ceremony: a directory with the phase 1 (`phase1.ptau`) and the
    /// final keys (`batch.zkey`, `exit.zkey`). Each transcript must verify against the circuits
    /// of this configuration; its hashes go into the network file. Without it, the keys are a
    /// development setup made by this machine alone.
    #[arg(long)]
    ceremony: Option<PathBuf>,
    /// Accept a phase 1 with no contribution (a development phase 1; tests only).
    #[arg(long, requires = "ceremony")]
    development_phase1: bool,
    /// Seconds the operator has to answer a forced request before anyone may freeze the rollup.
    #[arg(long, default_value_t = 3_600)]
    grace_period: u64,
    /// Seconds between consecutive forced requests' deadlines: at least the batch interval
    /// divided by the forced-withdrawal slots of the shape, so the queue is always servable.
    #[arg(long, default_value_t = 60)]
    forced_spacing: u64,
    /// Seconds between consecutive deposits' deadlines (a deposit unconsumed by its deadline
    /// lets anyone freeze): at least the batch interval divided by the shape's deposit slots.
    #[arg(long, default_value_t = 60)]
    deposit_spacing: u64,
    /// Seconds after a freeze during which users register their exits (paid after it).
    #[arg(long, default_value_t = 14 * 24 * 3_600)]
    claim_window: u64,
    /// Seconds a batch's time may lag the L1's (orders' expiry and quotes' freshness are judged
    /// at the batch time): more than the worst proving and submission lag, 600..=2592000.
    #[arg(long, default_value_t = 86_400)]
    max_batch_age: u64,
    /// The smallest deposit the L1 queues, in collateral units (10^-6).
    #[arg(long, default_value_t = 1_000_000)]
    min_deposit: u64,
    /// The smallest forced withdrawal the L1 queues, in collateral units.
    #[arg(long, default_value_t = 1_000_000)]
    min_forced_amount: u64,
    #[arg(long, default_value_t = 0)]
    maker_fee_ppm: u32,
    #[arg(long, default_value_t = 500)]
    taker_fee_ppm: u32,
    /// Where the network file goes.
    #[arg(long, default_value = "network.json")]
    out: PathBuf,
}

pub fn public_key(text: &str, what: &str) -> Result<PublicKey> {
    PublicKey::unpack(&crate::wallet::hex32(text, what)?)
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

pub fn address(text: &str, what: &str) -> Result<Address> {
    Address::from_str(text).map_err(|e| anyhow::anyhow!("{what} {text:?}: {e}"))
}

pub fn l1_signer(text: &str, what: &str) -> Result<PrivateKeySigner> {
    PrivateKeySigner::from_str(text).map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

fn verifier_key(vk: &zkperp_prover::VerifyingKey) -> Result<(VerifierKey, serde_json::Value)> {
    let json = serde_json::to_value(export::evm_verifying_key(vk))?;
    Ok((VerifierKey::from_json(&json)?, json))
}

fn state_config(args: &DeployArgs) -> Result<StateConfig> {
    let config = match &args.state_config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --state-config {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("--state-config {} is not valid", path.display()))?
        }
        None => {
            if args.oracle_keys.len() < 3 || args.oracle_keys.len().is_multiple_of(2) {
                bail!(
                    "give an odd number of --oracle-key, at least 3 (got {})",
                    args.oracle_keys.len()
                );
            }
            let oracles = args
                .oracle_keys
                .iter()
                .map(|k| public_key(k, "--oracle-key"))
                .collect::<Result<Vec<_>>>()?;
            let need = |v: &Option<String>, name: &str| {
                v.clone().with_context(|| format!("{name} is required"))
            };
            let owner = |key: &Option<String>, kname, owner: &Option<String>, oname| {
                Ok::<_, anyhow::Error>(SystemOwner {
                    public_key: public_key(&need(key, kname)?, kname)?,
                    l1_address: L1Address(address(&need(owner, oname)?, oname)?.into_array()),
                })
            };
            let fund = owner(
                &args.fund_key,
                "--fund-key",
                &args.fund_owner,
                "--fund-owner",
            )?;
            let fee = owner(&args.fee_key, "--fee-key", &args.fee_owner, "--fee-owner")?;
            let mut config =
                zkperp_state::testkit::config_of_keys(&oracles, fund.public_key, fee.public_key);
            config.insurance_fund = fund;
            config.fee_account = fee;
            config.account_tree_depth = args.account_depth;
            config.order_tree_depth = args.order_depth;
            config
        }
    };
    config.validate()?;
    Ok(config)
}

/// The batch and exit provers of `config` and `shape`: their keys loaded from `keys_dir`, or
/// made there once (minutes; off the async runtime). Emits a `keys` event.
pub async fn setup_keys(
    config: &StateConfig,
    shape: Shape,
    keys_dir: PathBuf,
) -> Result<(BatchProver, ExitProver)> {
    let started = std::time::Instant::now();
    let keys = KeyCache::new(keys_dir);
    let config = Arc::new(config.clone());
    let provers = tokio::task::spawn_blocking(move || -> Result<_> {
        let mut os = rand::rngs::OsRng;
        let (batch, _) = BatchProver::new(config.clone(), shape, &keys, &mut os)?;
        let (exit, _) = ExitProver::new(config, &keys, &mut os)?;
        Ok((batch, exit))
    })
    .await??;
    eprintln!(
        "development setup: these keys were made by this machine alone, and whoever holds its \
         randomness could prove any batch; a deployment takes its keys from a ceremony \
         (zkperp deploy --ceremony, docs/CEREMONY.md)"
    );
    emit(
        json!({"event": "keys", "shape": shape.id(), "setup": "development",
        "secs": started.elapsed().as_secs()}),
    );
    Ok(provers)
}

pub fn run(args: &DeployArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: &DeployArgs) -> Result<()> {
    let shape: Shape = args
        .shape
        .parse()
        .map_err(|e| anyhow::anyhow!("--shape {}: {e}", args.shape))?;
    zkperp_core::batcher::check_shape(&shape)
        .map_err(|e| anyhow::anyhow!("--shape {}: {e}", args.shape))?;
    let mut config = state_config(args)?;
    let signer = l1_signer(&args.operator_key, "--operator-key")?;
    let operator = signer.address();
    let token = args
        .token
        .as_deref()
        .map(|t| address(t, "--token"))
        .transpose()?;
    let mints = args
        .mints
        .iter()
        .map(|m| {
            let (who, units) = m
                .split_once(':')
                .with_context(|| format!("--mint {m:?} is not ADDRESS:UNITS"))?;
            let units: u64 = units
                .parse()
                .with_context(|| format!("--mint {m:?}: units is not a number"))?;
            Ok((address(who, "--mint")?, units))
        })
        .collect::<Result<Vec<_>>>()?;
    let genesis = State::genesis(config.clone())?;

    let (batch, exit, setup) = match &args.ceremony {
        Some(dir) => {
            let started = std::time::Instant::now();
            let (config, dir, keys) = (config.clone(), dir.clone(), args.keys_dir.clone());
            let development = args.development_phase1;
            let (batch, exit, setup) = tokio::task::spawn_blocking(move || {
                zkperp_prover::ceremony::deployment::keys(&config, shape, &dir, &keys, development)
            })
            .await??;
            emit(
                json!({"event": "keys", "shape": shape.id(), "setup": "ceremony",
                "secs": started.elapsed().as_secs()}),
            );
            (batch, exit, setup)
        }
        None => {
            let (batch, exit) = setup_keys(&config, shape, args.keys_dir.clone()).await?;
            (batch, exit, Setup::Development)
        }
    };
    let (batch_key, batch_json) = verifier_key(batch.verifying_key())?;
    let (exit_key, exit_json) = verifier_key(exit.verifying_key())?;

    let deployer = provider(&args.rpc, signer.clone())?;
    let chain_id = deployer
        .get_chain_id()
        .await
        .with_context(|| format!("reaching the L1 at {}", args.rpc))?;
    // The network file as it will be, but for what only the deployment tells (cleared in the
    // pinned hash anyway): the rollup pins its hash and the exit key's.
    let mut network = Network {
        version: VERSION,
        chain_id,
        rpc: args.rpc.clone(),
        rollup: Address::ZERO,
        token: Address::ZERO,
        operator,
        deploy_block: 0,
        shape: shape.id(),
        maker_fee_ppm: args.maker_fee_ppm,
        taker_fee_ppm: args.taker_fee_ppm,
        state: config.clone(),
        batch_verifying_key: batch_json,
        exit_verifying_key: exit_json,
        setup,
    };
    network.state.domain.chain_id = chain_id;
    let deployment = deploy(
        &deployer,
        &DeployConfig {
            operator,
            token,
            genesis_root: U256::from_str(&fr_to_decimal(&genesis.root()))?,
            market_count: config.markets.len() as u64,
            grace_period: args.grace_period,
            forced_spacing: args.forced_spacing,
            deposit_spacing: args.deposit_spacing,
            claim_window: args.claim_window,
            max_batch_age: args.max_batch_age,
            min_deposit: args.min_deposit,
            min_forced_amount: args.min_forced_amount,
            batch_keys: vec![batch_key],
            exit_key,
            config_hash: network.pinned_hash()?,
            exit_key_hash: exit.key_hash()?,
        },
    )
    .await?;
    // Every signature of the deployment is bound to its chain and rollup (the keys and the
    // genesis root do not depend on them).
    config.domain = SigningDomain {
        chain_id,
        rollup: L1Address(deployment.rollup.into_array()),
    };
    let l1 = L1::connect(&args.rpc, signer, deployment.rollup, deployment.block)?;
    for (who, units) in &mints {
        l1.mint_test_tokens(*who, *units).await?;
        emit(json!({"event": "minted", "to": who.to_string(), "units": units}));
    }
    network.rollup = deployment.rollup;
    network.token = deployment.token;
    network.deploy_block = deployment.block;
    network.state = config;
    network.save(&args.out)?;
    emit(json!({
        "event": "deployed",
        "rpc": args.rpc,
        "chain_id": chain_id,
        "rollup": deployment.rollup.to_string(),
        "token": deployment.token.to_string(),
        "operator": operator.to_string(),
        "block": deployment.block,
        "network_file": args.out.display().to_string(),
    }));
    Ok(())
}
