//! zkperp's REST and WebSocket API, version 1, over the sequencer's live state (through the
//! [`zkperp_sequencer::hub`]), the batch pipeline's records and the state the L1 last verified.
//!
//! | route | what | auth |
//! |---|---|---|
//! | `GET /v1/info` | the deployment: rollup and token addresses, chain id, RPC URL, signing domain | |
//! | `GET /v1/config` | the state configuration (what proofs are made for: exits need it) | |
//! | `GET /v1/accounts?public_key=0x..` | the accounts of a public key, with their L1 owners | |
//! | `GET /v1/markets` | each market's parameters, mark price and funding index | |
//! | `GET /v1/markets/{market}/book` | price levels, best first, with the delta sequence | |
//! | `GET /v1/markets/{market}/trades` | recent trades (no accounts) | |
//! | `POST /v1/orders` | a signed order (EdDSA-Poseidon over `Order::hash`) and its options | signed |
//! | `GET /v1/orders/{account}-{order_id}` | one order's status | read |
//! | `DELETE /v1/orders/{account}-{order_id}` | cancel, signed over `CancelOrder::message` | signed |
//! | `GET /v1/accounts/{id}` | collateral, positions, value and margin | read |
//! | `GET /v1/accounts/{id}/orders`, `/fills` | the account's orders and recent fills | read |
//! | `POST /v1/withdrawals` | a signed withdrawal to the account's L1 owner | signed |
//! | `GET /v1/batches`, `GET /v1/batches/{n}` | each batch's roots and L1 status | |
//! | `GET /v1/batches/{n}/blobs/{i}` | blob `i` of batch `n`, as posted (the node's archive; check it against the L1's versioned hash) | |
//! | `GET /v1/accounts/{id}/exit-witness` | the leaf and path at the last verified batch (or `?batch=n`) | read |
//! | `POST /v1/oracle/quotes` | a quote signed by one of a market's oracle keys (oracle signer services) | signed by an oracle |
//! | `GET /v1/ws` | WebSocket: books, trades, an account's orders and fills, batches ([`ws`]) | read for accounts |
//! | `GET /v1/openapi.json` | the OpenAPI 3 document of these routes ([`openapi`]) | |
//!
//! *read*: the request carries a signature of the account's key over a timestamp ([`auth`]).
//! Prices, sizes and collateral are shown as exact decimal strings ([`decimal`]) next to the
//! integers (ticks, lots, units of 10^-6) that orders sign.
//!
//! The provers' API (leases of sealed batches, proofs back) is a separate router on its own
//! listener: [`provers`].
//!
//! Every refusal is a 4xx with a JSON body `{"code": "...", "message": "..."}`; the codes are
//! stable (see [`ApiError::code`]). An order, cancel or withdrawal is acknowledged only after
//! the sequencer has journaled it (synced to disk): a 200 means it survives a crash.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zkperp_core::book::OrderKey;
use zkperp_core::command::Command;
use zkperp_core::engine::{OrderError, OrderOptions};
use zkperp_core::oracle::{OracleBook, QuoteError, RawQuote};
use zkperp_core::risk::RiskError;
use zkperp_sequencer::pipeline::BatchStore;
use zkperp_sequencer::sequencer::{Outcome, Sequencer};
use zkperp_sequencer::verified::{VerifiedError, VerifiedState};
use zkperp_state::eddsa::Signature;
use zkperp_state::funding::settle_funding;
use zkperp_state::margin::{margin_summary, Fraction};
use zkperp_state::order::SignedOrder;
use zkperp_state::tx::withdrawal::WithdrawalError;
use zkperp_state::tx::{CancelOrder, CancelOrderError, Transaction, TxError, Withdrawal};
use zkperp_state::units::{notional, AccountId, OrderId, PPM_ONE};

pub mod auth;
pub mod decimal;
pub mod openapi;
pub mod provers;
pub mod ws;

use decimal::{Scale, COLLATERAL};
use zkperp_sequencer::hub::{FillView, Hub, Level, OrderView, TradeView};

/// What the API reads and writes; shared with the process that drives the sequencer.
#[derive(Debug, Clone)]
pub struct Services {
    pub hub: Arc<Hub>,
    pub batches: Arc<BatchStore>,
    pub verified: Arc<Mutex<VerifiedState>>,
    /// The latest quote of every oracle key: `POST /v1/oracle/quotes` adds to it, the process
    /// driving the sequencer makes each batch's oracle ticks from it.
    pub oracle: Arc<Mutex<OracleBook>>,
    /// The blob archive the pipeline writes (`zkperp_sequencer::archive`), served as
    /// `GET /v1/batches/{n}/blobs/{i}`: `None` when this node keeps none.
    pub archive: Option<std::path::PathBuf>,
    /// What a wallet needs to reach the L1 (`GET /v1/info`): the rollup's and token's
    /// addresses, the chain id, an RPC URL. Public facts of the deployment.
    pub info: Value,
}

