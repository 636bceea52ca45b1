//! The REST API over HTTP on loopback, against a real sequencer (journal in RocksDB), batch
//! store and verified state: reads, a signed order acknowledged and resting in the book, and
//! every kind of bad request refused with its stable code and never a panic.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use zkperp_api::{router, Services};
use zkperp_sequencer::engine::FeeSchedule;
use zkperp_sequencer::journal::Command;
use zkperp_sequencer::pipeline::BatchStore;
use zkperp_sequencer::sequencer::{Sequencer, SequencerConfig};
use zkperp_sequencer::verified::VerifiedState;
use zkperp_state::order::Side;
use zkperp_state::testkit::*;

struct Server {
    base: String,
    client: reqwest::Client,
    f: Fixture,
    _dirs: Vec<tempfile::TempDir>,
}

impl Server {
    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.expect("a JSON body"))
    }

    async fn post(&self, path: &str, body: String) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.expect("a JSON body"))
    }
}

/// A sequencer with both markets priced and two funded traders, behind the API on loopback.
async fn start() -> Server {
    let mut f = Fixture::with_depths(2, 6, 3);
    let config = f.state.config().clone();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("tmp")).collect();
    let mut seq = Sequencer::open(
        dirs[0].path(),
        &SequencerConfig {
            state: config.clone(),
            fees: FeeSchedule {
                maker_ppm: 0,
                taker_ppm: 500,
            },
            shape: "o2-f1-l1-x1-d2-fw1-t4-w1-c1".parse().expect("shape"),
        },
    )
    .expect("sequencer");
    seq.execute(Command::BeginBatch {
        timestamp: ts(START),
    })
    .expect("begin");
    for market in [btc(), eth()] {
        let price = if market == btc() { 500_000 } else { 3_000_000 };
        let tick = f.oracle_tick_tx(market, [price - 1, price, price + 1]);
        seq.execute(Command::Apply { tx: tick }).expect("tick");
    }
    for t in 0..2 {
        let tx = f.deposit_tx(t, 1_000_000_000);
        seq.execute(Command::Apply { tx }).expect("deposit");
        f.deposit(t, 1_000_000_000);
    }
    let services = Services {
        sequencer: Arc::new(Mutex::new(seq)),
        batches: Arc::new(BatchStore::open(dirs[1].path()).expect("store")),
        verified: Arc::new(Mutex::new(
            VerifiedState::open(dirs[2].path(), &config).expect("verified"),
        )),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router(services)).await });
    Server {
        base,
        client: reqwest::Client::new(),
        f,
        _dirs: dirs,
    }
}

#[tokio::test]
async fn markets_books_and_a_signed_order() {
    let mut s = start().await;
    let (status, markets) = s.get("/v1/markets").await;
    assert_eq!(status, 200);
    assert_eq!(markets["markets"][0]["name"], "BTC-USD");
    assert_eq!(markets["markets"][0]["mark_price_ticks"], "500000");

    let order = s.f.order(0, btc(), Side::Buy, 10, 499_000);
    let (status, ack) = s
        .post("/v1/orders", json!({ "order": order }).to_string())
        .await;
    assert_eq!(status, 200, "{ack}");
    assert!(ack["ticket"].as_u64().is_some(), "{ack}");
    assert_eq!(ack["events"][0]["event"], "rested", "{ack}");

    for path in ["/v1/markets/0/book", "/v1/markets/BTC-USD/book"] {
        let (status, book) = s.get(path).await;
        assert_eq!(status, 200);
        assert_eq!(book["book"]["bids"][0]["price"], 499_000, "{book}");
    }

    // The same order again: a duplicate, refused with its code.
    let (status, err) = s
        .post("/v1/orders", json!({ "order": order }).to_string())
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("duplicate_order")),
        "{err}"
    );

    // A forged signature: the order of trader 1 signed by trader 0's key.
    let mut forged = s.f.order(1, btc(), Side::Sell, 10, 501_000);
    forged.signature = s.f.sign(0, forged.order).signature;
    let (status, err) = s
        .post("/v1/orders", json!({ "order": forged }).to_string())
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("bad_signature")),
        "{err}"
    );
}

#[tokio::test]
async fn bad_requests_get_stable_codes() {
    let s = start().await;
    let cases: Vec<(&str, Option<String>, u16, &str)> = vec![
        ("/v1/markets/9/book", None, 404, "unknown_market"),
        ("/v1/markets/DOGE-USD/book", None, 404, "unknown_market"),
        ("/v1/batches/7", None, 404, "unknown_batch"),
        ("/v1/batches/x", None, 400, "bad_request"),
        ("/v1/accounts/5/exit-witness", None, 404, "unknown_account"),
        ("/v1/accounts/-1/exit-witness", None, 400, "bad_request"),
        ("/v1/nothing", None, 400, "bad_request"),
        ("/v1/orders", Some("{".into()), 400, "bad_request"),
        (
            "/v1/orders",
            Some(json!({"order": 1}).to_string()),
            400,
            "bad_request",
        ),
        (
            "/v1/orders",
            Some(json!({"extra": 1}).to_string()),
            400,
            "bad_request",
        ),
    ];
    for (path, body, status, code) in cases {
        let (got, err) = match body {
            Some(b) => s.post(path, b).await,
            None => s.get(path).await,
        };
        assert_eq!(
            (got, err["code"].as_str()),
            (status, Some(code)),
            "{path}: {err}"
        );
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // An order whose price does not fit its width is refused as malformed JSON, not accepted.
    let mut order =
        serde_json::to_value(s.f.order_with_id(0, btc(), Side::Buy, 1, 500_000, 9)).expect("json");
    order["order"]["limit_price"] = json!(u64::MAX);
    let (got, err) = s
        .post("/v1/orders", json!({ "order": order }).to_string())
        .await;
    assert_eq!(
        (got, err["code"].as_str()),
        (400, Some("bad_request")),
        "{err}"
    );
}

#[tokio::test]
async fn batches_and_exit_witnesses_follow_the_verified_state() {
    let s = start().await;
    let (status, list) = s.get("/v1/batches").await;
    assert_eq!(status, 200);
    assert_eq!(list["verified_batch"], 0);
    // The genesis accounts exist at batch 0: the insurance fund's witness opens the root.
    let (status, w) = s.get("/v1/accounts/0/exit-witness").await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["batch"], 0);
    assert!(w["witness"]["siblings"]
        .as_array()
        .is_some_and(|a| a.len() == 6));
}

/// The OpenAPI document lists exactly what is served: each documented path, with sample path
/// parameters, answers with one of its documented statuses.
#[tokio::test]
async fn the_openapi_document_matches_the_server() {
    let s = start().await;
    let (status, doc) = s.get("/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().expect("paths");
    assert_eq!(paths.len(), 7, "every route is documented");
    for (path, ops) in paths {
        let concrete = path
            .replace("{market}", "BTC-USD")
            .replace("{n}", "1")
            .replace("{id}", "0");
        for (method, op) in ops.as_object().expect("operations") {
            let (got, body) = match method.as_str() {
                "get" => s.get(&concrete).await,
                "post" => s.post(&concrete, "{}".into()).await,
                other => panic!("undocumented method {other}"),
            };
            assert!(
                op["responses"].get(got.to_string()).is_some(),
                "{method} {concrete} answered {got}, not documented: {body}"
            );
        }
    }
}
