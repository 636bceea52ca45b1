//! Golden public-data vectors for the L1 contract, made by the real state machine.
//!
//! A few batches are run through `testkit::Fixture` (credited and refunded deposits,
//! withdrawals, a served and a refused forced withdrawal, mark prices, funding indices, a batch
//! that changes no leaf at the previous batch's timestamp) and written as JSON: the exact bytes
//! of `BatchPublicData::to_bytes()`, the commitment, and the decoded fields the forge test
//! (`contracts/test/Golden.t.sol`) needs to replay them on the contract.
//!
//! The committed file `contracts/test/data/pubdata_golden.json` must equal what this test
//! generates; after a deliberate change of the layout or of the state machine, regenerate it:
//!
//! ```sh
//! ZKPERP_BLESS=1 cargo test -p zkperp-state --test golden_pubdata
//! ```
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;

use serde_json::{json, Value};
use zkperp_state::batch::Shape;
use zkperp_state::da::Publication;
use zkperp_state::field::fr_to_be_bytes;
use zkperp_state::pubdata::{PubData, Record};
use zkperp_state::testkit::*;
use zkperp_state::tx::{ForcedWithdrawal, FundingTick, L1ForcedWithdrawal, Transaction};
use zkperp_state::units::{AccountId, FundingIndex, L1Address};
use zkperp_state::Fr;

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../contracts/test/data/pubdata_golden.json")
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn fr(x: &Fr) -> String {
    hex0x(&fr_to_be_bytes(x))
}

fn address(a: &L1Address) -> String {
    hex0x(&a.0)
}

/// One record, decoded, in the order the batch publishes it.
fn record(r: &PubData) -> Value {
    match r {
        PubData::Deposit(zkperp_state::tx::deposit::DepositRecord {
            index,
            l1_address,
            public_key,
            account,
            amount,
            credited: _,
        }) => json!({
            "kind": r.kind(),
            "index": index,
            "l1_address": address(l1_address),
            "public_key": hex0x(public_key),
            "account": account.wire(),
            "amount": amount.get(),
        }),
        PubData::Withdrawal(zkperp_state::tx::withdrawal::WithdrawalRecord {
            account,
            l1_address,
            amount,
        }) => json!({
            "kind": r.kind(),
            "account": account.get(),
            "l1_address": address(l1_address),
            "amount": amount.get(),
        }),
        PubData::ForcedWithdrawal(
            zkperp_state::tx::forced_withdrawal::ForcedWithdrawalRecord {
                index,
                account,
                requester,
                amount,
                paid,
            },
        ) => json!({
            "kind": r.kind(),
            "index": index,
            "account": account.get(),
            "requester": address(requester),
            "amount": amount.get(),
            "paid": paid.get(),
        }),
        PubData::OracleTick(zkperp_state::tx::oracle_tick::MarkPriceRecord { market, price }) => {
            json!({
                "kind": r.kind(),
                "market": market.get(),
                "price": price.get(),
            })
        }
        PubData::FundingTick(zkperp_state::tx::funding_tick::FundingIndexRecord {
            market,
            index,
        }) => json!({
            "kind": r.kind(),
            "market": market.get(),
            "index": i64::try_from(index.get()).expect("funding indices are 64-bit"),
        }),
        PubData::ForcedCancel(zkperp_state::tx::forced_cancel::ForcedCancelRecord {
            index,
            account,
            requester,
            order_id,
            served,
        }) => json!({
            "kind": r.kind(),
            "index": index,
            "account": account.get(),
            "requester": address(requester),
            "order_id": order_id.get(),
            "served": served,
        }),
        PubData::ForcedTrade(zkperp_state::tx::forced_trade::ForcedTradeRecord {
            request,
            served,
        }) => json!({
            "kind": r.kind(),
            "index": request.index,
            "account_a": request.account_a.get(),
            "account_b": request.account_b.get(),
            "requester": address(&request.requester),
            "signer": address(&request.signer),
            "market": request.market.get(),
            "a_buys": request.a_side == zkperp_state::order::Side::Buy,
            "size": request.size.get() as u64,
            "price": request.price.get(),
            "served": served,
        }),
        PubData::Liquidation(none)
        | PubData::Deleverage(none)
        | PubData::Trade(none)
        | PubData::CancelOrder(none) => match *none {},
    }
}

fn slot_record(r: &Record) -> Value {
    match r {
        Record::Data(d) => record(d),
        Record::NoOp(len) => json!({ "kind": PubData::NOOP, "length": len }),
    }
}