/// A refusal, with a stable code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no market {0}")]
    UnknownMarket(String),
    #[error("no batch {0}")]
    UnknownBatch(u64),
    #[error("batch {batch} has no blob {index} in this node's archive")]
    UnknownBlob { batch: u64, index: u64 },
    #[error("no account {0}")]
    UnknownAccount(String),
    #[error("no order {0}")]
    UnknownOrder(String),
    #[error("order refused: {0}")]
    OrderRefused(OrderError),
    #[error("refused by the state machine: {0}")]
    TxRefused(TxError),
    #[error("not authenticated: {0}")]
    Unauthenticated(auth::AuthError),
    #[error("quote refused: {0}")]
    QuoteRefused(QuoteError),
    #[error("malformed proof: {0}")]
    MalformedProof(String),
    #[error("proof refused: {0}")]
    ProofRefused(zkperp_sequencer::proving::SubmitError),
    #[error("{0}")]
    BadRequest(String),
    #[error("the exchange is taking all the commands it can; retry after {0} s")]
    Overloaded(u64),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The stable, machine-readable code of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::UnknownMarket(_) => "unknown_market",
            ApiError::UnknownBatch(_) => "unknown_batch",
            ApiError::UnknownBlob { .. } => "unknown_blob",
            ApiError::UnknownAccount(_) => "unknown_account",
            ApiError::UnknownOrder(_) => "unknown_order",
            ApiError::OrderRefused(e) => order_code(e),
            ApiError::TxRefused(e) => tx_code(e),
            ApiError::QuoteRefused(e) => quote_code(e),
            ApiError::MalformedProof(_) => "malformed_proof",
            ApiError::ProofRefused(e) => provers::submit_code(e),
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Overloaded(_) => "overloaded",
            ApiError::Internal(_) => "internal",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownMarket(_)
            | ApiError::UnknownBatch(_)
            | ApiError::UnknownBlob { .. }
            | ApiError::UnknownAccount(_)
            | ApiError::UnknownOrder(_)
            | ApiError::ProofRefused(zkperp_sequencer::proving::SubmitError::UnknownLease(_)) => {
                StatusCode::NOT_FOUND
            }
            ApiError::OrderRefused(_)
            | ApiError::TxRefused(_)
            | ApiError::QuoteRefused(_)
            | ApiError::ProofRefused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) | ApiError::MalformedProof(_) => StatusCode::BAD_REQUEST,
            ApiError::Overloaded(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

fn quote_code(e: &QuoteError) -> &'static str {
    match e {
        QuoteError::UnknownMarket(_) => "unknown_market",
        QuoteError::UnknownKey { .. } => "unknown_oracle",
        QuoteError::OutOfWidth(_) => "out_of_range",
        QuoteError::ZeroPrice => "zero_price",
        QuoteError::FromTheFuture { .. } => "quote_from_the_future",
        QuoteError::Stale { .. } => "stale_quote",
        QuoteError::NotNewer { .. } => "quote_not_newer",
        QuoteError::BadSignature { .. } => "bad_signature",
    }
}

fn order_code(e: &OrderError) -> &'static str {
    match e {
        OrderError::NoSuchAccount => "no_such_account",
        OrderError::UnknownMarket => "unknown_market",
        OrderError::MarketNotOpen => "market_not_open",
        OrderError::BadSignature => "bad_signature",
        OrderError::Expired => "expired",
        OrderError::Duplicate => "duplicate_order",
        OrderError::NonPositiveSize => "bad_size",
        OrderError::BelowFloor => "cancelled_from_l1",
        OrderError::Risk(RiskError::PositionLimit { .. }) => "position_limit",
        OrderError::Risk(RiskError::ReduceOnly) => "market_reduce_only",
        OrderError::Risk(_) => "insufficient_margin",
        OrderError::State(e) => tx_code(e),
        OrderError::NoOpenBatch => "no_open_batch",
        OrderError::CancelPending => "cancel_pending",
        OrderError::TooManyFills { .. } => "too_many_fills",
        OrderError::Batch(_) => "batch_error",
        OrderError::TradeOutsideBook => "trade_outside_book",
    }
}

