//! zkperp's REST API, version 1 (first slice): markets, order books, signed orders, batches and
//! exit witnesses, over the sequencer's live state, the batch pipeline's records and the state
//! the L1 last verified.
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/markets` | each market's parameters, mark price and funding index |
//! | `GET /v1/markets/{market}/book` | resting orders, best first (`market`: index or name) |
//! | `POST /v1/orders` | a signed order (EdDSA-Poseidon over `Order::hash`) and its options |
//! | `GET /v1/batches`, `GET /v1/batches/{n}` | each batch's roots and L1 status |
//! | `GET /v1/accounts/{id}/exit-witness` | the leaf and path at the last verified batch |
//! | `GET /v1/openapi.json` | the OpenAPI 3 document of these routes ([`openapi`]) |
//!
//! Every refusal is a 4xx with a JSON body `{"code": "...", "message": "..."}`; the codes are
//! stable (see [`ApiError::code`]). An order is acknowledged only after the sequencer has
//! journaled it (synced to disk): a 200 means it survives a crash.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zkperp_sequencer::engine::{OrderError, OrderOptions};
use zkperp_sequencer::journal::Command;
use zkperp_sequencer::pipeline::BatchStore;
use zkperp_sequencer::sequencer::{Outcome, Sequencer};
use zkperp_sequencer::verified::{VerifiedError, VerifiedState};
use zkperp_state::order::SignedOrder;
use zkperp_state::units::AccountId;

pub mod openapi;

/// What the API reads and writes; shared with the process that drives the sequencer.
#[derive(Debug, Clone)]
pub struct Services {
    pub sequencer: Arc<Mutex<Sequencer>>,
    pub batches: Arc<BatchStore>,
    pub verified: Arc<Mutex<VerifiedState>>,
}

/// A refusal, with a stable code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no market {0}")]
    UnknownMarket(String),
    #[error("no batch {0}")]
    UnknownBatch(u64),
    #[error("no account {0} at the last verified batch")]
    UnknownAccount(String),
    #[error("order refused: {0}")]
    OrderRefused(OrderError),
    #[error("{0}")]
    BadRequest(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The stable, machine-readable code of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::UnknownMarket(_) => "unknown_market",
            ApiError::UnknownBatch(_) => "unknown_batch",
            ApiError::UnknownAccount(_) => "unknown_account",
            ApiError::OrderRefused(e) => order_code(e),
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Internal(_) => "internal",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownMarket(_)
            | ApiError::UnknownBatch(_)
            | ApiError::UnknownAccount(_) => StatusCode::NOT_FOUND,
            ApiError::OrderRefused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
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
        OrderError::Risk(_) => "insufficient_margin",
        OrderError::State(_) => "state_refused",
        OrderError::NoOpenBatch => "no_open_batch",
        OrderError::CancelPending => "cancel_pending",
        OrderError::TooManyFills { .. } => "too_many_fills",
        OrderError::Batch(_) => "batch_error",
        OrderError::TradeOutsideBook => "trade_outside_book",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"code": self.code(), "message": self.to_string()});
        (self.status(), Json(body)).into_response()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves data that is still consistent here:
    // every write to it is a whole command.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn router(services: Services) -> Router {
    Router::new()
        .route("/v1/markets", get(markets))
        .route("/v1/markets/{market}/book", get(book))
        .route("/v1/orders", post(submit_order))
        .route("/v1/batches", get(batches))
        .route("/v1/batches/{n}", get(batch))
        .route("/v1/accounts/{id}/exit-witness", get(exit_witness))
        .route(
            "/v1/openapi.json",
            get(|| async { Json(openapi::document()) }),
        )
        .fallback(|| async {
            ApiError::BadRequest("no such route (see /v1/markets, /v1/orders, /v1/batches)".into())
        })
        .with_state(services)
}

async fn markets(State(s): State<Services>) -> Json<Value> {
    let seq = lock(&s.sequencer);
    let state = seq.engine().state();
    let list: Vec<Value> = state
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
                "initial_margin_ppm": params.initial_margin.get(),
                "maintenance_margin_ppm": params.maintenance_margin.get(),
                "mark_price_ticks": m.mark_price.get().to_string(),
                "funding_index": m.funding_index.get().to_string(),
            })
        })
        .collect();
    Json(json!({ "markets": list }))
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

async fn book(
    State(s): State<Services>,
    Path(market): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let seq = lock(&s.sequencer);
    let m = market_index(&seq, &market)?;
    let book = seq
        .engine()
        .book(m)
        .ok_or_else(|| ApiError::UnknownMarket(market.clone()))?;
    Ok(Json(json!({ "market": m, "book": book.snapshot() })))
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
    events: Vec<zkperp_sequencer::book::Event>,
    /// Batches sealed because this order's fills filled them.
    sealed_batches: Vec<u64>,
}

async fn submit_order(
    State(s): State<Services>,
    body: Result<Json<OrderRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<OrderAck>, ApiError> {
    let Json(request) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    // Journaling is a synced disk write: off the async workers.
    let sequencer = s.sequencer.clone();
    let executed = tokio::task::spawn_blocking(move || {
        lock(&sequencer).execute(Command::Submit {
            order: request.order,
            options: request.options,
        })
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let sealed_batches = executed.sealed().map(|b| b.batch_number).collect();
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

async fn exit_witness(
    State(s): State<Services>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let account = id
        .parse::<u64>()
        .ok()
        .and_then(|n| AccountId::new(n).ok())
        .ok_or_else(|| ApiError::BadRequest(format!("account id {id:?} is not an account id")))?;
    let v = lock(&s.verified);
    let witness = v.exit_witness(account).map_err(|e| match e {
        VerifiedError::NoSuchAccount(_) => ApiError::UnknownAccount(id.clone()),
        other => ApiError::Internal(other.to_string()),
    })?;
    Ok(Json(json!({
        "batch": v.batch(),
        "state_root": zkperp_state::field::fr_to_decimal(&v.root()),
        "witness": witness,
    })))
}
