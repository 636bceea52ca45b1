//! `zkperp`: the one binary of the exchange.
//!
//! `devnet` runs the whole exchange on one machine (anvil, the contracts, the sequencer, the
//! prover, the API) in one process. `deploy`, `node`, `oracle` and `prover` are the same parts
//! as the separate services of a deployment (see deploy/README.md). `wallet` is a trader's
//! command-line wallet over the API and the L1; `ceremony` runs the trusted setup's phase 2;
//! `keygen` and `circuit-stats` are tools.

mod ceremony;
mod circuit_stats;
mod deploy;
mod devnet;
mod history;
mod network;
mod operator;
mod oracle_signer;
mod remote_prover;
mod service;
mod wallet;

use anyhow::Result;
use clap::{Parser, Subcommand};
use rand::rngs::OsRng;
use zkperp_state::eddsa::PrivateKey;

#[derive(Debug, Parser)]
#[command(
    name = "zkperp",
    version,
    about = "zkperp: a ZK-rollup perpetual-futures exchange"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the devnet: a simulated market through the native state machine, batch by batch.
    Devnet(devnet::DevnetArgs),
    /// Deploy a network on an L1 (keys, verifiers, rollup, test token) and write its network
    /// file for the other services.
    Deploy(deploy::DeployArgs),
    /// Run a deployed network's sequencer, API and prover (restartable: all state on disk).
    Node(service::NodeArgs),
    /// Run one oracle key's signer: quote prices to a node's API every few seconds.
    Oracle(oracle_signer::OracleArgs),
    /// Run a remote prover: lease sealed batches from a node's prover API, prove them, send
    /// the proofs back (the node checks each one).
    Prover(remote_prover::ProverArgs),
    /// Print, as JSON, the constraint counts of the circuits: each slot kind, a batch of the
    /// given shape, and the building blocks.
    CircuitStats(circuit_stats::Args),
    /// Rebuild the rollup's tree of leaf hashes from the L1 alone (calldata and blobs, or an
    /// archive of blobs), checking every batch against the root the L1 accepted.
    Rebuild(history::RebuildArgs),
    /// A trader's wallet: deposit, trade, withdraw and claim, and exit after a freeze, through
    /// the API and the L1 RPC.
    Wallet(wallet::WalletArgs),
    /// The trusted setup as a multi-party ceremony in snarkjs' formats: export a circuit's
    /// `.r1cs`, prepare a phase 1, then `new`, `contribute`, `beacon`, `verify`, `export`.
    Ceremony(ceremony::CeremonyArgs),
    /// Create a Baby Jubjub key (circomlibjs-compatible EdDSA-Poseidon) and print it as JSON.
    Keygen {
        /// Use these 32 bytes (64 hex digits) as the private key instead of fresh randomness.
        #[arg(long)]
        private_key: Option<String>,
    },
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            // arkworks instruments every gadget call at target `gr1cs`: with those spans enabled,
            // synthesizing a batch records a trace per constraint (gigabytes). Off by default.
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,gr1cs=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Devnet(args) => devnet::run(&args),
        Command::Deploy(args) => deploy::run(&args),
        Command::Node(args) => service::run(&args),
        Command::Oracle(args) => oracle_signer::run(&args),
        Command::Prover(args) => remote_prover::run(&args),
        Command::Keygen { private_key } => keygen(private_key.as_deref()),
        Command::CircuitStats(args) => circuit_stats::run(&args),
        Command::Wallet(args) => wallet::run(args),
        Command::Rebuild(args) => history::run(&args),
        Command::Ceremony(args) => ceremony::run(&args),
    }
}

fn keygen(private_key: Option<&str>) -> Result<()> {
    let key = match private_key {
        Some(text) => PrivateKey::from_bytes(wallet::hex32(text, "--private-key")?),
        None => PrivateKey::random(&mut OsRng),
    };
    let pk = key.public_key();
    let out = serde_json::json!({
        "private_key": hex::encode(key.to_bytes()),
        "public_key": hex::encode(pk.pack()),
        "public_key_x": zkperp_state::field::fr_to_decimal(&pk.x()),
        "public_key_y": zkperp_state::field::fr_to_decimal(&pk.y()),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
