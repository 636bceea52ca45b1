//! `zkperp node`: the sequencer, the REST/WebSocket API and the batch prover of a deployed
//! network, as one restartable service.
//!
//! Everything it knows is on disk under `--data-dir` before it is acknowledged or acted on, so
//! a restart (a crash, a SIGKILL, a new binary) goes on exactly where it stopped:
//! - the books, the state and the API's views are restored from the newest snapshot at or before
//!   the verified batch, and the journal after it is replayed ([`Hub::open`]);
//! - the L1 queues are followed from the first deposit and forced request the journal has not
//!   taken in (a deposit is never credited twice, none is skipped);
//! - every batch sealed after the last one the verified state holds goes to the prover again:
//!   the pipeline skips what is done (a stored proof is not recomputed, a batch the L1 already
//!   applied is recorded from its event, not resubmitted).
//!
//! Oracle prices come from the oracle signer services through `POST /v1/oracle/quotes`.
//! Batches are proven by `--local-provers` threads of this process and by any remote provers
//! (`zkperp prover`) that lease them through the prover API (`--prover-listen`); the node
//! checks every proof, whoever made it, before it stores or submits it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::json;
use zkperp_contracts::L1;
use zkperp_core::funding::{FundingSchedule, DEFAULT_PREMIUM_PERIOD_SECS};
use zkperp_core::oracle::OracleBook;
use zkperp_sequencer::follower::{Follower, QUEUES};
use zkperp_sequencer::hub::{Hub, OpenOptions};
use zkperp_sequencer::pipeline::{BatchStore, Pipeline};
use zkperp_sequencer::proving::{self, ProvingQueue, DEFAULT_LEASE_SECS};
use zkperp_sequencer::snapshot::{SnapshotChoice, SnapshotPolicy};
use zkperp_sequencer::storage::Storage;
use zkperp_sequencer::verified::VerifiedState;
use zkperp_state::batch::SealedBatch;

use crate::deploy::l1_signer;
use crate::network::Network;
use crate::operator::{emit, lock, run_until_signal, Operator, Seal};

#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    /// The network file `zkperp deploy` wrote.
    #[arg(long, env = "ZKPERP_NETWORK", default_value = "network.json")]
    network: PathBuf,
    /// The L1's JSON-RPC URL (default: the network file's).
    #[arg(long, env = "ZKPERP_L1_RPC")]
    rpc: Option<String>,
    /// The operator's L1 private key (0x-hex): the network's batch submitter.
    #[arg(long, env = "ZKPERP_OPERATOR_KEY", hide_env_values = true)]
    operator_key: String,
    /// The deployment's proving keys (`zkperp deploy --keys-dir`).
    #[arg(long, env = "ZKPERP_KEYS_DIR", default_value = ".zkperp/keys")]
    keys_dir: PathBuf,
    /// The sequencer's databases (journal, batch records, verified state). Kept across
    /// restarts; one directory serves one network only.
    #[arg(long, env = "ZKPERP_DATA_DIR", default_value = ".zkperp/node")]
    data_dir: PathBuf,
    /// Where the API listens.
    #[arg(long, env = "ZKPERP_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Wall-clock seconds per batch.
    #[arg(long, default_value_t = 5)]
    batch_secs: u64,
    /// Seconds between funding ticks of a market (0: every batch).
    #[arg(long, default_value_t = 60)]
    funding_secs: u64,
    /// Sealed batches the prover may be behind by before the timer stops sealing (the open
    /// batch then stays open, so marks and liquidations wait for the prover too).
    #[arg(long, default_value_t = crate::operator::MAX_IN_FLIGHT)]
    max_unproven: u64,
    /// Batches between snapshots of the sequencer (0: none). A restart restores the newest
    /// snapshot at or before the verified batch and replays only the journal after it.
    #[arg(long, env = "ZKPERP_SNAPSHOT_EVERY", default_value_t = SnapshotPolicy::default().every_batches)]
    snapshot_every: u64,
    /// Prover threads in this process (0: only remote provers prove). Each proof uses every
    /// core, so more than one pays only on a machine with cores to spare.
    #[arg(long, env = "ZKPERP_LOCAL_PROVERS", default_value_t = 1)]
    local_provers: usize,
    /// Where the prover API for remote provers (`zkperp prover`) listens (default: no
    /// prover API). Meant for the operator's own network, not the public one.
    #[arg(long, env = "ZKPERP_PROVER_LISTEN")]
    prover_listen: Option<SocketAddr>,
    /// The secret remote provers present (at least 32 characters); required with
    /// --prover-listen.
    #[arg(long, env = "ZKPERP_PROVER_TOKEN", hide_env_values = true)]
    prover_token: Option<String>,
    /// Warn (event `forced_deadline`) this many L1 seconds before an unanswered forced
    /// request's deadline; past it, the event is `forced_overdue`.
    #[arg(long, default_value_t = crate::operator::FORCED_WARN_SECS)]
    forced_warn_secs: u64,
    /// Seconds a remote or local prover holds a batch before it is given to another.
    #[arg(long, default_value_t = DEFAULT_LEASE_SECS)]
    lease_secs: u64,
}

