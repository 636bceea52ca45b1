//! A liquidation scenario through the whole sequencer, proven: traders deposit and trade through
//! the journaled sequencer, three local oracles quote price paths read from `seconds price`
//! text, the oracle book's ticks move the marks, the liquidation engine runs after every mark
//! change. The batch of the liquidation and the deleverage is proven with Groth16 and
//! verified; the opening batches' witnesses are checked against the same circuit's
//! constraints (more proofs would add minutes to CI and nothing the pipeline tests do not
//! show).
//!
//! ```text
//!  batches 1-4  t=0..20  deposits (four traders, the insurance fund), A long BTC vs C,
//!                        B long ETH vs D
//!  batch 5      t=100    BTC 50,000 -> 44,000: A is bankrupt (-80 USD); the fund takes A's
//!                        position and pays A's deficit (the fund is charged).
//!                        ETH 3,000 -> 2,300: B is bankrupt (-50 USD); absorbing it would leave
//!                        the fund below maintenance: B's position is deleveraged against the
//!                        most valuable short (D)
//! ```

use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkperp_circuits::batch::BatchCircuit;
use zkperp_core::command::Command;
use zkperp_core::engine::{FeeSchedule, OrderOptions};
use zkperp_core::liquidation::next_step;
use zkperp_core::oracle::{LocalOracle, OracleBook, PricePath};
use zkperp_prover::{BatchProver, KeyCache};
use zkperp_sequencer::sequencer::{Outcome, Sequencer, SequencerConfig};
use zkperp_state::batch::{SealedBatch, Shape};
use zkperp_state::margin::total_value;
use zkperp_state::order::Side;
use zkperp_state::testkit::{btc, eth, ts, Fixture, START};
use zkperp_state::tx::{Deposit, L1Deposit, Transaction};
use zkperp_state::units::{AccountId, Amount, MarketId};
use zkperp_state::State;

/// A slot of every kind (the batcher needs one), and no more: the proving key is made here. The
/// account table holds 8 (the slots could touch 16; a full table seals the batch).
const SHAPE: &str = "o2-f1-l1-x1-d2-fw1-fc1-ft1-t1-w1-c1-a8";

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
const D: usize = 3;

/// The price paths, in ticks (BTC: 0.1 USD, ETH: 0.001 USD), seconds after `START`.
const BTC_PATH: &str = "# BTC-USD\n0 500000\n100 440000\n";
const ETH_PATH: &str = "# ETH-USD\n0 3000000\n100 2300000\n";

struct Scenario {
    f: Fixture,
    sequencer: Sequencer,
    book: OracleBook,
    oracles: Vec<LocalOracle>,
    sealed: Vec<SealedBatch>,
    /// Every liquidation-engine step applied, in order.
    steps: Vec<Transaction>,
    _dir: tempfile::TempDir,
}

impl Scenario {
    fn new() -> Self {
        // The paths crash up to 23% in one step, and this scenario is about what the liquidation
        // engine does then: bands wide enough that the marks are the paths' prices.
        let f = Fixture::configured(4, |c| {
            c.account_tree_depth = 4;
            c.order_tree_depth = 2;
            for m in &mut c.markets {
                m.mark_band = zkperp_state::units::Ppm::new(300_000).expect("ppm");
            }
        });
        let dir = tempfile::tempdir().expect("tmp");
        let sequencer = Sequencer::open(
            &dir.path().join("journal"),
            &SequencerConfig {
                state: f.state.config().clone(),
                fees: FeeSchedule {
                    maker_ppm: 0,
                    taker_ppm: 0,
                },
                shape: SHAPE.parse().expect("shape"),
            },
        )
        .expect("sequencer");
        let mut oracles = Vec::new();
        for (market, text) in [(btc(), BTC_PATH), (eth(), ETH_PATH)] {
            let path = PricePath::parse(text, ts(START)).expect("path");
            for (i, key) in f.oracles.iter().enumerate() {
                oracles.push(
                    LocalOracle::new(
                        zkperp_state::domain::SigningDomain::TEST,
                        key.clone(),
                        i as u8,
                        market,
                        path.clone(),
                    )
                    .with_offset(i as i64 - 1),
                );
            }
        }
        Scenario {
            book: OracleBook::new(f.state.config()),
            f,
            sequencer,
            oracles,
            sealed: Vec::new(),
            steps: Vec::new(),
            _dir: dir,
        }
    }

    fn state(&self) -> &State<zkperp_state::merkle::MemoryStore> {
        self.sequencer.engine().state()
    }

    fn run(&mut self, command: Command) -> Outcome {
        let done = self.sequencer.execute(command).expect("journaled");
        self.sealed.extend(done.sealed().cloned());
        done.outcome
    }

    fn apply(&mut self, tx: Transaction) {
        let outcome = self.run(Command::Apply { tx });
        assert_eq!(outcome, Outcome::Applied);
    }

    /// Applied now, or held for the next batch's slots.
    fn queue(&mut self, tx: Transaction) {
        let outcome = self.run(Command::Apply { tx });
        assert!(
            matches!(outcome, Outcome::Applied | Outcome::Held),
            "{outcome:?}"
        );
    }

