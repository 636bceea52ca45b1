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

/// A trader's command the bounded intake could not take (`zkperp_sequencer::hub::Hub::admit`).
fn overloaded() -> Value {
    json!({
        "description": "overloaded: the intake is full; nothing was queued or journaled. Retry after the Retry-After header's seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn market() -> Value {
    json!({"name": "market", "in": "path", "required": true,
        "description": "market index or name (BTC-USD)", "schema": {"type": "string"}})
}

fn account() -> Value {
    json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}})
}

fn order_id() -> Value {
    json!({"name": "id", "in": "path", "required": true,
        "description": "account-order_id, e.g. 3-17", "schema": {"type": "string"}})
}

fn body(schema: &str) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
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
            "version": "1.0.0",
            "description": "Markets, books, trades, signed orders, cancels and withdrawals, accounts, batches, exit witnesses and a WebSocket feed. Prices, sizes and collateral are exact decimal strings (price, size, collateral, ...) next to the integers orders sign (price_ticks, size_lots, *_units). Private reads carry the headers x-zkperp-timestamp and x-zkperp-signature: EdDSA-Poseidon over Poseidon(5 | signing_domain << 8, account, timestamp) (signing_domain: GET /v1/info; docs/SIGNING.md), within 60 s of the server's clock. Every refusal is a 4xx with a stable code."
        },
        "paths": {
            "/v1/info": {"get": {
                "summary": "The deployment: the rollup's and collateral token's addresses, the chain id, an RPC URL",
                "responses": {"200": ok("the deployment")}
            }},
            "/v1/config": {"get": {
                "summary": "The state configuration the circuits are made for (markets, oracle keys, tree depths, system accounts): an exit proof needs it",
                "responses": {"200": ok("the configuration")}
            }},
            "/v1/accounts": {"get": {
                "summary": "The accounts of a public key, with their L1 owners",
                "parameters": [{"name": "public_key", "in": "query", "required": true,
                    "description": "packed Baby Jubjub key, 64 hex digits", "schema": {"type": "string"}}],
                "responses": {"200": ok("the accounts"), "400": error_response("bad_request")}
            }},
            "/v1/markets": {"get": {
                "summary": "Each market's parameters, mark price (decimal and ticks) and funding index",
                "responses": {"200": ok("the markets")}
            }},
            "/v1/markets/{market}/book": {"get": {
                "summary": "Price levels, best first, with the sequence number of the last book delta they include",
                "parameters": [market(), {"name": "depth", "in": "query", "required": false,
                    "description": "levels per side (default 100)", "schema": {"type": "integer", "minimum": 0}}],
                "responses": {"200": ok("the levels"), "400": error_response("bad_request"), "404": error_response("unknown_market")}
            }},
            "/v1/markets/{market}/trades": {"get": {
                "summary": "Recent public trades, newest first (no accounts)",
                "parameters": [market()],
                "responses": {"200": ok("the trades"), "404": error_response("unknown_market")}
            }},
            "/v1/orders": {"post": {
                "summary": "Submit a signed order; acknowledged once journaled on disk",
                "requestBody": body("OrderRequest"),
                "responses": {
                    "200": ok("ticket (journal sequence number) and book events"),
                    "400": error_response("bad_request: malformed JSON or a value out of its width"),
                    "422": error_response("refused: no_such_account, unknown_market, market_not_open, bad_signature, expired, duplicate_order, bad_size, cancelled_from_l1, insufficient_margin, position_limit, open_interest_cap, market_reduce_only, state_refused, no_open_batch, cancel_pending, too_many_fills"),
                    "429": overloaded()
                }
            }},
            "/v1/orders/{id}": {
                "get": {
                    "summary": "One order's status, for its owner",
                    "parameters": [order_id()],
                    "security": [{"readSignature": []}],
                    "responses": {"200": ok("the order"), "400": error_response("bad_request"), "401": error_response("unauthenticated"), "404": error_response("unknown_account, unknown_order")}
                },
                "delete": {
                    "summary": "Cancel a resting order with the owner's signature over CancelOrder::message(account, order_id)",
                    "parameters": [order_id()],
                    "requestBody": body("CancelRequest"),
                    "responses": {"200": ok("ticket and book events"), "400": error_response("bad_request"), "422": error_response("bad_signature, cancel_pending, no_open_batch"), "429": overloaded()}
                }
            },
            "/v1/accounts/{id}": {"get": {
                "summary": "Collateral, positions, total value, margin requirements and nonce, funding settled to now",
                "parameters": [account()],
                "security": [{"readSignature": []}],
                "responses": {"200": ok("the account"), "400": error_response("bad_request"), "401": error_response("unauthenticated"), "404": error_response("unknown_account")}
            }},
            "/v1/accounts/{id}/orders": {"get": {
                "summary": "The account's orders, newest first",
                "parameters": [account()],
                "security": [{"readSignature": []}],
                "responses": {"200": ok("the orders"), "400": error_response("bad_request"), "401": error_response("unauthenticated"), "404": error_response("unknown_account")}
            }},
            "/v1/accounts/{id}/fills": {"get": {
                "summary": "The account's recent fills, newest first",
                "parameters": [account()],
                "security": [{"readSignature": []}],
                "responses": {"200": ok("the fills"), "400": error_response("bad_request"), "401": error_response("unauthenticated"), "404": error_response("unknown_account")}
            }},
            "/v1/withdrawals": {"post": {
                "summary": "A withdrawal signed over Withdrawal::message(account, amount, nonce); claimable on L1 by the account's owner once its batch is verified",
                "requestBody": body("WithdrawalRequest"),
                "responses": {
                    "200": ok("ticket, and applied (or held for the next batch's slots)"),
                    "400": error_response("bad_request"),
                    "422": error_response("no_such_account, zero_amount, bad_nonce, bad_signature, insufficient_margin, out_of_range"),
                    "429": overloaded()
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
            "/v1/batches/{n}/blobs/{i}": {"get": {
                "summary": "Blob i of batch n, its 131,072 bytes as posted with the batch: the node's archive, kept after consensus clients prune blobs. Check it against the versioned hash the L1 verified (zkperp rebuild does)",
                "parameters": [{"name": "n", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}},
                    {"name": "i", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}}],
                "responses": {"200": {"description": "the blob", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                    "400": error_response("bad_request"), "404": error_response("unknown_blob")}
            }},
            "/v1/accounts/{id}/exit-witness": {"get": {
                "summary": "The account's leaf and Merkle path at the last batch verified on L1, with the markets: what an exit proof needs. With ?batch=n, as of verified batch n",
                "parameters": [account(), {"name": "batch", "in": "query", "required": false,
                    "description": "a verified batch (default: the last)", "schema": {"type": "integer", "minimum": 0}}],
                "security": [{"readSignature": []}],
                "responses": {"200": ok("the witness"), "400": error_response("bad_request"), "401": error_response("unauthenticated"), "404": error_response("unknown_account, unknown_batch")}
            }},
            "/v1/oracle/quotes": {"post": {
                "summary": "A price quote signed by one of the market's oracle keys over Quote::message(market, price_ticks, timestamp); the median of the fresh quotes becomes the next batch's mark",
                "requestBody": body("QuoteRequest"),
                "responses": {
                    "200": ok("accepted"),
                    "400": error_response("bad_request"),
                    "422": error_response("unknown_market, unknown_oracle, out_of_range, zero_price, quote_from_the_future, stale_quote, quote_not_newer, bad_signature")
                }
            }},
            "/v1/ws": {"get": {
                "summary": "WebSocket (upgrade): subscribe to book snapshots and sequenced deltas, trades, an account's orders and fills (with a read signature), and batch status. Protocol in the crate's ws module",
                "responses": {"101": {"description": "switching to the WebSocket protocol"}, "400": error_response("bad_request: not a WebSocket upgrade")}
            }},
            "/v1/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": ok("OpenAPI 3")}
            }}
        },
        "components": {
        "securitySchemes": {"readSignature": {"type": "apiKey", "in": "header", "name": "x-zkperp-signature",
            "description": "128 hex digits: the account key's EdDSA-Poseidon signature over Poseidon(5 | signing_domain << 8, account, x-zkperp-timestamp)"}},
        "schemas": {
            "Error": {"type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string", "description": "stable, machine-readable"},
                "message": {"type": "string"}
            }},
            "CancelRequest": {"type": "object", "required": ["signature"], "additionalProperties": false, "properties": {
                "signature": {"type": "string", "description": "128 hex digits (packed R8 || S) over CancelOrder::message(account, order_id)"}
            }},
            "WithdrawalRequest": {"type": "object", "required": ["withdrawal"], "additionalProperties": false, "properties": {
                "withdrawal": {"type": "object", "description": "{account, amount (units of 10^-6), nonce (the account's), signature over Withdrawal::message}"}
            }},
            "QuoteRequest": {"type": "object", "required": ["market", "oracle", "price_ticks", "timestamp", "signature"], "additionalProperties": false, "properties": {
                "market": {"type": "integer", "minimum": 0},
                "oracle": {"type": "integer", "minimum": 0, "description": "the key's index among the market's oracle_keys (GET /v1/config)"},
                "price_ticks": {"type": "integer", "minimum": 1},
                "timestamp": {"type": "integer", "description": "unix seconds"},
                "signature": {"type": "string", "description": "128 hex digits (packed R8 || S) over Quote::message"}
            }},
            "OrderRequest": {"type": "object", "required": ["order"], "additionalProperties": false, "properties": {
                "order": {"type": "object", "description": "SignedOrder: {order: {account, market, side, size (lots), limit_price (ticks), max_fee (ppm), expiry, order_id}, signature}; the signature (128 hex digits, packed R8 || S, as circomlibjs packSignature) is EdDSA-Poseidon over Order::hash"},
                "options": {"type": "object", "properties": {
                    "time_in_force": {"type": "string", "enum": ["good_till_cancelled", "immediate_or_cancel", "fill_or_kill", "post_only"]},
                    "reduce_only": {"type": "boolean"},
                    "self_trade": {"type": "string"}
                }}
            }}
        }}
    })
}
