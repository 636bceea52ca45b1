//! The binary through its command line, as an operator or a trader runs it.

use std::process::Command;

fn zkperp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zkperp"))
        .args(args)
        .output()
        .expect("zkperp runs")
}

#[test]
fn keygen_derives_the_same_key_as_circomlibjs() {
    // First case of state/testdata/circomlibjs/eddsa.json.
    let out = zkperp(&[
        "keygen",
        "--private-key",
        "7cecafdaa24d35056b9da09856f510413999a47ba2e674f38ee6ef007dfee3af",
    ]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        json["public_key"],
        "1f35f98fa170c4db37db78ca2f8dfba1a947289bdd9630d4dfd9bfa0e2822b91"
    );
    assert_eq!(
        json["public_key_x"],
        "19908433092598623271217392080428433717517000294233501878120532206646021150395"
    );
}

#[test]
fn keygen_refuses_malformed_keys_with_a_message() {
    for bad in ["12", "zz".repeat(32).as_str()] {
        let out = zkperp(&["keygen", "--private-key", bad]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--private-key"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn devnet_batches_chain_their_roots() {
    let out = zkperp(&[
        "devnet",
        "--batches",
        "4",
        "--interval-ms",
        "0",
        "--traders",
        "4",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per batch"))
        .collect();
    assert_eq!(lines.len(), 4);
    for pair in lines.windows(2) {
        assert_eq!(pair[0]["new_root"], pair[1]["old_root"]);
        assert_ne!(pair[1]["old_root"], pair[1]["new_root"]);
    }
    assert!(lines
        .iter()
        .any(|l| l["counts"]["trades"].as_u64().unwrap_or(0) > 0));
}

#[test]
fn circuit_stats_reports_the_budgets() {
    let out = zkperp(&["circuit-stats", "--shape", "o1-d1-t1-w1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["poseidon2"], 240);
    assert!(json["eddsa_verify"].as_u64().expect("count") <= 6_000);
    // Production depths by default: a trade slot within 100,000 constraints.
    assert_eq!(json["account_tree_depth"], 32);
    let trade = json["slots"]["trade"].as_u64().expect("count");
    assert!(trade > 50_000 && trade <= 100_000, "trade slot {trade}");
    for kind in [
        "oracle_tick",
        "funding_tick",
        "liquidation",
        "deleverage",
        "deposit",
        "forced_withdrawal",
        "withdrawal",
        "cancel_order",
    ] {
        assert!(json["slots"][kind].as_u64().expect(kind) > 0, "{kind}");
    }
    let batch = json["batch"]["constraints"].as_u64().expect("count");
    assert!(batch > trade + json["batch_overhead"].as_u64().expect("count"));
    assert!(json["exit"].as_u64().expect("count") > 0);
}

#[test]
fn circuit_stats_refuses_a_bad_shape_with_a_message() {
    let out = zkperp(&["circuit-stats", "--shape", "q4"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--shape") && !err.contains("panicked"),
        "{err}"
    );
}
