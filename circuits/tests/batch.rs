//! The batch circuit against the native state machine: batches of every supported kind go
//! through `State::apply`, are sealed, and their witness must satisfy the circuit with the native
//! commitment as the public input. Then one value at a time is tampered with, and the circuit
//! must refuse it.

use std::sync::Arc;

use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem, ConstraintSystemRef};
use zkperp_circuits::batch::BatchCircuit;
use zkperp_circuits::table::TableEntryWitness;
use zkperp_circuits::tx::trade::TradeWitness;
use zkperp_circuits::witness::SlotWitness;
use zkperp_state::batch::{SealedBatch, Shape};
use zkperp_state::blob::{BlobClaim, SealedBlob};
use zkperp_state::merkle::SparseMerkleTree;
use zkperp_state::order::{Order, Side};
use zkperp_state::state::StateConfig;
use zkperp_state::testkit::*;
use zkperp_state::tx::{FundingTick, Transaction};
use zkperp_state::units::AccountId;
use zkperp_state::units::FundingIndex;
use zkperp_state::units::Ppm;
use zkperp_state::Fr;

const SHAPE: Shape = Shape {
    oracle_ticks: 2,
    funding_ticks: 1,
    liquidations: 0,
    deleverages: 0,
    deposits: 3,
    forced_withdrawals: 0,
    forced_cancels: 0,
    forced_trades: 0,
    trades: 3,
    withdrawals: 1,
    cancels: 0,
    accounts: 0,
};

fn satisfied(circuit: BatchCircuit) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    circuit.generate_constraints(cs.clone()).expect("synthesis");
    is_satisfied(&cs)
}

fn is_satisfied(cs: &ConstraintSystemRef<Fr>) -> bool {
    let ok = cs.is_satisfied().expect("satisfiability");
    if !ok {
        eprintln!("unsatisfied: {:?}", cs.which_is_unsatisfied());
    }
    ok
}

/// Two batches: deposits (new accounts) with the genesis prices; then ticks, a refunded and a
/// repeated deposit, two trades and a withdrawal.
fn scenario() -> (Fixture, SealedBatch, SealedBatch) {
    let mut f = Fixture::with_depths(3, 5, 3);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 2_000_000_000);
    f.deposit(2, 500_000_000);
    let first = f.state.end_batch().expect("seal 1");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    f.set_price(btc(), 501_000);
    f.set_price(eth(), 2_990_000);
    f.apply(Transaction::FundingTick(FundingTick {
        market: btc(),
        index: FundingIndex::new(3).expect("index"),
    }))
    .expect("funding");
    f.deposit(0, 5_000_000);
    let Transaction::Deposit(mut bad) = f.deposit_tx(1, 7) else {
        unreachable!()
    };
    bad.request.public_key = [0xff; 32];
    f.apply(Transaction::Deposit(bad)).expect("refunded");
    f.deposits += 1;
    let buy = f.order(0, btc(), Side::Buy, 10, 502_000);
    let sell = f.order(1, btc(), Side::Sell, 6, 500_000);
    f.apply(Fixture::trade_tx_with_fees(sell, buy, 6, 501_000, 0, 3_000))
        .expect("trade 1");
    let sell2 = f.order(2, btc(), Side::Sell, 4, 501_000);
    f.apply(Fixture::trade_tx_with_fees(sell2, buy, 4, 501_000, 100, 0))
        .expect("trade 2");
    let w = f.withdrawal_tx(2, 1_000_000);
    f.apply(w).expect("withdrawal");
    let second = f.state.end_batch().expect("seal 2");
    (f, first, second)
}

fn circuit_in(f: &Fixture, batch: &SealedBatch, shape: Shape) -> BatchCircuit {
    BatchCircuit::new(Arc::new(f.state.config().clone()), shape, batch).expect("witness")
}

/// In the smallest shape that holds `batch`: a tampering test synthesizes the whole circuit,
/// and slots the batch does not use would only cost time (the tests of unused slots use
/// [`SHAPE`]).
fn circuit(f: &Fixture, batch: &SealedBatch) -> BatchCircuit {
    circuit_in(f, batch, Shape::tight(batch))
}

#[test]
fn native_batches_satisfy_the_circuit() {
    let (f, first, second) = scenario();
    assert!(satisfied(circuit_in(&f, &first, SHAPE)), "batch 1");
    assert!(satisfied(circuit_in(&f, &second, SHAPE)), "batch 2");
    assert!(satisfied(circuit(&f, &second)), "batch 2, no slot to spare");
}

#[test]
fn a_wrong_public_input_is_refused() {
    let (f, _, second) = scenario();
    let mut c = circuit(&f, &second);
    c.commitment = c.commitment.map(|x| x + Fr::from(1u64));
    assert!(!satisfied(c));
}

/// Two accounts opened in batch 1; batch 2 credits one and creates a third (with the account
/// tree it started from).
fn a_credit_and_a_creation() -> (Fixture, SparseMerkleTree, SealedBatch) {
    let mut f = Fixture::with_depths(3, 5, 3);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 2_000_000_000);
    f.state.end_batch().expect("seal 1");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    let start = f.state.account_tree().clone();
    f.deposit(0, 5_000_000);
    f.deposit(2, 7_000_000); // created
    let batch = f.state.end_batch().expect("seal 2");
    (f, start, batch)
}

/// The blob claims bind the batch's payload: a publication whose blob is not the batch's
/// records and creations is refused even when its claim (versioned hash, z, y) is made honestly
/// from that other blob (one ciphertext element changed, two records swapped out of id order,
/// a creation's `E` changed), and so is the true blob under another evaluation or another
/// versioned hash. The versioned hash itself is the prover's to name: the L1 checks it is the
/// transaction's blob.
#[test]
fn the_blob_claims_bind_the_batch_payload() {
    let (f, _, batch) = a_credit_and_a_creation();
    let shape = Shape::tight(&batch);
    let markets = f.state.config().markets.len();
    let published = batch.publish(&shape).expect("fits");
    let base = circuit(&f, &batch);
    let with_claim = |claim: BlobClaim| -> bool {
        let mut c = base.clone();
        let mut public = published.public.clone();
        public.blobs = vec![claim];
        c.commitment = Some(public.commitment());
        c.witness.versioned_hashes = vec![claim.versioned_hash];
        satisfied(c)
    };
    let claim_of = |e: &[Fr]| SealedBlob::new(e).expect("seals").claim;
    let elements = published.payload.elements(markets);
    assert_eq!(published.blobs.len(), 1);
    assert_eq!(claim_of(&elements), published.blobs[0].claim);
    assert!(with_claim(claim_of(&elements)), "the batch's own blob");

    let entries = published.payload.records.len();
    let ids = entries.div_ceil(zkperp_state::da::IDS_PER_ELEMENT);
    let mut changed = elements.clone();
    changed[ids + 1] += Fr::from(1u64);
    assert!(
        !with_claim(claim_of(&changed)),
        "a ciphertext element changed"
    );
    let mut swapped = published.payload.clone();
    swapped.records.swap(0, 1);
    assert!(
        !with_claim(claim_of(&swapped.elements(markets))),
        "two records out of id order"
    );
    let mut creation = published.payload.clone();
    let slot = creation
        .creations
        .iter()
        .position(Option::is_some)
        .expect("a deposit created an account");
    if let Some(c) = creation.creations[slot].as_mut() {
        c.ephemeral.0 += Fr::from(1u64);
    }
    assert!(
        !with_claim(claim_of(&creation.elements(markets))),
        "a creation's E changed"
    );

    let honest = claim_of(&elements);
    let mut y = honest;
    y.y[31] ^= 1;
    assert!(!with_claim(y), "another evaluation");
    let mut vh = honest;
    vh.versioned_hash[31] ^= 1;
    assert!(!with_claim(vh), "another versioned hash with the old z");
}

/// The salts step with the header's `rho`: a prover who steps them with another value than the
/// one the native batch published is refused; `rho` itself is the prover's to choose (the
/// public data then carries the value used).
#[test]
fn the_salts_step_with_the_published_rho() {
    let (f, start, batch) = a_credit_and_a_creation();
    let mut c = circuit(&f, &batch);
    c.witness.rho ^= 1;
    assert!(
        !satisfied(c.clone()),
        "another rho under the published data"
    );
    c.commitment = None;
    assert!(satisfied(consistent(c, &start)), "another rho, published");
}

/// A decoy (an idle account padded into the table, `State::pad_batch`) is proven like any
/// entry: opened, its salt stepped, its unchanged leaf published. It has no access, so nothing
/// may change it: a prover that credits it is refused.
#[test]
fn a_decoy_is_refreshed_and_cannot_change() {
    let (mut f, _) = alone(|_| Vec::new());
    f.state.begin_batch(ts(START + 120)).expect("begin");
    let buy = f.order(0, btc(), Side::Buy, 10, 502_000);
    let sell = f.order(1, btc(), Side::Sell, 6, 500_000);
    f.apply(Fixture::trade_tx_with_fees(sell, buy, 6, 501_000, 0, 3_000))
        .expect("trade");
    let decoy = f.id(2);
    assert_eq!(f.state.pad_batch([decoy]), 1);
    let batch = f.state.end_batch().expect("seal");
    assert!(batch.touched().contains(&decoy));
    let c = circuit_in(&f, &batch, SHAPE);
    assert!(satisfied(c.clone()), "a padded batch");
    let mut credited = c.clone();
    credited.commitment = None;
    let entry = credited
        .witness
        .table
        .iter_mut()
        .find(|e| e.id == Some(decoy))
        .expect("the decoy's entry");
    entry.after.1.collateral += Fr::from(1u64);
    assert!(!satisfied(credited), "a decoy credited");
}

/// The circuit with `edit` applied to its witness and the public input set to whatever that
/// witness commits to: a dishonest prover publishing data that matches a rule-breaking witness,
/// so only the rule can refuse it. Edits that change the state get consistent paths for every
/// later write from [`consistent`] when the batch's starting tree is given.
fn dishonest(base: &BatchCircuit, slot: usize, edit: impl FnOnce(&mut SlotWitness)) -> bool {
    let mut c = base.clone();
    c.commitment = None;
    edit(&mut c.witness.slots[slot].witness);
    c.witness.slots[slot].pinned = true;
    satisfied(c)
}

/// As [`dishonest`], for edits that change what the slot writes.
fn dishonest_in(
    base: &BatchCircuit,
    start: &SparseMerkleTree,
    slot: usize,
    edit: impl FnOnce(&mut SlotWitness),
) -> bool {
    let mut c = base.clone();
    c.commitment = None;
    edit(&mut c.witness.slots[slot].witness);
    c.witness.slots[slot].pinned = true;
    satisfied(consistent(c, start))
}

/// Gives a rule-breaking witness the account table its slots make, as a dishonest prover
/// would build it: one entry per account the circuit's accesses touch, in id order, with the
/// values its first access found and its last access left, each with the path it has when the
/// entries are written in that order over the batch's starting tree. (The slots' reads follow
/// the circuit's own earlier writes.)
fn consistent(mut c: BatchCircuit, start: &SparseMerkleTree) -> BatchCircuit {
    let trace = c.trace().expect("trace");
    let mut tree = start.clone();
    let unused = c.witness.table.last().expect("an entry").clone();
    let len = c.witness.table.len();
    let mut table = Vec::with_capacity(len);
    for (id, before) in &trace.firsts {
        let (exists, key, elements) = trace.finals.get(id).expect("accessed");
        // The seal steps the salt of what it writes.
        let mut written = elements.clone();
        written.salt = zkperp_state::record::step(
            elements.salt,
            c.witness.batch_number,
            AccountId::new(*id).expect("an id"),
            c.witness.rho,
        );
        let hash = if *exists {
            written.hash(key)
        } else {
            Fr::from(0u64)
        };
        table.push(TableEntryWitness {
            id: Some(AccountId::new(*id).expect("an id")),
            before: before.clone(),
            after: (*exists, elements.clone()),
            proof: tree.proof(*id).expect("proof"),
        });
        tree.update(*id, hash).expect("update");
    }
    assert!(table.len() <= len, "the touched accounts fit the table");
    table.resize(len, unused);
    c.witness.table = table;
    c
}

fn slot_of(c: &BatchCircuit, pick: impl Fn(&SlotWitness) -> bool) -> usize {
    *slots_of(c, pick).first().expect("slot")
}

/// Every enabled slot whose witness `pick` accepts, in order.
fn slots_of(c: &BatchCircuit, pick: impl Fn(&SlotWitness) -> bool) -> Vec<usize> {
    (0..c.witness.slots.len())
        .filter(|&i| c.witness.slots[i].enabled && pick(&c.witness.slots[i].witness))
        .collect()
}

#[test]
fn the_dishonest_harness_accepts_an_honest_witness() {
    let (f, _, second) = scenario();
    let base = circuit(&f, &second);
    assert!(dishonest(&base, 0, |_| {}));
}

/// Funded traders with prices (batch 1, sealed), then `txs` alone in batch 2: the accounts a
/// dishonest test edits are touched by nothing after but the fee settlement.
fn alone(txs: impl FnOnce(&mut Fixture) -> Vec<Transaction>) -> (Fixture, SealedBatch) {
    let mut f = Fixture::with_depths(3, 5, 3);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 2_000_000_000);
    f.deposit(2, 500_000_000);
    f.state.end_batch().expect("seal 1");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    for tx in txs(&mut f) {
        f.apply(tx).expect("applies");
    }
    let sealed = f.state.end_batch().expect("seal 2");
    (f, sealed)
}

