//! Overload of the REST API ([`Overload::run`]): finds the rate the exchange saturates at,
//! then offers a multiple of it for a bounded time, open loop (each order sent when it is due,
//! never waiting for an earlier answer), and checks what the exchange promises of overload:
//!
//! - every order answered 200 is in the journal at the ticket it was given, exactly;
//! - every other answer is 429 `overloaded` with `Retry-After` (or 422, a rule's refusal,
//!   journaled too); nothing refused for load is journaled; no connection fails;
//! - the accepted orders' latency stays bounded (the intake's size over the service rate);
//! - the process stays up: afterwards every intake place is free and a new order is accepted.
//!
//! The `overload` binary runs it at full size (docs/PERFORMANCE.md); the test suite runs a
//! short version (`benches/tests/overload.rs`). The stack is [`ApiStack`]; its clients share
//! the machine with the server.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{percentile_ms, ApiStack};
use serde_json::{json, Value};
use zkperp_core::command::Command;
use zkperp_state::order::SignedOrder;

/// Connections the open-loop generator holds beyond the intake's size.
const CONNECTIONS_OVER_INTAKE: usize = 512;

/// One answered request.
struct Answer {
    index: usize,
    status: u16,
    /// From sending to the answer.
    latency: Duration,
    /// From when it was due to when it was sent (waiting for a free connection).
    queued: Duration,
    body: Value,
    retry_after: bool,
}

async fn post(http: &reqwest::Client, url: &str, index: usize, body: String) -> Answer {
    let t = Instant::now();
    let sent = http
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let (status, retry_after, body) = match sent {
        Ok(r) => {
            let status = r.status().as_u16();
            let retry_after = r.headers().contains_key("retry-after");
            let body = r.json::<Value>().await.unwrap_or(Value::Null);
            (status, retry_after, body)
        }
        Err(_) => (0, false, Value::Null),
    };
    Answer {
        index,
        status,
        latency: t.elapsed(),
        queued: Duration::ZERO,
        body,
        retry_after,
    }
}

/// One overload run's parameters.
#[derive(Debug, Clone)]
pub struct Overload {
    /// How long the overload is offered.
    pub seconds: u64,
    /// The offered rate, as a multiple of the measured saturation rate (below 1: a load the
    /// exchange can carry, where the acknowledgement latency is the figure).
    pub multiple: f64,
    /// Clients of the closed-loop run that measures saturation.
    pub clients: usize,
    /// The share of orders that cross (each a fill).
    pub cross_pct: usize,
    pub trades_per_batch: usize,
    /// The hub's intake (`None`: its default).
    pub intake: Option<usize>,
    pub traders: usize,
    /// Orders of the closed-loop run that measures the saturation rate.
    pub saturation_orders: usize,
}

