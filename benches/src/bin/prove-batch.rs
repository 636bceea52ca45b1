//! Proving bench: key generation, proof and verification of one batch filled with trades, at
//! the given depths. Prints one JSON line; `docs/PERFORMANCE.md` has the figures and command.
//!
//! `cargo run --release -p zkperp-benches --bin prove-batch -- [trades] [account depth] [order depth]`

use std::sync::Arc;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkperp_prover::{check_satisfied, prove, setup, verify};
use zkperp_state::batch::Shape;
use zkperp_state::order::Side;
use zkperp_state::testkit::{btc, ts, Fixture, START};

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let trades = arg(1, 4) as u16;
    let account_depth = arg(2, 32) as u8;
    let order_depth = arg(3, 16) as u8;
    let traders = 2 * usize::from(trades).max(1);
    let mut f = Fixture::with_depths(traders, account_depth, order_depth);
    for t in 0..traders {
        f.deposit(t, 1_000_000_000);
    }
    f.state.end_batch().expect("seal 1");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    for i in 0..usize::from(trades) {
        let buy = f.order(2 * i, btc(), Side::Buy, 10, 500_000);
        let sell = f.order(2 * i + 1, btc(), Side::Sell, 10, 500_000);
        f.apply(Fixture::trade_tx_with_fees(
            sell, buy, 10, 500_000, 0, 1_000,
        ))
        .expect("trade");
    }
    let batch = f.state.end_batch().expect("seal 2");
    let shape = Shape {
        trades,
        ..Shape::default()
    };
    let config = Arc::new(f.state.config().clone());
    let constraints = zkperp_circuits::stats::batch_constraints(&config, shape).expect("count");
    let circuit =
        zkperp_circuits::batch::BatchCircuit::new(config.clone(), shape, &batch).expect("witness");
    let commitment = circuit.commitment.expect("commitment");
    check_satisfied(circuit.clone()).expect("satisfied");
    let mut rng = ChaCha20Rng::seed_from_u64(1);

    let t = Instant::now();
    let blank = zkperp_circuits::batch::BatchCircuit::blank(config, shape).expect("blank");
    let pk = setup(blank, &mut rng).expect("setup");
    let setup_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let proof = prove(&pk, circuit, &mut rng).expect("prove");
    let prove_s = t.elapsed().as_secs_f64();

    let pvk = ark_groth16_prepare(&pk);
    let t = Instant::now();
    assert!(verify(&pvk, &[commitment], &proof));
    let verify_ms = t.elapsed().as_secs_f64() * 1e3;

    println!(
        "{}",
        serde_json::json!({
            "shape": shape.id(),
            "account_tree_depth": account_depth,
            "order_tree_depth": order_depth,
            "constraints": constraints,
            "setup_s": (setup_s * 100.0).round() / 100.0,
            "prove_s": (prove_s * 100.0).round() / 100.0,
            "us_per_constraint": (prove_s * 1e6 / constraints as f64 * 100.0).round() / 100.0,
            "verify_ms": (verify_ms * 10.0).round() / 10.0,
            "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        })
    );
}

fn ark_groth16_prepare(
    pk: &zkperp_prover::ProvingKey,
) -> ark_groth16::PreparedVerifyingKey<ark_bn254::Bn254> {
    ark_groth16::prepare_verifying_key(&pk.vk)
}
