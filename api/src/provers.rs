//! The prover API: how remote provers (`zkperp prover`) take sealed batches from a node and
//! bring back their proofs. It is served on its own listener (`zkperp node --prover-listen`),
//! meant for the operator's network, never next to the public API, and every request carries
//! the operator's shared secret as `Authorization: Bearer <token>`.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/prover/lease` | `{"prover": name, "wait_secs": n}`: the next batch to prove, waiting up to `n` s (at most [`MAX_WAIT_SECS`]); 204 when none came |
//! | `POST /v1/prover/proofs` | `{"lease": id, "proof": hex}`: a proof in the wire encoding ([`zkperp_prover::export::proof_from_bytes`]), checked before it is accepted |
//! | `POST /v1/prover/release` | `{"lease": id, "reason": text}`: give a lease back (the prover cannot finish it) |
//! | `GET /v1/prover/status` | every batch waiting for a proof: its state, prover, leases and refused proofs |
//!
//! A lease is `{"lease": id, "batch_number": n, "shape": id, "expires_in_secs": s, "batch":
//! SealedBatch}`: the batch's whole witness as JSON (every field element a decimal string
//! checked `< r` when read). The node trusts no prover: a proof is accepted only if it verifies
//! against the batch's public-data commitment with the deployment's verifying key
//! ([`ProvingQueue`]); refusals carry the usual stable codes (`unauthenticated`,
//! `malformed_proof`, `invalid_proof`, `unknown_lease`, `bad_request`).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use zkperp_prover::export;
use zkperp_sequencer::proving::{ProvingQueue, SubmitError};

use crate::auth::AuthError;
use crate::ApiError;

/// The longest a lease request waits for a batch.
pub const MAX_WAIT_SECS: u64 = 30;

/// The shortest token the node accepts: 128 bits in hex.
pub const MIN_TOKEN_CHARS: usize = 32;

#[derive(Clone)]
struct Provers {
    queue: Arc<ProvingQueue>,
    token: Arc<str>,
}

/// The prover API over `queue`, for requests bearing `token`.
pub fn router(queue: Arc<ProvingQueue>, token: &str) -> Router {
    let provers = Provers {
        queue,
        token: token.into(),
    };
    Router::new()
        .route("/v1/prover/lease", post(lease))
        .route("/v1/prover/proofs", post(submit))
        .route("/v1/prover/release", post(release))
        .route("/v1/prover/status", get(status))
        .fallback(|| async { ApiError::BadRequest("no such route".into()) })
        .layer(axum::middleware::from_fn_with_state(
            provers.clone(),
            authenticate,
        ))
        .with_state(provers)
}

/// Equal in time whatever the first differing byte (the token is a password).
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn authenticate(State(p): State<Provers>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(token) if same_secret(token.trim().as_bytes(), p.token.as_bytes()) => {
            next.run(request).await
        }
        Some(_) => ApiError::Unauthenticated(AuthError::BadToken).into_response(),
        None => ApiError::Unauthenticated(AuthError::Missing("authorization")).into_response(),
    }
}

type Body<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

fn body<T>(b: Body<T>) -> Result<T, ApiError> {
    b.map(|Json(t)| t)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LeaseRequest {
    prover: String,
    #[serde(default)]
    wait_secs: u64,
}

async fn lease(State(p): State<Provers>, b: Body<LeaseRequest>) -> Result<Response, ApiError> {
    let request = body(b)?;
    let name = request.prover.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(ApiError::BadRequest(
            "a prover's name is 1 to 64 characters".into(),
        ));
    }
    let wait = Duration::from_secs(request.wait_secs.min(MAX_WAIT_SECS));
    let Some(lease) = p.queue.lease(name, wait).await else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let batch = serde_json::to_value(&*lease.batch).map_err(|e| {
        // Cannot happen (a sealed batch always serialises); do not keep the lease if it does.
        let _ = p.queue.release(&lease.id);
        ApiError::Internal(e.to_string())
    })?;
    Ok(Json(json!({
        "lease": lease.id,
        "batch_number": lease.batch.batch_number,
        "shape": p.queue.shape().id(),
        "expires_in_secs": lease.expires_in.as_secs(),
        "batch": batch,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofRequest {
    lease: String,
    proof: String,
}

async fn submit(State(p): State<Provers>, b: Body<ProofRequest>) -> Result<Json<Value>, ApiError> {
    let request = body(b)?;
    let bytes = hex::decode(request.proof.trim().trim_start_matches("0x"))
        .map_err(|e| ApiError::MalformedProof(e.to_string()))?;
    let proof = export::proof_from_bytes(&bytes).map_err(ApiError::MalformedProof)?;
    let queue = p.queue.clone();
    // The pairing check takes milliseconds of CPU: not on the runtime's worker.
    let batch = tokio::task::spawn_blocking(move || queue.submit(&request.lease, proof))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::ProofRefused)?;
    Ok(Json(json!({"accepted": true, "batch": batch})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseRequest {
    lease: String,
    #[serde(default)]
    reason: String,
}

async fn release(
    State(p): State<Provers>,
    b: Body<ReleaseRequest>,
) -> Result<Json<Value>, ApiError> {
    let request = body(b)?;
    let batch = p
        .queue
        .release(&request.lease)
        .map_err(ApiError::ProofRefused)?;
    tracing::warn!(target: "provers", batch, reason = %request.reason, "lease given back");
    Ok(Json(json!({"released": true, "batch": batch})))
}

async fn status(State(p): State<Provers>) -> Json<Value> {
    Json(json!({
        "shape": p.queue.shape().id(),
        "lease_secs": p.queue.lease_secs(),
        "batches": p.queue.status(),
    }))
}

/// The stable code of a refused proof.
pub(crate) fn submit_code(e: &SubmitError) -> &'static str {
    match e {
        SubmitError::UnknownLease(_) => "unknown_lease",
        SubmitError::InvalidProof { .. } => "invalid_proof",
    }
}