/// The code of a withdrawal, cancel or fill the state machine refused.
fn tx_code(e: &TxError) -> &'static str {
    match e {
        TxError::CancelOrder(c) => match c {
            CancelOrderError::NoSuchAccount => "no_such_account",
            CancelOrderError::BadSignature => "bad_signature",
            CancelOrderError::Superseded => "superseded",
        },
        TxError::Withdrawal(w) => match w {
            WithdrawalError::NoSuchAccount => "no_such_account",
            WithdrawalError::ZeroAmount => "zero_amount",
            WithdrawalError::InsuranceFund => "insurance_fund",
            WithdrawalError::BadNonce { .. } => "bad_nonce",
            WithdrawalError::BadSignature => "bad_signature",
            WithdrawalError::Margin(_) => "insufficient_margin",
            WithdrawalError::StaleMark(_) => "stale_mark",
            WithdrawalError::Range(_) => "out_of_range",
        },
        // A mark older than its market's maximum age: no margin check until the next tick.
        TxError::Trade(zkperp_state::tx::TradeError::StaleMark(..)) => "stale_mark",
        // The market's risk limits (zkperp_state::limits), fixed at deployment.
        TxError::Trade(zkperp_state::tx::TradeError::PositionLimit(..)) => "position_limit",
        TxError::Trade(zkperp_state::tx::TradeError::OpenInterestCap(_)) => "open_interest_cap",
        // The market's oracles disagree: only closing fills (zkperp_state::limits).
        TxError::Trade(zkperp_state::tx::TradeError::ReduceOnly(..)) => "market_reduce_only",
        _ => "state_refused",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"code": self.code(), "message": self.to_string()});
        let mut response = (self.status(), Json(body)).into_response();
        if let ApiError::Overloaded(secs) = self {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves data that is still consistent here:
    // every write to it is a whole command.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn wall_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn router(services: Services) -> Router {
    Router::new()
        .route("/v1/markets", get(markets))
        .route("/v1/markets/{market}/book", get(book))
        .route("/v1/markets/{market}/trades", get(trades))
        .route("/v1/orders", post(submit_order))
        .route("/v1/orders/{id}", get(order).delete(cancel_order))
        .route("/v1/info", get(info))
        .route("/v1/config", get(config))
        .route("/v1/accounts", get(accounts_of_key))
        .route("/v1/accounts/{id}", get(account))
        .route("/v1/accounts/{id}/orders", get(account_orders))
        .route("/v1/accounts/{id}/fills", get(account_fills))
        .route("/v1/withdrawals", post(withdraw))
        .route("/v1/batches", get(batches))
        .route("/v1/batches/{n}", get(batch))
        .route("/v1/batches/{n}/blobs/{i}", get(batch_blob))
        .route("/v1/accounts/{id}/exit-witness", get(exit_witness))
        .route("/v1/oracle/quotes", post(oracle_quote))
        .route("/v1/ws", get(ws::upgrade))
        .route(
            "/v1/openapi.json",
            get(|| async { Json(openapi::document()) }),
        )
        .fallback(|| async { ApiError::BadRequest("no such route (see /v1/openapi.json)".into()) })
        .with_state(services)
}

/// Each market's decimal units, for display.
#[derive(Debug, Clone)]
pub struct Units {
    price: Vec<Scale>,
    size: Vec<Scale>,
}

impl Units {
    pub fn of(seq: &Sequencer) -> Self {
        let markets = &seq.engine().state().config().markets;
        // A configuration's sizes are validated decimal strings; a bad one shows integers.
        let one = Scale::from_str_or_one;
        Units {
            price: markets.iter().map(|m| one(&m.tick_size)).collect(),
            size: markets.iter().map(|m| one(&m.lot_size)).collect(),
        }
    }

    pub fn price(&self, market: usize, ticks: u64) -> String {
        self.price
            .get(market)
            .map_or(ticks.to_string(), |s| s.of(i128::from(ticks)).to_string())
    }

    pub fn size(&self, market: usize, lots: i128) -> String {
        self.size
            .get(market)
            .map_or(lots.to_string(), |s| s.of(lots).to_string())
    }

    pub fn level(&self, market: usize, l: &Level) -> Value {
        json!({
            "price": self.price(market, l.price),
            "size": self.size(market, i128::from(l.size)),
            "price_ticks": l.price,
            "size_lots": l.size,
        })
    }

    pub fn trade(&self, t: &TradeView) -> Value {
        json!({
            "market": t.market,
            "price": self.price(t.market, t.price),
            "size": self.size(t.market, i128::from(t.size)),
            "price_ticks": t.price,
            "size_lots": t.size,
            "taker_side": t.taker_side,
            "time": t.time,
            "ticket": t.ticket,
        })
    }

    pub fn order(&self, o: &OrderView) -> Value {
        let mut v = serde_json::to_value(o).unwrap_or_default();
        v["id"] = json!(format!("{}-{}", o.account.get(), o.order_id));
        v["price_ticks"] = json!(o.price);
        v["price"] = json!(self.price(o.market, o.price));
        for (field, lots) in [
            ("size", o.size),
            ("filled", o.filled),
            ("remaining", o.remaining),
        ] {
            v[format!("{field}_lots")] = json!(lots);
            v[field] = json!(self.size(o.market, i128::from(lots)));
        }
        v
    }

    pub fn fill(&self, f: &FillView) -> Value {
        let mut v = serde_json::to_value(f).unwrap_or_default();
        v["price_ticks"] = json!(f.price);
        v["price"] = json!(self.price(f.market, f.price));
        v["size_lots"] = json!(f.size);
        v["size"] = json!(self.size(f.market, i128::from(f.size)));
        v
    }
}

impl Scale {
    fn from_str_or_one(s: &str) -> Scale {
        s.parse().unwrap_or(decimal::ONE)
    }
}

fn units(s: &Services) -> Units {
    s.hub.with_sequencer(Units::of)
}

/// The deployment's public facts, with the signing domain every signature must commit to:
/// `{chain_id, rollup, value}` (value = `chain_id << 160 | rollup`, decimal; docs/SIGNING.md).
async fn info(State(s): State<Services>) -> Json<Value> {
    let domain = s
        .hub
        .with_sequencer(|seq| seq.engine().state().config().domain);
    let mut info = s.info.clone();
    if let Value::Object(map) = &mut info {
        map.insert(
            "signing_domain".into(),
            serde_json::json!({
                "chain_id": domain.chain_id,
                "rollup": format!("0x{}", hex::encode(domain.rollup.0)),
                "value": zkperp_state::field::fr_to_decimal(&domain.value()),
            }),
        );
    }
    Json(info)
}

