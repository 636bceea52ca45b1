//! The REST API over HTTP on loopback, against a real sequencer (journal in RocksDB), batch
//! store and verified state: reads, signed orders acknowledged, matched and cancelled, private
//! reads only with the owner's signature, withdrawals, and every kind of bad request refused
//! with its stable code and never a panic.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use zkperp_api::{auth, router, Services};
use zkperp_core::command::Command;
use zkperp_core::engine::FeeSchedule;
use zkperp_core::oracle::OracleBook;
use zkperp_sequencer::hub::Hub;
use zkperp_sequencer::pipeline::BatchStore;
use zkperp_sequencer::sequencer::{Sequencer, SequencerConfig};
use zkperp_sequencer::verified::VerifiedState;
use zkperp_state::order::Side;
use zkperp_state::testkit::*;
use zkperp_state::tx::{CancelOrder, Withdrawal};
use zkperp_state::units::{AccountId, Amount, Nonce};

struct Server {
    base: String,
    client: reqwest::Client,
    f: Fixture,
    services: Services,
    _dirs: Vec<tempfile::TempDir>,
}

fn wall_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs()
}

impl Server {
    async fn get(&self, path: &str) -> (u16, Value) {
        self.get_with(path, &[]).await
    }

    async fn get_with(&self, path: &str, headers: &[(&'static str, String)]) -> (u16, Value) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let r = request.send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.expect("a JSON body"))
    }

    /// A private read of trader `t`'s account, signed now with the trader's key.
    async fn private(&self, t: usize, path: &str) -> (u16, Value) {
        let headers = auth::sign(
            &zkperp_state::domain::SigningDomain::TEST,
            &self.f.traders[t].key,
            self.f.id(t),
            wall_clock(),
        );
        self.get_with(path, &headers).await
    }

    async fn delete(&self, path: &str, body: String) -> (u16, Value) {
        let r = self
            .client
            .delete(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
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
    start_with_feed(zkperp_sequencer::hub::FEED_BUFFER).await
}

/// [`start`] with a feed that holds `feed_buffer` events for a slow subscriber.
async fn start_with_feed(feed_buffer: usize) -> Server {
    let mut f = Fixture::with_depths(2, 6, 3);
    let config = f.state.config().clone();
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().expect("tmp")).collect();
    let mut seq = Sequencer::open(
        dirs[0].path(),
        &SequencerConfig {
            state: config.clone(),
            fees: FeeSchedule {
                maker_ppm: 0,
                taker_ppm: 500,
            },
            shape: "o2-f1-l1-x1-d2-fw1-fc1-ft1-t4-w1-c1"
                .parse()
                .expect("shape"),
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
        hub: Arc::new(Hub::new(seq).with_feed_buffer(feed_buffer)),
        batches: Arc::new(BatchStore::open(dirs[1].path()).expect("store")),
        verified: Arc::new(Mutex::new(
            VerifiedState::open(dirs[2].path(), &config).expect("verified"),
        )),
        oracle: Arc::new(Mutex::new(OracleBook::new(&config))),
        archive: Some(dirs[3].path().to_path_buf()),
        info: json!({"chain_id": 31337}),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = router(services.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        base,
        client: reqwest::Client::new(),
        f,
        services,
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
        assert_eq!(book["bids"][0]["price_ticks"], 499_000, "{book}");
        assert_eq!(book["bids"][0]["price"], "49900.0", "{book}");
        assert_eq!(book["bids"][0]["size"], "0.0010", "{book}");
        assert_eq!(book["seq"], 1, "{book}");
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

    // A full intake: answered 429 with Retry-After at once, nothing queued or journaled; the
    // same order is taken when there is room again.
    let hub = s.services.hub.clone();
    let journaled = hub.with_sequencer(|seq| seq.journal_len());
    hub.set_intake_limit(0);
    let waiting = s.f.order(1, btc(), Side::Sell, 10, 501_000);
    let r = s
        .client
        .post(format!("{}/v1/orders", s.base))
        .header("content-type", "application/json")
        .body(json!({ "order": waiting }).to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let err: Value = r.json().await.expect("a JSON body");
    assert_eq!(err["code"], "overloaded", "{err}");
    assert_eq!(hub.with_sequencer(|seq| seq.journal_len()), journaled);
    hub.set_intake_limit(zkperp_sequencer::hub::INTAKE_LIMIT);
    let (status, ack) = s
        .post("/v1/orders", json!({ "order": waiting }).to_string())
        .await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(hub.in_flight(), 0, "every admission is given back");

    // A signed order of negative size: refused at the door, never read as a huge one.
    let mut negative = s.f.order(1, btc(), Side::Sell, 10, 501_000).order;
    negative.size = zkperp_state::units::BaseLots::new(-10).expect("size");
    let negative = s.f.sign(1, negative);
    let (status, err) = s
        .post("/v1/orders", json!({ "order": negative }).to_string())
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("bad_size")),
        "{err}"
    );

    // A forced cancel from L1 (the operator applies what the follower read) takes the resting
    // bid off the book at once, and the book's view says so.
    let below = order.order.order_id.get() + 1;
    let tx = Fixture::forced_cancel_tx(0, order.order.account, s.f.traders[0].l1, below);
    s.services
        .hub
        .execute(Command::Apply { tx })
        .expect("forced cancel");
    let (status, book) = s.get("/v1/markets/0/book").await;
    assert_eq!(status, 200);
    assert_eq!(book["bids"].as_array().map(Vec::len), Some(0), "{book}");
}

/// A burst far beyond a (deliberately small) intake: every order is answered, at once, with
/// 200 (journaled: its ticket holds exactly this order), a refusal by the rules (422,
/// journaled too), or 429 `overloaded` with `Retry-After` (never journaled); the server stays
/// up and gives every place back. The full-size run is the `load-api` bench.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_beyond_the_intake_is_answered_and_nothing_acknowledged_is_lost() {
    let mut s = start().await;
    let hub = s.services.hub.clone();
    hub.set_intake_limit(4);
    let orders: Vec<_> = (0..240u64)
        .map(|i| {
            let (t, side, price) = if i % 2 == 0 {
                (0, Side::Buy, 450_000 + i)
            } else {
                (1, Side::Sell, 550_000 + i)
            };
            s.f.order(t, btc(), side, 1, price)
        })
        .collect();
    let before = hub.with_sequencer(|seq| seq.journal_len());
    // The sequencer is kept busy while the burst arrives, however fast this machine is: the
    // first orders take the intake's places and wait; the others must be refused, not queued.
    let busy = {
        let hub = hub.clone();
        std::thread::spawn(move || {
            hub.with_sequencer(|_| std::thread::sleep(std::time::Duration::from_millis(300)))
        })
    };
    let tasks: Vec<_> = orders
        .into_iter()
        .map(|order| {
            let (client, url) = (s.client.clone(), format!("{}/v1/orders", s.base));
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(json!({ "order": order }).to_string())
                    .send()
                    .await
                    .expect("answered");
                let status = r.status().as_u16();
                let retry = r.headers().get("retry-after").cloned();
                let body: Value = r.json().await.expect("a JSON body");
                (order, status, retry, body)
            })
        })
        .collect();
    let (mut acknowledged, mut refused, mut overloaded) = (0u64, 0u64, 0u64);
    for task in tasks {
        let (order, status, retry, body) = task.await.expect("task");
        match status {
            200 => {
                let ticket = body["ticket"].as_u64().expect("a ticket");
                let journaled = hub
                    .with_sequencer(|seq| seq.journaled(ticket))
                    .expect("reads");
                assert!(
                    matches!(journaled, Some(Command::Submit { order: o, .. }) if o == order),
                    "ticket {ticket} does not hold the acknowledged order"
                );
                acknowledged += 1;
            }
            422 => refused += 1,
            429 => {
                assert_eq!(body["code"], "overloaded", "{body}");
                assert_eq!(retry.expect("Retry-After"), "1");
                overloaded += 1;
            }
            other => panic!("answered {other}: {body}"),
        }
    }
    busy.join().expect("the busy thread");
    assert!(
        acknowledged > 0 && overloaded > 0,
        "acknowledged {acknowledged}, overloaded {overloaded}"
    );
    assert_eq!(
        hub.with_sequencer(|seq| seq.journal_len()) - before,
        acknowledged + refused,
        "what was refused for load was never journaled"
    );
    assert_eq!(hub.in_flight(), 0, "every place is given back");
    let (status, _) = s.get("/v1/markets").await;
    assert_eq!(status, 200, "the server is up");
}

#[tokio::test]
async fn bad_requests_get_stable_codes() {
    let s = start().await;
    let cases: Vec<(&str, Option<String>, u16, &str)> = vec![
        ("/v1/markets/9/book", None, 404, "unknown_market"),
        ("/v1/markets/DOGE-USD/book", None, 404, "unknown_market"),
        ("/v1/batches/7", None, 404, "unknown_batch"),
        ("/v1/batches/x", None, 400, "bad_request"),
        ("/v1/accounts/5/exit-witness", None, 401, "unauthenticated"),
        ("/v1/accounts/1/exit-witness", None, 401, "unauthenticated"),
        ("/v1/accounts/-1/exit-witness", None, 400, "bad_request"),
        ("/v1/accounts/1", None, 401, "unauthenticated"),
        ("/v1/accounts/1/orders", None, 401, "unauthenticated"),
        ("/v1/accounts/1/fills", None, 401, "unauthenticated"),
        ("/v1/orders/1-1", None, 401, "unauthenticated"),
        ("/v1/orders/1", None, 400, "bad_request"),
        ("/v1/markets/BTC-USD/book?depth=x", None, 400, "bad_request"),
        ("/v1/markets/DOGE-USD/trades", None, 404, "unknown_market"),
        ("/v1/withdrawals", Some("{}".into()), 400, "bad_request"),
        ("/v1/ws", None, 400, "bad_request"),
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
    // The genesis accounts exist at batch 0: the insurance fund's witness opens the root, for
    // the fund's owner.
    let headers = auth::sign(
        &zkperp_state::domain::SigningDomain::TEST,
        &s.f.fund_key,
        AccountId::INSURANCE_FUND,
        wall_clock(),
    );
    let (status, w) = s.get_with("/v1/accounts/0/exit-witness", &headers).await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["batch"], 0);
    assert!(w["witness"]["siblings"]
        .as_array()
        .is_some_and(|a| a.len() == 6));
    // As of a batch: the verified one is served, a later one is not verified yet.
    let (status, at) = s
        .get_with("/v1/accounts/0/exit-witness?batch=0", &headers)
        .await;
    assert_eq!((status, &at["witness"]), (200, &w["witness"]), "{at}");
    for (query, code, want) in [
        ("?batch=1", 404, "unknown_batch"),
        ("?batch=x", 400, "bad_request"),
        ("?batch=0&extra=1", 400, "bad_request"),
    ] {
        let path = format!("/v1/accounts/0/exit-witness{query}");
        let (status, err) = s.get_with(&path, &headers).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (code, Some(want)),
            "{query}: {err}"
        );
    }
}

/// The node serves its blob archive byte for byte; a blob it does not hold, or a path that is
/// no number, is a clear refusal.
#[tokio::test]
async fn the_blob_archive_is_served() {
    let s = start().await;
    let dir = s.services.archive.clone().expect("an archive");
    let sealed =
        zkperp_state::blob::seal(&[zkperp_state::Fr::from(5u64), zkperp_state::Fr::from(7u64)])
            .expect("a blob");
    let blobs: Vec<_> = sealed.into_iter().map(|b| b.blob).collect();
    zkperp_sequencer::archive::write(&dir, 3, &blobs).expect("archived");
    let r = s
        .client
        .get(format!("{}/v1/batches/3/blobs/0", s.base))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().ok(),
        Some("application/octet-stream")
    );
    assert_eq!(
        r.bytes().await.expect("bytes").as_ref(),
        blobs[0].as_bytes()
    );
    let (status, body) = s.get("/v1/batches/3/blobs/1").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("unknown_blob")));
    let (status, body) = s.get("/v1/batches/2/blobs/0").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("unknown_blob")));
    let (status, body) = s.get("/v1/batches/3/blobs/x").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_request")));
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
    assert_eq!(paths.len(), 19, "every route is documented");
    for (path, ops) in paths {
        let concrete = path
            .replace("{market}", "BTC-USD")
            .replace("{n}", "1")
            .replace("{i}", "0")
            .replace("{id}", "0");
        for (method, op) in ops.as_object().expect("operations") {
            let (got, body) = match method.as_str() {
                "get" => s.get(&concrete).await,
                "post" => s.post(&concrete, "{}".into()).await,
                "delete" => s.delete(&concrete, "{}".into()).await,
                other => panic!("undocumented method {other}"),
            };
            assert!(
                op["responses"].get(got.to_string()).is_some(),
                "{method} {concrete} answered {got}, not documented: {body}"
            );
        }
    }
}