/// The same batch proven under another configuration (the public data does not depend on it):
/// how a test breaks a rule that depends on a parameter without touching the witness.
fn under(f: &Fixture, batch: &SealedBatch, edit: impl FnOnce(&mut StateConfig)) -> bool {
    let mut config = f.state.config().clone();
    edit(&mut config);
    satisfied(BatchCircuit::new(Arc::new(config), Shape::tight(batch), batch).expect("witness"))
}

fn one_trade() -> (Fixture, SealedBatch) {
    alone(|f| {
        let buy = f.order(0, btc(), Side::Buy, 10, 502_000);
        let sell = f.order(1, btc(), Side::Sell, 6, 500_000);
        vec![Fixture::trade_tx_with_fees(sell, buy, 6, 501_000, 0, 3_000)]
    })
}

/// Edits the (only) trade's witness, re-signing its orders with their owners' keys: only the
/// rule the edit breaks can refuse it.
fn trade_with(f: &Fixture, base: &BatchCircuit, edit: impl Fn(&mut Order, &mut Order)) -> bool {
    let slot = slot_of(base, |w| matches!(w, SlotWitness::Trade(_)));
    let SlotWitness::Trade(t) = &base.witness.slots[slot].witness else {
        unreachable!()
    };
    let (mut maker, mut taker) = (t.trade.maker.order, t.trade.taker.order);
    edit(&mut maker, &mut taker);
    let resign = |order: Order| {
        let trader = (0..3).find(|&i| f.id(i) == order.account).expect("trader");
        f.sign(trader, order)
    };
    let (maker, taker) = (resign(maker), resign(taker));
    dishonest(base, slot, move |w| {
        let SlotWitness::Trade(t) = w else {
            unreachable!()
        };
        t.trade.maker = maker;
        t.trade.taker = taker;
    })
}

#[test]
fn trade_rules_are_enforced() {
    let (f, batch) = one_trade();
    let base = circuit(&f, &batch);
    // Maker sells 6 (limit 500,000), taker buys 10 (limit 502,000), 6 lots at 501,000; the
    // taker pays 3,000 (0.1% of 30,060,000 would be 30,060).
    assert!(trade_with(&f, &base, |_, _| {}), "re-signed as they were");
    assert!(
        !trade_with(&f, &base, |m, _| m.size = lots(5)),
        "overfill: 6 lots of a 5-lot order"
    );
    assert!(
        trade_with(&f, &base, |m, _| m.limit_price = ticks(501_000)),
        "the seller's limit, exactly"
    );
    assert!(
        !trade_with(&f, &base, |m, _| m.limit_price = ticks(501_001)),
        "below the seller's limit"
    );
    assert!(
        !trade_with(&f, &base, |_, t| t.limit_price = ticks(500_999)),
        "above the buyer's limit"
    );
    assert!(
        trade_with(&f, &base, |_, t| t.max_fee = Ppm::new(100).expect("ppm")),
        "3,006 allowed"
    );
    assert!(
        !trade_with(&f, &base, |_, t| t.max_fee = Ppm::new(99).expect("ppm")),
        "fee over the order's maximum"
    );
    assert!(
        trade_with(&f, &base, |_, t| t.expiry = ts(START + 60)),
        "expiring at the batch time"
    );
    assert!(
        !trade_with(&f, &base, |_, t| t.expiry = ts(START + 59)),
        "expired"
    );
    assert!(
        !trade_with(&f, &base, |_, t| t.market = eth()),
        "orders of different markets"
    );
    assert!(
        !trade_with(&f, &base, |_, t| t.side = Side::Sell),
        "both sides sell"
    );

    let slot = slot_of(&base, |w| matches!(w, SlotWitness::Trade(_)));
    let trade = |edit: &dyn Fn(&mut TradeWitness)| {
        dishonest(&base, slot, |w| {
            let SlotWitness::Trade(t) = w else {
                unreachable!()
            };
            edit(t)
        })
    };
    assert!(trade(&|_| {}), "untouched");
    assert!(
        !trade(&|t| t.trade.maker.signature = t.trade.taker.signature),
        "forged signature"
    );
    assert!(
        !trade(&|t| t.maker.account.leaf.nonce = zkperp_state::units::Nonce::new(9).expect("nonce")),
        "a maker leaf the tree does not hold"
    );
    assert!(
        !trade(&|t| t.maker.order_slot.proof.siblings[0] += Fr::from(1u64)),
        "wrong orders-tree sibling"
    );
    assert!(
        !trade(&|t| t.taker.account.leaf.collateral = coll(10_000_000_000_000)),
        "a leaf that is not in the tree"
    );
    assert!(
        !trade(&|t| t.maker.order_slot.slot.filled = lots(1)),
        "a slot value that is not in the orders tree"
    );
}

#[test]
fn trade_margin_is_enforced() {
    // Trader 2 (500 USD) buys 120 lots at 501,000 ticks (601.2 USD of BTC) from trader 1.
    let (f, batch) = alone(|f| {
        let buy = f.order(2, btc(), Side::Buy, 120, 501_000);
        let sell = f.order(1, btc(), Side::Sell, 120, 501_000);
        vec![Fixture::trade_tx(sell, buy, 120, 501_000)]
    });
    let initial = |ppm: u64| {
        move |c: &mut StateConfig| {
            c.markets[0].initial_margin = Ppm::new(ppm).expect("ppm");
        }
    };
    assert!(under(&f, &batch, |_| {}), "as configured");
    assert!(
        under(&f, &batch, initial(830_000)),
        "83%: 499 USD of risk, 500 USD of value"
    );
    assert!(
        !under(&f, &batch, initial(840_000)),
        "84%: 505 USD of risk: margin rule"
    );
}

fn position_limit(lots: u64) -> impl FnOnce(&mut StateConfig) {
    move |c: &mut StateConfig| c.markets[0].max_position_lots = lots
}

fn open_interest_cap(lots: u64) -> impl FnOnce(&mut StateConfig) {
    move |c: &mut StateConfig| c.markets[0].open_interest_cap_lots = lots
}

#[test]
fn trades_keep_to_the_position_limit_and_the_open_interest_cap() {
    // Trader 2 buys 120 lots from trader 1; batch 1 opened nothing: 120 lots of interest.
    let (f, batch) = alone(|f| {
        let buy = f.order(2, btc(), Side::Buy, 120, 501_000);
        let sell = f.order(1, btc(), Side::Sell, 120, 501_000);
        vec![Fixture::trade_tx(sell, buy, 120, 501_000)]
    });
    assert_eq!(batch.markets[0].open_interest, 120);
    assert!(under(&f, &batch, position_limit(120)), "exactly the limit");
    assert!(!under(&f, &batch, position_limit(119)), "past the limit");
    assert!(under(&f, &batch, open_interest_cap(120)), "exactly the cap");
    assert!(!under(&f, &batch, open_interest_cap(119)), "past the cap");
}

#[test]
fn a_batch_cannot_publish_an_open_interest_its_trades_did_not_make() {
    // A trade opens interest; a liquidation and a deleverage move it (down).
    for (name, (f, batch)) in [
        ("a trade", one_trade()),
        ("liquidations", liquidation_batch()),
        ("deleverages", deleverage_batch()),
    ] {
        assert!(satisfied(circuit(&f, &batch)), "{name}: as made");
        // One lot more in the first market, one less in the second (one more where it has
        // none): each synthesis costs seconds, and either direction breaks the same equality.
        for market in 0..2 {
            let made = batch.markets[market].open_interest;
            let interest = if market == 1 && made > 0 {
                made - 1
            } else {
                made + 1
            };
            let mut edited = batch.clone();
            edited.markets[market].open_interest = interest;
            assert!(
                !satisfied(circuit(&f, &edited)),
                "{name}: market {market} published with {interest} lots, not {made}"
            );
        }
    }
}

#[test]
fn forced_trades_answer_the_limits_as_the_native_rules_do() {
    let served = |batch: &SealedBatch| match &batch.txs[0].receipt.pubdata[..] {
        [zkperp_state::pubdata::PubData::ForcedTrade(r)] => r.served,
        _ => unreachable!(),
    };
    let request =
        |f: &mut Fixture| vec![f.forced_trade_tx(0, (1, 2), btc(), Side::Buy, 7, 500_000)];
    // Served within the limits; a served answer past a limit cannot be proven.
    let mut f = funded();
    let (batch, _) = alone_from(&mut f, request);
    assert!(served(&batch));
    assert!(satisfied(circuit(&f, &batch)), "served as configured");
    assert!(
        !under(&f, &batch, position_limit(6)),
        "served past the limit"
    );
    assert!(
        !under(&f, &batch, open_interest_cap(6)),
        "served past the cap"
    );
    // Refused for a limit; a refusal within the limits cannot be proven.
    for position in [true, false] {
        let limit = move |lots: u64| {
            move |c: &mut StateConfig| {
                let m = &mut c.markets[0];
                *if position {
                    &mut m.max_position_lots
                } else {
                    &mut m.open_interest_cap_lots
                } = lots;
            }
        };
        let mut g = funded_under(limit(6));
        let (batch, _) = alone_from(&mut g, request);
        assert!(!served(&batch));
        assert_eq!(batch.markets[0].open_interest, 0, "a refusal moves nothing");
        assert!(satisfied(circuit(&g, &batch)), "refused as configured");
        assert!(!under(&g, &batch, limit(7)), "refused within the limits");
    }
}

/// BTC with one margin tier from `from_lots`: `im` initial, 10% maintenance.
fn margin_tier(from_lots: u64, im: u64) -> impl FnOnce(&mut StateConfig) {
    move |c: &mut StateConfig| {
        c.markets[0].margin_tiers = vec![zkperp_state::market::MarginTier {
            from_lots,
            initial_margin: Ppm::new(im).expect("ppm"),
            maintenance_margin: Ppm::new(100_000).expect("ppm"),
        }]
    }
}

#[test]
fn margin_tiers_are_enforced() {
    // Trader 2 (500 USD) buys 120 lots at 501,000 ticks (601.2 USD of BTC) from trader 1.
    let (f, batch) = alone(|f| {
        let buy = f.order(2, btc(), Side::Buy, 120, 501_000);
        let sell = f.order(1, btc(), Side::Sell, 120, 501_000);
        vec![Fixture::trade_tx(sell, buy, 120, 501_000)]
    });
    assert!(
        under(&f, &batch, margin_tier(120, 830_000)),
        "83% from 120 lots"
    );
    assert!(
        !under(&f, &batch, margin_tier(120, 840_000)),
        "84% from 120 lots: the tier's fraction breaks the margin rule"
    );
    assert!(
        under(&f, &batch, margin_tier(121, 840_000)),
        "a tier the position does not reach"
    );
    // Long 1,000 lots on 1,000 USD, then BTC at 440,000: 400 USD of value against 440 USD of
    // maintenance at the tier's 10%, 220 USD at the base 5%. Liquidated on the tier: the same
    // batch is unprovable without it.
    let mut g = funded_under(margin_tier(1_000, 200_000));
    g.fund_deposit(10_000_000_000);
    g.trade(0, 1, btc(), 1_000, 500_000).expect("open");
    g.state.end_batch().expect("seal 2");
    g.state.begin_batch(ts(START + 120)).expect("begin");
    let (batch, _) = alone_from(&mut g, |f| {
        f.set_price(btc(), 440_000);
        vec![Transaction::Liquidation(zkperp_state::tx::Liquidation {
            account: f.id(0),
            market: btc(),
            size: zkperp_state::units::BaseLots::new(1).expect("lots"),
            fee: zkperp_state::units::Collateral::ZERO,
        })]
    });
    assert!(satisfied(circuit(&g, &batch)), "liquidated on the tier");
    assert!(
        !under(&g, &batch, |c| c.markets[0].margin_tiers.clear()),
        "not liquidatable on the base fraction"
    );
}

#[test]
fn a_disabled_slot_cannot_change_anything() {
    let (f, batch) = one_trade();
    let base = circuit_in(&f, &batch, SHAPE);
    let empty = base
        .witness
        .slots
        .iter()
        .position(|s| !s.enabled && matches!(s.witness, SlotWitness::Trade(_)))
        .expect("an unused trade slot");
    // An unused slot's fee never reaches the fee account: the honest commitment still holds.
    let mut c = base.clone();
    let SlotWitness::Trade(t) = &mut c.witness.slots[empty].witness else {
        unreachable!()
    };
    t.trade.maker_fee = coll(5);
    assert!(satisfied(c), "a no-op slot's fee is ignored");
    // Switching a slot on takes a valid transaction.
    let mut c = base.clone();
    c.commitment = None;
    c.witness.slots[empty].enabled = true;
    assert!(!satisfied(c), "a dummy trade switched on");
}

fn only_slot(c: &BatchCircuit) -> usize {
    slot_of(c, |_| true)
}

