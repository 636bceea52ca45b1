//! `zkperp circuit-stats`: constraint counts as JSON, for budgets and docs/PERFORMANCE.md.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use zkperp_circuits::stats;
use zkperp_state::batch::Shape;
use zkperp_state::testkit::Fixture;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Depth of the account tree (production: 32).
    #[arg(long, default_value_t = 32)]
    account_depth: u8,
    /// Depth of each account's orders tree (production: 16).
    #[arg(long, default_value_t = 16)]
    order_depth: u8,
    /// The batch shape to count in full, as `o1-f1-l1-x1-d2-fw1-fc1-ft1-t4-w1-c1` (kind letter, count).
    #[arg(long, default_value = "o2-f2-l1-x1-d2-fw1-fc1-ft1-t4-w1-c1")]
    shape: String,
}

pub fn run(args: &Args) -> Result<()> {
    let shape: Shape = args
        .shape
        .parse()
        .map_err(|e: String| anyhow!("--shape: {e}"))?;
    // The devnet's two markets (BTC-USD, ETH-USD), at the requested depths.
    let fixture = Fixture::with_depths(0, args.account_depth, args.order_depth);
    let config = Arc::new(fixture.state.config().clone());
    config.validate().map_err(|e| anyhow!("{e}"))?;
    let slots = stats::slot_costs(&config)?;
    let empty = stats::batch_constraints(&config, Shape::default())?;
    let batch = stats::batch_constraints(&config, shape)?;
    let out = serde_json::json!({
        "account_tree_depth": args.account_depth,
        "order_tree_depth": args.order_depth,
        "markets": config.markets.len(),
        "poseidon2": stats::poseidon2_constraints()?,
        "eddsa_verify": stats::eddsa_constraints()?,
        "slots": slots
            .iter()
            .map(|s| (s.kind.to_string(), serde_json::json!(s.constraints)))
            .collect::<serde_json::Map<_, _>>(),
        "batch_overhead": empty,
        "table_entry": stats::table_entry_cost(&config)?,
        "exit": stats::constraints(zkperp_circuits::exit::ExitCircuit::blank(config.clone()))?,
        "batch": {
            "shape": shape.id(),
            "constraints": batch,
            "pubdata_bytes": shape.pubdata_len(config.markets.len()),
            "payload_elements": zkperp_state::da::payload_len(&shape, config.markets.len()),
            "blobs": shape.blobs(config.markets.len()),
        },
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