/// Two traders meet through the API: the trade is public (without accounts), each side's
/// order, fills and account are private, shown only with the owner's signature; a resting
/// order is cancelled with the owner's signed cancel; a withdrawal is signed and applied.
#[tokio::test]
async fn trading_private_reads_cancels_and_withdrawals() {
    let mut s = start().await;
    let (a, b) = (s.f.id(0), s.f.id(1));
    let bid = s.f.order(0, btc(), Side::Buy, 30, 499_000);
    let ask = s.f.order(1, btc(), Side::Sell, 20, 499_000);
    for order in [bid, ask] {
        let (status, ack) = s
            .post("/v1/orders", json!({ "order": order }).to_string())
            .await;
        assert_eq!(status, 200, "{ack}");
    }
    let (status, trades) = s.get("/v1/markets/BTC-USD/trades").await;
    assert_eq!(status, 200);
    let trade = &trades["trades"][0];
    assert_eq!(
        (trade["price"].as_str(), trade["size"].as_str()),
        (Some("49900.0"), Some("0.0020")),
        "{trades}"
    );
    assert_eq!(trade["taker_side"], "sell");
    assert!(
        trade.get("account").is_none() && !trades.to_string().contains("maker"),
        "no accounts in public trades"
    );
    let (_, book) = s.get("/v1/markets/0/book").await;
    assert_eq!(book["bids"][0]["size_lots"], 10, "{book}");

    // The bid, partly filled, for its owner; not for the other trader, not unsigned.
    let bid_path = format!("/v1/orders/{}-{}", a.get(), bid.order.order_id.get());
    let (status, order) = s.private(0, &bid_path).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(
        (
            order["status"].as_str(),
            order["filled_lots"].as_u64(),
            order["remaining_lots"].as_u64()
        ),
        (Some("open"), Some(20), Some(10)),
        "{order}"
    );
    let forged = auth::sign(
        &zkperp_state::domain::SigningDomain::TEST,
        &s.f.traders[1].key,
        a,
        wall_clock(),
    );
    let (status, err) = s.get_with(&bid_path, &forged).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (401, Some("unauthenticated")),
        "{err}"
    );
    let stale = auth::sign(
        &zkperp_state::domain::SigningDomain::TEST,
        &s.f.traders[0].key,
        a,
        wall_clock() - auth::WINDOW_SECS - 5,
    );
    let (status, err) = s.get_with(&bid_path, &stale).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (401, Some("unauthenticated")),
        "{err}"
    );
    let (status, fills) = s
        .private(1, &format!("/v1/accounts/{}/fills", b.get()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            fills["fills"][0]["role"].as_str(),
            fills["fills"][0]["side"].as_str(),
            fills["fills"][0]["size_lots"].as_u64()
        ),
        (Some("taker"), Some("sell"), Some(20)),
        "{fills}"
    );
    let (status, account) = s.private(0, &format!("/v1/accounts/{}", a.get())).await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(account["positions"][0]["size"], "0.0020", "{account}");
    assert_eq!(account["positions"][0]["name"], "BTC-USD");
    assert_eq!(account["liquidatable"], false);
    // 1,000 USD deposited, bought 0.002 BTC at 49,900 (99.8 USD) without a maker fee; the mark
    // is 50,000: value 1,000.2 USD.
    assert_eq!(account["total_value"], "1000.200000", "{account}");

    // A signed cancel of the rest; a cancel signed by someone else is refused.
    let message = CancelOrder::message(
        &zkperp_state::domain::SigningDomain::TEST,
        a,
        bid.order.order_id,
    );
    let (status, err) = s
        .delete(
            &bid_path,
            json!({"signature": s.f.traders[1].key.sign(message)}).to_string(),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("bad_signature")),
        "{err}"
    );
    let (status, ack) = s
        .delete(
            &bid_path,
            json!({"signature": s.f.traders[0].key.sign(message)}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{ack}");
    let (_, order) = s.private(0, &bid_path).await;
    assert_eq!(
        (order["status"].as_str(), order["reason"].as_str()),
        (Some("cancelled"), Some("user")),
        "{order}"
    );
    let (_, book) = s.get("/v1/markets/0/book").await;
    assert_eq!(book["bids"], json!([]), "{book}");
    let (_, orders) = s
        .private(0, &format!("/v1/accounts/{}/orders", a.get()))
        .await;
    assert_eq!(
        orders["orders"].as_array().map(Vec::len),
        Some(1),
        "{orders}"
    );

    // A withdrawal signed by the owner at the account's nonce is applied; replayed, refused.
    let withdrawal = |t: usize, signer: usize, units: u64| {
        let (account, amount, nonce) = (
            s.f.id(t),
            Amount::new(units).expect("amount"),
            Nonce::new(0).expect("nonce"),
        );
        Withdrawal {
            account,
            amount,
            nonce,
            signature: s.f.traders[signer].key.sign(Withdrawal::message(
                &zkperp_state::domain::SigningDomain::TEST,
                account,
                amount,
                nonce,
            )),
        }
    };
    let (status, err) = s
        .post(
            "/v1/withdrawals",
            json!({"withdrawal": withdrawal(1, 0, 5_000_000)}).to_string(),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("bad_signature")),
        "{err}"
    );
    let good = withdrawal(1, 1, 5_000_000);
    let (status, ack) = s
        .post("/v1/withdrawals", json!({"withdrawal": good}).to_string())
        .await;
    assert_eq!(status, 200, "{ack}");
    // Held for the seal (withdrawals are checked against the margin the batch's trades leave).
    assert_eq!(
        (ack["status"].as_str(), ack["amount"].as_str()),
        (Some("held"), Some("5.000000")),
        "{ack}"
    );
    let (status, err) = s
        .post("/v1/withdrawals", json!({"withdrawal": good}).to_string())
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("bad_nonce")),
        "{err}"
    );
    // The next nonce is accepted while the first waits; after the seal both are applied.
    let (account, amount, nonce) = (
        b,
        Amount::new(1_000_000).expect("amount"),
        Nonce::new(1).expect("nonce"),
    );
    let next = Withdrawal {
        account,
        amount,
        nonce,
        signature: s.f.traders[1].key.sign(Withdrawal::message(
            &zkperp_state::domain::SigningDomain::TEST,
            account,
            amount,
            nonce,
        )),
    };
    let (status, ack) = s
        .post("/v1/withdrawals", json!({"withdrawal": next}).to_string())
        .await;
    assert_eq!(
        (status, ack["status"].as_str()),
        (200, Some("held")),
        "{ack}"
    );
    // One withdrawal slot per batch in this shape: the second is carried to the next batch.
    let path = format!("/v1/accounts/{}", b.get());
    s.services.hub.execute(Command::EndBatch).expect("seal");
    assert_eq!(s.private(1, &path).await.1["nonce"], 1);
    s.services
        .hub
        .execute(Command::BeginBatch {
            timestamp: ts(START + 1),
        })
        .expect("begin");
    s.services.hub.execute(Command::EndBatch).expect("seal");
    assert_eq!(s.private(1, &path).await.1["nonce"], 2);
}