#[test]
fn oracle_tick_rules_are_enforced() {
    // batch 2 is at START + 60; quotes no older than 60 s.
    let now = START + 60;
    let (f, batch) = alone(|f| vec![f.oracle_tick_tx(btc(), [500_999, 501_000, 501_001])]);
    let base = circuit(&f, &batch);
    let slot = only_slot(&base);
    let with = |quotes: &[(u8, u64, u64)], honest: bool| {
        let quotes: Vec<_> = quotes
            .iter()
            .map(|&(o, p, at)| f.quote(o, btc(), p, at))
            .collect();
        let mut c = base.clone();
        if !honest {
            c.commitment = None;
        }
        let SlotWitness::OracleTick(t) = &mut c.witness.slots[slot].witness else {
            unreachable!()
        };
        t.quotes = quotes;
        satisfied(c)
    };
    assert!(with(
        &[(0, 500_999, now), (1, 501_000, now), (2, 501_001, now)],
        false
    ));
    assert!(
        with(
            &[(2, 500_000, now - 60), (0, 501_000, now), (1, 502_000, now)],
            true
        ),
        "same median, other quotes"
    );
    assert!(
        !with(
            &[(0, 501_001, now), (1, 501_000, now), (2, 500_999, now)],
            false
        ),
        "not sorted"
    );
    assert!(
        !with(
            &[(0, 500_999, now), (1, 501_000, now), (1, 501_001, now)],
            false
        ),
        "an oracle twice"
    );
    assert!(
        !with(
            &[(0, 500_999, now - 61), (1, 501_000, now), (2, 501_001, now)],
            false
        ),
        "stale"
    );
    assert!(
        !with(
            &[(0, 500_999, now + 1), (1, 501_000, now), (2, 501_001, now)],
            false
        ),
        "from the future"
    );
    assert!(
        !with(
            &[(0, 500_999, now), (1, 501_002, now), (2, 501_003, now)],
            true
        ),
        "another median than the one published"
    );
    let forged = |edit: &dyn Fn(&mut zkperp_state::tx::OracleTick)| {
        dishonest(&base, slot, |w| {
            let SlotWitness::OracleTick(t) = w else {
                unreachable!()
            };
            edit(t)
        })
    };
    assert!(
        !forged(&|t| t.quotes[0].signature = t.quotes[1].signature),
        "forged signature"
    );
    assert!(!forged(&|t| t.quotes[0].oracle = 3), "no such oracle key");
    // A quote signed for another market (its key is also that market's): the tick's market is
    // what the signature must cover.
    assert!(
        !forged(&|t| t.quotes[1] = f.quote(t.quotes[1].oracle, eth(), 501_000, now)),
        "a quote for another market"
    );
    assert!(
        !with(&[(0, 0, now), (1, 0, now), (2, 1, now)], false),
        "a zero median"
    );
}

#[test]
fn funding_tick_cap_is_enforced() {
    // 60 s after the first price, at 500,000 ticks, tick value 10 and 100 ppb/s: |d| <= 30.
    let (f, batch) = alone(|_| {
        vec![Transaction::FundingTick(FundingTick {
            market: btc(),
            index: FundingIndex::new(-30).expect("index"),
        })]
    });
    let rate = |ppb: u64| {
        move |c: &mut StateConfig| {
            c.markets[0].max_funding_rate =
                zkperp_state::units::PpbPerSecond::new(ppb).expect("rate");
        }
    };
    assert!(under(&f, &batch, rate(100)), "at the cap");
    assert!(!under(&f, &batch, rate(99)), "over the cap");
}

#[test]
fn withdrawal_rules_are_enforced() {
    let (f, batch) = alone(|f| vec![f.withdrawal_tx(2, 100_000_000)]);
    let base = circuit(&f, &batch);
    let slot = only_slot(&base);
    let resigned = |edit: &dyn Fn(&mut zkperp_state::tx::Withdrawal), signer: usize| {
        dishonest(&base, slot, |w| {
            let SlotWitness::Withdrawal(t) = w else {
                unreachable!()
            };
            edit(&mut t.withdrawal);
            let t = &mut t.withdrawal;
            t.signature = f.traders[signer]
                .key
                .sign(zkperp_state::tx::Withdrawal::message(
                    &zkperp_state::domain::SigningDomain::TEST,
                    t.account,
                    t.amount,
                    t.nonce,
                ));
        })
    };
    assert!(resigned(&|_| {}, 2), "re-signed as it was");
    assert!(
        !resigned(
            &|t| t.nonce = zkperp_state::units::Nonce::new(1).expect("nonce"),
            2
        ),
        "a nonce already used or not yet"
    );
    assert!(!resigned(&|_| {}, 1), "signed by another trader");
}

/// A withdrawal of zero, signed by its owner, with consistent paths: refused (it would only
/// burn a nonce and a slot), while another positive amount passes.
#[test]
fn a_withdrawal_of_zero_is_refused() {
    let mut f = funded();
    let (batch, start) = alone_from(&mut f, |f| vec![f.withdrawal_tx(2, 100_000_000)]);
    let base = circuit(&f, &batch);
    let slot = only_slot(&base);
    let with_amount = |units: u64| {
        dishonest_in(&base, &start, slot, |w| {
            let SlotWitness::Withdrawal(t) = w else {
                unreachable!()
            };
            let t = &mut t.withdrawal;
            t.amount = amount(units);
            t.signature = f.traders[2].key.sign(zkperp_state::tx::Withdrawal::message(
                &zkperp_state::domain::SigningDomain::TEST,
                t.account,
                t.amount,
                t.nonce,
            ));
        })
    };
    assert!(with_amount(1), "another amount, signed by its owner");
    assert!(!with_amount(0), "a withdrawal of zero, signed by its owner");
}

#[test]
fn withdrawal_margin_is_enforced() {
    // Trader 2 (500 USD) holds 60 lots bought at 501,000 (mark 500,000) and withdraws 250 USD:
    // 249.4 USD of value left against 300 USD of position.
    let mut f = Fixture::with_depths(3, 5, 3);
    f.deposit(1, 2_000_000_000);
    f.deposit(2, 500_000_000);
    let buy = f.order(2, btc(), Side::Buy, 60, 501_000);
    let sell = f.order(1, btc(), Side::Sell, 60, 501_000);
    f.apply(Fixture::trade_tx(sell, buy, 60, 501_000))
        .expect("trade");
    f.state.end_batch().expect("seal 1");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    let w = f.withdrawal_tx(2, 250_000_000);
    f.apply(w).expect("withdrawal");
    let batch = f.state.end_batch().expect("seal 2");
    let initial = |ppm: u64| {
        move |c: &mut StateConfig| c.markets[0].initial_margin = Ppm::new(ppm).expect("ppm")
    };
    assert!(under(&f, &batch, initial(830_000)), "83%: 249 USD of risk");
    assert!(!under(&f, &batch, initial(840_000)), "84%: 252 USD of risk");
}

#[test]
fn deposit_rules_are_enforced() {
    let mut f = Fixture::with_depths(4, 5, 3);
    f.deposit(0, 1_000_000_000);
    f.state.end_batch().expect("seal 1");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    f.deposit(0, 5_000_000); // existing account
    f.deposit(3, 7_000_000); // created
    let batch = f.state.end_batch().expect("seal 2");
    let base = circuit(&f, &batch);
    let slots: Vec<usize> = (0..base.witness.slots.len())
        .filter(|&i| base.witness.slots[i].enabled)
        .collect();
    let (existing, created) = (slots[0], slots[1]);
    let edit = |slot: usize, e: &dyn Fn(&mut zkperp_circuits::tx::deposit::DepositWitness)| {
        dishonest(&base, slot, |w| {
            let SlotWitness::Deposit(d) = w else {
                unreachable!()
            };
            e(d)
        })
    };
    assert!(
        edit(existing, &|_| {}) && edit(created, &|_| {}),
        "untouched"
    );
    let other_key = f.traders[1].key.public_key().pack();
    assert!(
        !edit(existing, &|d| d.deposit.request.l1_address =
            f.traders[1].l1),
        "credited to an account of another L1 owner"
    );
    assert!(
        !edit(existing, &|d| d.deposit.request.public_key = other_key),
        "credited to an account of another key"
    );
    assert!(
        !edit(
            created,
            &|d| d.account = match &base.witness.slots[existing].witness {
                SlotWitness::Deposit(e) => e.account.clone(),
                _ => unreachable!(),
            }
        ),
        "an account created over an existing leaf"
    );
    // A created account's salt is the secret its scalar shares with the key: another scalar
    // makes another salt, and zero makes the identity, a salt anyone computes. A deposit that
    // creates nothing does not use its scalar.
    use zkperp_state::babyjubjub::Fs;
    assert!(
        !edit(created, &|d| d.ephemeral += Fs::from(1u64)),
        "a salt another scalar makes"
    );
    assert!(
        !edit(created, &|d| d.ephemeral = Fs::from(0u64)),
        "a zero scalar"
    );
    assert!(
        edit(existing, &|d| d.ephemeral = Fs::from(0u64)),
        "a top-up's unused scalar"
    );
}

/// The target a deposit names decides which account it credits: a prover who credits another
/// account of the same owner, creates one for a top-up, or tops up for a new-account request
/// is refused; anyone may top up the insurance fund.
#[test]
fn a_deposit_credits_only_the_account_it_names() {
    use zkperp_state::tx::DepositTarget;
    let mut f = Fixture::with_depths(2, 5, 3);
    let first = f.deposit(0, 1_000_000_000);
    // The same owner opens a second account.
    let Transaction::Deposit(mut second) = f.deposit_tx(0, 2_000_000) else {
        unreachable!()
    };
    second.request.account = DepositTarget::New;
    let receipt = f
        .apply(Transaction::Deposit(second))
        .expect("second account");
    f.deposits += 1;
    let second = receipt.writes[0].account;
    f.state.end_batch().expect("seal 1");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    let start = f.state.account_tree().clone();
    let first_leaf = f.state.account(first).expect("first").leaf.clone();
    // A top-up of the second account, a new account, a stranger's top-up of the fund, and a
    // stranger's deposit naming the first account (refunded).
    let Transaction::Deposit(mut topup) = f.deposit_tx(0, 5_000_000) else {
        unreachable!()
    };
    topup.request.account = DepositTarget::Existing(second);
    f.apply(Transaction::Deposit(topup)).expect("top-up");
    f.deposits += 1;
    f.deposit(1, 7_000_000);
    let Transaction::Deposit(mut gift) = f.deposit_tx(1, 3_000_000) else {
        unreachable!()
    };
    gift.request.account = DepositTarget::Existing(zkperp_state::units::AccountId::INSURANCE_FUND);
    f.apply(Transaction::Deposit(gift))
        .expect("a gift to the fund");
    f.deposits += 1;
    let Transaction::Deposit(mut intrusion) = f.deposit_tx(1, 4_000_000) else {
        unreachable!()
    };
    intrusion.request.account = DepositTarget::Existing(first);
    f.apply(Transaction::Deposit(intrusion)).expect("refunded");
    f.deposits += 1;
    let batch = f.state.end_batch().expect("seal 2");
    let base = circuit(&f, &batch);
    let slots: Vec<usize> = (0..base.witness.slots.len())
        .filter(|&i| base.witness.slots[i].enabled)
        .collect();
    let (topup, created, gift, intrusion) = (slots[0], slots[1], slots[2], slots[3]);
    let edit = |slot: usize, e: &dyn Fn(&mut zkperp_circuits::tx::deposit::DepositWitness)| {
        dishonest(&base, slot, |w| {
            let SlotWitness::Deposit(d) = w else {
                unreachable!()
            };
            e(d)
        })
    };
    assert!(
        edit(topup, &|_| {}) && edit(created, &|_| {}) && edit(gift, &|_| {}),
        "untouched, the fund's top-up by a stranger included"
    );
    assert!(
        !edit(topup, &|d| d.deposit.request.account =
            DepositTarget::Existing(first)),
        "the first account named, the second credited"
    );
    assert!(
        !edit(created, &|d| d.deposit.request.account =
            DepositTarget::Existing(first)),
        "an account named, a new one created"
    );
    assert!(
        !edit(topup, &|d| d.deposit.request.account = DepositTarget::New),
        "a new account asked for, an existing one credited"
    );
    // The refund of a stranger's deposit to the first account, turned into a credit of it
    // with consistent paths: only the owner check refuses it (the fund's exception is the
    // fund's alone).
    let credit_first = |d: &mut zkperp_circuits::tx::deposit::DepositWitness| {
        d.credited = true;
        d.account = zkperp_circuits::witness::AccountWitness {
            id: first,
            leaf: first_leaf.clone(),
        };
    };
    let as_prover = |e: &dyn Fn(&mut zkperp_circuits::tx::deposit::DepositWitness)| {
        dishonest_in(&base, &start, intrusion, |w| {
            let SlotWitness::Deposit(d) = w else {
                unreachable!()
            };
            e(d)
        })
    };
    assert!(as_prover(&|_| {}), "the refund as it was");
    assert!(
        !as_prover(&credit_first),
        "a stranger's deposit credited to an account it does not own"
    );
}

const WIDE: Shape = Shape {
    oracle_ticks: 1,
    funding_ticks: 1,
    liquidations: 1,
    deleverages: 1,
    deposits: 1,
    forced_withdrawals: 4,
    forced_cancels: 4,
    forced_trades: 2,
    trades: 1,
    withdrawals: 1,
    cancels: 1,
    accounts: 0,
};

