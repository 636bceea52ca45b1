//! Overload bench of the REST API ([`Overload`]: the saturation rate, then a multiple of it
//! offered open loop, and every check of what overload must not break).
//!
//! `cargo run --release -p zkperp-benches --bin overload -- [seconds] [multiple] [clients] [cross %] [trades per batch] [intake]`
//!
//! The multiple may be a fraction (`0.5`: half the saturation rate, where the acknowledgement
//! latency is the figure). Defaults: 5 s at 4x, 16 clients for the saturation run, 10% crossing, 256 trades a batch
//! (so seals, made inline by the fill that finds its batch full, are in both rates), the hub's
//! default intake (`zkperp_sequencer::hub::INTAKE_LIMIT`), 64 traders. Prints one JSON line; exits 1
//! if a check fails. Figures: docs/PERFORMANCE.md.

use zkperp_benches::arg;
use zkperp_benches::overload::Overload;

fn main() {
    let report = Overload {
        seconds: arg(1, 5).max(1),
        multiple: std::env::args()
            .nth(2)
            .and_then(|a| a.parse::<f64>().ok())
            .filter(|m| *m > 0.0)
            .unwrap_or(4.0),
        clients: arg(3, 16).max(1) as usize,
        cross_pct: arg(4, 10).min(100) as usize,
        trades_per_batch: arg(5, 256).max(1) as usize,
        intake: std::env::args().nth(6).and_then(|a| a.parse().ok()),
        traders: 64,
        saturation_orders: 4_000,
    }
    .run();
    println!("{report}");
    if report["violations"]
        .as_array()
        .is_some_and(|v| !v.is_empty())
    {
        std::process::exit(1);
    }
}
