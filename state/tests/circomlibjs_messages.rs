//! Every signed message of docs/SIGNING.md (orders, cancels, withdrawals, oracle quotes, API
//! reads) built and signed by circomlibjs 0.1.7 alone: `testdata/circomlibjs/gen-messages.js`
//! packs the words from the docs, not from this code, and signs them with `signPoseidon`. Here
//! each message is built again with our types: its tag, words and hash must be circomlibjs',
//! our verifier must accept circomlibjs' packed signature, the same signature must not verify
//! for the message on another deployment (chain id 1, same rollup address), and the request
//! bodies the script writes must decode through our serde types to the values it signed.
//!
//! Regenerate the vectors: `cd state/testdata/circomlibjs && npm ci && node gen-messages.js`.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;

use serde_json::Value;
use zkperp_state::babyjubjub::fs_from_le_bytes;
use zkperp_state::domain::{MessageKind, SigningDomain};
use zkperp_state::eddsa::{PrivateKey, PublicKey, Signature, SignatureError};
use zkperp_state::field::{fr_from_decimal, fr_to_le_bytes};
use zkperp_state::order::{Order, Side, SignedOrder};
use zkperp_state::poseidon::{poseidon, poseidon_slice};
use zkperp_state::tx::{CancelOrder, Quote, Withdrawal};
use zkperp_state::units::{
    AccountId, Amount, BaseLots, L1Address, MarketId, Nonce, OrderId, Ppm, PriceTicks, Timestamp,
};
use zkperp_state::Fr;