fn batch(name: &str, published: &Publication) -> Value {
    let data = &published.public;
    // What `submitBatch` takes besides the public data: per blob, its KZG commitment and the
    // opening at the claim's z (the transaction carries the blobs, forge sets their hashes).
    let mut kzg = Vec::new();
    for b in &published.blobs {
        kzg.extend_from_slice(&b.commitment);
        kzg.extend_from_slice(&b.opening_proof().expect("opens"));
    }
    json!({
        "name": name,
        "pubdata": hex0x(&data.to_bytes()),
        "commitment": fr(&data.commitment()),
        "batch_number": data.batch_number,
        "old_root": fr(&data.old_root),
        "new_root": fr(&data.new_root),
        "timestamp": data.timestamp.get(),
        "chain_id": data.domain.chain_id,
        "rollup": address(&data.domain.rollup),
        "rho": hex0x(&data.rho.to_be_bytes()),
        "records": data.records.iter().map(slot_record).collect::<Vec<_>>(),
        "blobs": data.blobs.iter().map(|b| json!({
            "versioned_hash": hex0x(&b.versioned_hash),
            "z": hex0x(&b.z.to_be_bytes()),
            "y": hex0x(&b.y),
        })).collect::<Vec<_>>(),
        "kzg": hex0x(&kzg),
    })
}

fn forced_cancel(index: u64, account: AccountId, requester: L1Address, below: u64) -> Transaction {
    Transaction::ForcedCancel(zkperp_state::tx::ForcedCancel {
        request: zkperp_state::tx::forced_cancel::L1ForcedCancel {
            index,
            account,
            requester,
            order_id: zkperp_state::units::OrderId::new(below).expect("order id"),
        },
    })
}

fn forced(index: u64, account: AccountId, requester: L1Address, units: u64) -> Transaction {
    Transaction::ForcedWithdrawal(ForcedWithdrawal {
        request: L1ForcedWithdrawal {
            index,
            account,
            requester,
            amount: amount(units),
        },
    })
}

/// A deposit the state machine consumes but cannot credit: its key bytes are no curve point.
fn refunded_deposit(f: &mut Fixture, trader: usize, units: u64) {
    let Transaction::Deposit(mut tx) = f.deposit_tx(trader, units) else {
        unreachable!("deposit_tx makes a deposit")
    };
    tx.request.public_key = [0xff; 32];
    let receipt = f.apply(Transaction::Deposit(tx)).expect("consumed");
    assert!(matches!(
        receipt.pubdata.as_slice(),
        [PubData::Deposit(zkperp_state::tx::deposit::DepositRecord {
            credited: false,
            ..
        })]
    ));
    f.deposits += 1;
}

fn apply(f: &mut Fixture, tx: Transaction) -> Vec<PubData> {
    f.apply(tx).expect("applies").pubdata
}

/// The shape of the golden batches: room for every kind, so that no-op slots of each
/// record-publishing kind appear in the vectors.
const SHAPE: Shape = Shape {
    oracle_ticks: 3,
    funding_ticks: 2,
    liquidations: 1,
    deleverages: 0,
    deposits: 4,
    forced_withdrawals: 2,
    forced_cancels: 2,
    forced_trades: 2,
    trades: 1,
    withdrawals: 2,
    cancels: 0,
    accounts: 0,
};

fn seal(f: &mut Fixture) -> Publication {
    let sealed = f.state.end_batch().expect("seal");
    sealed.publish(&SHAPE).expect("the scenario fits the shape")
}

