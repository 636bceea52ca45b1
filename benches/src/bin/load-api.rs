//! Load bench of the REST API: signed orders over HTTP on loopback into the real stack (axum,
//! the hub, the sequencer with its RocksDB journal synced before every acknowledgement, the
//! engine and the state machine at production tree depths). Prints one JSON line: orders per
//! second and the acknowledgement latency percentiles. Figures: docs/PERFORMANCE.md.
//!
//! `cargo run --release -p zkperp-benches --bin load-api -- [orders] [clients] [cross %]`
//!
//! Orders are signed before the clock starts (signing is the client's work). A `cross %` share
//! are immediate-or-cancel sells at the best bid (each a fill through the state machine); the
//! rest are bids resting below the mark.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use zkperp_api::hub::Hub;
use zkperp_api::{router, Services};
use zkperp_benches::arg;
use zkperp_sequencer::book::{SelfTradePrevention, TimeInForce};
use zkperp_sequencer::engine::OrderOptions;
use zkperp_sequencer::journal::Command;
use zkperp_sequencer::pipeline::BatchStore;
use zkperp_sequencer::sequencer::{Sequencer, SequencerConfig};
use zkperp_sequencer::testkit::FEES;
use zkperp_sequencer::verified::VerifiedState;
use zkperp_state::order::Side;
use zkperp_state::testkit::{btc, eth, ts, Fixture, START};

const TRADERS: usize = 16;

fn main() {
    let orders = arg(1, 5_000) as usize;
    let clients = arg(2, 16).max(1) as usize;
    let cross_pct = arg(3, 10).min(100) as usize;
    let dir = tempfile::tempdir().expect("tmp");
    let mut f = Fixture::with_depths(TRADERS, 32, 16);
    let config = f.state.config().clone();
    let shape = "o2-f1-l1-x1-d32-fw1-fc1-ft1-t4096-w1-c1"
        .parse()
        .expect("shape");
    let sequencer = Sequencer::open(
        &dir.path().join("journal"),
        &SequencerConfig {
            state: config.clone(),
            fees: FEES,
            shape,
        },
    )
    .expect("sequencer");
    let hub = Arc::new(Hub::new(sequencer));
    let run = |command: Command| hub.execute(command).expect("journaled");
    run(Command::BeginBatch {
        timestamp: ts(START),
    });
    for (market, price) in [(btc(), 500_000), (eth(), 3_000_000)] {
        run(Command::Apply {
            tx: f.oracle_tick_tx(market, [price - 1, price, price + 1]),
        });
    }
    for t in 0..TRADERS {
        run(Command::Apply {
            tx: f.deposit_tx(t, 100_000_000_000),
        });
        f.deposit(t, 100_000_000_000);
    }

    // Every order signed up front: rests below the mark, or crosses the best bid.
    let bodies: Vec<String> = (0..orders)
        .map(|i| {
            let t = i % TRADERS;
            let cross = i % 100 < cross_pct;
            let (side, price, tif) = if cross {
                (Side::Sell, 490_000, TimeInForce::ImmediateOrCancel)
            } else {
                (
                    Side::Buy,
                    499_000 - (i % 500) as u64,
                    TimeInForce::GoodTillCancelled,
                )
            };
            let order = f.order(t, btc(), side, 1, price);
            let options = OrderOptions {
                time_in_force: tif,
                reduce_only: false,
                self_trade: SelfTradePrevention::CancelIncoming,
            };
            json!({"order": order, "options": options}).to_string()
        })
        .collect();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let batches = Arc::new(BatchStore::open(&dir.path().join("batches")).expect("store"));
    let verified = Arc::new(Mutex::new(
        VerifiedState::open(&dir.path().join("verified"), &config).expect("verified"),
    ));
    let services = Services {
        hub: hub.clone(),
        batches,
        verified,
        oracle: Arc::new(Mutex::new(zkperp_sequencer::oracle::OracleBook::new(
            &config,
        ))),
        archive: None,
        info: json!({}),
    };
    let (secs, mut latencies, statuses) = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/v1/orders", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router(services)).await });
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
    let pct = |p: usize| {
        latencies
            .get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "{}",
        json!({
            "orders": orders,
            "clients": clients,
            "cross_pct": cross_pct,
            "secs": secs,
            "orders_per_sec": orders as f64 / secs,
            "p50_ms": pct(50),
            "p99_ms": pct(99),
            "max_ms": latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            "statuses": statuses,
        })
    );
}