/// The prover API's token, when it is to listen: long enough to be a secret.
fn prover_token(args: &NodeArgs) -> Result<Option<&str>> {
    match (
        &args.prover_listen,
        args.prover_token.as_deref().map(str::trim),
    ) {
        (None, _) if args.local_provers == 0 => {
            bail!("--local-provers 0 without --prover-listen: no prover would ever prove a batch")
        }
        (None, _) => Ok(None),
        (Some(_), None) => bail!("--prover-listen needs --prover-token (ZKPERP_PROVER_TOKEN)"),
        (Some(_), Some(t)) if t.len() < zkperp_api::provers::MIN_TOKEN_CHARS => bail!(
            "--prover-token is {} characters; a prover token has at least {}",
            t.len(),
            zkperp_api::provers::MIN_TOKEN_CHARS
        ),
        (Some(_), Some(t)) => Ok(Some(t)),
    }
}

/// Refuses a data directory laid out by an older zkperp. Before one database held every table,
/// the journal, the batch records and the verified state were three (`journal/`, `batches/`,
/// `verified/`): opening `db/` next to them would start an empty sequencer and lose the journal.
fn refuse_older_layout(data_dir: &std::path::Path) -> Result<()> {
    if let Some(old) = ["journal", "batches", "verified"]
        .iter()
        .map(|d| data_dir.join(d))
        .find(|d| d.exists())
    {
        bail!(
            "{} holds {}, a database of an older zkperp (three databases; this version keeps \
             one, {}): keep that directory for the older version, or start this one with a \
             fresh --data-dir",
            data_dir.display(),
            old.display(),
            data_dir.join("db").display()
        );
    }
    Ok(())
}

/// Which network a data directory belongs to, written at its first start.
fn check_data_dir(args: &NodeArgs, network: &Network) -> Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    refuse_older_layout(&args.data_dir)?;
    let marker = args.data_dir.join("network-id");
    let id = format!("{}:{}", network.chain_id, network.rollup);
    match std::fs::read_to_string(&marker) {
        Ok(found) if found.trim() == id => Ok(()),
        Ok(found) => bail!(
            "{} holds the sequencer of network {}, not of {id} (the network file's)",
            args.data_dir.display(),
            found.trim()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::write(&marker, format!("{id}\n"))?;
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", marker.display())),
    }
}

pub fn run(args: &NodeArgs) -> Result<()> {
    run_until_signal(run_async(args))
}