/// Trader 0: 1,000 USD, long 1,800 BTC lots bought at 500,000 ticks from trader 1 (1,000 USD);
/// the fund holds `fund` units.
fn leveraged_long(fund: u64) -> Fixture {
    // A 20% band: these batches drop the mark up to 12% in one tick.
    let mut f = Fixture::configured(3, |c| {
        c.markets[0].mark_band = Ppm::new(200_000).expect("ppm");
    });
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    if fund > 0 {
        f.fund_deposit(fund);
    }
    f.trade(0, 1, btc(), 1_800, 500_000).expect("open");
    f.state.end_batch().expect("seal");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    f
}

fn forced(
    index: u64,
    account: u64,
    requester: zkperp_state::units::L1Address,
    units: u64,
) -> Transaction {
    Transaction::ForcedWithdrawal(zkperp_state::tx::ForcedWithdrawal {
        request: zkperp_state::tx::L1ForcedWithdrawal {
            index,
            account: zkperp_state::units::AccountId::new(account).expect("id"),
            requester,
            amount: amount(units),
        },
    })
}

fn cancel(f: &Fixture, trader: usize, order_id: u64) -> Transaction {
    let account = f.id(trader);
    let order_id = zkperp_state::units::OrderId::new(order_id).expect("id");
    Transaction::CancelOrder(zkperp_state::tx::CancelOrder {
        account,
        order_id,
        signature: f.traders[trader]
            .key
            .sign(zkperp_state::tx::CancelOrder::message(
                &zkperp_state::domain::SigningDomain::TEST,
                account,
                order_id,
            )),
    })
}

/// A price drop, a liquidation, four forced withdrawals (served, not the owner, no such
/// account, an id beyond the tree) and a cancellation.
fn liquidation_batch() -> (Fixture, SealedBatch) {
    let mut f = leveraged_long(10_000_000_000);
    let (a, b) = (f.id(0), f.id(1));
    f.set_price(btc(), 465_000);
    f.apply(Transaction::Liquidation(zkperp_state::tx::Liquidation {
        account: a,
        market: btc(),
        size: lots(100),
        fee: coll(1_000_000),
    }))
    .expect("liquidation");
    let owner = f.traders[1].l1;
    let stranger = f.traders[2].l1;
    for (i, (account, requester)) in [
        (b.get(), owner),
        (a.get(), stranger),
        (200, owner),
        (1 << 20, owner),
    ]
    .into_iter()
    .enumerate()
    {
        let receipt = f
            .apply(forced(i as u64, account, requester, 1_000_000))
            .expect("answered");
        assert_eq!(receipt.writes.len(), usize::from(i == 0), "request {i}");
    }
    let tx = cancel(&f, 1, 9);
    f.apply(tx).expect("cancel");
    let sealed = f.state.end_batch().expect("seal");
    (f, sealed)
}

fn deleverage_batch() -> (Fixture, SealedBatch) {
    let mut f = leveraged_long(0);
    let (a, b) = (f.id(0), f.id(1));
    f.set_price(btc(), 440_000); // a: TV -80 USD; the fund is empty
    f.apply(Transaction::Deleverage(zkperp_state::tx::Deleverage {
        deleveraged: a,
        deleverager: b,
        market: btc(),
        size: lots(900),
    }))
    .expect("deleverage");
    let sealed = f.state.end_batch().expect("seal");
    (f, sealed)
}

fn wide(f: &Fixture, batch: &SealedBatch) -> BatchCircuit {
    circuit_in(f, batch, WIDE)
}

#[test]
fn liquidations_forced_withdrawals_and_cancels_satisfy_the_circuit() {
    let (f, batch) = liquidation_batch();
    assert!(satisfied(wide(&f, &batch)));
}

#[test]
fn deleverages_satisfy_the_circuit() {
    let (f, batch) = deleverage_batch();
    assert!(satisfied(wide(&f, &batch)));
}

/// As [`alone`], also returning the account tree the batch starts from.
fn alone_from(
    f: &mut Fixture,
    txs: impl FnOnce(&mut Fixture) -> Vec<Transaction>,
) -> (SealedBatch, SparseMerkleTree) {
    let start = f.state.account_tree().clone();
    for tx in txs(f) {
        f.apply(tx).expect("applies");
    }
    (f.state.end_batch().expect("seal"), start)
}

fn funded() -> Fixture {
    funded_under(|_| {})
}

/// As [`funded`], under the configuration as `edit` changes it.
fn funded_under(edit: impl FnOnce(&mut StateConfig)) -> Fixture {
    let mut f = Fixture::configured(3, |c| {
        c.account_tree_depth = 5;
        c.order_tree_depth = 3;
        edit(c);
    });
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 2_000_000_000);
    f.deposit(2, 500_000_000);
    f.state.end_batch().expect("seal 1");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    f
}

#[test]
fn the_consistency_harness_accepts_other_valid_witnesses() {
    // Sanity of the harness the state-changing tests below rely on: a different fill that the
    // rules allow is accepted once its later paths are made consistent.
    let mut f = funded();
    let (batch, start) = alone_from(&mut f, |f| {
        let buy = f.order(0, btc(), Side::Buy, 10, 502_000);
        let sell = f.order(1, btc(), Side::Sell, 6, 500_000);
        vec![Fixture::trade_tx_with_fees(sell, buy, 6, 501_000, 0, 3_000)]
    });
    let base = circuit(&f, &batch);
    let slot = slot_of(&base, |w| matches!(w, SlotWitness::Trade(_)));
    let fill = |size: i128, price: u64| {
        dishonest_in(&base, &start, slot, |w| {
            let SlotWitness::Trade(t) = w else {
                unreachable!()
            };
            t.trade.size = lots(size);
            t.trade.price = ticks(price);
        })
    };
    assert!(fill(6, 501_000), "as applied");
    // A value that wraps around the modulus: a fee of -1 enters as the field element r - 1,
    // which would credit the payer; the range check refuses it before any arithmetic.
    let fee = |units: i128| {
        dishonest_in(&base, &start, slot, |w| {
            let SlotWitness::Trade(t) = w else {
                unreachable!()
            };
            t.trade.taker_fee = coll(units);
        })
    };
    assert!(fee(0), "a zero fee");
    assert!(!fee(-1), "a fee of r - 1 (a negative fee)");
    assert!(!fill(-1, 501_000), "a negative fill");
    assert!(
        fill(5, 500_500),
        "a smaller fill at another price within both limits"
    );
    assert!(!fill(7, 501_000), "overfill of the maker's 6 lots");
    assert!(!fill(6, 499_999), "below the seller's limit");
}

#[test]
fn funding_steps_over_the_cap_are_refused() {
    let mut f = funded();
    let (batch, start) = alone_from(&mut f, |_| {
        vec![Transaction::FundingTick(FundingTick {
            market: btc(),
            index: FundingIndex::new(-30).expect("index"),
        })]
    });
    let base = circuit(&f, &batch);
    let slot = slot_of(&base, |w| matches!(w, SlotWitness::FundingTick(_)));
    let step = |index: i128| {
        dishonest_in(&base, &start, slot, |w| {
            let SlotWitness::FundingTick(t) = w else {
                unreachable!()
            };
            t.index = FundingIndex::new(index).expect("index");
        })
    };
    assert!(step(30) && step(-30) && step(0), "within the cap of 30");
    assert!(!step(31) && !step(-31), "over the cap");
}

#[test]
fn liquidation_rules_are_enforced() {
    let mut f = leveraged_long(10_000_000_000);
    let a = f.id(0);
    let (batch, start) = alone_from(&mut f, |f| {
        f.set_price(btc(), 465_000);
        vec![Transaction::Liquidation(zkperp_state::tx::Liquidation {
            account: a,
            market: btc(),
            size: lots(100),
            fee: coll(1_000_000),
        })]
    });
    let base = circuit(&f, &batch);
    let slot = slot_of(&base, |w| matches!(w, SlotWitness::Liquidation(_)));
    let liquidate = |size: i128, fee: i128| {
        dishonest_in(&base, &start, slot, |w| {
            let SlotWitness::Liquidation(l) = w else {
                unreachable!()
            };
            l.liquidation.size = lots(size);
            l.liquidation.fee = coll(fee);
        })
    };
    assert!(liquidate(100, 1_000_000), "as applied");
    assert!(liquidate(1_800, 0), "the whole position");
    assert!(
        !liquidate(1_801, 0),
        "a liquidation that flips (grows) the position"
    );
    assert!(!liquidate(0, 0), "nothing liquidated");
    // The penalty: at most 1% of 100 lots * 465,000 * 10 = 4,650,000.
    assert!(liquidate(100, 4_650_000), "the largest penalty");
    assert!(
        !liquidate(100, 4_650_001),
        "a penalty over the market's fraction"
    );
    // A healthy account: a maintenance fraction of 1% puts trader 0 well above it.
    let healthy = under(&f, &batch, |c| {
        c.markets[0].maintenance_margin = Ppm::new(10_000).expect("ppm")
    });
    assert!(!healthy, "liquidation of a healthy account");
}

#[test]
fn forced_withdrawal_answers_follow_the_rules() {
    let (f, batch) = liquidation_batch();
    let base = circuit(&f, &batch);
    let forced = slots_of(&base, |w| matches!(w, SlotWitness::ForcedWithdrawal(_)));
    assert_eq!(forced.len(), 4);
    let flip = |slot: usize| {
        dishonest(&base, slot, |w| {
            let SlotWitness::ForcedWithdrawal(fw) = w else {
                unreachable!()
            };
            fw.paid = fw.request.amount;
        })
    };
    // Refusals the proof shows justified: another owner, no such account, an id beyond the
    // tree; paying them is refused (flipping the served one is checked with the
    // state-consistent harness below, since it changes a leaf).
    for &slot in &forced[1..] {
        assert!(!flip(slot), "slot {slot} served against the rules");
    }
}

#[test]
fn a_served_forced_withdrawal_cannot_be_refused() {
    let mut f = leveraged_long(0);
    let b = f.id(1);
    let owner = f.traders[1].l1;
    let (batch, start) = alone_from(&mut f, |_| vec![forced(0, b.get(), owner, 1_000_000)]);
    let base = circuit(&f, &batch);
    let slot = slot_of(&base, |w| matches!(w, SlotWitness::ForcedWithdrawal(_)));
    let answer = |paid: u64| forced_withdrawal_paying(&base, &start, slot, paid);
    assert!(answer(1_000_000), "served in full, as the rules say");
    assert!(!answer(0), "refused although the rules serve it");
    assert!(!answer(999_999), "underpaid");
    assert!(!answer(1_000_001), "more than asked");
}

/// A request above the free collateral is served up to it: exactly the largest payment that
/// keeps the initial margin, never less (refusing it or underpaying) and never more.
#[test]
fn a_margin_limited_forced_withdrawal_is_served_up_to_the_limit() {
    let mut f = leveraged_long(0);
    let b = f.id(1);
    let owner = f.traders[1].l1;
    let (batch, start) = alone_from(&mut f, |_| vec![forced(0, b.get(), owner, 5_000_000_000)]);
    let limit = match batch.txs[0].receipt.pubdata.as_slice() {
        [zkperp_state::pubdata::PubData::ForcedWithdrawal(
            zkperp_state::tx::forced_withdrawal::ForcedWithdrawalRecord { paid, .. },
        )] => paid.get(),
        other => panic!("{other:?}"),
    };
    assert!(limit > 0 && limit < 5_000_000_000, "partial: {limit}");
    let base = circuit(&f, &batch);
    let slot = slot_of(&base, |w| matches!(w, SlotWitness::ForcedWithdrawal(_)));
    let answer = |paid: u64| forced_withdrawal_paying(&base, &start, slot, paid);
    assert!(answer(limit), "up to the margin rule, as the rules say");
    assert!(!answer(limit + 1), "a unit past the margin rule");
    assert!(!answer(limit - 1), "a unit short of what the rule allows");
    assert!(!answer(0), "refused for holding a position");
}

#[test]
fn deleverage_prices_are_the_rules() {
    let mut f = leveraged_long(0);
    let (a, b) = (f.id(0), f.id(1));
    let (batch, start) = alone_from(&mut f, |f| {
        f.set_price(btc(), 440_000); // a: TV -80 USD, collateral -8,000 USD
        vec![Transaction::Deleverage(zkperp_state::tx::Deleverage {
            deleveraged: a,
            deleverager: b,
            market: btc(),
            size: lots(900),
        })]
    });
    let base = circuit(&f, &batch);
    let slot = slot_of(&base, |w| matches!(w, SlotWitness::Deleverage(_)));
    let priced = |size: i128, share: i128| {
        dishonest_in(&base, &start, slot, |w| {
            let SlotWitness::Deleverage(d) = w else {
                unreachable!()
            };
            d.deleverage.size = lots(size);
            d.share = share;
        })
    };
    // 900 of 1,800 lots carry half the 80 USD deficit: 40 USD, exactly.
    assert!(priced(900, 40_000_000), "as applied");
    assert!(
        !priced(900, 40_000_001),
        "the counterparty charged a unit more"
    );
    assert!(
        !priced(900, 39_999_999),
        "the bankrupt account given a unit less"
    );
    assert!(
        !priced(900, 80_000_000),
        "one counterparty made to pay the whole deficit"
    );
    assert!(
        !priced(900, 0),
        "at the mark: the deficit left on the exchange"
    );
    // One lot carries one lot's share: floor(80 USD / 1,800), not more.
    assert!(priced(1, 80_000_000 / 1_800), "one lot's share");
    assert!(
        !priced(1, 80_000_000 / 1_800 + 1),
        "a lot charged more than its share"
    );
    assert!(!priced(1, 80_000_000), "the whole deficit on a single lot");
    assert!(!priced(1_801, 80_000_000), "more lots than the position");
}

