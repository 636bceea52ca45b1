//! The OpenAPI 3 document of the routes this crate serves (`GET /v1/openapi.json`). Written by
//! hand next to the router; `tests/api.rs` checks that every documented path is served and
//! answers with a documented status.

use serde_json::{json, Value};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn ok(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"type": "object"}}}})
}

/// The document.
pub fn document() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "zkperp API",
            "version": "1.0.0-slice1",
            "description": "Markets, order books, signed orders, batches and exit witnesses. Amounts and prices are integers in the market's units (lots, ticks, collateral units), as decimal strings where they can exceed 2^53. Every refusal is a 4xx with a stable code."
        },
        "paths": {
            "/v1/markets": {"get": {
                "summary": "Each market's parameters, mark price and funding index",
                "responses": {"200": ok("the markets")}
            }},
            "/v1/markets/{market}/book": {"get": {
                "summary": "Resting orders, best price first, time priority within a price",
                "parameters": [{"name": "market", "in": "path", "required": true,
                    "description": "market index or name (BTC-USD)", "schema": {"type": "string"}}],
                "responses": {"200": ok("the book"), "404": error_response("unknown_market")}
            }},
            "/v1/orders": {"post": {
                "summary": "Submit a signed order; acknowledged once journaled on disk",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OrderRequest"}}}},
                "responses": {
                    "200": ok("ticket (journal sequence number) and book events"),
                    "400": error_response("bad_request: malformed JSON or a value out of its width"),
                    "422": error_response("refused: no_such_account, unknown_market, market_not_open, bad_signature, expired, duplicate_order, insufficient_margin, state_refused, no_open_batch, cancel_pending, too_many_fills")
                }
            }},
            "/v1/batches": {"get": {
                "summary": "Every batch's roots and L1 status, and the last verified batch",
                "responses": {"200": ok("the batches")}
            }},
            "/v1/batches/{n}": {"get": {
                "summary": "One batch",
                "parameters": [{"name": "n", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}}],
                "responses": {"200": ok("the batch"), "400": error_response("bad_request"), "404": error_response("unknown_batch")}
            }},
            "/v1/accounts/{id}/exit-witness": {"get": {
                "summary": "The account's leaf and Merkle path at the last batch verified on L1, with the markets: what an exit proof needs",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}}],
                "responses": {"200": ok("the witness"), "400": error_response("bad_request"), "404": error_response("unknown_account")}
            }},
            "/v1/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": ok("OpenAPI 3")}
            }}
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string", "description": "stable, machine-readable"},
                "message": {"type": "string"}
            }},
            "OrderRequest": {"type": "object", "required": ["order"], "additionalProperties": false, "properties": {
                "order": {"type": "object", "description": "SignedOrder: {order: {account, market, side, size, limit_price, max_fee, expiry, order_id}, signature: {r8, s}}; the signature is EdDSA-Poseidon over Order::hash"},
                "options": {"type": "object", "properties": {
                    "time_in_force": {"type": "string", "enum": ["good_till_cancelled", "immediate_or_cancel", "fill_or_kill", "post_only"]},
                    "reduce_only": {"type": "boolean"},
                    "self_trade": {"type": "string"}
                }}
            }}
        }}
    })
}
