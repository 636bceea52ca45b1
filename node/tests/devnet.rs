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
            "--funding-secs",
            "0",
            "--data-dir",
        ])
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the zkperp binary runs");
    let stdout = child.stdout.take().expect("stdout");
    let mut events: Vec<serde_json::Value> = Vec::new();
    let mut api = String::new();
    let mut checked_api = false;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = reqwest::Client::new();
    let get = |url: String, headers: Vec<(&'static str, String)>| -> (u16, serde_json::Value) {
        runtime.block_on(async {
            let mut request = client.get(url);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let r = request.send().await.expect("the API answers");
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
            let (status, batch) = get(format!("{api}/v1/batches/1"), vec![]);
            assert_eq!(status, 200, "{batch}");
            assert_eq!(batch["status"]["status"], "verified", "{batch}");
            let (status, markets) = get(format!("{api}/v1/markets"), vec![]);
            assert_eq!(status, 200);
            assert_eq!(markets["markets"].as_array().map(Vec::len), Some(2));
            // The first depositor's exit witness at the verified batch: for its owner only.
            let (status, err) = get(format!("{api}/v1/accounts/2/exit-witness"), vec![]);
            assert_eq!(
                (status, err["code"].as_str()),
                (401, Some("unauthenticated"))
            );
            let trader = events
                .iter()
                .find(|e| e["event"] == "trader" && e["trader"] == 0)
                .expect("trader 0");
            let hex = trader["l2_private_key"].as_str().expect("key");
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(hex.trim_start_matches("0x"), &mut bytes).expect("hex");
            let key = zkperp_state::eddsa::PrivateKey::from_bytes(bytes);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("time")
                .as_secs();
            let account = zkperp_state::units::AccountId::new(2).expect("id");
            let headers = zkperp_api::auth::sign(&key, account, now).to_vec();
            let (status, w) = get(format!("{api}/v1/accounts/2/exit-witness"), headers);
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
    // Marks come from the oracle book, funding from the schedule (every batch here); handed
    // over between batches, each is applied when the next batch begins, none refused.
    let applied: Vec<&serde_json::Value> = of("applied").iter().map(|e| &e["ticket"]).collect();
    assert!(of("mark").len() >= 4 && !of("funding").is_empty());
    for e in of("mark").iter().chain(of("funding").iter()) {
        assert!(applied.contains(&&e["ticket"]), "{e} was applied");
    }
    assert!(of("refused").is_empty(), "{:?}", of("refused"));
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
