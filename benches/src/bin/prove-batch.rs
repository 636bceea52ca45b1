//! Proving bench: key generation, proof and verification of one batch filled with trades, at
//! the given depths. Prints one JSON line; `docs/PERFORMANCE.md` has the figures and command.
//!
//! `cargo run --release -p zkperp-benches --bin prove-batch -- [trades] [account depth] [order depth]`

use std::sync::Arc;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkperp_benches::{arg, trades_batch};
use zkperp_prover::{check_satisfied, prove, setup, verify};
use zkperp_state::batch::Shape;

fn main() {
    let trades = arg(1, 4) as u16;
    let account_depth = arg(2, 32) as u8;
    let order_depth = arg(3, 16) as u8;
    let (f, batch) = trades_batch(usize::from(trades), account_depth, order_depth);
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
