//! The WebSocket at `/v1/ws`: public books and trades, an account's orders and fills (signed
//! like a private read), and every batch's status on its way to L1.
//!
//! Requests are JSON text frames:
//!
//! ```text
//! {"op": "subscribe", "channel": "book", "market": "BTC-USD"}        (index or name)
//! {"op": "subscribe", "channel": "trades", "market": 0}
//! {"op": "subscribe", "channel": "account", "account": 3, "timestamp": 1795000000,
//!  "signature": "<128 hex digits: EdDSA-Poseidon over auth::read_message(3, timestamp)>"}
//! {"op": "subscribe", "channel": "batches"}
//! {"op": "subscribe", "channel": "markets"}
//! {"op": "unsubscribe", ...the same fields}
//! ```
//!
//! Messages, each with a `channel`:
//!
//! * `subscribed` / `unsubscribed`: the request, acknowledged;
//! * `book`: first `"type": "snapshot"` (every level, with the sequence number `seq` of the
//!   last delta it includes), then `"type": "delta"` with the new totals of the levels a command
//!   changed (`size_lots` 0: gone) and `seq` one more than the last. A client that sees a gap
//!   resubscribes for a fresh snapshot;
//! * `trades`: each public trade (no accounts);
//! * `orders`, `fills`: the subscribed account's order updates and fills;
//! * `batches`: each batch record as it is written (sealed, proven, verified, failed);
//! * `markets`: every market as `/v1/markets` shows it, with its mode (`open`, `reduce_only`,
//!   `stale`, `closed`), why, and whether its band binds (`crate::MarketMode`): first all of
//!   them, then, as batches are written, the markets whose mode changed;
//! * `error`: `{"code", "message"}` for a bad request (the session goes on), or `lagged` when
//!   this client fell more than the feed's buffer behind ([`zkperp_sequencer::hub::FEED_BUFFER`] events).
//!
//! Everything a session sends is in the order the sequencer did it.
//!
//! The feed never waits for a subscriber. One that falls more than the buffer behind gets the
//! `lagged` error and then a close frame with code 1008 (policy violation) and the reason
//! `lagged: <n> events missed; reconnect and resubscribe`; one that stops reading altogether
//! (its TCP window full) is dropped when a message has waited [`SEND_TIMEOUT`] to leave.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use zkperp_state::eddsa::Signature;
use zkperp_state::units::AccountId;

use crate::{check_read, market_index, units, ApiError, Services, Units};
use zkperp_sequencer::hub::FeedEvent;

/// A client's request. (Unknown fields are ignored: serde cannot deny them through `flatten`.)
#[derive(Debug, Deserialize)]
struct Request {
    op: Op,
    #[serde(flatten)]
    channel: Channel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Op {
    Subscribe,
    Unsubscribe,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
enum Channel {
    Book {
        market: MarketRef,
    },
    Trades {
        market: MarketRef,
    },
    Account {
        account: u64,
        timestamp: Option<u64>,
        signature: Option<Signature>,
    },
    Batches,
    Markets,
}

/// A market by index or name.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum MarketRef {
    Index(u64),
    Name(String),
}

impl MarketRef {
    fn text(&self) -> String {
        match self {
            MarketRef::Index(i) => i.to_string(),
            MarketRef::Name(n) => n.clone(),
        }
    }
}

/// What a session is subscribed to.
#[derive(Debug, Default)]
struct Subscriptions {
    /// Market to the sequence number of the last delta sent.
    books: BTreeMap<usize, u64>,
    trades: BTreeSet<usize>,
    accounts: BTreeSet<AccountId>,
    batches: bool,
    /// The modes last sent on the `markets` channel (`None`: not subscribed).
    markets: Option<Vec<Value>>,
}

pub(crate) async fn upgrade(
    State(s): State<Services>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) => ws.on_upgrade(move |socket| session(s, socket)),
        Err(e) => ApiError::BadRequest(format!("a WebSocket upgrade is needed: {}", e.body_text()))
            .into_response(),
    }
}

fn error(e: &ApiError) -> Value {
    json!({"channel": "error", "code": e.code(), "message": e.to_string()})
}

