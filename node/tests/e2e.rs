//! The exchange end to end through its public interfaces only: the devnet process (the
//! contracts, the sequencer, real Groth16 proofs, the API) on an anvil it does not own, the
//! `zkperp wallet` CLI, the REST API, the WebSocket and the L1 RPC.
//!
//! Two traders bring their own Ethereum keys (anvil accounts the devnet funded with test
//! collateral), derive their trading keys from them, deposit on L1 and trade with each other
//! through the API; the maker sees the fill on the WebSocket; the batch is proven and verified
//! on L1 (the rollup's root is the API's verified root). The taker withdraws and claims the
//! tokens on L1. Then the maker, holding a position and a resting order, requests a forced
//! cancel, a forced trade the taker signed (closing its position) and a forced withdrawal, all
//! of which the operator censors; past the deadline the operator's own watch reports them
//! overdue. The operator then stops, API and all. With nothing but the L1 (calldata and blobs)
//! and their keys, anyone freezes the rollup and rebuilds its state, and each trader proves its
//! exit on its own machine and is paid exactly its account value at the last verified batch,
//! once.

mod common;

use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use common::{free_port, get, now, until, Service};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use zkperp_contracts::alloy::primitives::{Address, U256};
use zkperp_contracts::alloy::signers::local::PrivateKeySigner;
use zkperp_contracts::L1;
use zkperp_state::eddsa::PrivateKey;
use zkperp_state::units::AccountId;

type Devnet = Service;