async fn run_async(args: &NodeArgs) -> Result<()> {
    let network = Network::load(&args.network)?;
    let rpc = args.rpc.clone().unwrap_or_else(|| network.rpc.clone());
    let signer = l1_signer(&args.operator_key, "--operator-key")?;
    if signer.address() != network.operator {
        bail!(
            "--operator-key is {}'s key, but the rollup's operator is {}",
            signer.address(),
            network.operator
        );
    }
    let config = network.sequencer_config()?;
    let shape = config.shape;
    let token = prover_token(args)?;
    check_data_dir(args, &network)?;

    let prover = network.batch_prover(&args.keys_dir).await?;

    // One database for the journal, snapshots, batch records and verified state.
    let storage = Storage::open(&args.data_dir.join("db"))
        .with_context(|| format!("opening the database in {}", args.data_dir.display()))?;
    let verified = Arc::new(Mutex::new(VerifiedState::open(&storage, &config.state)?));
    let verified_batch = lock(&verified).batch();
    let owed: Arc<Mutex<Vec<SealedBatch>>> = Arc::default();
    // From a snapshot at or before the verified batch, so that the replay re-creates every
    // batch still owed to the L1 (their witnesses are not stored).
    let options = OpenOptions {
        start: SnapshotChoice::AtMostBatch(verified_batch),
        snapshots: (args.snapshot_every > 0).then(|| SnapshotPolicy {
            every_batches: args.snapshot_every,
            // Enough that one is at or before the verified batch while the prover is behind
            // by up to --max-unproven batches (plus the one being proven).
            keep: SnapshotPolicy::default()
                .keep
                .max(2 + (args.max_unproven + 1).div_ceil(args.snapshot_every) as usize),
        }),
    };
    let (hub, opened) = Hub::open(&storage, &config, options, |_, _| {}, {
        let owed = owed.clone();
        Box::new(move |batch| {
            if batch.batch_number > verified_batch {
                lock(&owed).push(Arc::unwrap_or_clone(batch));
            }
        })
    })?;
    let owed = std::mem::take(&mut *lock(&owed));
    let hub = Arc::new(hub);
    // Before the API serves: a trader's order can seal a batch, and every one goes to L1.
    let sealed = hub.sealed_batches()?;
    let cursors = hub.with_sequencer(|seq| seq.batcher().cursors());
    let batches = Arc::new(BatchStore::open(&storage)?);
    let operator = L1::connect(&rpc, signer, network.rollup, network.deploy_block)?;
    let provers = Arc::new(ProvingQueue::new(
        prover.verifier().clone(),
        args.lease_secs,
    ));
    let prover = Arc::new(prover);
    for i in 0..args.local_provers {
        proving::spawn_local(provers.clone(), prover.clone(), format!("local-{i}"));
    }
    let prover_api = match (args.prover_listen, token) {
        (Some(addr), Some(token)) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the prover API to {addr}"))?;
            let url = format!("http://{}", listener.local_addr()?);
            let app = zkperp_api::provers::router(provers.clone(), token);
            tokio::spawn(async move { axum::serve(listener, app).await });
            Some(url)
        }
        _ => None,
    };
    let pipeline = Pipeline::new(batches.clone(), provers, 0, operator.clone())
        .with_verified(verified.clone())
        .with_archive(args.data_dir.join("blobs"));

    let oracle = Arc::new(Mutex::new(OracleBook::new(&config.state)));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding the API to {}", args.listen))?;
    let api_url = format!("http://{}", listener.local_addr()?);
    let app = zkperp_api::router(zkperp_api::Services {
        hub: hub.clone(),
        batches,
        verified: verified.clone(),
        oracle: oracle.clone(),
        archive: Some(args.data_dir.join("blobs")),
        info: network.info(&rpc),
    });
    tokio::spawn(async move { axum::serve(listener, app).await });

    let max_batch_age = operator.max_batch_age().await?;
    let mut op = Operator::new(
        hub.clone(),
        sealed,
        oracle,
        config.state.clone(),
        shape,
        FundingSchedule::new(args.funding_secs, DEFAULT_PREMIUM_PERIOD_SECS)?,
        Follower::new(operator, |kind| cursors.next(kind), network.deploy_block),
        false,
        pipeline,
        0,
        args.max_unproven,
    )
    .with_forced_warning(args.forced_warn_secs)
    .with_max_batch_age(max_batch_age);
    emit(json!({
        "event": "node",
        "api": api_url,
        "prover_api": prover_api,
        "local_provers": args.local_provers,
        "rollup": network.rollup.to_string(),
        "snapshot": opened.restored,
        "skipped_snapshots": opened.skipped.iter()
            .map(|(m, why)| json!({"position": m.position, "why": why}))
            .collect::<Vec<_>>(),
        "replayed_commands": opened.replayed,
        "verified_batch": verified_batch,
        "resent_batches": owed.iter().map(|b| b.batch_number).collect::<Vec<_>>(),
        // The next entry of each L1 queue the journal has not taken in, by kind.
        "next_in_queue": QUEUES
            .iter()
            .map(|&kind| (kind.name().to_string(), json!(cursors.next(kind))))
            .collect::<serde_json::Map<_, _>>(),
    }));
    for batch in owed {
        op.resend(batch);
    }
    if !op.flush().await {
        bail!("the prover stopped before the node started");
    }

    let mut interval = tokio::time::interval(Duration::from_secs(args.batch_secs.max(1)));
    loop {
        interval.tick().await;
        if op.prover_finished() {
            break;
        }
        op.watch_forced().await;
        if op.halted() {
            continue; // no batch can land any more; the API keeps serving exits
        }
        match op.seal().await? {
            Seal::Sealed => {}
            Seal::Deferred => continue, // the prover is behind: the open batch stays open
            Seal::ProverStopped => break,
        }
        let at = op.clock()?;
        op.open_batch(at).await?;
        if !op.flush().await {
            break;
        }
    }
    let done = op.finish().await?;
    emit(json!({"event": "stopped", "verified_batches": done}));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::refuse_older_layout;

    #[test]
    fn a_data_dir_of_the_three_database_layout_is_refused_with_its_path() {
        let dir = tempfile::tempdir().expect("tmp");
        refuse_older_layout(dir.path()).expect("an empty directory");
        std::fs::create_dir(dir.path().join("db")).expect("mkdir");
        refuse_older_layout(dir.path()).expect("this version's layout");
        std::fs::create_dir(dir.path().join("batches")).expect("mkdir");
        let why = refuse_older_layout(dir.path())
            .expect_err("an older layout")
            .to_string();
        assert!(
            why.contains("batches") && why.contains("older zkperp"),
            "{why}"
        );
    }
}