/// How long one message may wait to leave before its session is given up on: a subscriber
/// that stops reading fills its TCP window, and then nothing it is sent can leave.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The close code of a subscriber dropped for falling behind the feed (RFC 6455: policy
/// violation).
pub const CLOSE_LAGGED: u16 = 1008;

/// Sends `message`; false if the session is over (the peer went, or it did not take the
/// message within [`SEND_TIMEOUT`]).
async fn send_message(socket: &mut WebSocket, message: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await,
        Ok(Ok(()))
    )
}

async fn send(socket: &mut WebSocket, v: Value) -> bool {
    send_message(socket, Message::Text(v.to_string().into())).await
}

/// Tells a subscriber that fell `missed` messages behind, then closes its session with
/// [`CLOSE_LAGGED`] and the reason.
async fn drop_lagged(socket: &mut WebSocket, missed: u64, what: &str) {
    let message = format!("{missed} {what} missed: reconnect and resubscribe");
    let told = send(
        socket,
        json!({"channel": "error", "code": "lagged", "message": message}),
    )
    .await;
    if told {
        let frame = CloseFrame {
            code: CLOSE_LAGGED,
            reason: format!("lagged: {missed} {what} missed; reconnect and resubscribe").into(),
        };
        send_message(socket, Message::Close(Some(frame))).await;
    }
}

async fn session(s: Services, mut socket: WebSocket) {
    // Subscribed before any snapshot is read: nothing after a snapshot can be missed.
    let mut feed = s.hub.subscribe();
    let mut batches = s.batches.subscribe();
    let units = units(&s);
    let mut subs = Subscriptions::default();
    loop {
        let out: Vec<Value> = tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(text))) => handle(&s, &units, &mut subs, text.as_str()),
                Some(Ok(Message::Binary(_))) => vec![error(&ApiError::BadRequest(
                    "requests are JSON text frames".into(),
                ))],
                Some(Ok(_)) => continue, // pings are answered by the server; pongs need nothing
                Some(Err(_)) | None => break,
            },
            event = feed.recv() => match event {
                Ok(event) => render(&units, &mut subs, &event).into_iter().collect(),
                Err(RecvError::Lagged(n)) => {
                    drop_lagged(&mut socket, n, "events").await;
                    break;
                }
                Err(RecvError::Closed) => break,
            },
            record = batches.recv() => match record {
                Ok(record) => {
                    let mut out = Vec::new();
                    if subs.batches {
                        out.push(json!({"channel": "batches", "batch": record}));
                    }
                    out.extend(market_changes(&s, &units, &mut subs));
                    out
                }
                Err(RecvError::Lagged(n)) => {
                    drop_lagged(&mut socket, n, "batch updates").await;
                    break;
                }
                Err(RecvError::Closed) => break,
            },
        };
        for v in out {
            if !send(&mut socket, v).await {
                return;
            }
        }
    }
}

/// A request's replies.
fn handle(s: &Services, units: &Units, subs: &mut Subscriptions, text: &str) -> Vec<Value> {
    let request: Request = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => return vec![error(&ApiError::BadRequest(format!("bad request: {e}")))],
    };
    match reply(s, units, subs, request) {
        Ok(v) => v,
        Err(e) => vec![error(&e)],
    }
}

