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
use zkperp_contracts::L1;
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

/// Applies every batch the rollup verified after `state`'s (from genesis, or a checkpoint),
/// calling `each` after each one; the result must have the rollup's root.
pub async fn rebuild(
    network: &Network,
    l1: &L1,
    mut state: Rebuilder,
    archive_dir: Option<&Path>,
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
        let count = posted.versioned_hashes.len();
        let archived = match archive_dir {
            Some(dir) => archive::read(dir, number, count)?,
            None => None,
        };
        let blobs = match archived {
            Some(blobs) => blobs,
            None => l1
                .blobs_of(posted.tx)
                .await?
                .ok_or_else(|| {
                    anyhow!(
                        "batch {number}: the L1 node no longer serves the blobs of {} and no \
                         archive has them",
                        posted.tx
                    )
                })?
                .iter()
                .enumerate()
                .map(|(index, b)| {
                    Blob::from_bytes(b).map_err(|e| {
                        anyhow!("batch {number}, blob {index}: the L1 node served no blob: {e}")
                    })
                })
                .collect::<Result<Vec<_>>>()?,
        };
        let batch = state.apply(&shape, &posted.pubdata, &blobs)?;
        each(&batch, &blobs, &state)?;
    }
    let l1_root = l1.state_root().await?;
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
    /// A directory of archived blobs (`batch-<n>-<i>.blob`), read before the L1 node: each is
    /// checked against the versioned hash the L1 verified.
    #[arg(long)]
    archive: Option<PathBuf>,
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
        let mut records = 0usize;
        let genesis = Rebuilder::genesis(network.state.clone())?;
        let state = rebuild(
            &network,
            &l1,
            genesis,
            args.archive.as_deref(),
            |batch, blobs, _| {
                records += batch.payload.records.iter().flatten().count();
                match &args.save {
                    Some(dir) => Ok(archive::write(dir, batch.public.batch_number, blobs)?),
                    None => Ok(()),
                }
            },
        )
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