/// The fund-can-absorb rule in the circuit, at its boundary: a bankrupt long of 1,800 lots
/// (deficit 80 USD; the position's maintenance risk 396 USD) may be deleveraged while the fund
/// holds 475 USD, not once it holds 476 USD (it could then take the position and the deficit
/// and stay above maintenance). The same batch is replayed from a start where only the fund's
/// collateral differs, every path made consistent.
#[test]
fn a_fund_that_can_absorb_forbids_deleveraging() {
    let mut f = leveraged_long(475_000_000);
    let (a, b) = (f.id(0), f.id(1));
    let (batch, start) = alone_from(&mut f, |f| {
        f.set_price(btc(), 440_000);
        vec![Transaction::Deleverage(zkperp_state::tx::Deleverage {
            deleveraged: a,
            deleverager: b,
            market: btc(),
            size: lots(1_800),
        })]
    });
    let base = circuit(&f, &batch);
    let slot = slot_of(&base, |w| matches!(w, SlotWitness::Deleverage(_)));
    let with_fund = |units: i128| {
        let mut c = base.clone();
        c.commitment = None;
        let SlotWitness::Deleverage(d) = &mut c.witness.slots[slot].witness else {
            unreachable!()
        };
        d.fund.leaf.collateral = coll(units);
        let mut tree = start.clone();
        tree.update(0, d.fund.leaf.hash()).expect("update");
        c.witness.start_accounts_root = tree.root();
        satisfied(consistent(c, &tree))
    };
    assert!(with_fund(475_000_000), "as applied: the fund cannot absorb");
    assert!(
        !with_fund(476_000_000),
        "the fund could absorb: no deleverage"
    );
    assert!(!with_fund(10_000_000_000));
}

/// Every market's `max_mark_age_secs` set to `secs`.
fn mark_age(secs: u64) -> impl FnOnce(&mut StateConfig) {
    move |c: &mut StateConfig| {
        for m in &mut c.markets {
            m.max_mark_age_secs = secs;
        }
    }
}

/// A trade and a withdrawal read marks a minute old (the genesis ticks, batch 2 at START + 60):
/// with a maximum age of 59 s the circuit refuses them, with 60 s it accepts them; an account
/// that holds nothing withdraws on any mark.
#[test]
fn margin_checks_refuse_a_stale_mark() {
    let (f, batch) = one_trade();
    assert!(
        under(&f, &batch, mark_age(60)),
        "a minute old, a minute allowed"
    );
    assert!(!under(&f, &batch, mark_age(59)), "a trade on a stale mark");
    let (f, batch) = alone(|f| {
        let open = f.trade(0, 1, btc(), 10, 500_000);
        open.expect("open");
        vec![f.withdrawal_tx(0, 1_000_000)]
    });
    assert!(under(&f, &batch, mark_age(60)));
    assert!(
        !under(&f, &batch, mark_age(59)),
        "a withdrawal on a stale mark"
    );
    let (f, batch) = alone(|f| vec![f.withdrawal_tx(2, 1_000_000)]);
    assert!(
        under(&f, &batch, mark_age(1)),
        "no position: no mark is read, however old"
    );
}

/// A liquidation and a deleverage a minute after their mark.
#[test]
fn liquidations_and_deleverages_refuse_a_stale_mark() {
    let later = |f: &mut Fixture, price: u64, tx: &dyn Fn(&Fixture) -> Transaction| {
        f.set_price(btc(), price);
        f.state.end_batch().expect("seal");
        f.state.begin_batch(ts(START + 120)).expect("begin");
        f.apply(tx(f)).expect("applies");
        f.state.end_batch().expect("seal")
    };
    let mut f = leveraged_long(10_000_000_000);
    let a = f.id(0);
    let batch = later(&mut f, 465_000, &|_| {
        Transaction::Liquidation(zkperp_state::tx::Liquidation {
            account: a,
            market: btc(),
            size: lots(100),
            fee: coll(1_000_000),
        })
    });
    assert!(under(&f, &batch, mark_age(60)));
    assert!(
        !under(&f, &batch, mark_age(59)),
        "a liquidation on a stale mark"
    );
    let mut f = leveraged_long(0);
    let (a, b) = (f.id(0), f.id(1));
    let batch = later(&mut f, 440_000, &|_| {
        Transaction::Deleverage(zkperp_state::tx::Deleverage {
            deleveraged: a,
            deleverager: b,
            market: btc(),
            size: lots(900),
        })
    });
    assert!(under(&f, &batch, mark_age(60)));
    assert!(
        !under(&f, &batch, mark_age(59)),
        "a deleverage on a stale mark"
    );
}

/// Two ticks of one market in a batch: the second's quotes may not be older than the first's
/// newest (re-signed, so only that rule can refuse it), and the mark's time is the newest
/// quote's.
#[test]
fn a_tick_cannot_use_quotes_older_than_the_last_ones() {
    let now = START + 60;
    let (f, batch) = alone(|f| {
        let quotes = |f: &Fixture, at: [u64; 3]| {
            Transaction::OracleTick(zkperp_state::tx::OracleTick {
                market: btc(),
                quotes: (0..3u8)
                    .map(|o| f.quote(o, btc(), 500_000 + u64::from(o), at[usize::from(o)]))
                    .collect(),
            })
        };
        vec![
            quotes(f, [now - 5, now - 2, now - 9]),
            quotes(f, [now, now - 1, now - 2]),
        ]
    });
    assert_eq!(
        batch.markets[0].mark_time,
        ts(now),
        "the newest quote's time"
    );
    let base = circuit(&f, &batch);
    let second = slot_of(
        &base,
        |w| matches!(w, SlotWitness::OracleTick(t) if t.quotes[0].quote.timestamp == ts(now)),
    );
    let at = |o: usize, t: u64| {
        dishonest(&base, second, |w| {
            let SlotWitness::OracleTick(tick) = w else {
                unreachable!()
            };
            let q = tick.quotes[o].quote;
            tick.quotes[o] = f.quote(tick.quotes[o].oracle, btc(), q.price.get(), t);
        })
    };
    assert!(
        at(2, now - 2),
        "as it was: as old as the last tick's newest quote"
    );
    assert!(at(1, now), "another time at or after it");
    assert!(
        !at(2, now - 3),
        "older than the last tick's newest quote, still fresh"
    );
}

/// No signature withdraws from the insurance fund: a withdrawal turned into one by the fund's
/// own key (its leaf, nonce and a consistent path) is refused, while the same edit for another
/// account with its own key passes.
#[test]
fn no_signature_withdraws_from_the_insurance_fund() {
    use zkperp_state::units::AccountId;
    let mut f = Fixture::with_depths(3, 5, 3);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    f.fund_deposit(1_000_000_000);
    f.state.end_batch().expect("seal 1");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    let (batch, start) = alone_from(&mut f, |f| vec![f.withdrawal_tx(0, 1_000_000)]);
    let base = circuit(&f, &batch);
    let slot = only_slot(&base);
    let as_account = |id: AccountId, key: &zkperp_state::eddsa::PrivateKey| {
        let leaf = f.state.account(id).expect("account").leaf.clone();
        dishonest_in(&base, &start, slot, |w| {
            let SlotWitness::Withdrawal(t) = w else {
                unreachable!()
            };
            let amount = t.withdrawal.amount;
            t.withdrawal.account = id;
            t.withdrawal.nonce = leaf.nonce;
            t.withdrawal.signature = key.sign(zkperp_state::tx::Withdrawal::message(
                &zkperp_state::domain::SigningDomain::TEST,
                id,
                amount,
                leaf.nonce,
            ));
            t.account = zkperp_circuits::witness::AccountWitness {
                id,
                leaf: leaf.clone(),
            };
        })
    };
    assert!(
        as_account(f.id(1), &f.traders[1].key),
        "the harness: another trader's own withdrawal"
    );
    assert!(
        !as_account(AccountId::INSURANCE_FUND, &f.fund_key),
        "the fund's key withdraws from the fund"
    );
}

/// The forced withdrawal of `slot` answered by paying `units`, its later paths made consistent.
fn forced_withdrawal_paying(
    base: &BatchCircuit,
    start: &SparseMerkleTree,
    slot: usize,
    units: u64,
) -> bool {
    dishonest_in(base, start, slot, |w| {
        let SlotWitness::ForcedWithdrawal(fw) = w else {
            unreachable!()
        };
        fw.paid = amount(units);
    })
}

/// The fund's L1 owner asks to force money out of it: refused, and the proof cannot serve it.
#[test]
fn a_forced_withdrawal_from_the_insurance_fund_cannot_be_served() {
    let mut f = leveraged_long(1_000_000_000);
    let owner = f.state.config().insurance_fund.l1_address;
    let (batch, start) = alone_from(&mut f, |_| vec![forced(0, 0, owner, 1_000_000)]);
    let base = circuit(&f, &batch);
    let slot = slot_of(&base, |w| matches!(w, SlotWitness::ForcedWithdrawal(_)));
    let answer = |paid: u64| forced_withdrawal_paying(&base, &start, slot, paid);
    assert!(answer(0), "refused, as the rules say");
    assert!(!answer(1_000_000), "served out of the fund");
}

/// No signature trades with the insurance fund: a fill whose maker is turned into the fund
/// (its order signed by the fund's key, its leaf, an empty order slot, consistent paths) is
/// refused, while the same edit to another trader with its own key passes.
#[test]
fn no_signature_trades_with_the_insurance_fund() {
    use zkperp_state::units::AccountId;
    let mut f = Fixture::with_depths(3, 5, 3);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    f.deposit(2, 1_000_000_000);
    f.fund_deposit(1_000_000_000);
    f.state.end_batch().expect("seal 1");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    let (batch, start) = alone_from(&mut f, |f| {
        let buy = f.order(0, btc(), Side::Buy, 10, 500_000);
        let sell = f.order(1, btc(), Side::Sell, 10, 500_000);
        vec![Fixture::trade_tx(buy, sell, 10, 500_000)]
    });
    let base = circuit(&f, &batch);
    let slot = only_slot(&base);
    let depth = f.state.config().order_tree_depth;
    let as_maker = |id: AccountId, key: &zkperp_state::eddsa::PrivateKey| {
        let leaf = f.state.account(id).expect("account").leaf.clone();
        dishonest_in(&base, &start, slot, |w| {
            let SlotWitness::Trade(t) = w else {
                unreachable!()
            };
            let mut order = t.trade.maker.order;
            order.account = id;
            t.trade.maker.order = order;
            t.trade.maker.signature =
                key.sign(order.hash(&zkperp_state::domain::SigningDomain::TEST));
            let slot = zkperp_state::order::slot_index(order.order_id, depth);
            t.maker.account = zkperp_circuits::witness::AccountWitness {
                id,
                leaf: leaf.clone(),
            };
            t.maker.order_slot = zkperp_circuits::witness::OrderSlotWitness {
                slot: Default::default(),
                proof: SparseMerkleTree::new(depth)
                    .expect("tree")
                    .proof(slot)
                    .expect("path"),
            };
        })
    };
    assert!(
        as_maker(f.id(2), &f.traders[2].key),
        "the harness: a third trader, its own key, no order yet"
    );
    assert!(
        !as_maker(AccountId::INSURANCE_FUND, &f.fund_key),
        "the fund's key trades for the fund"
    );
}

/// The fee account's key cannot trade for it: the witness is made consistent (its leaf as the
/// trade leaves it is what the batch's fee settlement reads), so only the rule refuses it.
/// Checked to pass with the gadget's fee-account test removed.
#[test]
fn no_signature_trades_with_the_fee_account() {
    use zkperp_circuits::witness::{AccountWitness, OrderSlotWitness};
    use zkperp_state::order::{slot_index, OrderSlot};
    use zkperp_state::units::AccountId;
    // A first batch pays the fee account 5 USD, enough margin for the 5 lots it buys below.
    let mut f = after_batch(|f| {
        let buy = f.order(0, btc(), Side::Buy, 1_000, 500_000);
        let sell = f.order(1, btc(), Side::Sell, 1_000, 500_000);
        vec![Fixture::trade_tx_with_fees(
            sell, buy, 1_000, 500_000, 0, 5_000_000,
        )]
    });
    let fees = AccountId::FEES;
    let before = f.state.account(fees).expect("fee account").leaf.clone();
    assert_eq!(before.collateral.get(), 5_000_000);
    let (batch, start) = alone_from(&mut f, |f| {
        let buy = f.order(0, btc(), Side::Buy, 5, 500_000);
        let sell = f.order(1, btc(), Side::Sell, 5, 500_000);
        vec![Fixture::trade_tx(buy, sell, 5, 500_000)]
    });
    let base = circuit(&f, &batch);
    let slot = only_slot(&base);
    let depth = f.state.config().order_tree_depth;
    let SlotWitness::Trade(t) = &base.witness.slots[slot].witness else {
        unreachable!()
    };
    let as_maker = |key: &zkperp_state::eddsa::PrivateKey| {
        let mut order = t.trade.maker.order;
        order.account = fees;
        let signed = zkperp_state::order::SignedOrder {
            order,
            signature: key.sign(order.hash(&zkperp_state::domain::SigningDomain::TEST)),
        };
        // The fee account's leaf once its buy is written: 5 lots for 25 USD, its slot filled.
        let index = slot_index(order.order_id, depth);
        let mut orders = SparseMerkleTree::new(depth).expect("tree");
        let empty_path = orders.proof(index).expect("path");
        orders
            .update(
                index,
                OrderSlot {
                    order_id: order.order_id,
                    filled: lots(5),
                }
                .pack(),
            )
            .expect("slot");
        let mut bought = before.clone();
        bought.positions[btc().index()].size = lots(5);
        bought.collateral = coll(before.collateral.get() - 25_000_000);
        bought.orders_root = orders.root();
        let mut c = base.clone();
        c.commitment = None;
        let SlotWitness::Trade(t) = &mut c.witness.slots[slot].witness else {
            unreachable!()
        };
        t.trade.maker = signed;
        t.maker.account = AccountWitness {
            id: fees,
            leaf: before.clone(),
        };
        t.maker.order_slot = OrderSlotWitness {
            slot: OrderSlot::default(),
            proof: empty_path,
        };
        c.witness.fee_account.leaf = bought;
        satisfied(consistent(c, &start))
    };
    assert!(
        !as_maker(&f.fees_key),
        "the fee account's key trades for it"
    );
}