impl Overload {
    /// Runs it; the report, with `"violations"`: the checks that failed (none, if all held).
    pub fn run(&self) -> Value {
        let Overload {
            seconds,
            multiple,
            clients,
            cross_pct,
            trades_per_batch,
            intake,
            traders,
            saturation_orders: saturation_count,
        } = self.clone();
        assert!(
            traders > 0 && saturation_count > 0,
            "an overload run needs traders and orders"
        );
        let stack = ApiStack::new(traders, trades_per_batch);
        let intake = intake.unwrap_or(stack.hub.intake_limit()).max(1);
        stack.hub.set_intake_limit(intake);
        let saturation_orders = stack.orders(saturation_count, cross_pct, 0);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let url = runtime.block_on(async { format!("{}/v1/orders", stack.serve().await) });
        let http = reqwest::Client::new();

        // 1. Saturation: closed loop, each client sends its next order when the last is answered.
        let bodies: Arc<Vec<String>> =
            Arc::new(saturation_orders.into_iter().map(|o| o.1).collect());
        let started = Instant::now();
        runtime.block_on(async {
            let tasks: Vec<_> = (0..clients)
                .map(|c| {
                    let (bodies, url, http) = (bodies.clone(), url.clone(), http.clone());
                    tokio::spawn(async move {
                        for (i, body) in bodies.iter().enumerate().skip(c).step_by(clients) {
                            let a = post(&http, &url, i, body.clone()).await;
                            assert_eq!(a.status, 200, "saturation run: {}", a.body);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("client");
            }
        });
        let saturation = saturation_count as f64 / started.elapsed().as_secs_f64();

        // 2. Overload: `multiple` times that rate, open loop, for `seconds`.
        let offered_rate = saturation * multiple;
        let count = (offered_rate * seconds as f64) as usize;
        let first_id = (saturation_count / traders + 1) as u64;
        let orders: Vec<(SignedOrder, String)> = stack.orders(count, cross_pct, first_id);
        let (journal_before, sealed_before) = stack
            .hub
            .with_sequencer(|s| (s.journal_len(), s.engine().state().batches_sealed()));
        eprintln!(
            "saturation {saturation:.0} orders/s; offering {offered_rate:.0}/s for {seconds} s (pid {})",
            std::process::id()
        );
        // Persistent connections, more than the intake holds (so the server, not the client, is
        // what refuses), opened before the clock starts. Each order is due at its time in the
        // schedule and queues at the client until a connection is free; its latency counts from
        // when it was due (no coordinated omission: a slow server cannot slow the offer).
        let connections = intake + CONNECTIONS_OVER_INTAKE;
        let base = url.trim_end_matches("/v1/orders").to_string();
        runtime.block_on(async {
            let warm: Vec<_> = (0..connections)
                .map(|_| {
                    let (http, base) = (http.clone(), base.clone());
                    tokio::spawn(async move { http.get(format!("{base}/v1/info")).send().await })
                })
                .collect();
            for w in warm {
                let _ = w.await;
            }
        });
        let orders = Arc::new(orders);
        let peak_intake = Arc::new(AtomicUsize::new(0));
        let (answers, window) = runtime.block_on(async {
            let (due_tx, due_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
            let due_rx = Arc::new(tokio::sync::Mutex::new(due_rx));
            let workers: Vec<_> = (0..connections)
                .map(|_| {
                    let (http, url, orders, due_rx) =
                        (http.clone(), url.clone(), orders.clone(), due_rx.clone());
                    let (peak, hub) = (peak_intake.clone(), stack.hub.clone());
                    tokio::spawn(async move {
                        let mut out = Vec::new();
                        loop {
                            let next = due_rx.lock().await.recv().await;
                            let Some((index, due)) = next else { break };
                            peak.fetch_max(hub.in_flight(), Ordering::AcqRel);
                            let queued = due.elapsed();
                            let mut a = post(&http, &url, index, orders[index].1.clone()).await;
                            a.queued = queued;
                            out.push(a);
                        }
                        out
                    })
                })
                .collect();
            let started = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            let mut sent = 0;
            while sent < count {
                tick.tick().await;
                let due = ((started.elapsed().as_secs_f64() * offered_rate) as usize).min(count);
                while sent < due {
                    let at = started + Duration::from_secs_f64(sent as f64 / offered_rate);
                    due_tx.send((sent, at)).expect("workers");
                    sent += 1;
                }
            }
            drop(due_tx);
            let mut answers = Vec::with_capacity(count);
            for w in workers {
                answers.extend(w.await.expect("client"));
            }
            (answers, started.elapsed().as_secs_f64())
        });

        // 3. The checks.
        let mut violations: Vec<String> = Vec::new();
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        let mut accepted = Vec::new();
        let mut accepted_service = Vec::new();
        let mut refused = Vec::new();
        for a in &answers {
            *statuses.entry(a.status).or_default() += 1;
            match a.status {
                200 => {
                    accepted.push(a.queued + a.latency);
                    accepted_service.push(a.latency);
                    let journaled = a.body["ticket"].as_u64().and_then(|ticket| {
                        stack
                            .hub
                            .with_sequencer(|s| s.journaled(ticket))
                            .ok()
                            .flatten()
                    });
                    let order = &orders[a.index].0;
                    if !matches!(&journaled, Some(Command::Submit { order: o, .. }) if o == order) {
                        violations.push(format!(
                            "order {} was acknowledged (ticket {}) but its ticket does not hold it",
                            a.index, a.body["ticket"]
                        ));
                    }
                }
                422 => {}
                429 => {
                    refused.push(a.latency);
                    if !a.retry_after || a.body["code"] != "overloaded" {
                        violations.push(format!(
                            "a 429 without Retry-After or code `overloaded`: {}",
                            a.body
                        ));
                    }
                }
                other => violations.push(format!("order {} answered {other}: {}", a.index, a.body)),
            }
        }
        let (journal_after, sealed_after) = stack
            .hub
            .with_sequencer(|s| (s.journal_len(), s.engine().state().batches_sealed()));
        let journaled = (journal_after - journal_before) as usize;
        let answered_journaled =
            statuses.get(&200).unwrap_or(&0) + statuses.get(&422).unwrap_or(&0);
        if journaled != answered_journaled {
            violations.push(format!(
                "the journal grew by {journaled} commands; {answered_journaled} orders were answered 200 or 422"
            ));
        }
        if stack.hub.in_flight() != 0 {
            violations.push(format!(
                "{} intake places still held after every answer",
                stack.hub.in_flight()
            ));
        }
        let after = stack.orders(1, 0, first_id + (count / traders + 1) as u64);
        let last = runtime.block_on(post(&http, &url, 0, after[0].1.clone()));
        if last.status != 200 {
            violations.push(format!(
                "after the overload a new order was answered {}: {}",
                last.status, last.body
            ));
        }
        accepted.sort();
        accepted_service.sort();
        refused.sort();
        let ok = statuses.get(&200).copied().unwrap_or(0);
        json!({
            "seconds": seconds,
            "multiple": multiple,
            "cross_pct": cross_pct,
            "trades_per_batch": trades_per_batch,
            "intake_limit": stack.hub.intake_limit(),
            "saturation_orders_per_sec": saturation,
            "offered_orders_per_sec": offered_rate,
            "offered": count,
            "connections": connections,
            "window_secs": window,
            "accepted_per_sec": ok as f64 / window,
            "statuses": statuses,
            "accepted_p50_ms": percentile_ms(&accepted, 50),
            "accepted_p99_ms": percentile_ms(&accepted, 99),
            "accepted_max_ms": accepted.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            "accepted_service_p50_ms": percentile_ms(&accepted_service, 50),
            "accepted_service_p99_ms": percentile_ms(&accepted_service, 99),
            "refused_service_p99_ms": percentile_ms(&refused, 99),
            "peak_intake": peak_intake.load(Ordering::Acquire),
            "batches_sealed": sealed_after - sealed_before,
            "violations": violations,
        })
    }
}