    /// Seals the open batch (if any), hands the oracle book's ticks for `START + secs` to the
    /// sequencer between batches (held, they are the first thing the next batch applies, before
    /// the deposits held from the last one), begins the batch, then runs the liquidation engine
    /// until it has nothing left to do.
    fn batch_at(&mut self, secs: u64) {
        if self.sequencer.batcher().is_open() {
            assert_eq!(self.run(Command::EndBatch), Outcome::BatchSealed);
        }
        let at = ts(START + secs);
        for oracle in &mut self.oracles {
            self.book.ingest(oracle.sign_at(at), at).expect("quote");
        }
        let markets = self.sequencer.engine().state().markets().to_vec();
        let ticks = self.book.ticks(at, &markets);
        assert_eq!(ticks.len(), 2, "a quorum of fresh quotes for both markets");
        for tick in ticks {
            self.queue(Transaction::OracleTick(tick));
        }
        assert_eq!(
            self.run(Command::BeginBatch { timestamp: at }),
            Outcome::BatchStarted
        );
        let marks: Vec<u64> = self
            .state()
            .markets()
            .iter()
            .map(|m| m.mark_price.get())
            .collect();
        let expected: Vec<u64> = self
            .oracles
            .iter_mut()
            .step_by(3)
            .map(|o| o.path.price_at(at).get())
            .collect();
        assert_eq!(marks, expected, "the marks are the paths' prices");
        loop {
            // The index (what the operator asks) proposes what evaluating every account does.
            let tx = self.sequencer.batcher().next_liquidation();
            let scanned = next_step(self.state(), &self.sequencer.batcher().cost_basis());
            assert_eq!(tx, scanned, "the index and the scan agree");
            let Some(tx) = tx else {
                break;
            };
            self.apply(tx.clone());
            self.steps.push(tx);
            assert!(self.steps.len() < 10, "the engine makes progress");
            // The entries follow liquidations and deleverages as they follow trades.
            let entries = self.sequencer.batcher().cost_basis();
            for (id, account) in self.state().accounts() {
                if *id != AccountId::INSURANCE_FUND && *id != AccountId::FEES {
                    for (m, p) in account.leaf.positions.iter().enumerate() {
                        assert_eq!(entries.entry(*id, m).lots, p.size.get());
                    }
                }
            }
        }
    }

    fn deposit(
        &mut self,
        index: u64,
        key: &zkperp_state::eddsa::PublicKey,
        l1: [u8; 20],
        units: u64,
    ) {
        self.queue(Transaction::Deposit(Deposit {
            request: L1Deposit {
                index,
                l1_address: zkperp_state::units::L1Address(l1),
                public_key: key.pack(),
                // The fund's top-up names the fund, every trader opens its account.
                account: if index == 0 {
                    zkperp_state::tx::DepositTarget::Existing(
                        zkperp_state::units::AccountId::INSURANCE_FUND,
                    )
                } else {
                    zkperp_state::tx::DepositTarget::New
                },
                amount: Amount::new(units).expect("amount"),
            },
            ephemeral: zkperp_state::testkit::ephemeral(100 + index),
        }));
    }

    fn trade(&mut self, maker: usize, taker: usize, market: MarketId, size: i128, price: u64) {
        let ask = self.f.order(maker, market, Side::Sell, size, price);
        let bid = self.f.order(taker, market, Side::Buy, size, price);
        for order in [ask, bid] {
            let outcome = self.run(Command::Submit {
                order,
                options: OrderOptions::default(),
            });
            assert!(matches!(outcome, Outcome::Book(_)), "{outcome:?}");
        }
    }

    fn id(&self, trader: usize) -> AccountId {
        self.f.id(trader)
    }

    fn collateral(&self, id: AccountId) -> i128 {
        self.state()
            .account(id)
            .expect("account")
            .leaf
            .collateral
            .get()
    }

    fn position(&self, id: AccountId, market: MarketId) -> i128 {
        self.state().account(id).expect("account").leaf.positions[market.index()]
            .size
            .get()
    }

    fn total_value(&self, id: AccountId) -> i128 {
        let leaf = &self.state().account(id).expect("account").leaf;
        total_value(
            leaf.collateral,
            &leaf.positions,
            self.state().markets(),
            &self.state().config().markets,
        )
    }
}

