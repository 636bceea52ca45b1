//! The rollup's history read from the L1 alone, with no operator: every verified batch's
//! `submitBatch` calldata and its blobs, applied from genesis by `zkperp_state::rebuild`, which
//! checks each blob against the versioned hash the proof bound and each batch against the root
//! the L1 accepted. Blobs come from an archive directory when it has them (anyone's: a lying one
//! is caught), else from the L1 node (anvil's `anvil_getBlobsByTransactionHash`). `zkperp
//! rebuild` prints the result; `zkperp wallet exit --network` proves an exit from it.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use serde_json::json;
use zkperp_contracts::alloy::signers::local::PrivateKeySigner;
use zkperp_contracts::{PostedBatch, L1};
use zkperp_sequencer::archive;
use zkperp_state::blob::Blob;
use zkperp_state::field::fr_to_decimal;
use zkperp_state::rebuild::{Rebuilder, RebuiltBatch};

use crate::network::Network;

/// A read-only L1 client for the network (any key signs nothing here).
pub fn reader(network: &Network, rpc: Option<&str>) -> Result<L1> {
    let rpc = rpc.unwrap_or(&network.rpc);
    Ok(L1::connect(
        rpc,
        PrivateKeySigner::random(),
        network.rollup,
        network.deploy_block,
    )?)
}

/// Where a batch's blobs are read, tried in this order: an archive, a consensus client's
/// beacon API, the L1 node itself (anvil's `anvil_getBlobsByTransactionHash`). Whatever
/// serves them, each blob is checked against the versioned hash the L1 verified.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BlobSources {
    /// A blob archive: a directory of `batch-<n>-<i>.blob` files (a node's `blobs/`, or one
    /// `--save` wrote), or a node's API (`http://...`, serving `/v1/batches/{n}/blobs/{i}`).
    #[arg(long)]
    pub archive: Option<String>,
    /// A consensus client's beacon API (`GET /eth/v1/beacon/blobs/{block}`): where a public
    /// L1's blobs are, for about 18 days after their block.
    #[arg(long, env = "ZKPERP_BEACON")]
    pub beacon: Option<String>,
}

impl BlobSources {
    /// The blobs `posted` carried, from the first source that has them all.
    pub async fn blobs(&self, l1: &L1, posted: &PostedBatch) -> Result<Vec<Blob>> {
        let (number, count) = (posted.number, posted.versioned_hashes.len());
        let parse = |what: &str, bytes: Vec<Vec<u8>>| -> Result<Vec<Blob>> {
            bytes
                .iter()
                .enumerate()
                .map(|(index, b)| {
                    Blob::from_bytes(b).map_err(|e| {
                        anyhow!("batch {number}, blob {index}: {what} served no blob: {e}")
                    })
                })
                .collect()
        };
        match self.archive.as_deref() {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                if let Some(bytes) = fetch_archived(url, number, count).await? {
                    return parse(url, bytes);
                }
            }
            Some(dir) => {
                if let Some(blobs) = archive::read(Path::new(dir), number, count)? {
                    return Ok(blobs);
                }
            }
            None => {}
        }
        if let Some(beacon) = &self.beacon {
            let served = l1
                .beacon_blobs(beacon, posted.block, &posted.versioned_hashes)
                .await?;
            if let Some(bytes) = served {
                return parse(beacon, bytes);
            }
        }
        let bytes =
            l1.blobs_of(posted.tx).await?.ok_or_else(|| {
                anyhow!(
                "batch {number}: no source has its blobs (transaction {}): the L1 node no longer \
                 serves them{}{}",
                posted.tx,
                if self.beacon.is_some() { ", nor the beacon API" } else { "" },
                if self.archive.is_some() { ", nor the archive" } else { "" },
            )
            })?;
        parse("the L1 node", bytes)
    }
}

