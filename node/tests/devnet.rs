//! `zkperp devnet` end to end, as an operator runs it: anvil from the project's npm install,
//! the contracts deployed from Rust, traders depositing on L1, the sequencer sealing batches
//! with oracle ticks and trades, real Groth16 proofs verified on L1, and the rollup's root equal
//! to the sequencer's verified root when it stops, with the REST API serving the verified batch
//! and an exit witness while it runs. Small shape and depths to keep CI short.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
fn the_devnet_proves_and_verifies_batches_on_its_l1() {
    let data = tempfile::tempdir().expect("tmp");
    let port = free_port().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zkperp"))
        .args([
            "devnet",
            "--batches",
            "2",
            "--batch-secs",
            "2",
            "--shape",
            "o2-f1-l1-x1-d5-fw1-t2-w1-c1",
            "--account-depth",
            "6",
            "--order-depth",
            "3",
            "--port",
            &port,
            "--api-port",
            "0",
            "--data-dir",
        ])
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the zkperp binary runs");
    let stdout = child.stdout.take().expect("stdout");
    let mut events = Vec::new();
    let mut api = String::new();
    let mut checked_api = false;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let get = |url: String| -> (u16, serde_json::Value) {
        runtime.block_on(async {
            let r = reqwest::get(url).await.expect("the API answers");
            (r.status().as_u16(), r.json().await.expect("JSON"))
        })
    };
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("utf-8");
        let event: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("every stdout line is JSON ({e}): {line}"));
        if event["event"] == "api" {
            api = event["url"].as_str().expect("url").to_string();
        }
        // While the devnet runs: the first verified batch is served by its API.
        if event["event"] == "verified" && !checked_api {
            checked_api = true;
            let (status, batch) = get(format!("{api}/v1/batches/1"));
            assert_eq!(status, 200, "{batch}");
            assert_eq!(batch["status"]["status"], "verified", "{batch}");
            let (status, markets) = get(format!("{api}/v1/markets"));
            assert_eq!(status, 200);
            assert_eq!(markets["markets"].as_array().map(Vec::len), Some(2));
            // Account 2 (the first depositor) has an exit witness at the verified batch.
            let (status, w) = get(format!("{api}/v1/accounts/2/exit-witness"));
            assert_eq!(status, 200, "{w}");
            assert!(w["batch"].as_u64().is_some_and(|b| b >= 1), "{w}");
        }
        events.push(event);
    }
    assert!(checked_api, "the API was queried during the run");
    let status = child.wait().expect("exit");
    assert!(status.success(), "devnet failed; events: {events:#?}");
    let of = |name: &str| -> Vec<&serde_json::Value> {
        events.iter().filter(|e| e["event"] == name).collect()
    };
    assert_eq!(of("deployed").len(), 1);
    assert_eq!(of("trader").len(), 4);
    assert_eq!(
        of("l1")
            .iter()
            .filter(|e| e["outcome"] == "Applied")
            .count(),
        5,
        "four traders and the insurance fund deposited on L1 and were credited"
    );
    let verified = of("verified");
    assert_eq!(verified.len(), 2);
    assert_eq!(verified[0]["batch"], 1);
    assert_eq!(verified[1]["batch"], 2);
    let sealed = of("sealed");
    assert!(sealed.len() >= 2);
    assert_eq!(sealed[1]["new_root"], verified[1]["new_root"]);
    let stopped = of("stopped");
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0]["l1_root"], stopped[0]["verified_root"]);
    assert_eq!(stopped[0]["l1_root"], verified[1]["new_root"]);
}