#[test]
fn a_price_path_liquidates_charges_the_fund_then_deleverages_and_every_batch_is_proven() {
    let mut s = Scenario::new();

    // Batches 1-4: five deposits through two deposit slots per batch (the batcher holds the
    // rest for the next batches), then the two opening trades, one trade slot each (the second
    // rolls a new batch at the same time).
    s.batch_at(0);
    let fund_l1 = s.state().config().insurance_fund.l1_address.0;
    let fund_key = s.f.fund_key.public_key();
    s.deposit(0, &fund_key, fund_l1, 600_000_000); // 600 USD
    for (t, units) in [
        (A, 1_000_000_000u64),
        (B, 1_000_000_000),
        (C, 5_000_000_000),
        (D, 5_000_000_000),
    ] {
        let (key, l1) = (s.f.traders[t].key.public_key(), s.f.traders[t].l1);
        s.deposit(1 + t as u64, &key, l1.0, units);
    }
    s.batch_at(10);
    s.batch_at(20);
    for t in [A, B, C, D] {
        let (key, l1) = (s.f.traders[t].key.public_key(), s.f.traders[t].l1);
        s.f.traders[t].id = s.state().account_by_owner(&key, &l1);
        assert!(s.f.traders[t].id.is_some(), "trader {t} deposited");
    }
    s.trade(C, A, btc(), 1_800, 500_000); // A long 1,800 lots (0.18 BTC), C short
    s.trade(D, B, eth(), 1_500, 3_000_000); // B long 1,500 lots (1.5 ETH), D short
    let (a, b, c, d) = (s.id(A), s.id(B), s.id(C), s.id(D));
    assert_eq!(
        (s.position(a, btc()), s.position(c, btc())),
        (1_800, -1_800)
    );
    assert_eq!(
        (s.position(b, eth()), s.position(d, eth())),
        (1_500, -1_500)
    );
    assert!(s.steps.is_empty());
    let deposited: i128 = 600_000_000 + 2_000_000_000 + 10_000_000_000;

    // Batch 5: both markets fall at once, BTC 12% and ETH 23%.
    // A owes 1,080 USD on 1,000: bankrupt by 80 USD. The fund (600 USD) can absorb it and stay
    // above maintenance with A's position (396 USD at 5% of 7,920): it takes the position and
    // pays the deficit. B owes 1,050 USD on 1,000: bankrupt by 50 USD. Absorbing it would leave
    // the fund (520 USD) below maintenance (396 USD for BTC + 345 USD for B's ETH): the fund is
    // exhausted, and D, the most valuable short, takes B's position at the price that covers
    // the deficit.
    s.batch_at(100);
    let fund = AccountId::INSURANCE_FUND;
    match s.steps.as_slice() {
        [Transaction::Liquidation(l), Transaction::Deleverage(x)] => {
            assert_eq!((l.account, l.market, l.size.get()), (a, btc(), 1_800));
            assert_eq!(l.fee.get(), 0, "a bankrupt account pays no penalty");
            assert_eq!((x.deleveraged, x.deleverager, x.market), (b, d, eth()));
            assert_eq!(x.size.get(), 1_500);
        }
        other => panic!("expected a liquidation and a deleverage, got {other:?}"),
    }
    assert_eq!(s.position(a, btc()), 0);
    assert_eq!(s.collateral(a), 0, "the deficit is the fund's, not A's");
    assert_eq!(
        s.position(fund, btc()),
        1_800,
        "the fund holds A's position"
    );
    assert_eq!(
        s.total_value(fund),
        600_000_000 - 80_000_000,
        "the fund is charged 80 USD, once"
    );
    assert_eq!((s.position(b, eth()), s.position(d, eth())), (0, 0));
    assert_eq!(
        s.collateral(b),
        0,
        "the whole deficit is covered, no dust left"
    );
    assert!(
        s.total_value(d) > 5_000_000_000,
        "D still profits, 50 USD less"
    );
    assert_eq!(s.position(c, btc()), -1_800);
    let ids: Vec<AccountId> = s.state().accounts().map(|(id, _)| *id).collect();
    let value: i128 = ids.iter().map(|id| s.total_value(*id)).sum();
    assert_eq!(
        value, deposited,
        "no value created or lost: every loss is someone's gain"
    );
    assert_eq!(s.run(Command::EndBatch), Outcome::BatchSealed);

    // Every batch satisfies the circuit; the liquidation's and the deleverage's is proven.
    assert_eq!(s.sealed.len(), 5);
    let kinds = |b: &SealedBatch| -> Vec<&'static str> {
        b.txs
            .iter()
            .map(|t| zkperp_state::batch::SlotKind::of(&t.tx).name())
            .collect()
    };
    assert!(kinds(&s.sealed[4]).contains(&"liquidation"));
    assert!(kinds(&s.sealed[4]).contains(&"deleverage"));
    let shape: Shape = SHAPE.parse().expect("shape");
    let keys = tempfile::tempdir().expect("tmp");
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let config = Arc::new(s.state().config().clone());
    let (prover, _) =
        BatchProver::new(config.clone(), shape, &KeyCache::new(keys.path()), &mut rng)
            .expect("keys");
    let mut root = State::genesis(s.state().config().clone())
        .expect("genesis")
        .root();
    for (n, batch) in s.sealed.iter().enumerate() {
        assert_eq!(batch.old_root, root, "batches chain");
        if n < 4 {
            let circuit = BatchCircuit::new(config.clone(), shape, batch).expect("witness");
            zkperp_prover::check_satisfied(circuit)
                .expect("the opening batch satisfies the circuit");
        } else {
            let proof = prover
                .prove(batch, &mut rng)
                .expect("the batch is provable");
            let public = batch.public_data(&shape).expect("fits the shape");
            assert_eq!(proof.commitment, public.commitment());
            assert!(prover.verify(proof.commitment, &proof.proof));
        }
        root = batch.new_root;
    }
    assert_eq!(root, s.state().root());
}
