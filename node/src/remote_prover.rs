//! `zkperp prover`: a remote prover, as a service of its own on any machine with the
//! deployment's proving key. It leases sealed batches from a node's prover API
//! (`zkperp node --prover-listen`), proves each one and sends the proof back; the node checks
//! every proof before it keeps it, so a prover is trusted with nothing but time.
//!
//! Several provers (and the node's own, `--local-provers`) work at once, each on the lowest
//! batch nobody holds, so proving capacity grows with machines while the node still submits
//! the batches to L1 in order. A prover that stops mid-proof loses nothing: its lease lapses
//! and the batch goes to another. One that cannot reach the node waits and asks again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use zkperp_prover::export;
use zkperp_state::batch::SealedBatch;

use crate::network::Network;
use crate::operator::{emit, run_until_signal};

#[derive(Debug, clap::Args)]
pub struct ProverArgs {
    /// The node's prover API (`zkperp node --prover-listen`).
    #[arg(
        long,
        env = "ZKPERP_PROVER_API",
        default_value = "http://127.0.0.1:8090"
    )]
    node: String,
    /// The node's prover token (`zkperp node --prover-token`).
    #[arg(long, env = "ZKPERP_PROVER_TOKEN", hide_env_values = true)]
    token: String,
    /// The network file `zkperp deploy` wrote (the configuration and shape to prove for).
    #[arg(long, env = "ZKPERP_NETWORK", default_value = "network.json")]
    network: PathBuf,
    /// The deployment's proving keys (`zkperp deploy --keys-dir`).
    #[arg(long, env = "ZKPERP_KEYS_DIR", default_value = ".zkperp/keys")]
    keys_dir: PathBuf,
    /// This prover's name in the node's records (default: prover-<pid>).
    #[arg(long)]
    name: Option<String>,
    /// Stop after this many accepted proofs (0: never).
    #[arg(long, default_value_t = 0)]
    batches: u64,
}

pub fn run(args: &ProverArgs) -> Result<()> {
    run_until_signal(run_async(args))
}

/// The longest wait between two attempts to reach a node that does not answer.
const MAX_RETRY: Duration = Duration::from_secs(30);

async fn run_async(args: &ProverArgs) -> Result<()> {
    let network = Network::load(&args.network)?;
    let shape = network.shape()?;
    let prover = network.batch_prover(&args.keys_dir).await?;
    let prover = Arc::new(prover);
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("prover-{}", std::process::id()));
    let base = args.node.trim_end_matches('/').to_string();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let call = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(&args.token)
            .json(&body)
            .send()
    };
    emit(json!({"event": "prover", "name": name, "node": base, "shape": shape.id()}));

    let mut accepted = 0u64;
    let mut wait = Duration::from_secs(1);
    loop {
        let response = match call("/v1/prover/lease", json!({"prover": name, "wait_secs": 30}))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                emit(
                    json!({"event": "node_unreachable", "reason": e.to_string(), "in_secs": wait.as_secs()}),
                );
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_RETRY);
                continue;
            }
        };
        wait = Duration::from_secs(1);
        match response.status().as_u16() {
            204 => continue,
            200 => {}
            401 => bail!("the node refused the prover token"),
            status => {
                let text = response.text().await.unwrap_or_default();
                bail!("the node answered a lease request with {status}: {text}");
            }
        }
        let lease: Value = response.json().await.context("the node's lease")?;
        let id = lease["lease"].as_str().unwrap_or_default().to_string();
        // Decoding checks every field element (< r); a batch of another shape is refused by
        // the prover, and either way the lease goes back for the node's operator to see.
        let batch: Result<SealedBatch> =
            serde_json::from_value(lease["batch"].clone()).context("the leased batch");
        let started = Instant::now();
        let proof = match batch {
            Ok(batch) => {
                let p = prover.clone();
                tokio::task::spawn_blocking(move || p.prove(&batch, &mut rand::rngs::OsRng))
                    .await?
                    .map_err(anyhow::Error::from)
            }
            Err(e) => Err(e),
        };
        let number = lease["batch_number"].as_u64().unwrap_or_default();
        let proof = match proof {
            Ok(proof) => proof,
            Err(e) => {
                emit(json!({"event": "cannot_prove", "batch": number, "reason": format!("{e:#}")}));
                let _ = call(
                    "/v1/prover/release",
                    json!({"lease": id, "reason": format!("{e:#}")}),
                )
                .await;
                continue;
            }
        };
        let proving_ms = started.elapsed().as_millis() as u64;
        let hex_proof = format!("0x{}", hex::encode(export::proof_bytes(&proof.proof)));
        let answer = loop {
            match call(
                "/v1/prover/proofs",
                json!({"lease": id, "proof": hex_proof}),
            )
            .await
            {
                Ok(r) => break r,
                Err(e) => {
                    // The proof is still good: keep it and try again.
                    emit(
                        json!({"event": "node_unreachable", "reason": e.to_string(), "in_secs": wait.as_secs()}),
                    );
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_RETRY);
                }
            }
        };
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap_or_default();
        emit(json!({
            "event": "proved", "batch": number, "proving_ms": proving_ms,
            "accepted": status == 200, "answer": body,
        }));
        if status == 200 {
            accepted += 1;
            if args.batches != 0 && accepted >= args.batches {
                emit(json!({"event": "stopped", "accepted": accepted}));
                return Ok(());
            }
        }
    }
}