/// The scenario: three batches, numbered 1, 2, 3 from genesis.
fn batches() -> Vec<(&'static str, Publication)> {
    let mut f = Fixture::new(3);
    // Traders 1 and 2 sign forced trades on L1: their addresses are anvil's accounts 1 and 2,
    // whose keys Golden.t.sol signs with.
    for (t, address) in [
        (1, "70997970C51812dc3A010C7d01b50e0d17dc79C8"),
        (2, "3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
    ] {
        let mut bytes = [0u8; 20];
        hex::decode_to_slice(address, &mut bytes).expect("address");
        f.traders[t].l1 = L1Address(bytes);
    }
    let mut out = Vec::new();

    // Batch 1 (genesis + mark prices of both markets, from Fixture::new): two credited
    // deposits, a refunded one between them, a withdrawal.
    let a = f.deposit(0, 1_000_000_000);
    refunded_deposit(&mut f, 2, 7_000_000);
    let b = f.deposit(1, 2_000_000_000);
    let tx = f.withdrawal_tx(0, 250_000_000);
    apply(&mut f, tx);
    out.push((
        "deposits credited and refunded, a withdrawal, mark prices",
        seal(&mut f),
    ));

    // Batch 2, an hour later: a new mark price, funding indices, another refund (a key of a
    // small-order point), a credit to an existing account, a served and a refused forced
    // withdrawal, a served and a refused forced cancel, a withdrawal.
    f.advance(3600);
    f.set_price(btc(), 510_000);
    for (market, index) in [(btc(), -1_500i128), (eth(), 7)] {
        apply(
            &mut f,
            Transaction::FundingTick(FundingTick {
                market,
                index: FundingIndex::new(index).expect("index"),
            }),
        );
    }
    let Transaction::Deposit(mut small_order) = f.deposit_tx(2, 11) else {
        unreachable!("deposit_tx makes a deposit")
    };
    small_order.request.public_key = [0u8; 32];
    apply(&mut f, Transaction::Deposit(small_order));
    f.deposits += 1;
    f.deposit(0, 40_000_000);
    let owner = f.traders[1].l1;
    let served = apply(&mut f, forced(0, b, owner, 300_000_000));
    assert!(matches!(
        served.as_slice(),
        [PubData::ForcedWithdrawal(zkperp_state::tx::forced_withdrawal::ForcedWithdrawalRecord { paid, .. })] if paid.get() == 300_000_000
    ));
    let stranger = f.traders[2].l1;
    let refused = apply(&mut f, forced(1, a, stranger, 5));
    assert!(matches!(
        refused.as_slice(),
        [PubData::ForcedWithdrawal(zkperp_state::tx::forced_withdrawal::ForcedWithdrawalRecord { paid, .. })] if paid.get() == 0
    ));
    let cancelled = apply(&mut f, forced_cancel(0, b, owner, 1_000));
    assert!(matches!(
        cancelled.as_slice(),
        [PubData::ForcedCancel(r)] if r.served
    ));
    let refused = apply(&mut f, forced_cancel(1, a, stranger, 7));
    assert!(matches!(
        refused.as_slice(),
        [PubData::ForcedCancel(r)] if !r.served
    ));
    // A forced trade served (b sells 2 lots of ETH to a), and one refused: its signer is not
    // the counterparty's owner.
    let tx = f.forced_trade_tx(
        0,
        (0, 1),
        eth(),
        zkperp_state::order::Side::Buy,
        2,
        3_000_000,
    );
    let traded = apply(&mut f, tx);
    assert!(matches!(traded.as_slice(), [PubData::ForcedTrade(r)] if r.served));
    let Transaction::ForcedTrade(mut forged) = f.forced_trade_tx(
        1,
        (1, 0),
        btc(),
        zkperp_state::order::Side::Sell,
        1,
        500_000,
    ) else {
        unreachable!("forced_trade_tx makes a forced trade")
    };
    forged.request.signer = stranger;
    let refused = apply(&mut f, Transaction::ForcedTrade(forged));
    assert!(matches!(refused.as_slice(), [PubData::ForcedTrade(r)] if !r.served));
    let tx = f.withdrawal_tx(1, 1_000_000);
    apply(&mut f, tx);
    out.push((
        "funding, forced withdrawals, cancels and trades served and refused, a refund, a withdrawal",
        seal(&mut f),
    ));

    // Batch 3, at the same second: only a refused forced withdrawal. No balance changes, but
    // the seal steps the salts of the accounts it touched, so the root moves all the same.
    f.advance(0);
    let tx = forced(2, a, owner, 1);
    apply(&mut f, tx);
    out.push((
        "a refused forced withdrawal only: same timestamp, salts stepped",
        seal(&mut f),
    ));

    let (first, second, third) = (&out[0].1.public, &out[1].1.public, &out[2].1.public);
    assert_eq!(first.batch_number, 1);
    assert_eq!(second.old_root, first.new_root);
    assert_ne!(
        third.old_root, third.new_root,
        "batch 3 steps its accounts' salts"
    );
    assert_eq!(third.timestamp, second.timestamp);
    // Batch 3's table: the account the refused request read and the fee account, their salts
    // stepped.
    let records = &out[2].1.payload.records;
    let ids: Vec<AccountId> = records.iter().flatten().map(|r| r.id).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    out
}

fn golden() -> String {
    let batches = batches();
    let doc = json!({
        "about": "Generated by state/tests/golden_pubdata.rs; do not edit. Regenerate with: ZKPERP_BLESS=1 cargo test -p zkperp-state --test golden_pubdata",
        "genesis_root": fr(&batches[0].1.public.old_root),
        "market_count": 2,
        "batches": batches.iter().map(|(name, b)| batch(name, b)).collect::<Vec<_>>(),
    });
    let mut text = serde_json::to_string_pretty(&doc).expect("json");
    text.push('\n');
    text
}

#[test]
fn golden_pubdata_file_is_what_the_state_machine_publishes() {
    let path = golden_path();
    let expected = golden();
    if std::env::var("ZKPERP_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &expected).expect("write the golden file");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "{} differs from what the state machine publishes; if the change is deliberate, \
         regenerate it with `ZKPERP_BLESS=1 cargo test -p zkperp-state --test golden_pubdata` \
         and rerun the forge tests",
        path.display()
    );
}

#[test]
fn golden_batches_are_deterministic() {
    assert_eq!(golden(), golden());
}