/// `zkperp wallet ...` as trader `eth_key`; its JSON output, or its error message.
fn wallet(api: &str, eth_key: &str, args: &[&str]) -> Result<Value, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_zkperp"))
        .arg("wallet")
        .args(args)
        .env("ZKPERP_API", api)
        .env("ZKPERP_ETH_KEY", eth_key)
        .env_remove("ZKPERP_KEY")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the zkperp binary runs");
    if out.status.success() {
        serde_json::from_slice(&out.stdout).map_err(|e| format!("not JSON ({e})"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// An API address nothing listens on: the wallet commands given it must not need the API.
const NO_API: &str = "http://127.0.0.1:9";

fn ok(result: Result<Value, String>, what: &str) -> Value {
    result.unwrap_or_else(|e| panic!("{what}: {e}"))
}

#[test]
fn two_traders_trade_withdraw_and_after_a_freeze_exit_on_their_own() {
    let data = tempfile::tempdir().expect("tmp");
    // The L1 is not the operator's: it outlives the devnet, which deploys to it.
    let anvil = zkperp_contracts::alloy::node_bindings::Anvil::at(zkperp_contracts::anvil_path())
        .port(free_port())
        .try_spawn()
        .expect("anvil starts (scripts/setup.sh installs it)");
    let l1_url = anvil.endpoint();
    let mut command = common::zkperp(&[
        "devnet",
        // Proving a batch takes longer than a period here: with one batch in flight, each is
        // sealed as the one before it is proven, so a transaction waits for at most two
        // proofs.
        "--batch-secs",
        "5",
        "--max-unproven",
        "1",
        "--shape",
        // An account table of 8 (the slots could touch 16): a third smaller circuit, and the
        // batcher seals a batch whose table is full.
        "o2-f1-l1-x1-d2-fw1-fc1-ft1-t1-w1-c1-a8",
        "--account-depth",
        "6",
        "--order-depth",
        "3",
        "--traders",
        "2",
        "--no-market-maker",
        "--censor-forced",
        "--l1",
        &l1_url,
        "--api-port",
        "0",
        "--data-dir",
    ]);
    command.arg(data.path());
    let mut devnet = Service::spawn(command);
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    let deployed = devnet.wait(300, "deployment", |e| e["event"] == "deployed");
    let api = devnet.wait(60, "the API", |e| e["event"] == "api")["url"]
        .as_str()
        .expect("url")
        .to_string();
    let eth_of = |devnet: &mut Devnet, index: u64| -> String {
        devnet.wait(60, "a funded L1 account", |e| {
            e["event"] == "l1_account" && e["index"] == index
        })["l1_private_key"]
            .as_str()
            .expect("key")
            .to_string()
    };
    let (maker_eth, taker_eth) = (eth_of(&mut devnet, 3), eth_of(&mut devnet, 4));
    let rpc = deployed["rpc"].as_str().expect("rpc").to_string();
    // Moves the L1's clock on by `secs` and mines a block at the new time.
    let advance_l1 = |secs: u64| {
        rt.block_on(async {
            let client = reqwest::Client::new();
            for (method, params) in [("evm_increaseTime", json!([secs])), ("evm_mine", json!([]))] {
                client
                    .post(&rpc)
                    .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
                    .send()
                    .await
                    .expect("anvil answers");
            }
        })
    };
    let rollup = Address::from_str(deployed["rollup"].as_str().expect("rollup")).expect("address");
    let l1_of = |key: &str| {
        let signer = PrivateKeySigner::from_str(key.trim_start_matches("0x")).expect("key");
        let address = signer.address();
        (L1::connect(&rpc, signer, rollup, 0).expect("L1"), address)
    };
    let (maker_l1, maker_address) = l1_of(&maker_eth);
    let (taker_l1, taker_address) = l1_of(&taker_eth);

    // Trading keys derived from the Ethereum keys; deposits on L1 through the wallet.
    let maker_key = ok(
        wallet(&api, &maker_eth, &["key", "--from-eth-key"]),
        "derive",
    );
    let maker_key = PrivateKey::from_bytes(
        hex::decode(maker_key["private_key"].as_str().expect("hex"))
            .expect("hex")
            .try_into()
            .expect("32 bytes"),
    );
    for key in [&maker_eth, &taker_eth] {
        let d = ok(
            wallet(&api, key, &["deposit", "--amount", "1000"]),
            "deposit",
        );
        assert_eq!(d["amount"], "1000.000000");
    }
    let account_of = |key: &str| {
        until(120, "the deposit credited", || {
            wallet(&api, key, &["account"]).ok()
        })
    };
    let maker_account = account_of(&maker_eth);
    let taker_account = account_of(&taker_eth);
    assert_eq!(maker_account["collateral"], "1000.000000");
    let maker_id = AccountId::new(maker_account["account"].as_u64().expect("id")).expect("id");
    let taker_id = AccountId::new(taker_account["account"].as_u64().expect("id")).expect("id");
    // Every signature is bound to this deployment: chain 31337 and the rollup the devnet
    // deployed, as /v1/info announces.
    let domain = zkperp_state::domain::SigningDomain {
        chain_id: 31337,
        rollup: zkperp_state::units::L1Address(rollup.into_array()),
    };
    let info = get(&rt, format!("{api}/v1/info"));
    assert_eq!(
        info["signing_domain"]["value"].as_str(),
        Some(zkperp_state::field::fr_to_decimal(&domain.value()).as_str()),
        "{info}"
    );

    // The maker follows its account on the WebSocket.
    let ws_url = format!("{}/v1/ws", api.replace("http://", "ws://"));
    let (mut ws, _) = rt
        .block_on(tokio_tungstenite::connect_async(ws_url.as_str()))
        .expect("WebSocket");
    let t = now();
    let signature = maker_key.sign(zkperp_api::auth::read_message(&domain, maker_id, t));
    rt.block_on(
        ws.send(Message::Text(
            json!({"op": "subscribe", "channel": "account", "account": maker_id.get(),
               "timestamp": t, "signature": signature})
            .to_string()
            .into(),
        )),
    )
    .expect("subscribe");

    // They trade 0.01 BTC at the mark, maker resting, taker crossing.
    let markets = get(&rt, format!("{api}/v1/markets"));
    let mark = markets["markets"][0]["mark_price"]
        .as_str()
        .expect("a mark")
        .to_string();
    ok(
        wallet(
            &api,
            &maker_eth,
            &[
                "order", "--market", "BTC-USD", "--side", "buy", "--size", "0.01", "--price", &mark,
            ],
        ),
        "the maker's bid",
    );
    let taken = ok(
        wallet(
            &api,
            &taker_eth,
            &[
                "order", "--market", "BTC-USD", "--side", "sell", "--size", "0.01", "--price",
                &mark, "--tif", "ioc",
            ],
        ),
        "the taker's sell",
    );
    assert_eq!(taken["ack"]["events"][0]["event"], "fill", "{taken}");
    let fill = rt.block_on(async {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
                .await
                .expect("a WebSocket message")
                .expect("open")
                .expect("ok");
            if let Message::Text(text) = msg {
                let v: Value = serde_json::from_str(text.as_str()).expect("JSON");
                if v["channel"] == "fills" {
                    return v;
                }
            }
        }
    });
    assert_eq!(
        (
            fill["fill"]["size"].as_str(),
            fill["fill"]["role"].as_str(),
            fill["fill"]["price"].as_str()
        ),
        (Some("0.0100"), Some("maker"), Some(mark.as_str())),
        "{fill}"
    );
    let fills = ok(wallet(&api, &maker_eth, &["fills"]), "fills");
    assert_eq!(fills["fills"].as_array().map(Vec::len), Some(1));
    // Their collateral after the trade (the taker paid its fee). From here on only funding
    // moves value between them, and funding is zero-sum: whatever the marks and the funding
    // ticks, the two exits must add up to exactly this, less the taker's withdrawal.
    let collateral_units = |key: &str| -> u64 {
        let a = ok(wallet(&api, key, &["account"]), "account");
        let text = a["collateral"].as_str().expect("collateral");
        let (whole, frac) = text.split_once('.').expect("six decimals");
        whole.parse::<u64>().expect("units") * 1_000_000 + frac.parse::<u64>().expect("units")
    };
    let traded_units = collateral_units(&maker_eth) + collateral_units(&taker_eth);

    // The trade's batch is proven and verified: the rollup's root is the API's verified root.
    let verified_after = |target: u64| {
        until(300, &format!("batch {target} verified on L1"), || {
            let list = get(&rt, format!("{api}/v1/batches"));
            let v = list["verified_batch"].as_u64()?;
            eprintln!("waiting for batch {target}: verified {v}");
            (v >= target).then_some(list)
        })
    };
    let trade_batch = devnet.next_batch();
    let list = verified_after(trade_batch);
    let v = list["verified_batch"].as_u64().expect("verified");
    let record = list["batches"]
        .as_array()
        .and_then(|b| b.iter().find(|r| r["number"] == v))
        .expect("the verified batch's record")
        .clone();
    let l1_root = rt.block_on(maker_l1.state_root()).expect("root");
    // The root may move on between the two reads; it is one of the verified batches'.
    let roots: Vec<String> = get(&rt, format!("{api}/v1/batches"))["batches"]
        .as_array()
        .expect("batches")
        .iter()
        .filter(|r| r["status"]["status"] == "verified")
        .map(|r| r["new_root"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        roots.contains(&l1_root.to_string()),
        "L1 root {l1_root} among {roots:?}"
    );
    assert!(record["status"]["status"] == "verified");

    // The taker withdraws 100 USD; once its batch is verified, claims it on L1.
    let w = ok(
        wallet(&api, &taker_eth, &["withdraw", "--amount", "100"]),
        "withdraw",
    );
    assert_eq!(w["amount"], "100.000000", "{w}");
    verified_after(devnet.next_batch());
    let claim = ok(wallet(&api, &taker_eth, &["claim"]), "claim");
    assert_eq!(claim["claimed_units"], "100000000", "{claim}");
    let (before, after) = (
        U256::from_str(claim["l1_balance_before"].as_str().expect("n")).expect("n"),
        U256::from_str(claim["l1_balance_after"].as_str().expect("n")).expect("n"),
    );
    assert_eq!(after - before, U256::from(100_000_000u64));
    assert!(
        wallet(&api, &taker_eth, &["claim"]).is_err(),
        "nothing left to claim"
    );

    // The maker, long 0.01 BTC, rests a bid far below the mark (1,000 USD), then asks L1 to cancel its
    // orders and to force out 1 USD; the operator censors both; past their deadlines anyone
    // freezes the rollup.
    let resting = ok(
        wallet(
            &api,
            &maker_eth,
            &[
                "order", "--market", "BTC-USD", "--side", "buy", "--size", "0.01", "--price",
                "1000",
            ],
        ),
        "the maker's resting bid",
    );
    assert_eq!(resting["ack"]["events"][0]["event"], "rested", "{resting}");
    let cancel = ok(
        wallet(&api, &maker_eth, &["forced-cancel"]),
        "forced cancel",
    );
    assert_eq!(cancel["forced_cancel_index"], 0, "{cancel}");
    ok(
        wallet(&api, &maker_eth, &["forced-withdrawal", "--amount", "1"]),
        "forced request",
    );
    // The taker agrees to buy the maker's position back at the mark: it signs the offer with
    // its L1 key (party B), the maker submits it on L1 (party A); the operator censors it too.
    let offer = ok(
        wallet(
            &api,
            &taker_eth,
            &[
                "forced-trade-offer",
                "--with",
                &maker_id.get().to_string(),
                "--market",
                "BTC-USD",
                "--side",
                "buy",
                "--size",
                "0.01",
                "--price",
                &mark,
            ],
        ),
        "the taker's forced-trade offer",
    );
    assert_eq!(offer["offer"]["terms"]["a_buys"], false, "{offer}");
    let offer_text = offer.to_string();
    let own = wallet(&api, &taker_eth, &["forced-trade", "--offer", &offer_text]);
    assert!(
        own.as_ref().is_err_and(|e| e.contains("party A")),
        "only party A submits: {own:?}"
    );
    let forced_trade = ok(
        wallet(&api, &maker_eth, &["forced-trade", "--offer", &offer_text]),
        "forced trade",
    );
    assert_eq!(forced_trade["forced_trade_index"], 0, "{forced_trade}");
    let replay = wallet(&api, &maker_eth, &["forced-trade", "--offer", &offer_text]);
    assert!(
        replay
            .as_ref()
            .is_err_and(|e| e.contains("ForcedTradeReplayed")),
        "{replay:?}"
    );
    devnet.wait(60, "the censored cancel", |e| {
        e["event"] == "censored" && e["tx"] == "forced_cancel"
    });
    devnet.wait(60, "the censored trade", |e| {
        e["event"] == "censored" && e["tx"] == "forced_trade"
    });
    devnet.wait(60, "the censored request", |e| {
        e["event"] == "censored" && e["tx"] == "forced_withdrawal"
    });
    let network = data.path().join("network.json");
    let network = network.to_str().expect("utf-8");
    let early = wallet(NO_API, &taker_eth, &["--network", network, "freeze"]);
    assert!(
        early.as_ref().is_err_and(|e| e.contains("NotOverdue")),
        "{early:?}"
    );
    // The maker keeps its own copy of the state as batches are verified: `wallet sync`, from
    // the L1 alone.
    let synced = data.path().join("maker-sync");
    let synced = synced.to_str().expect("utf-8");
    let sync = ok(
        wallet(
            NO_API,
            &maker_eth,
            &["--network", network, "sync", "--dir", synced],
        ),
        "sync",
    );
    assert_eq!(sync["accounts"][0]["account"], maker_id.get(), "{sync}");
    assert!(sync["batch"].as_u64() >= Some(trade_batch), "{sync}");
    // Anyone rebuilds the state from the L1 and the node's API serving its blob archive (each
    // blob checked against the L1), keeping a copy of the blobs.
    let rebuild = |extra: &[&str]| -> Value {
        let mut args = vec!["rebuild", "--network", network];
        args.extend(extra);
        let out = Command::new(env!("CARGO_BIN_EXE_zkperp"))
            .args(&args)
            .env("RUST_LOG", "warn")
            .env_remove("ZKPERP_BEACON")
            .output()
            .expect("the zkperp binary runs");
        assert!(
            out.status.success(),
            "rebuild {extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rebuilt: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(rebuilt["matches_l1"], true, "{rebuilt}");
        rebuilt
    };
    let from_api = data.path().join("from-api");
    let served = rebuild(&[
        "--archive",
        &api,
        "--save",
        from_api.to_str().expect("utf-8"),
    ]);
    assert!(
        served["batches"].as_u64() >= sync["batch"].as_u64(),
        "{served}"
    );
    advance_l1(3_700);
    // The operator's own watch sees it first: the request is overdue.
    let alarm = devnet.wait(60, "the operator's overdue alarm", |e| {
        e["event"] == "forced_overdue"
    });
    assert!(alarm["secs_over"].as_u64().is_some(), "{alarm}");

    // What the operator saw on the way: marks from the oracle book and funding ticks, handed
    // over between batches and each applied when its batch began, none refused; the devnet's
    // own traders and the fund credited.
    devnet.next_batch();
    let of = |name: &str| -> Vec<&Value> {
        devnet
            .events
            .iter()
            .filter(|e| e["event"] == name)
            .collect()
    };
    assert_eq!(of("deployed").len(), 1);
    assert_eq!(of("trader").len(), 2);
    let applied: Vec<&Value> = of("applied").iter().map(|e| &e["ticket"]).collect();
    let handed: Vec<&Value> = of("mark").into_iter().chain(of("funding")).collect();
    assert!(
        of("mark").len() >= 4 && !of("funding").is_empty(),
        "{handed:?}"
    );
    for e in handed {
        // The last batch's may still be waiting for it to begin.
        if e["ticket"].as_u64() < of("applied").last().and_then(|a| a["ticket"].as_u64()) {
            assert!(applied.contains(&&e["ticket"]), "{e} was applied");
        }
    }
    assert!(of("refused").is_empty(), "{:?}", of("refused"));
    assert!(of("verified").len() >= 3);

    // The operator goes away: on SIGTERM the devnet says so and exits cleanly, its API with
    // it. The L1 stays. From here on nothing the operator ran answers.
    devnet.terminate();
    devnet.wait(30, "the stop", |e| {
        e["event"] == "stopped" && e["reason"] == "SIGTERM"
    });
    let status = until(30, "the devnet's exit", || {
        devnet.child.try_wait().expect("wait")
    });
    assert!(status.success(), "the devnet exits cleanly: {status}");
    assert!(
        wallet(&api, &maker_eth, &["account"]).is_err(),
        "the API is gone"
    );
    let frozen = ok(
        wallet(NO_API, &taker_eth, &["--network", network, "freeze"]),
        "freeze",
    );
    assert_eq!(frozen["frozen"], true);
    let root = rt
        .block_on(maker_l1.state_root())
        .expect("root")
        .to_string();

    // Anyone rebuilds the rollup's state from the L1 alone, with blobs from anvil (its RPC, its
    // beacon API) or from an archive (the node's, or the copy made from its API): the root the
    // rollup froze at.
    let keys = data.path().join("keys");
    let keys = keys.to_str().expect("utf-8");
    let archive = data.path().join("run").join("blobs");
    let from_api = data.path().join("from-api");
    for (extra, mode) in [
        (vec![], "anvil's blobs"),
        (
            vec!["--archive", archive.to_str().expect("utf-8")],
            "the node's archive",
        ),
        (vec!["--beacon", l1_url.as_str()], "the beacon API"),
        (
            vec!["--archive", from_api.to_str().expect("utf-8")],
            "a copy of the API's archive",
        ),
    ] {
        let rebuilt = rebuild(&extra);
        assert_eq!(
            rebuilt["state_root"].as_str(),
            Some(root.as_str()),
            "from {mode}"
        );
    }

    // A network file or an exit key from anywhere is checked against what the rollup pins:
    // one with a fee changed, or a key whose bytes (and checksum) were changed, is refused.
    let other_network = data.path().join("other-network.json");
    let mut changed: Value =
        serde_json::from_slice(&std::fs::read(network).expect("network file")).expect("JSON");
    changed["taker_fee_ppm"] = json!(1);
    std::fs::write(&other_network, changed.to_string()).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_zkperp"))
        .args([
            "rebuild",
            "--network",
            other_network.to_str().expect("utf-8"),
        ])
        .output()
        .expect("the zkperp binary runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not the one the rollup"),
        "{err}"
    );
    let other_keys = data.path().join("other-keys");
    std::fs::create_dir_all(&other_keys).expect("dir");
    let mut key = std::fs::read(std::path::Path::new(keys).join("exit.pk")).expect("exit key");
    let last = key.len() - 40;
    key[last] ^= 1;
    let checksum = <sha2::Sha256 as sha2::Digest>::digest(&key[72..]);
    key[40..72].copy_from_slice(&checksum);
    std::fs::write(other_keys.join("exit.pk"), key).expect("write");
    let refused = wallet(
        NO_API,
        &taker_eth,
        &[
            "--network",
            network,
            "exit",
            "--keys",
            other_keys.to_str().expect("utf-8"),
        ],
    );
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("not the one the rollup pins")),
        "{refused:?}"
    );

    // A sync directory that lies (one leaf hash changed) is refused, naming its batch.
    let lying = data.path().join("lying-sync");
    std::fs::create_dir_all(&lying).expect("dir");
    let mut saved: Value = serde_json::from_slice(
        &std::fs::read(std::path::Path::new(synced).join("sync.json")).expect("sync.json"),
    )
    .expect("JSON");
    saved["checkpoint"]["leaves"][0]["hash"] = json!("12345");
    std::fs::write(lying.join("sync.json"), saved.to_string()).expect("write");
    let refused = wallet(
        NO_API,
        &maker_eth,
        &[
            "--network",
            network,
            "exit",
            "--keys",
            keys,
            "--sync",
            lying.to_str().expect("utf-8"),
        ],
    );
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("checkpoint of batch")),
        "{refused:?}"
    );
    // Another wallet's sync directory is refused, not followed with the wrong key.
    let theirs = wallet(
        NO_API,
        &taker_eth,
        &["--network", network, "sync", "--dir", synced],
    );
    assert!(
        theirs
            .as_ref()
            .is_err_and(|e| e.contains("another key or L1 owner")),
        "{theirs:?}"
    );

    // Each trader proves its exit on its own machine with the API gone: the maker from its
    // sync directory onwards, the taker from genesis. Each registers its value within the
    // claim window.
    let exit_of = |key: &str, extra: &[&str]| -> String {
        let mut args = vec!["--network", network, "exit", "--keys", keys];
        args.extend(extra);
        let exited = ok(wallet(NO_API, key, &args), "exit without the API");
        exited["registered_units"]
            .as_str()
            .expect("units")
            .to_string()
    };
    let maker_value = exit_of(&maker_eth, &["--sync", synced]);
    let taker_value = exit_of(&taker_eth, &[]);
    let (maker_value, taker_value): (u64, u64) = (
        maker_value.parse().expect("units"),
        taker_value.parse().expect("units"),
    );
    assert_eq!(
        maker_value + taker_value,
        traded_units - 100_000_000,
        "the two exits are worth what the trade left them, less the withdrawal"
    );
    assert!(maker_value > 900_000_000 && taker_value > 800_000_000);
    let maker_account = maker_id.get().to_string();
    let early = wallet(
        NO_API,
        &maker_eth,
        &[
            "--network",
            network,
            "--account",
            &maker_account,
            "claim-exit",
        ],
    );
    assert!(
        early.as_ref().is_err_and(|e| e.contains("ExitWindowOpen")),
        "{early:?}"
    );
    // The devnet's claim window is a day. Each is paid exactly its value, once.
    advance_l1(86_400);
    for (key, l1, address, id, value) in [
        (
            &maker_eth,
            &maker_l1,
            maker_address,
            maker_id.get(),
            maker_value,
        ),
        (
            &taker_eth,
            &taker_l1,
            taker_address,
            taker_id.get(),
            taker_value,
        ),
    ] {
        let account = id.to_string();
        let args = [
            "--network",
            network,
            "--account",
            account.as_str(),
            "claim-exit",
        ];
        let balance = rt.block_on(l1.token_balance(address)).expect("balance");
        let claimed = ok(wallet(NO_API, key, &args), "claim-exit without the API");
        assert_eq!(claimed["paid_units"], value.to_string(), "{claimed}");
        let paid = rt.block_on(l1.token_balance(address)).expect("balance") - balance;
        assert_eq!(paid, U256::from(value), "paid exactly the account's value");
        let twice = wallet(NO_API, key, &args);
        assert!(
            twice.as_ref().is_err_and(|e| e.contains("AlreadyClaimed")),
            "{twice:?}"
        );
    }
    let again = wallet(
        NO_API,
        &maker_eth,
        &["--network", network, "exit", "--keys", keys],
    );
    assert!(
        again
            .as_ref()
            .is_err_and(|e| e.contains("ExitWindowClosed") || e.contains("AlreadyExited")),
        "{again:?}"
    );
    drop(anvil);
}