async fn config(State(s): State<Services>) -> Json<Value> {
    Json(s.hub.with_sequencer(|seq| {
        serde_json::to_value(seq.engine().state().config()).unwrap_or_default()
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyQuery {
    public_key: String,
}

/// The accounts of a public key (an account is the pair of a key and an L1 owner). Knowing the
/// key is needed to ask: the accounts' contents stay behind signed reads.
async fn accounts_of_key(
    State(s): State<Services>,
    query: Result<Query<KeyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let bad = |e: String| ApiError::BadRequest(format!("public_key: {e}"));
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(q.public_key.trim_start_matches("0x"), &mut bytes)
        .map_err(|e| bad(e.to_string()))?;
    let key = zkperp_state::eddsa::PublicKey::unpack(&bytes).map_err(|e| bad(e.to_string()))?;
    let list: Vec<Value> = s.hub.with_sequencer(|seq| {
        seq.engine()
            .state()
            .accounts()
            .filter(|(_, a)| a.leaf.public_key == key)
            .map(|(id, a)| {
                json!({
                    "account": id.get(),
                    "l1_address": format!("0x{}", hex::encode(a.leaf.l1_address.0)),
                })
            })
            .collect()
    });
    Ok(Json(json!({ "accounts": list })))
}

async fn markets(State(s): State<Services>) -> Json<Value> {
    s.hub.with_sequencer(|seq| {
        let list = market_views(seq, &Units::of(seq));
        Json(json!({ "markets": list, "time": seq.engine().state().now().get() }))
    })
}

/// Every market as `/v1/markets` and the WebSocket's `markets` channel show it: its parameters,
/// its state and its mode.
pub(crate) fn market_views(seq: &Sequencer, units: &Units) -> Vec<Value> {
    let state = seq.engine().state();
    state
        .config()
        .markets
        .iter()
        .zip(state.markets())
        .enumerate()
        .map(|(i, (params, m))| {
            json!({
                "market": i,
                "name": params.name,
                "lot_size": params.lot_size,
                "tick_size": params.tick_size,
                "tick_value_units": params.tick_value.get(),
                "initial_margin_ppm": params.initial_margin.get(),
                "maintenance_margin_ppm": params.maintenance_margin.get(),
                "margin_tiers": params.margin_tiers.iter().map(|t| json!({
                    "from_lots": t.from_lots.to_string(),
                    "initial_margin_ppm": t.initial_margin.get(),
                    "maintenance_margin_ppm": t.maintenance_margin.get(),
                })).collect::<Vec<_>>(),
                "max_position_lots": params.max_position_lots.to_string(),
                "open_interest_cap_lots": params.open_interest_cap_lots.to_string(),
                "open_interest_lots": m.open_interest.to_string(),
                "mark_price": units.price(i, m.mark_price.get()),
                "mark_price_ticks": m.mark_price.get().to_string(),
                "index_price": units.price(i, m.index_price.get()),
                "index_price_ticks": m.index_price.get().to_string(),
                "mark_band_ppm": params.mark_band.get(),
                "max_quote_spread_ppm": params.max_quote_spread.get(),
                "max_mark_age_secs": params.max_mark_age_secs,
                "mark_time": m.mark_time.get(),
                "mode": MarketMode::of(m, params, state.now()),
                "funding_index": m.funding_index.get().to_string(),
                "last_funding": m.last_funding.get(),
            })
        })
        .collect()
}

/// What a market accepts now, and why, from its public state: `open`; `reduce_only` while
/// its oracles disagree (only fills that move positions towards zero); `stale` while its mark
/// is older than its maximum age (no margin check may read it: trades and withdrawals of
/// accounts holding it, liquidations and deleverages wait for a tick; cancels are accepted and
/// forced withdrawals served). `band_binds` says the mark is still following a move larger than
/// one tick's band (withdrawals then read the less favourable of mark and index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MarketMode {
    pub mode: &'static str,
    pub why: Option<&'static str>,
    pub band_binds: bool,
}

impl MarketMode {
    pub fn of(
        m: &zkperp_state::market::MarketState,
        params: &zkperp_state::market::MarketParams,
        now: zkperp_state::units::Timestamp,
    ) -> Self {
        let (mode, why) = if m.mark_price.get() == 0 {
            ("closed", Some("no_mark"))
        } else if !m.is_fresh(now, params) {
            ("stale", Some("stale_mark"))
        } else if m.quotes_disagree {
            ("reduce_only", Some("oracles_disagree"))
        } else {
            ("open", None)
        };
        MarketMode {
            mode,
            why,
            band_binds: m.band_binds(),
        }
    }
}

/// A market by index or by name (`BTC-USD`).
fn market_index(seq: &Sequencer, market: &str) -> Result<usize, ApiError> {
    let markets = &seq.engine().state().config().markets;
    market
        .parse::<usize>()
        .ok()
        .filter(|i| *i < markets.len())
        .or_else(|| markets.iter().position(|m| m.name == market))
        .ok_or_else(|| ApiError::UnknownMarket(market.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DepthQuery {
    depth: Option<usize>,
}

async fn book(
    State(s): State<Services>,
    Path(market): Path<String>,
    query: Result<Query<DepthQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let m = s.hub.with_sequencer(|seq| market_index(seq, &market))?;
    let units = units(&s);
    let levels = s
        .hub
        .book(m)
        .ok_or_else(|| ApiError::UnknownMarket(market.clone()))?;
    let (bids, asks) = levels.top(q.depth.unwrap_or(100));
    Ok(Json(json!({
        "market": m,
        "seq": levels.seq,
        "bids": bids.iter().map(|l| units.level(m, l)).collect::<Vec<_>>(),
        "asks": asks.iter().map(|l| units.level(m, l)).collect::<Vec<_>>(),
    })))
}

async fn trades(
    State(s): State<Services>,
    Path(market): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let m = s.hub.with_sequencer(|seq| market_index(seq, &market))?;
    let units = units(&s);
    let list: Vec<Value> = s
        .hub
        .trades(m)
        .iter()
        .rev()
        .map(|t| units.trade(t))
        .collect();
    Ok(Json(json!({ "market": m, "trades": list })))
}

/// An account id from a path segment.
fn account_id(id: &str) -> Result<AccountId, ApiError> {
    id.parse::<u64>()
        .ok()
        .and_then(|n| AccountId::new(n).ok())
        .ok_or_else(|| ApiError::BadRequest(format!("account id {id:?} is not an account id")))
}

/// Checks that the request is signed by `account`'s key ([`auth`]).
fn authenticate(s: &Services, account: AccountId, headers: &HeaderMap) -> Result<(), ApiError> {
    let header = |name: &'static str| -> Result<&str, ApiError> {
        headers
            .get(name)
            .ok_or(ApiError::Unauthenticated(auth::AuthError::Missing(name)))?
            .to_str()
            .map_err(|e| ApiError::Unauthenticated(auth::AuthError::Malformed(name, e.to_string())))
    };
    let timestamp: u64 = header(auth::TIMESTAMP_HEADER)?
        .trim()
        .parse()
        .map_err(|e| {
            ApiError::Unauthenticated(auth::AuthError::Malformed(
                auth::TIMESTAMP_HEADER,
                format!("{e}"),
            ))
        })?;
    let signature = auth::parse_signature(header(auth::SIGNATURE_HEADER)?)
        .map_err(ApiError::Unauthenticated)?;
    check_read(s, account, timestamp, &signature)
}

/// [`auth::check`] against the account's key in the live state.
pub(crate) fn check_read(
    s: &Services,
    account: AccountId,
    timestamp: u64,
    signature: &Signature,
) -> Result<(), ApiError> {
    let (domain, key) = s.hub.with_sequencer(|seq| {
        let state = seq.engine().state();
        let key = state.account(account).map(|a| a.leaf.public_key);
        (state.config().domain, key)
    });
    let key = key.ok_or_else(|| ApiError::UnknownAccount(account.get().to_string()))?;
    auth::check(&domain, &key, account, timestamp, signature, wall_clock())
        .map_err(ApiError::Unauthenticated)
}

/// `{account}-{order_id}`.
fn order_key(id: &str) -> Result<OrderKey, ApiError> {
    let bad = || ApiError::BadRequest(format!("order id {id:?} is not `account-order_id`"));
    let (account, order) = id.split_once('-').ok_or_else(bad)?;
    let account = account_id(account).map_err(|_| bad())?;
    let order_id = order
        .parse::<u64>()
        .ok()
        .and_then(|n| OrderId::new(n).ok())
        .ok_or_else(bad)?;
    Ok(OrderKey { account, order_id })
}

async fn order(
    State(s): State<Services>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let key = order_key(&id)?;
    authenticate(&s, key.account, &headers)?;
    let order = s.hub.order(&key).ok_or(ApiError::UnknownOrder(id))?;
    Ok(Json(units(&s).order(&order)))
}

/// `DELETE /v1/orders/{id}` body: the owner's signature over `CancelOrder::message`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    pub signature: Signature,
}

/// The threads that check traders' signatures before their commands queue for the
/// sequencer's lock: one per core.
fn verifiers() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("zkperp-verify-{i}"))
            .build()
            .expect("a thread pool")
    })
}

