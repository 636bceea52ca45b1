//! Load bench of the REST API: signed orders over HTTP on loopback into the real stack
//! ([`ApiStack`]: axum, the hub, the sequencer with its RocksDB journal synced before every
//! acknowledgement, the engine and the state machine at production tree depths), from
//! `clients` clients each sending its next order when the last is answered. Prints one JSON
//! line: orders per second and the acknowledgement latency percentiles. Figures:
//! docs/PERFORMANCE.md.
//!
//! `cargo run --release -p zkperp-benches --bin load-api -- [orders] [clients] [cross %] [trades per batch]`
//!
//! Orders are signed before the clock starts (signing is the client's work). A `cross %` share
//! are immediate-or-cancel sells at the best bid (each a fill through the state machine); the
//! rest are bids resting below the mark. With fewer trades per batch than fills (default 4,096:
//! none) the rate includes the seals, each made inline by the fill that finds its batch full.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use zkperp_benches::{arg, percentile_ms, ApiStack};

const TRADERS: usize = 16;

fn main() {
    let orders = arg(1, 5_000) as usize;
    let clients = arg(2, 16).max(1) as usize;
    let cross_pct = arg(3, 10).min(100) as usize;
    let trades_per_batch = arg(4, 4_096).max(1) as usize;
    let stack = ApiStack::new(TRADERS, trades_per_batch);
    let bodies: Vec<String> = stack
        .orders(orders, cross_pct, 0)
        .into_iter()
        .map(|(_, body)| body)
        .collect();
    let sealed_before = stack
        .hub
        .with_sequencer(|s| s.engine().state().batches_sealed());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (secs, mut latencies, statuses) = runtime.block_on(async {
        let url = format!("{}/v1/orders", stack.serve().await);
        let bodies = Arc::new(bodies);
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let (bodies, url) = (bodies.clone(), url.clone());
                tokio::spawn(async move {
                    let http = reqwest::Client::new();
                    let mut out = Vec::new();
                    for body in bodies.iter().skip(c).step_by(clients) {
                        let t = Instant::now();
                        let r = http
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(body.clone())
                            .send()
                            .await
                            .expect("the API answers");
                        let status = r.status().as_u16();
                        let _ = r.bytes().await;
                        out.push((t.elapsed(), status));
                    }
                    out
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.expect("client"));
        }
        let secs = started.elapsed().as_secs_f64();
        let mut statuses = std::collections::BTreeMap::new();
        for (_, s) in &all {
            *statuses.entry(*s).or_insert(0u64) += 1;
        }
        let latencies: Vec<Duration> = all.into_iter().map(|(d, _)| d).collect();
        (secs, latencies, statuses)
    });
    latencies.sort();
    let sealed = stack
        .hub
        .with_sequencer(|s| s.engine().state().batches_sealed())
        - sealed_before;
    println!(
        "{}",
        json!({
            "orders": orders,
            "clients": clients,
            "cross_pct": cross_pct,
            "trades_per_batch": trades_per_batch,
            "batches_sealed": sealed,
            "secs": secs,
            "orders_per_sec": orders as f64 / secs,
            "p50_ms": percentile_ms(&latencies, 50),
            "p99_ms": percentile_ms(&latencies, 99),
            "max_ms": latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            "statuses": statuses,
        })
    );
}
