//! The exchange as separate services, as deploy/ runs them: an L1 (anvil), `zkperp deploy`
//! once, then `zkperp node` (sequencer, API, prover) and three `zkperp oracle` signers, each a
//! process of its own talking only through the L1 RPC and the API.
//!
//! The oracles' quotes reach the node over HTTP and become marks; a deposit on L1 is credited
//! and proven in a batch the rollup verifies. Then the node is killed with SIGKILL, a second
//! deposit is made while it is down, and the node is started again on the same data directory:
//! it replays its journal, follows the L1 from where the journal left off (the first deposit is
//! not credited twice, the second is credited), proves on, and the rollup's root is the one the
//! node verified. A node given another operator's key, or no proving key, refuses to start.
//!
//! The restarted node proves nothing itself (`--local-provers 0`): a `zkperp prover` process
//! leases its batches through the prover API and sends the proofs back, and the API refuses a
//! wrong token, a malformed proof and an unknown lease with their codes.

mod common;

use std::process::Command;

use common::{free_port, get, now, until, zkperp, Service};
use serde_json::Value;
use zkperp_contracts::alloy::node_bindings::Anvil;
use zkperp_contracts::alloy::signers::local::PrivateKeySigner;
use zkperp_contracts::{anvil_path, L1};
use zkperp_prover::{export, Proof};
use zkperp_state::eddsa::PrivateKey;
use zkperp_state::units::AccountId;

/// One slot of every kind (a shape must have one: the sequencer refuses a shape in which some
/// transaction could never be applied), two oracle ticks for the two markets, and an account
/// table of 8 (the slots could touch 15; the batcher seals a batch whose table is full, and a
/// smaller table proves faster).
const SHAPE: &str = "o2-f1-l1-x1-d1-fw1-fc1-ft1-t1-w1-c1-a8";
const DEPOSIT: u64 = 1_000_000_000; // 1,000 USD

fn hex32(bytes: [u8; 32]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// A one-shot `zkperp` command: its stdout's JSON lines, or its stderr.
fn run(command: &mut Command) -> Result<Vec<Value>, String> {
    let out = command.output().expect("the zkperp binary runs");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("JSON line ({e}): {l}")))
        .collect())
}

/// The first verified batch numbered at least `from`, from the node's events.
fn verified_from(node: &mut Service, secs: u64, from: u64) -> Value {
    node.wait(secs, "a verified batch", |e| {
        e["event"] == "verified" && e["batch"].as_u64() >= Some(from)
    })
}