/// A trader's command waiting for its signature check, and where the verdict goes.
struct WaitingCheck {
    hub: Arc<Hub>,
    command: Command,
    admitted: zkperp_sequencer::hub::Admission,
    answer: tokio::sync::oneshot::Sender<(Option<bool>, Command, zkperp_sequencer::hub::Admission)>,
}

/// Commands waiting for the verifiers. Each arrival queues its command and asks the pool for
/// one run of [`check_waiting`], which takes one command, or everything waiting (up to
/// [`CHECK_BATCH`]) once a batch's worth waits: under light load each check has a thread of
/// its own, and in a burst the checks go through the batch path ([`Hub::check_signatures`]),
/// about half the arithmetic each from 64 on.
static WAITING_CHECKS: Mutex<Vec<WaitingCheck>> = Mutex::new(Vec::new());

/// The most signatures one run of [`check_waiting`] checks together.
const CHECK_BATCH: usize = 256;

fn check_waiting() {
    let mut taken: Vec<WaitingCheck> = {
        let mut waiting = lock(&WAITING_CHECKS);
        // Fewer than a batch's worth: one, so the other verifiers take the others at once.
        let n = match waiting.len() {
            n if n >= zkperp_state::eddsa::BATCH_FROM => n.min(CHECK_BATCH),
            n => n.min(1),
        };
        waiting.drain(..n).collect()
    };
    // Each hub checks its own commands (a process may run several).
    while let Some(first) = taken.first() {
        let hub = first.hub.clone();
        let (mine, others): (Vec<_>, Vec<_>) =
            taken.into_iter().partition(|w| Arc::ptr_eq(&w.hub, &hub));
        taken = others;
        let commands: Vec<&Command> = mine.iter().map(|w| &w.command).collect();
        let verdicts = hub.check_signatures(&commands);
        for (w, verdict) in mine.into_iter().zip(verdicts) {
            // The receiver is gone only if the request was dropped.
            let _ = w.answer.send((verdict, w.command, w.admitted));
        }
    }
}