/// A trade between an account and itself is refused by that rule alone: the witness is made
/// consistent (trader 1 buys with a second order, and its leaf as the buy left it is what the
/// sell reads). Checked to pass with the gadget's self-trade test removed.
#[test]
fn a_trade_between_an_account_and_itself_is_refused() {
    use zkperp_circuits::witness::{AccountWitness, OrderSlotWitness};
    use zkperp_state::order::{slot_index, OrderSlot};
    use zkperp_state::units::OrderId;
    let mut f = funded();
    let (batch, start) = alone_from(&mut f, |f| {
        let buy = f.order(0, btc(), Side::Buy, 10, 500_000);
        let sell = f.order(1, btc(), Side::Sell, 10, 500_000);
        vec![Fixture::trade_tx(buy, sell, 10, 500_000)]
    });
    let base = circuit(&f, &batch);
    let slot = only_slot(&base);
    let depth = f.state.config().order_tree_depth;
    let b = f.id(1);
    let SlotWitness::Trade(t) = &base.witness.slots[slot].witness else {
        unreachable!()
    };
    let before = t.taker.account.leaf.clone();
    let sell_id = t.trade.taker.order.order_id;
    let mut buy = t.trade.maker.order;
    buy.account = b;
    buy.order_id = OrderId::new(5).expect("id");
    let buy = f.sign(1, buy);
    // Trader 1's leaf once its buy is written: 10 lots for 50 USD, slot 5 filled.
    let mut orders = SparseMerkleTree::new(depth).expect("tree");
    let filled = OrderSlot {
        order_id: buy.order.order_id,
        filled: lots(10),
    };
    orders
        .update(slot_index(filled.order_id, depth), filled.pack())
        .expect("slot");
    let mut bought = before.clone();
    bought.positions[btc().index()].size = lots(10);
    bought.collateral = coll(before.collateral.get() - 50_000_000);
    bought.orders_root = orders.root();
    let with_itself = dishonest_in(&base, &start, slot, |w| {
        let SlotWitness::Trade(t) = w else {
            unreachable!()
        };
        t.trade.maker = buy;
        t.maker.account = AccountWitness {
            id: b,
            leaf: before.clone(),
        };
        t.maker.order_slot = OrderSlotWitness {
            slot: OrderSlot::default(),
            proof: SparseMerkleTree::new(depth)
                .expect("tree")
                .proof(slot_index(buy.order.order_id, depth))
                .expect("path"),
        };
        t.taker.account.leaf = bought.clone();
        t.taker.order_slot.proof = orders.proof(slot_index(sell_id, depth)).expect("path");
    });
    assert!(!with_itself, "maker and taker are one account");
}

/// A credited deposit's key bytes must be the canonical packing of the account's key: the same
/// point written with `y + p` (the weighted sum is the same field element) or with bit 254 set
/// is refused, though everything else about the deposit is as the rules want it.
#[test]
fn a_deposit_key_must_be_encoded_canonically() {
    use ark_ff::PrimeField;
    use num_bigint::BigUint;
    let p: BigUint = Fr::MODULUS.into();
    // A trader whose y leaves room for y + p below 2^254.
    let mut f = Fixture::with_depths(8, 5, 3);
    let t = (0..8)
        .find(|&t| {
            let packed = f.traders[t].key.public_key().pack();
            let mut y = packed;
            y[31] &= 0x3f;
            BigUint::from_bytes_le(&y) + &p < BigUint::from(1u8) << 254
        })
        .expect("a key with a small y");
    f.deposit(t, 1_000_000);
    f.state.end_batch().expect("seal 1");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    let tx = f.deposit_tx(t, 2_000_000);
    f.apply(tx).expect("top-up");
    let batch = f.state.end_batch().expect("seal 2");
    let base = circuit(&f, &batch);
    let slot = only_slot(&base);
    let with_key = |key: [u8; 32]| {
        dishonest(&base, slot, |w| {
            let SlotWitness::Deposit(d) = w else {
                unreachable!()
            };
            d.deposit.request.public_key = key;
        })
    };
    let packed = f.traders[t].key.public_key().pack();
    assert!(with_key(packed), "the canonical packing");
    let sign = packed[31] & 0x80;
    let mut y = packed;
    y[31] &= 0x3f;
    let shifted = BigUint::from_bytes_le(&y) + &p;
    let mut plus_p = [0u8; 32];
    let bytes = shifted.to_bytes_le();
    plus_p[..bytes.len()].copy_from_slice(&bytes);
    plus_p[31] |= sign;
    assert!(!with_key(plus_p), "y + p: the same point, not canonical");
    let mut bit_254 = packed;
    bit_254[31] |= 0x40;
    assert!(!with_key(bit_254), "bit 254 set");
}

/// Forced cancels of `funded()`'s accounts: served (the owner), refused (a stranger, an empty
/// leaf, an id beyond the tree).
fn forced_cancels(f: &mut Fixture) -> (SealedBatch, SparseMerkleTree) {
    let (a, b) = (f.id(0), f.id(1));
    let owner = f.traders[1].l1;
    let stranger = f.traders[2].l1;
    let empty = zkperp_state::units::AccountId::new(9).expect("id");
    let beyond = zkperp_state::units::AccountId::new(1 << 20).expect("id");
    alone_from(f, |_| {
        vec![
            Fixture::forced_cancel_tx(0, b, owner, 42),
            Fixture::forced_cancel_tx(1, a, stranger, 42),
            Fixture::forced_cancel_tx(2, empty, owner, 42),
            Fixture::forced_cancel_tx(3, beyond, owner, 42),
        ]
    })
}

#[test]
fn forced_cancels_satisfy_the_circuit() {
    let mut f = funded();
    let (batch, _) = forced_cancels(&mut f);
    assert_eq!(
        f.state.account(f.id(1)).expect("b").leaf.order_floor.get(),
        42
    );
    assert!(satisfied(circuit(&f, &batch)));
    assert!(
        satisfied(wide(&f, &batch)),
        "with unused slots of every kind"
    );
}

#[test]
fn forced_cancel_answers_are_the_rules() {
    let mut f = funded();
    let (batch, start) = forced_cancels(&mut f);
    let base = circuit(&f, &batch);
    let slots = slots_of(&base, |w| matches!(w, SlotWitness::ForcedCancel(_)));
    assert_eq!(slots.len(), 4);
    let edit =
        |slot: usize, e: &dyn Fn(&mut zkperp_circuits::tx::forced_cancel::ForcedCancelWitness)| {
            dishonest_in(&base, &start, slot, |w| {
                let SlotWitness::ForcedCancel(fc) = w else {
                    unreachable!()
                };
                e(fc);
            })
        };
    assert!(
        edit(slots[0], &|_| {}),
        "the harness accepts the honest answers"
    );
    // A served request published as refused: the account is there, so "it does not exist"
    // cannot be shown.
    assert!(
        !edit(slots[0], &|fc| fc.exists = false),
        "served refused as missing"
    );
    // A stranger's request served: the leaf names another owner.
    let stranger = f.traders[2].l1;
    assert!(
        !edit(slots[1], &|fc| fc.account.leaf.l1_address = stranger),
        "a stranger made owner"
    );
    // An empty leaf shown as an account owned by the requester.
    let owner = f.traders[1].l1;
    assert!(
        !edit(slots[2], &|fc| {
            fc.exists = true;
            fc.account.leaf.l1_address = owner;
        }),
        "an empty leaf made an account"
    );
    // An id beyond the tree cannot exist.
    assert!(
        !edit(slots[3], &|fc| fc.exists = true),
        "an id beyond the tree"
    );
    // The floor written is max(floor, order id): a prover cannot start from a lower floor to
    // write a smaller one, nor from a higher one the account never had.
    assert!(
        !edit(slots[0], &|fc| fc.account.leaf.order_floor =
            zkperp_state::units::OrderId::new(99).expect("id")),
        "a floor the account does not have"
    );
}

/// A trade whose maker order (re-signed, same orders-tree slot) has `order_id`, after
/// `before` in the same batch.
fn trade_with_maker_id(before: Vec<Transaction>, order_id: u64) -> bool {
    trade_with_maker_id_after(funded(), before, 50, order_id)
}

/// As [`trade_with_maker_id`] on `f` (batches it sealed before stay in its trees), the
/// honest maker order numbered `honest`.
fn trade_with_maker_id_after(
    mut f: Fixture,
    before: Vec<Transaction>,
    honest: u64,
    order_id: u64,
) -> bool {
    let (batch, start) = alone_from(&mut f, |f| {
        let buy = f.order_with_id(0, btc(), Side::Buy, 10, 502_000, honest);
        let sell = f.order(1, btc(), Side::Sell, 6, 500_000);
        let mut txs = before;
        txs.push(Fixture::trade_tx(buy, sell, 6, 501_000));
        txs
    });
    let base = circuit(&f, &batch);
    let slot = slot_of(&base, |w| matches!(w, SlotWitness::Trade(_)));
    let SlotWitness::Trade(t) = &base.witness.slots[slot].witness else {
        unreachable!()
    };
    let mut maker = t.trade.maker.order;
    maker.order_id = zkperp_state::units::OrderId::new(order_id).expect("id");
    let maker = f.sign(0, maker);
    dishonest_in(&base, &start, slot, move |w| {
        let SlotWitness::Trade(t) = w else {
            unreachable!()
        };
        t.trade.maker = maker;
    })
}

/// `funded()` after a batch of `txs` (made from it), sealed, and the next batch begun.
fn after_batch(txs: impl FnOnce(&mut Fixture) -> Vec<Transaction>) -> Fixture {
    let mut f = funded();
    for tx in txs(&mut f) {
        f.apply(tx).expect("applies");
    }
    f.state.end_batch().expect("seal");
    f.state.begin_batch(ts(START + 120)).expect("begin");
    f
}

/// A cancelled order never fills: its slot holds `(id, CANCELLED)`, above any size. (50, 42,
/// 34 and 58 share slot 2 of the depth-3 orders tree.)
#[test]
fn a_cancelled_order_cannot_fill_in_a_later_batch() {
    let cancelled = || after_batch(|f| vec![cancel(f, 0, 42)]);
    assert!(
        trade_with_maker_id(vec![], 42),
        "before the cancel, 42 fills"
    );
    assert!(
        trade_with_maker_id_after(cancelled(), vec![], 50, 50),
        "a later order takes the slot"
    );
    assert!(
        !trade_with_maker_id_after(cancelled(), vec![], 50, 42),
        "the cancelled order"
    );
}

/// An order superseded in its slot by a later one of the same account (filled in an earlier
/// batch) never fills again; the later one goes on filling.
#[test]
fn a_superseded_order_cannot_fill_in_a_later_batch() {
    let partly = || {
        after_batch(|f| {
            let buy = f.order_with_id(0, btc(), Side::Buy, 10, 502_000, 50);
            let sell = f.order(1, btc(), Side::Sell, 4, 500_000);
            vec![Fixture::trade_tx(buy, sell, 4, 501_000)]
        })
    };
    assert!(
        trade_with_maker_id_after(partly(), vec![], 58, 58),
        "a later order supersedes 50"
    );
    assert!(
        trade_with_maker_id_after(partly(), vec![], 58, 50),
        "order 50 fills its last 6 lots"
    );
    assert!(
        !trade_with_maker_id_after(partly(), vec![], 58, 34),
        "order 34 was superseded by 50"
    );
}

