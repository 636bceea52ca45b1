//! The overload bench, short: one second at four times the saturation rate into an intake
//! of 16, and every check the full run makes (`benches/src/overload.rs`): every 200 journaled
//! at its ticket, every refusal a 429 with `Retry-After`, nothing refused journaled, every
//! place given back, the exchange serving afterwards.

use zkperp_benches::overload::Overload;

#[test]
fn four_times_the_saturation_rate_is_answered_and_nothing_acknowledged_is_lost() {
    let report = Overload {
        seconds: 1,
        multiple: 4.0,
        clients: 8,
        cross_pct: 10,
        trades_per_batch: 32,
        intake: Some(16),
        traders: 8,
        saturation_orders: 400,
    }
    .run();
    println!("{report}");
    assert_eq!(report["violations"], serde_json::json!([]), "{report}");
    let status = |code: &str| report["statuses"][code].as_u64().unwrap_or(0);
    assert!(
        status("200") > 0 && status("429") > 0,
        "some accepted and some refused for load: {report}"
    );
}