/// A place in the hub's bounded intake ([`Hub::admit`]), taken before the request's body is
/// read or decoded: with none free the answer is 429 `overloaded` with `Retry-After` at once,
/// and a refused request costs no JSON and no point decoding (a signature's `R8` subgroup
/// check is a scalar multiplication). Nothing is queued, nothing journaled.
struct Admitted(zkperp_sequencer::hub::Admission);

impl axum::extract::FromRequestParts<Services> for Admitted {
    type Rejection = ApiError;

    async fn from_request_parts(
        _parts: &mut axum::http::request::Parts,
        s: &Services,
    ) -> Result<Self, ApiError> {
        s.hub.admit().map(Admitted).ok_or(ApiError::Overloaded(1))
    }
}

/// Runs a trader's `command`, admitted to the hub's bounded intake ([`Admitted`]), through
/// the hub: its signature
/// checked on the verifiers' pool ([`Hub::check_signature`]), outside the sequencer's lock (an
/// order whose signature does not verify against its account's key is refused there,
/// `bad_signature`, never queued); then executed off the async workers, journaled (a synced
/// disk write) before the answer. The place in the intake goes with the command, so a client
/// that hangs up does not free it before the work is done.
async fn execute(
    s: &Services,
    Admitted(admitted): Admitted,
    command: Command,
) -> Result<zkperp_sequencer::sequencer::Executed, ApiError> {
    let hub = s.hub.clone();
    let (answer, verdict) = tokio::sync::oneshot::channel();
    lock(&WAITING_CHECKS).push(WaitingCheck {
        hub: hub.clone(),
        command,
        admitted,
        answer,
    });
    verifiers().spawn(check_waiting);
    let (verdict, command, admitted) = verdict
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if verdict == Some(false) && matches!(command, Command::Submit { .. }) {
        return Err(ApiError::OrderRefused(OrderError::BadSignature));
    }
    tokio::task::spawn_blocking(move || {
        let _admitted = admitted;
        hub.execute(command)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(e.to_string()))
}

async fn cancel_order(
    State(s): State<Services>,
    Path(id): Path<String>,
    admitted: Admitted,
    body: Result<Json<CancelRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let key = order_key(&id)?;
    let Json(request) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let executed = execute(
        &s,
        admitted,
        Command::Cancel {
            cancel: CancelOrder {
                account: key.account,
                order_id: key.order_id,
                signature: request.signature,
            },
        },
    )
    .await?;
    match executed.outcome {
        Outcome::Cancelled(events) => Ok(Json(json!({
            "ticket": executed.ticket,
            "events": events,
        }))),
        Outcome::Refused(e) => Err(ApiError::OrderRefused(e)),
        other => Err(ApiError::Internal(format!("unexpected outcome {other:?}"))),
    }
}

async fn account(
    State(s): State<Services>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let account = account_id(&id)?;
    authenticate(&s, account, &headers)?;
    let units = units(&s);
    s.hub.with_sequencer(|seq| {
        let state = seq.engine().state();
        let mut leaf = state
            .account(account)
            .ok_or_else(|| ApiError::UnknownAccount(id.clone()))?
            .leaf
            .clone();
        // Shown as if funding were settled now: what the next transaction will see.
        settle_funding(&mut leaf, state.markets())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let params = &state.config().markets;
        let summary =
            |f| margin_summary(leaf.collateral, &leaf.positions, state.markets(), params, f);
        let (initial, maintenance) = (summary(Fraction::Initial), summary(Fraction::Maintenance));
        let money = |v: i128| COLLATERAL.of(v).to_string();
        let positions: Vec<Value> = leaf
            .positions
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.size.is_zero())
            .map(|(m, p)| {
                let value = notional(p.size, state.markets()[m].mark_price, params[m].tick_value);
                json!({
                    "market": m,
                    "name": params[m].name,
                    "size": units.size(m, p.size.get()),
                    "size_lots": p.size.get().to_string(),
                    "mark_price": units.price(m, state.markets()[m].mark_price.get()),
                    "notional": money(value),
                })
            })
            .collect();
        let ppm = i128::from(PPM_ONE);
        let waiting = seq
            .batcher()
            .held()
            .filter(|(_, tx)| matches!(tx, Transaction::Withdrawal(h) if h.account == account))
            .count() as u64;
        Ok(Json(json!({
            "account": account.get(),
            "l1_address": format!("0x{}", hex::encode(leaf.l1_address.0)),
            "public_key": format!("0x{}", hex::encode(leaf.public_key.pack())),
            "nonce": leaf.nonce.get(),
            // The nonce the next withdrawal signs: after those waiting for the seal.
            "next_withdrawal_nonce": leaf.nonce.get() + waiting,
            "collateral": money(leaf.collateral.get()),
            "total_value": money(initial.total_value),
            "initial_margin": money(initial.total_risk_ppm / ppm),
            "maintenance_margin": money(maintenance.total_risk_ppm / ppm),
            "free_collateral": money((initial.total_value - initial.total_risk_ppm / ppm).max(0)),
            "liquidatable": zkperp_state::margin::is_liquidatable(&maintenance),
            "positions": positions,
            "time": state.now().get(),
        })))
    })
}