/// A cancel of an order a later one superseded is refused (the later order keeps its slot).
#[test]
fn a_superseded_order_cannot_be_cancelled() {
    let mut f = after_batch(|f| {
        let buy = f.order_with_id(0, btc(), Side::Buy, 10, 502_000, 50);
        let sell = f.order(1, btc(), Side::Sell, 4, 500_000);
        vec![Fixture::trade_tx(buy, sell, 4, 501_000)]
    });
    let (batch, start) = alone_from(&mut f, |f| vec![cancel(f, 0, 58)]);
    let base = circuit(&f, &batch);
    let slot = only_slot(&base);
    let with_id = |order_id: u64| {
        let Transaction::CancelOrder(c) = cancel(&f, 0, order_id) else {
            unreachable!()
        };
        dishonest_in(&base, &start, slot, |w| {
            let SlotWitness::CancelOrder(w) = w else {
                unreachable!()
            };
            w.cancel = c;
        })
    };
    assert!(with_id(58), "a later order: honest");
    assert!(with_id(50), "the order in the slot");
    assert!(!with_id(34), "superseded by 50");
}

/// One order filled in two slots of one batch: the second fill reads the slot the first
/// wrote (the orders root is threaded through the batch), so it cannot start from the slot
/// as it was before the batch and fill the order past its size.
#[test]
fn one_order_in_two_slots_reads_its_first_fill() {
    let mut f = funded();
    let (batch, start) = alone_from(&mut f, |f| {
        let buy = f.order_with_id(0, btc(), Side::Buy, 10, 502_000, 50);
        let first = f.order(1, btc(), Side::Sell, 5, 500_000);
        // Room for 6: only the maker's order can refuse a sixth lot below.
        let second = f.order(2, btc(), Side::Sell, 6, 500_000);
        vec![
            Fixture::trade_tx(buy, first, 5, 501_000),
            Fixture::trade_tx(buy, second, 5, 501_000),
        ]
    });
    let base = circuit(&f, &batch);
    let slots = slots_of(&base, |w| matches!(w, SlotWitness::Trade(_)));
    assert_eq!(slots.len(), 2);
    let second = |edit: &dyn Fn(&mut TradeWitness)| {
        dishonest_in(&base, &start, slots[1], |w| {
            let SlotWitness::Trade(t) = w else {
                unreachable!()
            };
            edit(t);
        })
    };
    assert!(second(&|_| {}), "honest: 5 + 5 of 10");
    assert!(
        !second(&|t| t.maker.order_slot.slot.filled = lots(0)),
        "the second fill from the slot before the first"
    );
    assert!(
        !second(&|t| t.trade.size = lots(6)),
        "5 + 6 of 10: overfilled across the slots"
    );
}

#[test]
fn an_order_below_the_floor_cannot_fill() {
    // 50 and 34 share slot 2 of a depth-3 orders tree; the floor 42 lies between them.
    let floor = |f: &Fixture| vec![Fixture::forced_cancel_tx(0, f.id(0), f.traders[0].l1, 42)];
    let f = funded();
    let raise = floor(&f);
    assert!(trade_with_maker_id(vec![], 50), "honest");
    assert!(
        trade_with_maker_id(vec![], 34),
        "no floor: order 34 may fill"
    );
    assert!(trade_with_maker_id(raise.clone(), 50), "above the floor");
    assert!(trade_with_maker_id(raise.clone(), 42), "at the floor");
    assert!(!trade_with_maker_id(raise, 34), "below the floor");
}

/// A trade on a market whose mark is 0 (never opened) is refused by the mark rule alone: the
/// same batch with another non-zero mark in the witness is accepted (its old root published
/// accordingly, which is the L1's to refuse; here only the rule is under test).
#[test]
fn a_trade_on_a_market_without_a_mark_is_refused() {
    let (f, batch) = one_trade();
    let base = circuit(&f, &batch);
    let with_mark = |price: u64| {
        let mut c = base.clone();
        c.commitment = None;
        c.witness.start_markets[btc().index()].mark_price = ticks(price);
        satisfied(c)
    };
    assert!(with_mark(500_000), "another open mark");
    assert!(!with_mark(0), "a market that has no mark");
}

/// The fee settlement credits the batch's fees to the fee account's leaf as it is in the
/// tree: a prover cannot start it from another balance, nor credit another account.
#[test]
fn the_fee_settlement_credits_the_fee_account() {
    let (f, batch) = one_trade();
    let base = circuit(&f, &batch);
    let settle = |edit: &dyn Fn(&mut zkperp_circuits::witness::AccountWitness)| {
        let mut c = base.clone();
        c.commitment = None;
        edit(&mut c.witness.fee_account);
        satisfied(c)
    };
    assert!(settle(&|_| {}), "untouched");
    assert!(
        !settle(&|a| a.leaf.collateral = coll(a.leaf.collateral.get() - 3_000)),
        "the fees credited over a smaller balance"
    );
    let other = f.state.account(f.id(2)).expect("account").leaf.clone();
    assert!(
        !settle(&|a| {
            a.id = f.id(2);
            a.leaf = other.clone();
        }),
        "the fees credited to a trader"
    );
}

/// A cancel needs its owner's signature: another message's signature by the same key, or the
/// same message signed by another key, is refused.
#[test]
fn a_cancel_needs_its_owners_signature() {
    let (f, batch) = liquidation_batch();
    let base = wide(&f, &batch);
    let slot = slot_of(&base, |w| matches!(w, SlotWitness::CancelOrder(_)));
    let with_signature = |key: usize, order_id: u64| {
        let signature = f.traders[key]
            .key
            .sign(zkperp_state::tx::CancelOrder::message(
                &zkperp_state::domain::SigningDomain::TEST,
                f.id(1),
                zkperp_state::units::OrderId::new(order_id).expect("id"),
            ));
        dishonest(&base, slot, |w| {
            let SlotWitness::CancelOrder(c) = w else {
                unreachable!()
            };
            c.cancel.signature = signature;
        })
    };
    assert!(with_signature(1, 9), "the owner's signature");
    assert!(
        !with_signature(2, 9),
        "the same cancel signed by another trader"
    );
    assert!(
        !with_signature(1, 10),
        "the owner's signature of another cancel"
    );
}

/// A funding tick needs an open market (a mark): a step of 0 passes any cap, so only the mark
/// rule can refuse it on a market whose mark is 0.
#[test]
fn a_funding_tick_on_an_unopened_market_is_refused() {
    let (f, batch) = alone(|_| {
        vec![Transaction::FundingTick(FundingTick {
            market: btc(),
            index: FundingIndex::new(0).expect("index"),
        })]
    });
    let base = circuit(&f, &batch);
    let with_mark = |price: u64| {
        let mut c = base.clone();
        c.commitment = None;
        c.witness.start_markets[btc().index()].mark_price = ticks(price);
        satisfied(c)
    };
    assert!(with_mark(400_000), "another open mark");
    assert!(!with_mark(0), "no mark");
}

/// The elapsed time a funding step is capped by is the batch time less the market's last
/// funding time, both in the proof: a prover cannot claim less time passed than did (a step
/// at the cap for 60 s is over it for 59 s), nor a last funding time after the batch.
#[test]
fn the_funding_cap_uses_the_time_that_elapsed() {
    let (f, batch) = alone(|_| {
        vec![Transaction::FundingTick(FundingTick {
            market: btc(),
            index: FundingIndex::new(-30).expect("index"),
        })]
    });
    let base = circuit(&f, &batch);
    let last = base.witness.start_markets[btc().index()].last_funding.get();
    let with_last = |t: u64| {
        let mut c = base.clone();
        c.commitment = None;
        c.witness.start_markets[btc().index()].last_funding = ts(t);
        satisfied(c)
    };
    assert!(
        with_last(last),
        "the real last funding time: 60 s, at the cap"
    );
    assert!(!with_last(last + 1), "59 s claimed: over the cap");
    assert!(
        !with_last(START + 61),
        "a last funding time after the batch"
    );
}

/// A liquidation's penalty is capped by the account's remaining value as well as by the
/// market's fraction: closing a 10 USD account's whole position (1% of its value would be
/// 80.1 USD) may charge 10 USD, not a unit more.
#[test]
fn a_liquidation_fee_cannot_exceed_the_remaining_value() {
    let mut f = leveraged_long(10_000_000_000);
    let a = f.id(0);
    let liquidation = move |fee: i128| {
        Transaction::Liquidation(zkperp_state::tx::Liquidation {
            account: a,
            market: btc(),
            size: lots(1_800),
            fee: coll(fee),
        })
    };
    let (batch, start) = alone_from(&mut f, |f| {
        // TV = 1,000 USD - 1,800 lots * 55,000 ticks * 10 units = 10 USD.
        f.set_price(btc(), 445_000);
        assert!(
            f.state.check(&liquidation(10_000_001)).is_err(),
            "natively refused"
        );
        vec![liquidation(10_000_000)]
    });
    let base = circuit(&f, &batch);
    let slot = slot_of(&base, |w| matches!(w, SlotWitness::Liquidation(_)));
    let with_fee = |fee: i128| {
        dishonest_in(&base, &start, slot, |w| {
            let SlotWitness::Liquidation(l) = w else {
                unreachable!()
            };
            l.liquidation.fee = coll(fee);
        })
    };
    assert!(with_fee(10_000_000), "all that is left");
    assert!(!with_fee(10_000_001), "a unit more than is left");
}

/// Forced trades between `funded()`'s accounts (0: 1,000 USD, 1: 2,000 USD, 2: 500 USD):
/// served, then refused for each ground (a stranger signed, a stranger requested, an empty
/// account, an id beyond the tree, the margin rule, the position width).
fn forced_trades(f: &mut Fixture) -> (SealedBatch, SparseMerkleTree) {
    use zkperp_state::tx::forced_trade::L1ForcedTrade;
    let stranger = f.traders[2].l1;
    let empty = zkperp_state::units::AccountId::new(9).expect("id");
    let beyond = zkperp_state::units::AccountId::new(1 << 20).expect("id");
    let edit = |tx: Transaction, change: &dyn Fn(&mut L1ForcedTrade)| {
        let Transaction::ForcedTrade(mut t) = tx else {
            unreachable!()
        };
        change(&mut t.request);
        Transaction::ForcedTrade(t)
    };
    alone_from(f, |f| {
        vec![
            f.forced_trade_tx(0, (0, 1), btc(), Side::Buy, 10, 500_000),
            edit(
                f.forced_trade_tx(1, (0, 1), btc(), Side::Buy, 1, 500_000),
                &|r| r.signer = stranger,
            ),
            edit(
                f.forced_trade_tx(2, (0, 1), btc(), Side::Sell, 1, 500_000),
                &|r| r.requester = stranger,
            ),
            edit(
                f.forced_trade_tx(3, (0, 1), btc(), Side::Buy, 1, 500_000),
                &|r| r.account_b = empty,
            ),
            edit(
                f.forced_trade_tx(4, (1, 0), eth(), Side::Sell, 1, 3_000_000),
                &|r| r.account_a = beyond,
            ),
            // 1,500 lots of 5 USD at 10%: 750 USD of initial margin, trader 2 has 500.
            f.forced_trade_tx(5, (2, 1), btc(), Side::Buy, 1_500, 500_000),
            // 10 + 2^40 - 1 lots: past the width (at price 0, the balance does not move).
            f.forced_trade_tx(6, (0, 1), btc(), Side::Buy, (1 << 40) - 1, 0),
        ]
    })
}