/// The WebSocket: a book snapshot then sequenced deltas, public trades, the subscribed
/// account's orders and fills only (and only with its signature), batch records as they are
/// written, and bad requests answered with an error without closing the session.
#[tokio::test]
async fn the_websocket_streams_books_trades_accounts_and_batches() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use zkperp_sequencer::pipeline::{BatchRecord, BatchStatus};

    let mut s = start().await;
    let url = format!("{}/v1/ws", s.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("connect");
    async fn next(
        ws: &mut (impl futures_util::Stream<
            Item = Result<Message, tokio_tungstenite::tungstenite::Error>,
        > + Unpin),
    ) -> Value {
        loop {
            let msg = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
                .await
                .expect("a message within 10 s")
                .expect("open")
                .expect("ok");
            if let Message::Text(t) = msg {
                return serde_json::from_str(t.as_str()).expect("JSON");
            }
        }
    }
    let ask = |v: Value| Message::Text(v.to_string().into());
    let (a, b) = (s.f.id(0), s.f.id(1));
    let t = wall_clock();
    let read = |key: &zkperp_state::eddsa::PrivateKey, id: AccountId| {
        key.sign(auth::read_message(
            &zkperp_state::domain::SigningDomain::TEST,
            id,
            t,
        ))
    };
    let requests = [
        json!({"op": "subscribe", "channel": "book", "market": "BTC-USD"}),
        json!({"op": "subscribe", "channel": "trades", "market": 0}),
        json!({"op": "subscribe", "channel": "account", "account": a.get(), "timestamp": t,
               "signature": read(&s.f.traders[0].key, a)}),
        json!({"op": "subscribe", "channel": "account", "account": b.get(), "timestamp": t,
               "signature": read(&s.f.traders[0].key, b)}),
        json!({"op": "subscribe", "channel": "batches"}),
        json!({"op": "subscribe", "channel": "book", "market": "DOGE-USD"}),
        json!({"op": "listen"}),
    ];
    for r in requests {
        ws.send(ask(r)).await.expect("send");
    }
    ws.send(Message::Text("{".into())).await.expect("send");
    let mut replies = Vec::new();
    for _ in 0..9 {
        replies.push(next(&mut ws).await);
    }
    assert_eq!(replies[0]["channel"], "subscribed");
    assert_eq!(
        (replies[1]["type"].as_str(), replies[1]["seq"].as_u64()),
        (Some("snapshot"), Some(0)),
        "{}",
        replies[1]
    );
    assert_eq!(replies[2]["channel"], "subscribed");
    assert_eq!(replies[3]["subscription"]["account"], a.get());
    assert_eq!(
        (replies[4]["channel"].as_str(), replies[4]["code"].as_str()),
        (Some("error"), Some("unauthenticated")),
        "another's key opens no account: {}",
        replies[4]
    );
    assert_eq!(replies[5]["subscription"]["channel"], "batches");
    for (r, code) in [
        (6, "unknown_market"),
        (7, "bad_request"),
        (8, "bad_request"),
    ] {
        assert_eq!(replies[r]["code"], code, "{}", replies[r]);
    }

    // Trader 0 bids, trader 1 sells into it.
    let bid = s.f.order(0, btc(), Side::Buy, 30, 499_000);
    let sell = s.f.order(1, btc(), Side::Sell, 20, 499_000);
    let (status, _) = s
        .post("/v1/orders", json!({ "order": bid }).to_string())
        .await;
    assert_eq!(status, 200);
    let placed = next(&mut ws).await;
    assert_eq!(
        (
            placed["channel"].as_str(),
            placed["order"]["status"].as_str()
        ),
        (Some("orders"), Some("open")),
        "{placed}"
    );
    let delta = next(&mut ws).await;
    assert_eq!(
        (delta["type"].as_str(), delta["seq"].as_u64()),
        (Some("delta"), Some(1))
    );
    assert_eq!(delta["bids"][0]["size_lots"], 30, "{delta}");
    let (status, _) = s
        .post("/v1/orders", json!({ "order": sell }).to_string())
        .await;
    assert_eq!(status, 200);
    let mut got = Vec::new();
    loop {
        let m = next(&mut ws).await;
        let done = m["channel"] == "book";
        got.push(m);
        if done {
            break;
        }
    }
    let channels: Vec<&str> = got
        .iter()
        .map(|m| m["channel"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(channels, ["orders", "trades", "fills", "book"], "{got:?}");
    assert_eq!(got[0]["order"]["filled_lots"], 20);
    assert_eq!(
        (got[1]["price"].as_str(), got[1]["size_lots"].as_u64()),
        (Some("49900.0"), Some(20))
    );
    assert_eq!(
        (got[2]["account"].as_u64(), got[2]["fill"]["role"].as_str()),
        (Some(a.get()), Some("maker"))
    );
    assert_eq!(
        (
            got[3]["seq"].as_u64(),
            got[3]["bids"][0]["size_lots"].as_u64()
        ),
        (Some(2), Some(10))
    );

    // A batch record written by the pipeline reaches the batches channel.
    let record = BatchRecord {
        number: 1,
        shape: "o2-f1-l1-x1-d2-fw1-fc1-ft1-t4-w1-c1".into(),
        old_root: "1".into(),
        new_root: "2".into(),
        timestamp: START,
        transactions: 5,
        status: BatchStatus::Sealed,
    };
    s.services.batches.put(&record).expect("put");
    let batch = next(&mut ws).await;
    assert_eq!(
        (
            batch["channel"].as_str(),
            batch["batch"]["status"]["status"].as_str(),
            batch["batch"]["number"].as_u64()
        ),
        (Some("batches"), Some("sealed"), Some(1)),
        "{batch}"
    );

    // The markets channel: every market's mode, then the markets whose mode changed.
    ws.send(ask(json!({"op": "subscribe", "channel": "markets"})))
        .await
        .expect("send");
    assert_eq!(next(&mut ws).await["subscription"]["channel"], "markets");
    let snapshot = next(&mut ws).await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    assert_eq!(snapshot["markets"][0]["mode"]["mode"], "open", "{snapshot}");
    // BTC's oracles disagree (quotes 6% apart): reduce-only, on the channel and in the API.
    // (In a batch of its own: the first one's oracle slots are taken.)
    let hub = &s.services.hub;
    hub.execute(Command::EndBatch).expect("seal");
    hub.execute(Command::BeginBatch {
        timestamp: ts(START + 1),
    })
    .expect("begin");
    let tick = s.f.oracle_tick_tx(btc(), [490_000, 500_000, 520_000]);
    let applied = hub.execute(Command::Apply { tx: tick }).expect("tick");
    assert_eq!(applied.outcome, zkperp_core::batcher::Outcome::Applied);
    s.services.batches.put(&record).expect("put");
    assert_eq!(next(&mut ws).await["channel"], "batches");
    let update = next(&mut ws).await;
    assert_eq!(
        (
            update["type"].as_str(),
            update["markets"].as_array().map(Vec::len),
            update["markets"][0]["mode"]["mode"].as_str(),
            update["markets"][0]["mode"]["why"].as_str(),
        ),
        (
            Some("update"),
            Some(1),
            Some("reduce_only"),
            Some("oracles_disagree")
        ),
        "{update}"
    );
    let (_, markets) = s.get("/v1/markets").await;
    assert_eq!(markets["markets"][0]["mode"]["mode"], "reduce_only");
    assert_eq!(markets["markets"][1]["mode"]["mode"], "open");
    // Trader 1 is short 20 BTC lots: selling more would open risk.
    let bid = s.f.order(1, btc(), Side::Sell, 1, 501_000);
    let (status, refused) = s
        .post("/v1/orders", json!({ "order": bid }).to_string())
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (422, Some("market_reduce_only")),
        "{refused}"
    );
}

/// A subscriber that falls more than the feed's buffer behind is told it lagged and closed
/// with code 1008 and a reason; the exchange does not wait for it, and a new session works.
#[tokio::test]
async fn a_websocket_subscriber_that_falls_behind_is_closed_with_a_reason() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::Message;
    use zkperp_core::engine::OrderOptions;

    let mut s = start_with_feed(8).await;
    let url = format!("{}/v1/ws", s.base.replace("http://", "ws://"));
    let connect = || async {
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("connect");
        let subscribe = json!({"op": "subscribe", "channel": "trades", "market": 0});
        ws.send(Message::Text(subscribe.to_string().into()))
            .await
            .expect("send");
        let ack = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("an answer within 10 s")
            .expect("open")
            .expect("ok");
        assert!(ack.to_text().expect("text").contains("subscribed"), "{ack}");
        ws
    };
    let mut slow = connect().await;
    // This test's runtime has one thread: while it runs the sequencer here, the session cannot
    // read the feed. Twelve resting orders publish 24 events (each an order update and a book
    // delta) into a feed that holds eight (one fill's events fit).
    for i in 0..12 {
        let order = s.f.order(0, btc(), Side::Buy, 1, 490_000 + i);
        s.services
            .hub
            .execute(Command::Submit {
                order,
                options: OrderOptions::default(),
            })
            .expect("accepted");
    }
    let mut got = Vec::new();
    let close = loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), slow.next())
            .await
            .expect("the session is closed within 10 s");
        match msg {
            Some(Ok(Message::Close(frame))) => break frame.expect("a close frame with a reason"),
            Some(Ok(Message::Text(t))) => {
                got.push(serde_json::from_str::<Value>(t.as_str()).expect("JSON"))
            }
            Some(Ok(_)) => continue,
            other => panic!("a close frame, not {other:?} (after {got:?})"),
        }
    };
    assert_eq!(close.code, CloseCode::Policy, "{close:?}");
    assert!(
        close.reason.starts_with("lagged: ") && close.reason.contains("reconnect"),
        "{close:?}"
    );
    let last = got.last().expect("the lagged error before the close");
    assert_eq!(
        (last["channel"].as_str(), last["code"].as_str()),
        (Some("error"), Some("lagged")),
        "{got:?}"
    );
    // The exchange went on: a new subscriber is served.
    let mut fresh = connect().await;
    let sell = s.f.order(1, btc(), Side::Sell, 1, 490_011);
    let (status, _) = s
        .post("/v1/orders", json!({ "order": sell }).to_string())
        .await;
    assert_eq!(status, 200);
    let trade = tokio::time::timeout(std::time::Duration::from_secs(10), fresh.next())
        .await
        .expect("the trade within 10 s")
        .expect("open")
        .expect("ok");
    assert!(
        trade.to_text().expect("text").contains("\"trades\""),
        "{trade}"
    );
}