fn reply(
    s: &Services,
    units: &Units,
    subs: &mut Subscriptions,
    request: Request,
) -> Result<Vec<Value>, ApiError> {
    let subscribe = request.op == Op::Subscribe;
    let ack = |what: Value| {
        json!({
            "channel": if subscribe { "subscribed" } else { "unsubscribed" },
            "subscription": what,
        })
    };
    let market = |m: &MarketRef| s.hub.with_sequencer(|seq| market_index(seq, &m.text()));
    Ok(match request.channel {
        Channel::Book { market: m } => {
            let m = market(&m)?;
            if !subscribe {
                subs.books.remove(&m);
                return Ok(vec![ack(json!({"channel": "book", "market": m}))]);
            }
            let levels = s
                .hub
                .book(m)
                .ok_or_else(|| ApiError::UnknownMarket(m.to_string()))?;
            subs.books.insert(m, levels.seq);
            let (bids, asks) = levels.top(usize::MAX);
            vec![
                ack(json!({"channel": "book", "market": m})),
                json!({
                    "channel": "book",
                    "type": "snapshot",
                    "market": m,
                    "seq": levels.seq,
                    "bids": bids.iter().map(|l| units.level(m, l)).collect::<Vec<_>>(),
                    "asks": asks.iter().map(|l| units.level(m, l)).collect::<Vec<_>>(),
                }),
            ]
        }
        Channel::Trades { market: m } => {
            let m = market(&m)?;
            if subscribe {
                subs.trades.insert(m);
            } else {
                subs.trades.remove(&m);
            }
            vec![ack(json!({"channel": "trades", "market": m}))]
        }
        Channel::Account {
            account,
            timestamp,
            signature,
        } => {
            let id = AccountId::new(account)
                .map_err(|_| ApiError::BadRequest(format!("account {account} is out of range")))?;
            if subscribe {
                let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
                    return Err(ApiError::Unauthenticated(crate::auth::AuthError::Missing(
                        "timestamp and signature",
                    )));
                };
                check_read(s, id, timestamp, &signature)?;
                subs.accounts.insert(id);
            } else {
                subs.accounts.remove(&id);
            }
            vec![ack(json!({"channel": "account", "account": account}))]
        }
        Channel::Batches => {
            subs.batches = subscribe;
            vec![ack(json!({"channel": "batches"}))]
        }
        Channel::Markets => {
            if !subscribe {
                subs.markets = None;
                return Ok(vec![ack(json!({"channel": "markets"}))]);
            }
            let now = market_modes(s, units);
            subs.markets = Some(now.clone());
            vec![
                ack(json!({"channel": "markets"})),
                json!({"channel": "markets", "type": "snapshot", "markets": now}),
            ]
        }
    })
}

/// Every market as the `markets` channel shows it (as `/v1/markets` does).
fn market_modes(s: &Services, units: &Units) -> Vec<Value> {
    s.hub.with_sequencer(|seq| crate::market_views(seq, units))
}

/// The markets whose mode changed since the session last heard, if it subscribed.
fn market_changes(s: &Services, units: &Units, subs: &mut Subscriptions) -> Option<Value> {
    let sent = subs.markets.as_mut()?;
    let now = market_modes(s, units);
    let changed: Vec<Value> = now
        .iter()
        .zip(sent.iter())
        .filter(|(a, b)| a["mode"] != b["mode"])
        .map(|(a, _)| a.clone())
        .collect();
    *sent = now;
    (!changed.is_empty())
        .then(|| json!({"channel": "markets", "type": "update", "markets": changed}))
}

/// The message `event` makes for this session, if it is subscribed to it.
fn render(units: &Units, subs: &mut Subscriptions, event: &FeedEvent) -> Option<Value> {
    match event {
        FeedEvent::Book {
            market,
            seq,
            bids,
            asks,
        } => {
            let last = subs.books.get_mut(market)?;
            if *seq <= *last {
                return None; // already in the snapshot
            }
            *last = *seq;
            Some(json!({
                "channel": "book",
                "type": "delta",
                "market": market,
                "seq": seq,
                "bids": bids.iter().map(|l| units.level(*market, l)).collect::<Vec<_>>(),
                "asks": asks.iter().map(|l| units.level(*market, l)).collect::<Vec<_>>(),
            }))
        }
        FeedEvent::Trade(t) => subs.trades.contains(&t.market).then(|| {
            let mut v = units.trade(t);
            v["channel"] = json!("trades");
            v
        }),
        FeedEvent::Order(o) => subs
            .accounts
            .contains(&o.account)
            .then(|| json!({"channel": "orders", "order": units.order(o)})),
        FeedEvent::Fill { account, fill } => subs.accounts.contains(account).then(
            || json!({"channel": "fills", "account": account.get(), "fill": units.fill(fill)}),
        ),
    }
}