/// Batch `number`'s `count` blobs from a node's API, or `None` if it lacks one of them.
async fn fetch_archived(url: &str, number: u64, count: usize) -> Result<Option<Vec<Vec<u8>>>> {
    let client = reqwest::Client::new();
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        let at = format!(
            "{}/v1/batches/{number}/blobs/{index}",
            url.trim_end_matches('/')
        );
        let response = client
            .get(&at)
            .send()
            .await
            .map_err(|e| anyhow!("batch {number}, blob {index}: {at}: {e}"))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            bail!(
                "batch {number}, blob {index}: {at} answered {}",
                response.status()
            );
        }
        out.push(response.bytes().await?.to_vec());
    }
    Ok(Some(out))
}

/// Applies every batch the rollup verified after `state`'s (from genesis, or a checkpoint),
/// calling `each` after each one; the result must have the rollup's root.
pub async fn rebuild(
    network: &Network,
    l1: &L1,
    mut state: Rebuilder,
    sources: &BlobSources,
    mut each: impl FnMut(&RebuiltBatch, &[Blob], &Rebuilder) -> Result<()>,
) -> Result<Rebuilder> {
    let shape = network.shape()?;
    // One log scan for the whole history, then each new batch's transaction.
    let from = state.batch();
    let applied = l1.batches_applied().await?;
    for event in applied.iter().filter(|e| e.batch_number > from) {
        let number = event.batch_number;
        if number != state.batch() + 1 {
            bail!(
                "the L1's logs skip from batch {} to batch {number}: ask another RPC",
                state.batch()
            );
        }
        let posted = l1.posted(event).await?;
        if posted.shape != 0 {
            bail!(
                "batch {number} was proven against verifier {}: this network has one shape",
                posted.shape
            );
        }
        let blobs = sources.blobs(l1, &posted).await?;
        let batch = state.apply(&shape, &posted.pubdata, &blobs)?;
        each(&batch, &blobs, &state)?;
    }
    // The root the L1 accepted for the last batch applied: its event's, not the rollup's
    // current root, which a batch verified since the scan may have moved on.
    let l1_root = match applied.last() {
        Some(e) if e.batch_number == state.batch() => e.new_root,
        None if state.batch() == 0 => l1.state_root().await?,
        _ => bail!(
            "the state is at batch {}, past the L1's last applied batch: another rollup's, or \
             an RPC that is behind",
            state.batch()
        ),
    };
    if l1_root.to_string() != fr_to_decimal(&state.root()) {
        bail!(
            "after batch {} the rebuilt root is {}, the rollup's {l1_root}",
            state.batch(),
            fr_to_decimal(&state.root())
        );
    }
    Ok(state)
}

#[derive(Debug, clap::Args)]
pub struct RebuildArgs {
    /// The deployment's network file (`zkperp deploy` writes it).
    #[arg(long)]
    network: PathBuf,
    /// The L1 RPC URL (default: the network file's).
    #[arg(long, env = "ZKPERP_RPC")]
    rpc: Option<String>,
    #[command(flatten)]
    blobs: BlobSources,
    /// Also write every blob read into this directory (an archive of one's own).
    #[arg(long)]
    save: Option<PathBuf>,
}

/// `zkperp rebuild`: the tree of leaf hashes from the L1 alone, checked against its root.
pub fn run(args: &RebuildArgs) -> Result<()> {
    let network = Network::load(&args.network)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let (state, records) = runtime.block_on(async {
        let l1 = reader(&network, args.rpc.as_deref())?;
        network.check_pinned(&l1).await?;
        let mut records = 0usize;
        let genesis = Rebuilder::genesis(network.state.clone())?;
        let state = rebuild(&network, &l1, genesis, &args.blobs, |batch, blobs, _| {
            records += batch.payload.records.iter().flatten().count();
            match &args.save {
                Some(dir) => Ok(archive::write(dir, batch.public.batch_number, blobs)?),
                None => Ok(()),
            }
        })
        .await?;
        anyhow::Ok((state, records))
    })?;
    let out = json!({
        "batches": state.batch(),
        "state_root": fr_to_decimal(&state.root()),
        "accounts_root": fr_to_decimal(&state.tree().root()),
        "records": records,
        "matches_l1": true,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