async fn account_orders(
    State(s): State<Services>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let account = account_id(&id)?;
    authenticate(&s, account, &headers)?;
    let units = units(&s);
    let list: Vec<Value> = s
        .hub
        .orders(account)
        .iter()
        .rev()
        .map(|o| units.order(o))
        .collect();
    Ok(Json(json!({ "account": account.get(), "orders": list })))
}

async fn account_fills(
    State(s): State<Services>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let account = account_id(&id)?;
    authenticate(&s, account, &headers)?;
    let units = units(&s);
    let list: Vec<Value> = s
        .hub
        .fills(account)
        .iter()
        .rev()
        .map(|f| units.fill(f))
        .collect();
    Ok(Json(json!({ "account": account.get(), "fills": list })))
}

/// `POST /v1/withdrawals` body: a withdrawal signed by the account's key
/// (`Withdrawal::message(account, amount, nonce)`); the amount goes to the account's L1 owner.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalRequest {
    pub withdrawal: Withdrawal,
}

/// What can be known of a withdrawal when it arrives (it is applied at the seal, against the
/// margin the batch's trades leave): the account exists, the amount is positive, the nonce is
/// the next one after the account's nonce and its withdrawals already waiting, and the owner
/// signed it. Checked under the sequencer's lock, so a duplicate cannot slip in between.
fn check_withdrawal(seq: &Sequencer, w: &Withdrawal) -> Result<(), ApiError> {
    let refuse = |e: WithdrawalError| ApiError::TxRefused(TxError::Withdrawal(e));
    let leaf = &seq
        .engine()
        .state()
        .account(w.account)
        .ok_or_else(|| refuse(WithdrawalError::NoSuchAccount))?
        .leaf;
    if w.amount.get() == 0 {
        return Err(refuse(WithdrawalError::ZeroAmount));
    }
    let waiting = seq
        .batcher()
        .held()
        .filter(|(_, tx)| matches!(tx, Transaction::Withdrawal(h) if h.account == w.account))
        .count() as u64;
    let expected = leaf.nonce.get() + waiting;
    if w.nonce.get() != expected {
        return Err(refuse(WithdrawalError::BadNonce {
            expected,
            got: w.nonce.get(),
        }));
    }
    leaf.public_key
        .verify(
            Withdrawal::message(
                &seq.engine().state().config().domain,
                w.account,
                w.amount,
                w.nonce,
            ),
            &w.signature,
        )
        .map_err(|_| refuse(WithdrawalError::BadSignature))
}