fn load() -> Value {
    let path = format!(
        "{}/testdata/circomlibjs/messages.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("vector file is JSON")
}

fn fe(v: &Value) -> Fr {
    fr_from_decimal(v.as_str().expect("decimal string")).expect("canonical element")
}

fn bytes<const N: usize>(v: &Value) -> [u8; N] {
    let mut out = [0u8; N];
    hex::decode_to_slice(
        v.as_str().expect("hex string").trim_start_matches("0x"),
        &mut out,
    )
    .expect("hex of the right length");
    out
}

/// A field of an example: a decimal string.
fn int(fields: &Value, name: &str) -> u64 {
    let text = fields[name]
        .as_str()
        .unwrap_or_else(|| panic!("field {name} is a string"));
    text.parse()
        .unwrap_or_else(|e| panic!("field {name} = {text}: {e}"))
}

fn domain_of(v: &Value) -> SigningDomain {
    SigningDomain {
        chain_id: v["chain_id"]
            .as_str()
            .expect("chain id")
            .parse()
            .expect("u64"),
        rollup: L1Address(bytes::<20>(&v["rollup"])),
    }
}

fn kind_of(name: &str) -> MessageKind {
    match name {
        "order" => MessageKind::Order,
        "withdrawal" => MessageKind::Withdrawal,
        "oracle_quote" => MessageKind::OracleQuote,
        "cancel_order" => MessageKind::CancelOrder,
        "api_read" => MessageKind::ApiRead,
        other => panic!("unknown message kind {other}"),
    }
}

fn account(f: &Value) -> AccountId {
    AccountId::new(int(f, "account")).expect("account id")
}

fn order(f: &Value) -> Order {
    Order {
        account: account(f),
        market: MarketId::new(int(f, "market")).expect("market"),
        side: match f["side"].as_str().expect("side") {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            other => panic!("side {other}"),
        },
        size: BaseLots::new(i128::from(int(f, "size"))).expect("size"),
        limit_price: PriceTicks::new(int(f, "limit_price")).expect("limit price"),
        max_fee: Ppm::new(int(f, "max_fee")).expect("max fee"),
        expiry: Timestamp::new(int(f, "expiry")).expect("expiry"),
        order_id: OrderId::new(int(f, "order_id")).expect("order id"),
    }
}

fn quote(f: &Value) -> Quote {
    Quote {
        market: MarketId::new(int(f, "market")).expect("market"),
        price: PriceTicks::new(int(f, "price")).expect("price"),
        timestamp: Timestamp::new(int(f, "timestamp")).expect("timestamp"),
    }
}

/// `zkperp_api::auth::read_message`, which this crate cannot depend on.
fn read_message(domain: &SigningDomain, account: AccountId, timestamp: u64) -> Fr {
    poseidon([
        domain.tag(MessageKind::ApiRead),
        Fr::from(account.get()),
        Fr::from(timestamp),
    ])
}

/// The message an example signs on `domain`, built with our types.
fn message(case: &Value, domain: &SigningDomain) -> Fr {
    let f = &case["fields"];
    match kind_of(case["kind"].as_str().expect("kind")) {
        MessageKind::Order => order(f).hash(domain),
        MessageKind::CancelOrder => CancelOrder::message(
            domain,
            account(f),
            OrderId::new(int(f, "order_id")).expect("order id"),
        ),
        MessageKind::Withdrawal => Withdrawal::message(
            domain,
            account(f),
            Amount::new(int(f, "amount")).expect("amount"),
            Nonce::new(int(f, "nonce")).expect("nonce"),
        ),
        MessageKind::OracleQuote => quote(f).message(domain),
        MessageKind::ApiRead => read_message(domain, account(f), int(f, "timestamp")),
    }
}

#[test]
fn the_domain_value_and_tags_match_circomlibjs() {
    let v = load();
    let domain = domain_of(&v["domain"]);
    assert_eq!(domain, SigningDomain::TEST);
    let other = domain_of(&v["other_domain"]);
    assert_eq!(
        other,
        SigningDomain {
            chain_id: 1,
            ..SigningDomain::TEST
        }
    );
    for (d, json) in [(domain, &v["domain"]), (other, &v["other_domain"])] {
        assert_eq!(d.value(), fe(&json["value"]), "{d:?}");
        for (name, tag) in json["tags"].as_object().expect("tags") {
            assert_eq!(d.tag(kind_of(name)), fe(tag), "{d:?} {name}");
        }
        assert_eq!(json["tags"].as_object().expect("tags").len(), 5);
    }
}

#[test]
fn every_message_hashes_as_circomlibjs_and_its_signature_verifies_only_on_its_deployment() {
    let v = load();
    let domain = domain_of(&v["domain"]);
    let other = domain_of(&v["other_domain"]);
    let key = PrivateKey::from_bytes(bytes::<32>(&v["private_key"]));
    let pk = PublicKey::unpack(&bytes::<32>(&v["public_key_packed"])).expect("public key decodes");
    assert_eq!(key.public_key(), pk);
    assert_eq!(pk.x(), fe(&v["public_key"]["x"]));
    assert_eq!(pk.y(), fe(&v["public_key"]["y"]));

    let mut per_kind: BTreeMap<String, usize> = BTreeMap::new();
    for case in v["messages"].as_array().expect("messages") {
        let label = case["label"].as_str().expect("label");
        let name = case["kind"].as_str().expect("kind");
        *per_kind.entry(name.to_string()).or_default() += 1;
        let kind = kind_of(name);
        assert_eq!(
            case["kind_number"].as_u64(),
            Some(u64::from(kind as u8)),
            "{label}"
        );
        let tag = domain.tag(kind);
        assert_eq!(tag, fe(&case["tag"]), "{label}: tag");

        // The hash: ours from our types, theirs from the docs' packing.
        let msg = message(case, &domain);
        assert_eq!(msg, fe(&case["message"]), "{label}: message hash");
        // Their words are the ones we hash (for every kind; orders' are compared directly too).
        let words: Vec<Fr> = case["words"]
            .as_array()
            .expect("words")
            .iter()
            .map(fe)
            .collect();
        let inputs: Vec<Fr> = std::iter::once(tag).chain(words.iter().copied()).collect();
        assert_eq!(poseidon_slice(&inputs), Ok(msg), "{label}: words");
        if kind == MessageKind::Order {
            assert_eq!(order(&case["fields"]).words().to_vec(), words, "{label}");
        }

        // Their signature: canonical, accepted by our verifier, and the one we make.
        let packed = bytes::<64>(&case["signature"]);
        let sig = Signature::unpack(&packed).expect("signature decodes");
        assert_eq!(sig.pack(), packed, "{label}: canonical encoding");
        // S < l < r: read as a base-field element, it has the same 32 little-endian bytes.
        let s_le = fr_to_le_bytes(&fe(&case["signature_parts"]["s"]));
        assert_eq!(Some(*sig.s()), fs_from_le_bytes(&s_le), "{label}: S");
        assert_eq!(
            sig.r8().x,
            fe(&case["signature_parts"]["r8"]["x"]),
            "{label}"
        );
        assert_eq!(
            sig.r8().y,
            fe(&case["signature_parts"]["r8"]["y"]),
            "{label}"
        );
        assert_eq!(pk.verify(msg, &sig), Ok(()), "{label}: signature");
        assert_eq!(key.sign(msg), sig, "{label}: we sign the same");

        // Another deployment: another message, which the signature does not sign.
        let elsewhere = message(case, &other);
        assert_eq!(
            elsewhere,
            fe(&case["other_domain_message"]),
            "{label}: message on chain 1"
        );
        assert_ne!(elsewhere, msg, "{label}");
        assert_eq!(
            pk.verify(elsewhere, &sig),
            Err(SignatureError::Invalid),
            "{label}: valid on another deployment"
        );
    }
    for kind in [
        "order",
        "cancel_order",
        "withdrawal",
        "oracle_quote",
        "api_read",
    ] {
        assert!(
            per_kind.get(kind).copied().unwrap_or(0) >= 3,
            "too few {kind} examples: {per_kind:?}"
        );
    }
}

#[test]
fn the_request_bodies_decode_to_what_was_signed() {
    let v = load();
    for case in v["messages"].as_array().expect("messages") {
        let label = case["label"].as_str().expect("label");
        let f = &case["fields"];
        let request = &case["request"];
        let signature =
            Signature::unpack(&bytes::<64>(&case["signature"])).expect("signature decodes");
        let body: Value = request["body"]
            .as_str()
            .map(|text| serde_json::from_str(text).expect("body is JSON"))
            .unwrap_or(Value::Null);
        let method = request["method"].as_str().expect("method");
        let path = request["path"].as_str().expect("path");
        match kind_of(case["kind"].as_str().expect("kind")) {
            MessageKind::Order => {
                assert_eq!((method, path), ("POST", "/v1/orders"), "{label}");
                let keys: Vec<&String> = body.as_object().expect("object").keys().collect();
                assert_eq!(keys.len(), 2, "{label}: order and options");
                let signed: SignedOrder =
                    serde_json::from_value(body["order"].clone()).expect("a SignedOrder");
                assert_eq!(
                    signed,
                    SignedOrder {
                        order: order(f),
                        signature
                    },
                    "{label}"
                );
                for option in ["time_in_force", "reduce_only", "self_trade"] {
                    assert!(!body["options"][option].is_null(), "{label}: {option}");
                }
            }
            MessageKind::CancelOrder => {
                assert_eq!(method, "DELETE", "{label}");
                assert_eq!(
                    path,
                    format!("/v1/orders/{}-{}", int(f, "account"), int(f, "order_id")),
                    "{label}"
                );
                assert_eq!(body.as_object().expect("object").len(), 1, "{label}");
                let theirs: Signature =
                    serde_json::from_value(body["signature"].clone()).expect("a signature");
                assert_eq!(theirs, signature, "{label}");
            }
            MessageKind::Withdrawal => {
                assert_eq!((method, path), ("POST", "/v1/withdrawals"), "{label}");
                assert_eq!(body.as_object().expect("object").len(), 1, "{label}");
                let withdrawal: Withdrawal =
                    serde_json::from_value(body["withdrawal"].clone()).expect("a Withdrawal");
                assert_eq!(
                    withdrawal,
                    Withdrawal {
                        account: account(f),
                        amount: Amount::new(int(f, "amount")).expect("amount"),
                        nonce: Nonce::new(int(f, "nonce")).expect("nonce"),
                        signature,
                    },
                    "{label}"
                );
            }
            MessageKind::OracleQuote => {
                // The body is zkperp_api::QuoteRequest: {market, oracle, price_ticks,
                // timestamp, signature}.
                assert_eq!((method, path), ("POST", "/v1/oracle/quotes"), "{label}");
                let q = quote(f);
                assert_eq!(body["market"].as_u64(), Some(q.market.get()), "{label}");
                assert_eq!(body["price_ticks"].as_u64(), Some(q.price.get()), "{label}");
                assert_eq!(
                    body["timestamp"].as_u64(),
                    Some(q.timestamp.get()),
                    "{label}"
                );
                assert!(body["oracle"].as_u64().is_some(), "{label}");
                let theirs: Signature =
                    serde_json::from_value(body["signature"].clone()).expect("a signature");
                assert_eq!(theirs, signature, "{label}");
                assert_eq!(body.as_object().expect("object").len(), 5, "{label}");
            }
            MessageKind::ApiRead => {
                assert_eq!(method, "GET", "{label}");
                assert_eq!(
                    path,
                    format!("/v1/accounts/{}", int(f, "account")),
                    "{label}"
                );
                let headers = &request["headers"];
                assert_eq!(
                    headers["x-zkperp-timestamp"]
                        .as_str()
                        .expect("timestamp header")
                        .parse::<u64>()
                        .expect("u64"),
                    int(f, "timestamp"),
                    "{label}"
                );
                assert_eq!(
                    Signature::unpack(&bytes::<64>(&headers["x-zkperp-signature"])),
                    Ok(signature),
                    "{label}"
                );
            }
        }
    }
}

#[test]
fn a_trading_key_derived_by_a_javascript_wallet_is_the_same_key() {
    // The Ethereum half (personal_sign of the derivation message, keccak256) is ethers 5's; the
    // message and the derivation are zkperp_node::wallet's, which this crate cannot reach. Here:
    // the derived 32 bytes are circomlibjs' private key, and ours gives the same public key.
    let v = load();
    let d = &v["trading_key_derivation"];
    assert_eq!(domain_of(d), SigningDomain::TEST);
    let message = d["message"].as_str().expect("message");
    assert_eq!(
        message,
        format!(
            "zkperp trading key v2\nchain id: {}\nrollup: 0x{}",
            SigningDomain::TEST.chain_id,
            hex::encode(SigningDomain::TEST.rollup.0)
        )
    );
    let key = PrivateKey::from_bytes(bytes::<32>(&d["trading_private_key"]));
    assert_eq!(
        key.public_key().pack(),
        bytes::<32>(&d["trading_public_key_packed"])
    );
}