/// Every answer is decided in-circuit and published: the honest witness satisfies the circuit
/// with the native commitment only if the circuit decides each request as the native rules do
/// (served, or refused on each ground), since the served byte is in the commitment. (Checked
/// to fail with the margin test, the width test or an owner test removed from the gadget.)
#[test]
fn forced_trades_are_decided_as_the_native_rules_decide() {
    let mut f = funded();
    let (batch, _) = forced_trades(&mut f);
    let served: Vec<bool> = batch
        .txs
        .iter()
        .map(|a| match &a.receipt.pubdata[..] {
            [zkperp_state::pubdata::PubData::ForcedTrade(r)] => r.served,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(served, [true, false, false, false, false, false, false]);
    assert_eq!(f.position(f.id(0), btc()), 10);
    assert!(satisfied(circuit(&f, &batch)));
    let mut two = funded();
    let (batch, _) = alone_from(&mut two, |f| {
        vec![f.forced_trade_tx(0, (1, 2), eth(), Side::Sell, 7, 2_990_000)]
    });
    assert!(
        satisfied(wide(&two, &batch)),
        "with unused slots of every kind"
    );
}

#[test]
fn forced_trade_answers_cannot_be_bent() {
    use zkperp_circuits::tx::forced_trade::ForcedTradeWitness;
    let mut f = funded();
    let fees = f
        .state
        .account(zkperp_state::units::AccountId::FEES)
        .expect("fees")
        .leaf
        .clone();
    let (batch, start) = forced_trades(&mut f);
    let base = circuit(&f, &batch);
    let slots = slots_of(&base, |w| matches!(w, SlotWitness::ForcedTrade(_)));
    assert_eq!(slots.len(), 7);
    let edit = |slot: usize, e: &dyn Fn(&mut ForcedTradeWitness)| {
        dishonest_in(&base, &start, slot, |w| {
            let SlotWitness::ForcedTrade(ft) = w else {
                unreachable!()
            };
            e(ft);
        })
    };
    assert!(
        edit(slots[0], &|_| {}),
        "the harness accepts the honest answers"
    );
    // A served trade published as refused: A's account is there, its absence cannot be shown.
    assert!(
        !edit(slots[0], &|ft| ft.exists[0] = false),
        "served refused as missing"
    );
    // A stranger's signature served: B's leaf would have to name the stranger, from B's first
    // access in the batch (slot 0's) on, where the tree holds B's own leaf.
    let stranger = f.traders[2].l1;
    let mut c = base.clone();
    c.commitment = None;
    for slot in [slots[0], slots[1]] {
        let SlotWitness::ForcedTrade(ft) = &mut c.witness.slots[slot].witness else {
            unreachable!()
        };
        ft.accounts[1].leaf.l1_address = stranger;
        c.witness.slots[slot].pinned = true;
    }
    assert!(
        !satisfied(consistent(c, &start)),
        "a stranger made B's owner"
    );
    assert!(
        !edit(slots[2], &|ft| ft.accounts[0].leaf.l1_address = stranger),
        "a stranger made A's owner"
    );
    // An empty slot shown as an account of B's signer, and an id beyond the tree as existing.
    let owner = f.traders[1].l1;
    assert!(
        !edit(slots[3], &|ft| {
            ft.exists[1] = true;
            ft.accounts[1].leaf.l1_address = owner;
        }),
        "an empty leaf made an account"
    );
    assert!(
        !edit(slots[4], &|ft| ft.exists[0] = true),
        "an id beyond the tree"
    );
    // More collateral than trader 2 has, so that the margin rule would pass.
    assert!(
        !edit(slots[5], &|ft| ft.accounts[0].leaf.collateral =
            coll(2_000_000_000)),
        "a balance the account does not have"
    );
    // What the contract refuses at its door: the same account twice, a system account, a
    // size of zero (each with a consistent witness, so only that rule can refuse it).
    assert!(
        !edit(slots[1], &|ft| {
            ft.request.account_b = ft.request.account_a;
            ft.accounts[1] = ft.accounts[0].clone();
        }),
        "the same account on both sides"
    );
    let fees = fees.clone();
    let system = move |ft: &mut ForcedTradeWitness| {
        ft.request.account_b = zkperp_state::units::AccountId::FEES;
        ft.accounts[1].id = zkperp_state::units::AccountId::FEES;
        ft.accounts[1].leaf = fees.clone();
    };
    assert!(!edit(slots[1], &system), "the fee account as party B");
    // (On the last slot, which nothing after it reads: a size of zero would be served and
    // rewrite both leaves as they are.)
    assert!(
        !edit(slots[6], &|ft| ft.request.size = lots(0)),
        "a size of zero"
    );
}

/// A credited deposit's key is never of small order: the identity (written `y = 1`, or with
/// the sign bit set on `x = 0`) and the point `(0, -1)` are refused by the `x != 0` rule alone
/// (the witness carries the point the bytes pack, and the written leaf is made consistent).
/// Checked to pass with that rule removed.
#[test]
fn a_deposit_key_of_small_order_is_refused() {
    use ark_ff::{AdditiveGroup, BigInteger, Field, PrimeField};
    use zkperp_state::babyjubjub::Point;
    let mut f = Fixture::with_depths(4, 5, 3);
    f.deposit(0, 1_000_000);
    f.state.end_batch().expect("seal 1");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    let (batch, start) = alone_from(&mut f, |f| vec![f.deposit_tx(3, 2_000_000)]);
    let base = circuit(&f, &batch);
    let slot = only_slot(&base);
    let with_key = |bytes: [u8; 32], key: Point| {
        dishonest_in(&base, &start, slot, |w| {
            let SlotWitness::Deposit(d) = w else {
                unreachable!()
            };
            d.deposit.request.public_key = bytes;
            d.key = key;
        })
    };
    let other = f.traders[2].key.public_key();
    assert!(
        with_key(other.pack(), *other.point()),
        "the harness: another valid key"
    );
    let mut one = [0u8; 32];
    one[0] = 1;
    let identity = Point::new_unchecked(Fr::ZERO, Fr::ONE);
    assert!(!with_key(one, identity), "the identity");
    let mut signed = one;
    signed[31] |= 0x80;
    assert!(
        !with_key(signed, identity),
        "the identity, sign bit set on x = 0"
    );
    let minus_one = -Fr::ONE;
    let mut y = [0u8; 32];
    let le = minus_one.into_bigint().to_bytes_le();
    y[..le.len()].copy_from_slice(&le);
    assert!(
        !with_key(y, Point::new_unchecked(Fr::ZERO, minus_one)),
        "(0, -1), of order 2"
    );
}

/// A credit that would take the balance past its 63-bit width is refused: `2^62` more on
/// `2^62` is `2^63`. (A refund is the native answer; here a prover that credits it anyway.)
#[test]
fn a_credit_cannot_overflow_the_balance() {
    let mut f = Fixture::with_depths(2, 5, 3);
    f.deposit(0, 1 << 62);
    f.state.end_batch().expect("seal 1");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    let (batch, start) = alone_from(&mut f, |f| vec![f.deposit_tx(0, (1 << 62) - 1)]);
    let base = circuit(&f, &batch);
    let slot = only_slot(&base);
    let with_amount = |units: u64| {
        dishonest_in(&base, &start, slot, |w| {
            let SlotWitness::Deposit(d) = w else {
                unreachable!()
            };
            d.deposit.request.amount = amount(units);
        })
    };
    assert!(with_amount((1 << 62) - 1), "2^63 - 1: the widest balance");
    assert!(!with_amount(1 << 62), "2^63: past the width");
}

/// A forced withdrawal of zero pays nothing, whatever the prover claims (two rules refuse it:
/// `paid <= amount`, and a request of zero is not eligible, so `paid = 0`).
#[test]
fn a_forced_withdrawal_of_zero_pays_nothing() {
    let mut f = funded();
    let owner = f.traders[1].l1;
    let b = f.id(1).get();
    let (batch, start) = alone_from(&mut f, |_| vec![forced(0, b, owner, 0)]);
    let base = circuit(&f, &batch);
    let slot = only_slot(&base);
    let paying = |units: u64| forced_withdrawal_paying(&base, &start, slot, units);
    assert!(paying(0), "nothing: the honest answer");
    assert!(!paying(1), "a unit of a request for zero");
}

/// A bankrupt remainder is absorbed by the fund exactly when the account is left flat: the
/// absorption is computed in-circuit, never witnessed, so the native commitment (whose leaves
/// carry it) holds only if the gadget absorbs what the rules absorb. A partial liquidation of
/// the same account leaves its debt where it is. No penalty can be charged on a deficit.
/// (Checked to fail with the gadget's absorption removed.)
#[test]
fn a_bankrupt_remainder_is_absorbed_by_the_fund() {
    for (size, absorbs) in [(1_800i128, true), (1_000, false)] {
        let mut f = leveraged_long(10_000_000_000);
        let a = f.id(0);
        let fund_before = f.collateral(zkperp_state::units::AccountId::INSURANCE_FUND);
        let (batch, start) = alone_from(&mut f, |f| {
            // Trader 0 (1,000 USD, long 1,800 lots from 500,000): at 440,000 its value is
            // -80 USD.
            f.set_price(btc(), 440_000);
            vec![Transaction::Liquidation(zkperp_state::tx::Liquidation {
                account: a,
                market: btc(),
                size: lots(size),
                fee: coll(0),
            })]
        });
        let after = f.collateral(a);
        if absorbs {
            assert_eq!(after, 0, "the deficit went to the fund");
            assert_eq!(
                f.collateral(zkperp_state::units::AccountId::INSURANCE_FUND),
                fund_before - 1_800 * 440_000 * 10 - 80_000_000,
                "the fund paid the lots' value and took the deficit"
            );
        } else {
            assert!(after < 0, "a partial liquidation keeps the debt: {after}");
        }
        let base = circuit(&f, &batch);
        assert!(satisfied(base.clone()), "size {size}: the native leaves");
        let slot = slot_of(&base, |w| matches!(w, SlotWitness::Liquidation(_)));
        let with_fee = |units: i128| {
            dishonest_in(&base, &start, slot, |w| {
                let SlotWitness::Liquidation(l) = w else {
                    unreachable!()
                };
                l.liquidation.fee = coll(units);
            })
        };
        assert!(with_fee(0), "size {size}: the harness");
        assert!(!with_fee(1), "size {size}: a penalty on a deficit");
    }
}

fn mark_band(ppm: u64) -> impl FnOnce(&mut StateConfig) {
    move |c: &mut StateConfig| c.markets[0].mark_band = Ppm::new(ppm).expect("ppm")
}

fn quote_spread(ppm: u64) -> impl FnOnce(&mut StateConfig) {
    move |c: &mut StateConfig| c.markets[0].max_quote_spread = Ppm::new(ppm).expect("ppm")
}

#[test]
fn an_oracle_tick_publishes_the_banded_mark_its_median_and_its_agreement() {
    // A 20% jump, quotes 10,000 ticks apart (2% of 500,000; 1.67% of 600,000): the mark moves
    // the band's 5% to 525,000, the index is 600,000, the quotes agree.
    let (f, batch) = alone(|f| vec![f.oracle_tick_tx(btc(), [595_000, 600_000, 605_000])]);
    let m = batch.markets[0];
    assert_eq!(
        (m.mark_price.get(), m.index_price.get()),
        (525_000, 600_000)
    );
    assert!(!m.quotes_disagree);
    assert!(satisfied(circuit(&f, &batch)), "as made");
    // Another band would have made another mark; a tighter spread, disagreement.
    assert!(!under(&f, &batch, mark_band(50_002)), "a wider band");
    assert!(!under(&f, &batch, mark_band(49_999)), "a narrower band");
    assert!(
        !under(&f, &batch, quote_spread(16_666)),
        "a spread below the quotes'"
    );
    assert!(
        under(&f, &batch, quote_spread(16_667)),
        "a spread just above the quotes'"
    );
    // Nor can the batch publish another index price.
    let mut edited = batch.clone();
    edited.markets[0].index_price = zkperp_state::testkit::ticks(525_000);
    assert!(!satisfied(circuit(&f, &edited)), "the index is the median");
}

/// `batch` with market 0's oracle fields set at its start and end (so the market is the same on
/// both sides of every slot), proven with the public input the edited witness commits to.
fn with_oracle_state(
    f: &Fixture,
    batch: &SealedBatch,
    edit: impl Fn(&mut zkperp_state::market::MarketState),
) -> bool {
    let mut edited = batch.clone();
    edit(&mut edited.start_markets[0]);
    edit(&mut edited.markets[0]);
    let mut c = circuit(f, &edited);
    c.commitment = None;
    satisfied(c)
}

#[test]
fn a_reduce_only_market_lets_positions_shrink_and_nothing_else() {
    // Trader 0 is long 10 lots against trader 1 (batch 1); batch 2 is one trade.
    let setup = || {
        let mut f = Fixture::with_depths(3, 5, 3);
        for t in 0..3 {
            f.deposit(t, 1_000_000_000);
        }
        f.trade(0, 1, btc(), 10, 500_000).expect("open");
        f.state.end_batch().expect("seal 1");
        f.state.begin_batch(ts(START + 60)).expect("begin");
        f
    };
    let disagree = |m: &mut zkperp_state::market::MarketState| m.quotes_disagree = true;
    // Both sides reduce: allowed while the oracles disagree.
    let mut f = setup();
    f.trade(1, 0, btc(), 4, 500_000).expect("both reduce");
    let closing = f.state.end_batch().expect("seal 2");
    assert!(with_oracle_state(&f, &closing, disagree), "a close");
    // Trader 2 opens against trader 1's growing short: allowed only while they agree.
    let mut f = setup();
    f.trade(2, 1, btc(), 4, 500_000).expect("opens");
    let opening = f.state.end_batch().expect("seal 2");
    assert!(with_oracle_state(&f, &opening, |_| {}), "agreeing oracles");
    assert!(!with_oracle_state(&f, &opening, disagree), "new risk");
}

#[test]
fn while_the_band_binds_a_withdrawal_is_checked_on_the_less_favourable_price() {
    // Trader 2 (500 USD) holds 60 lots bought at 501,000 (mark 500,000) and withdraws 249 USD,
    // leaving 250.4 USD of value against 300 USD of position: 83% initial margin passes.
    let mut f = Fixture::configured(3, |c| {
        c.account_tree_depth = 5;
        c.order_tree_depth = 3;
        c.markets[0].initial_margin = Ppm::new(830_000).expect("ppm");
        c.markets[0].margin_tiers.clear();
    });
    f.deposit(1, 2_000_000_000);
    f.deposit(2, 500_000_000);
    f.trade(2, 1, btc(), 60, 501_000).expect("trade");
    f.state.end_batch().expect("seal 1");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    f.apply(f.withdrawal_tx(2, 249_000_000))
        .expect("withdrawal");
    let batch = f.state.end_batch().expect("seal 2");
    let index = |price: u64| {
        move |m: &mut zkperp_state::market::MarketState| {
            m.index_price = zkperp_state::testkit::ticks(price)
        }
    };
    assert!(with_oracle_state(&f, &batch, index(500_000)), "as made");
    // A median above the mark is the long's favourable side: the mark is read.
    assert!(
        with_oracle_state(&f, &batch, index(600_000)),
        "a higher median"
    );
    // TV = 600 p - 49.6 USD against 83% of 600 p: the median may fall to 486,275 ticks.
    assert!(
        with_oracle_state(&f, &batch, index(486_275)),
        "the lowest median it allows"
    );
    assert!(
        !with_oracle_state(&f, &batch, index(486_274)),
        "a lower median"
    );
}