async fn withdraw(
    State(s): State<Services>,
    Admitted(admitted): Admitted,
    body: Result<Json<WithdrawalRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(request) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let w = request.withdrawal;
    let hub = s.hub.clone();
    let executed = tokio::task::spawn_blocking(move || {
        let _admitted = admitted;
        hub.execute_checked(
            Command::Apply {
                tx: Transaction::Withdrawal(w),
            },
            |seq| check_withdrawal(seq, &w),
        )
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    let status = match executed.outcome {
        Outcome::Applied => "applied",
        // Withdrawals wait for the seal, and are checked against the margin then.
        Outcome::Held => "held",
        Outcome::TxRefused(e) => return Err(ApiError::TxRefused(e)),
        other => return Err(ApiError::Internal(format!("unexpected outcome {other:?}"))),
    };
    Ok(Json(json!({
        "ticket": executed.ticket,
        "status": status,
        "account": w.account.get(),
        "nonce": w.nonce.get(),
        "amount": COLLATERAL.of(i128::from(w.amount.get())).to_string(),
        "amount_units": w.amount.get().to_string(),
    })))
}

/// `POST /v1/orders` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    pub order: SignedOrder,
    #[serde(default)]
    pub options: OrderOptions,
}

#[derive(Debug, Serialize)]
struct OrderAck {
    /// The journal sequence number of the order: it is on disk.
    ticket: u64,
    events: Vec<zkperp_core::book::Event>,
    /// Batches sealed because this order's fills filled them.
    sealed_batches: Vec<u64>,
}

async fn submit_order(
    State(s): State<Services>,
    admitted: Admitted,
    body: Result<Json<OrderRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<OrderAck>, ApiError> {
    let Json(request) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let executed = execute(
        &s,
        admitted,
        Command::Submit {
            order: request.order,
            options: request.options,
        },
    )
    .await?;
    let sealed_batches = executed.batch_numbers().collect();
    match executed.outcome {
        Outcome::Book(events) => Ok(Json(OrderAck {
            ticket: executed.ticket,
            events,
            sealed_batches,
        })),
        Outcome::Refused(e) => Err(ApiError::OrderRefused(e)),
        other => Err(ApiError::Internal(format!("unexpected outcome {other:?}"))),
    }
}

async fn batches(State(s): State<Services>) -> Result<Json<Value>, ApiError> {
    let all = s
        .batches
        .all()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let verified = lock(&s.verified).batch();
    Ok(Json(json!({ "verified_batch": verified, "batches": all })))
}

async fn batch(State(s): State<Services>, Path(n): Path<String>) -> Result<Json<Value>, ApiError> {
    let n: u64 = n
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("batch number {n:?} is not a number")))?;
    let record = s
        .batches
        .get(n)
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .ok_or(ApiError::UnknownBatch(n))?;
    Ok(Json(
        serde_json::to_value(record).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

/// Blob `i` of batch `n` as the node posted it: its 131,072 bytes, from the archive. Anyone
/// reading it checks it against the versioned hash the L1 verified, so serving it needs no
/// trust in this node.
async fn batch_blob(
    State(s): State<Services>,
    Path((n, i)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let number = |what: &str, text: &str| {
        text.parse::<u64>()
            .map_err(|_| ApiError::BadRequest(format!("{what} {text:?} is not a number")))
    };
    let (batch, index) = (number("batch number", &n)?, number("blob index", &i)?);
    let missing = ApiError::UnknownBlob { batch, index };
    let (Some(dir), Ok(at)) = (&s.archive, usize::try_from(index)) else {
        return Err(missing);
    };
    let file = zkperp_sequencer::archive::path(dir, batch, at);
    let read = tokio::task::spawn_blocking(move || std::fs::read(file))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    match read {
        Ok(bytes) => Ok((
            [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
            bytes,
        )
            .into_response()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(missing),
        Err(e) => Err(ApiError::Internal(e.to_string())),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchQuery {
    batch: Option<u64>,
}

/// The account's leaf and path after the last verified batch, or after verified batch
/// `?batch=n` (an exit needs the last; earlier ones serve history and audits).
async fn exit_witness(
    State(s): State<Services>,
    Path(id): Path<String>,
    query: Result<Query<BatchQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let account = account_id(&id)?;
    authenticate(&s, account, &headers)?;
    let v = lock(&s.verified);
    let batch = q.batch.unwrap_or(v.batch());
    let refused = |e: VerifiedError| match e {
        VerifiedError::NoSuchAccount(_) => ApiError::UnknownAccount(id.clone()),
        VerifiedError::NotVerified { batch, .. } | VerifiedError::NoHistory { batch, .. } => {
            ApiError::UnknownBatch(batch)
        }
        other => ApiError::Internal(other.to_string()),
    };
    let witness = if batch == v.batch() {
        v.exit_witness(account)
    } else {
        v.exit_witness_at(account, batch)
    }
    .map_err(refused)?;
    // The witness carries what the root is made of: no second read of the tree.
    let root = zkperp_state::market::state_root(witness.accounts_root, &witness.markets);
    Ok(Json(json!({
        "batch": batch,
        "last_verified_batch": v.batch(),
        "state_root": zkperp_state::field::fr_to_decimal(&root),
        "witness": witness,
    })))
}

/// `POST /v1/oracle/quotes` body: one oracle key's signed price (`Quote::message`), as an oracle
/// signer service sends it every few seconds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    pub market: u64,
    /// The key's index among the market's oracle keys (`GET /v1/config`).
    pub oracle: u8,
    pub price_ticks: u64,
    /// Unix seconds; not after the server's clock, within the market's freshness window.
    pub timestamp: u64,
    pub signature: Signature,
}

/// Keeps a quote as its key's latest if it is signed by that key, fresh and newer than the
/// key's last; each batch's oracle tick takes the median of the fresh ones. The signature is
/// what authenticates: anyone may relay a quote, no one can forge one.
async fn oracle_quote(
    State(s): State<Services>,
    body: Result<Json<QuoteRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(q) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let raw = RawQuote {
        oracle: q.oracle,
        market: q.market,
        price_ticks: q.price_ticks,
        timestamp: q.timestamp,
        signature: q.signature,
    };
    let now = zkperp_state::units::Timestamp::new(wall_clock())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    lock(&s.oracle)
        .ingest_raw(raw, now)
        .map_err(ApiError::QuoteRefused)?;
    Ok(Json(
        json!({"accepted": true, "market": q.market, "oracle": q.oracle}),
    ))
}