#[test]
fn separate_services_and_a_node_killed_and_restarted_where_it_stopped() {
    let dir = tempfile::tempdir().expect("tmp");
    let anvil = Anvil::at(anvil_path())
        .port(free_port())
        .try_spawn()
        .expect("anvil runs (scripts/setup.sh installs it)");
    let rpc = anvil.endpoint();
    let l1_key = |i: usize| hex32(anvil.keys()[i].to_bytes().into());
    let l1_addr = |i: usize| anvil.addresses()[i].to_string();
    let key = |seed: u8| PrivateKey::from_bytes([seed; 32]);
    let oracles: Vec<PrivateKey> = (1..=3).map(key).collect();
    let (fund, fees) = (key(10), key(11));
    let traders = [key(20), key(21)];
    let pub_hex = |k: &PrivateKey| hex32(k.public_key().pack());

    // zkperp deploy: keys, verifiers, rollup, a test token minted to the traders.
    let network = dir.path().join("network.json");
    let keys = dir.path().join("keys");
    let mut deploy = zkperp(&["deploy", "--rpc", &rpc, "--shape", SHAPE]);
    deploy
        .args(["--account-depth", "6", "--order-depth", "3"])
        .env("ZKPERP_OPERATOR_KEY", l1_key(0))
        .args(["--fund-key", &pub_hex(&fund), "--fund-owner", &l1_addr(9)])
        .args(["--fee-key", &pub_hex(&fees), "--fee-owner", &l1_addr(8)])
        .args(["--mint", &format!("{}:{DEPOSIT}", l1_addr(1))])
        .args(["--mint", &format!("{}:{DEPOSIT}", l1_addr(2))])
        .arg("--keys-dir")
        .arg(&keys)
        .arg("--out")
        .arg(&network);
    for o in &oracles {
        deploy.args(["--oracle-key", &pub_hex(o)]);
    }
    let events = run(&mut deploy).unwrap_or_else(|e| panic!("zkperp deploy: {e}"));
    let deployed = events
        .iter()
        .find(|e| e["event"] == "deployed")
        .expect("a deployed event")
        .clone();
    let rollup = deployed["rollup"]
        .as_str()
        .expect("rollup")
        .parse()
        .expect("address");
    let block = deployed["block"].as_u64().expect("block");
    let rollup_hex = deployed["rollup"].as_str().expect("rollup").to_string();
    let domain = zkperp_state::domain::SigningDomain {
        chain_id: 31337,
        rollup: zkperp_state::units::L1Address(
            deployed["rollup"]
                .as_str()
                .expect("rollup")
                .parse::<zkperp_contracts::alloy::primitives::Address>()
                .expect("address")
                .into_array(),
        ),
    };

    // A node started with the wrong key or without the deployment's proving key refuses.
    let data = dir.path().join("node");
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let prover_listen = format!("127.0.0.1:{}", free_port());
    const TOKEN: &str = "a-test-prover-token-of-32-characters";
    let node_command = |operator: String, keys_dir: &std::path::Path, remote: bool| {
        let mut c = zkperp(&[
            "node",
            "--batch-secs",
            "3",
            "--max-unproven",
            "2",
            "--snapshot-every",
            "1",
            "--listen",
            &listen,
        ]);
        c.arg("--network")
            .arg(&network)
            .arg("--keys-dir")
            .arg(keys_dir)
            .arg("--data-dir")
            .arg(&data)
            .env("ZKPERP_OPERATOR_KEY", operator);
        if remote {
            c.args(["--local-provers", "0", "--prover-listen", &prover_listen])
                .env("ZKPERP_PROVER_TOKEN", TOKEN);
        }
        c
    };
    let refused = run(&mut node_command(l1_key(1), &keys, false)).expect_err("not the operator");
    assert!(refused.contains("the rollup's operator is"), "{refused}");
    let empty = dir.path().join("no-keys");
    let refused = run(&mut node_command(l1_key(0), &empty, false)).expect_err("no key");
    assert!(refused.contains("no batch proving key"), "{refused}");
    let refused = run(node_command(l1_key(0), &keys, false).args(["--local-provers", "0"]))
        .expect_err("no prover at all");
    assert!(refused.contains("no prover would ever prove"), "{refused}");

    let mut node = Service::spawn(node_command(l1_key(0), &keys, false));
    let started = node.wait(60, "the node", |e| e["event"] == "node");
    let api = started["api"].as_str().expect("api").to_string();
    assert_eq!(started["replayed_commands"], 0, "a fresh data directory");
    let _oracles: Vec<Service> = oracles
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let mut c = zkperp(&[
                "oracle",
                "--api",
                &api,
                "--every",
                "1",
                "--rollup",
                &rollup_hex,
                "--chain-id",
                "31337",
            ]);
            c.args(["--offset", &i.to_string()])
                .env("ZKPERP_ORACLE_KEY", hex::encode(o.to_bytes()));
            Service::spawn(c)
        })
        .collect();
    // The oracles' quotes, posted to the API, become both markets' marks.
    for market in [0, 1] {
        let mark = node.wait(60, "a mark from the oracles", |e| {
            e["event"] == "mark" && e["market"] == market
        });
        assert!(mark["price"].as_u64() > Some(0), "{mark}");
    }

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let deposit = |trader: usize| {
        let l1 = L1::connect(
            &rpc,
            PrivateKeySigner::from(anvil.keys()[trader + 1].clone()),
            rollup,
            block,
        )
        .expect("L1");
        rt.block_on(l1.deposit(traders[trader].public_key().pack(), u32::MAX, DEPOSIT))
            .expect("deposit");
    };
    let account_of = |trader: usize| -> Option<AccountId> {
        let url = format!("{api}/v1/accounts?public_key={}", pub_hex(&traders[trader]));
        let list = get(&rt, url)["accounts"].as_array().cloned()?;
        assert!(list.len() <= 1, "one account per key and owner: {list:?}");
        AccountId::new(list.first()?["account"].as_u64()?).ok()
    };
    let collateral = |trader: usize, id: AccountId| -> String {
        rt.block_on(async {
            let mut request = reqwest::Client::new().get(format!("{api}/v1/accounts/{}", id.get()));
            for (name, value) in zkperp_api::auth::sign(&domain, &traders[trader], id, now()) {
                request = request.header(name, value);
            }
            let body: Value = request
                .send()
                .await
                .expect("API")
                .json()
                .await
                .expect("JSON");
            body["collateral"].as_str().expect("collateral").to_string()
        })
    };

    deposit(0);
    let first = until(60, "the first deposit credited", || account_of(0));
    let batch = node.next_batch();
    verified_from(&mut node, 300, batch);
    let before = collateral(0, first);
    assert_eq!(before.parse::<f64>().ok(), Some(1_000.0), "{before}");

    // A crash: SIGKILL, whatever the node was doing. A deposit arrives while it is down.
    node.kill_hard();
    let verified_before = node
        .events
        .iter()
        .filter(|e| e["event"] == "verified")
        .filter_map(|e| e["batch"].as_u64())
        .max()
        .expect("a batch was verified");
    deposit(1);
    let mut node = Service::spawn(node_command(l1_key(0), &keys, true));
    let restarted = node.wait(60, "the restarted node", |e| e["event"] == "node");
    assert_eq!(restarted["local_provers"], 0, "{restarted}");
    let prover_api = restarted["prover_api"]
        .as_str()
        .expect("the prover API listens")
        .to_string();
    // The prover API refuses strangers and bad proofs with stable codes.
    let post = |path: &str, token: &str, body: Value| -> (u16, Value) {
        rt.block_on(async {
            let r = reqwest::Client::new()
                .post(format!("{prover_api}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("the prover API answers");
            (r.status().as_u16(), r.json().await.unwrap_or_default())
        })
    };
    let (status, body) = post(
        "/v1/prover/lease",
        "wrong",
        serde_json::json!({"prover": "x"}),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let (status, body) = post(
        "/v1/prover/proofs",
        TOKEN,
        serde_json::json!({"lease": "00", "proof": "0x1234"}),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("malformed_proof")),
        "{body}"
    );
    // A well-formed proof (three points at infinity) under a lease that was never issued.
    let zero_proof = format!("0x{}", hex::encode(export::proof_bytes(&Proof::default())));
    let (status, body) = post(
        "/v1/prover/proofs",
        TOKEN,
        serde_json::json!({"lease": "00", "proof": zero_proof}),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("unknown_lease")),
        "{body}"
    );
    let (status, body) = post(
        "/v1/prover/release",
        TOKEN,
        serde_json::json!({"lease": "00", "reason": "test"}),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("unknown_lease")),
        "{body}"
    );
    let queue = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{prover_api}/v1/prover/status"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("the prover API answers")
            .json::<Value>()
            .await
            .expect("JSON")
    });
    assert_eq!(queue["shape"], SHAPE, "{queue}");
    assert!(queue["batches"].is_array(), "{queue}");
    // The remote prover proves from here on.
    let mut remote = {
        let mut c = zkperp(&["prover", "--node", &prover_api, "--name", "remote-1"]);
        c.arg("--network")
            .arg(&network)
            .arg("--keys-dir")
            .arg(&keys)
            .env("ZKPERP_PROVER_TOKEN", TOKEN);
        Service::spawn(c)
    };
    assert!(
        restarted["replayed_commands"].as_u64() > Some(0),
        "{restarted}"
    );
    assert_eq!(
        restarted["next_in_queue"]["deposit"], 1,
        "the journal took deposit 0: {restarted}"
    );
    assert!(restarted["verified_batch"].as_u64() >= Some(verified_before));
    // It came back from a snapshot at or before the verified batch, not from genesis.
    let restored = restarted["snapshot"]["batches_sealed"].as_u64();
    assert!(
        restored.is_some() && restored <= restarted["verified_batch"].as_u64(),
        "{restarted}"
    );
    assert_eq!(
        restarted["skipped_snapshots"],
        serde_json::json!([]),
        "{restarted}"
    );

    let second = until(60, "the second deposit credited", || account_of(1));
    assert_ne!(second, first);
    assert_eq!(
        account_of(0),
        Some(first),
        "the first deposit made no second account"
    );
    assert_eq!(
        collateral(0, first),
        before,
        "the first deposit is not credited twice"
    );
    let batch = node.next_batch();
    let last = verified_from(&mut node, 300, batch);
    let proved = remote.wait(60, "a proof from the remote prover", |e| {
        e["event"] == "proved" && e["accepted"] == true
    });
    assert!(proved["batch"].as_u64() > Some(verified_before), "{proved}");
    let record = get(&rt, format!("{api}/v1/batches/{}", proved["batch"]));
    assert_eq!(record["status"]["status"], "verified", "{record}");
    remote.terminate();

    // Every batch the node sealed, before and after the crash, is verified, in order.
    let batches = get(&rt, format!("{api}/v1/batches"));
    let list = batches["batches"].as_array().expect("batches");
    for (i, b) in list.iter().enumerate() {
        assert_eq!(b["number"].as_u64(), Some(i as u64 + 1), "{b}");
    }
    let last_number = last["batch"].as_u64().expect("number");
    assert!(list
        .iter()
        .take(last_number as usize)
        .all(|b| b["status"]["status"] == "verified"));

    node.terminate();
    node.expect_clean_stop();
    let l1 = L1::connect(
        &rpc,
        PrivateKeySigner::from(anvil.keys()[0].clone()),
        rollup,
        block,
    )
    .expect("L1");
    let l1_root = rt.block_on(l1.state_root()).expect("root").to_string();
    let applied = rt.block_on(l1.batch_count()).expect("count");
    assert!(applied >= last_number, "{applied} batches applied on L1");
    let sealed_root = node
        .events
        .iter()
        .find(|e| e["event"] == "sealed" && e["batch"] == applied)
        .map(|e| e["new_root"].clone())
        .or_else(|| {
            list.iter()
                .find(|b| b["number"] == applied)
                .map(|b| b["new_root"].clone())
        })
        .expect("the node sealed the L1's last batch");
    assert_eq!(
        Some(l1_root.as_str()),
        sealed_root.as_str(),
        "the rollup's root is the one the node sealed for its last batch"
    );
}