/// Oracle signer services post signed quotes: a quote signed by the market's key is kept as
/// that key's latest; a tampered price, a key the market does not have, a time after the
/// server's clock, a replayed or older quote and a malformed signature are each refused with
/// their code, and none of them displaces the accepted quote.
#[tokio::test]
async fn oracle_quotes_are_kept_only_when_signed_fresh_and_newer() {
    use zkperp_state::tx::Quote;
    use zkperp_state::units::{MarketId, PriceTicks, Timestamp};
    let s = start().await;
    let now = wall_clock();
    let sign = |oracle: usize, market: u64, price: u64, at: u64| {
        let quote = Quote {
            market: MarketId::new(market).expect("market"),
            price: PriceTicks::new(price).expect("price"),
            timestamp: Timestamp::new(at).expect("time"),
        };
        let signature =
            s.f.oracles[oracle].sign(quote.message(&zkperp_state::domain::SigningDomain::TEST));
        json!({
            "market": market, "oracle": oracle, "price_ticks": price, "timestamp": at,
            "signature": signature,
        })
    };
    let good = sign(1, 0, 501_000, now - 2);
    let (status, body) = s.post("/v1/oracle/quotes", good.to_string()).await;
    assert_eq!((status, &body["accepted"]), (200, &json!(true)), "{body}");

    let mut tampered = sign(2, 0, 501_000, now - 2);
    tampered["price_ticks"] = json!(900_000);
    let mut wrong_key = sign(0, 0, 501_000, now - 2);
    wrong_key["oracle"] = json!(7);
    let mut bad_hex = sign(2, 0, 501_000, now - 2);
    bad_hex["signature"] = json!("00");
    for (quote, status_code, code) in [
        (tampered, 422, "bad_signature"),
        (wrong_key, 422, "unknown_oracle"),
        (sign(2, 9, 501_000, now - 2), 422, "unknown_market"),
        (sign(2, 0, 501_000, now + 120), 422, "quote_from_the_future"),
        (sign(2, 0, 501_000, now - 3_600), 422, "stale_quote"),
        (sign(2, 0, 0, now - 2), 422, "zero_price"),
        (good.clone(), 422, "quote_not_newer"),
        (sign(1, 0, 499_000, now - 3), 422, "quote_not_newer"),
        (bad_hex, 400, "bad_request"),
    ] {
        let (status, body) = s.post("/v1/oracle/quotes", quote.to_string()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (status_code, Some(code)),
            "{quote}: {body}"
        );
    }
    let book = s.services.oracle.lock().expect("book");
    let latest: Vec<_> = book.latest(MarketId::new(0).expect("m")).collect();
    assert_eq!(latest.len(), 1, "only the good quote is kept");
    assert_eq!(
        (latest[0].oracle, latest[0].quote.price.get()),
        (1, 501_000)
    );
}
