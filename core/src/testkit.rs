//! A deterministic stream of sequencer commands for crash tests and benchmarks: command `n`
//! depends only on `n`, the seed and the engine's state, so a process that replays the journal
//! continues the very same stream after a crash.
//!
//! Test scaffolding: it panics on misuse; the exchange never calls it.
#![allow(clippy::expect_used, missing_docs)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkperp_state::batch::Shape;
use zkperp_state::merkle::MemoryStore;
use zkperp_state::order::{Order, Side, SignedOrder};
use zkperp_state::state::StateConfig;
use zkperp_state::testkit::{btc, eth, Fixture, START};
use zkperp_state::tx::{
    CancelOrder, Deposit, DepositTarget, L1Deposit, OracleTick, Transaction, Withdrawal,
};
use zkperp_state::units::{
    AccountId, Amount, BaseLots, MarketId, OrderId, Ppm, PriceTicks, Timestamp,
};

use crate::batcher::Batcher;
use crate::book::{SelfTradePrevention, TimeInForce};
use crate::command::Command;
use crate::config::SequencerConfig;
use crate::engine::{Engine, FeeSchedule, OrderOptions};

pub const TRADERS: usize = 4;
/// Commands per batch in the stream.
pub const BATCH: u64 = 200;
pub const FEES: FeeSchedule = FeeSchedule {
    maker_ppm: 0,
    taker_ppm: 500,
};
/// The stream's batch shape: small enough that trades roll batches and withdrawals and cancels
/// are carried over now and then.
pub const SHAPE: &str = "o2-f1-l1-x1-d4-fw1-fc1-ft1-t16-w4-c16";

pub fn shape() -> Shape {
    SHAPE.parse().expect("a valid shape")
}

#[derive(Debug)]
pub struct CommandStream {
    keys: Fixture,
    seed: u64,
}

impl CommandStream {
    pub fn new(seed: u64) -> Self {
        CommandStream {
            keys: Fixture::new(TRADERS),
            seed,
        }
    }

    pub fn config(&self) -> StateConfig {
        self.keys.state.config().clone()
    }

    /// The stream's sequencer: its state configuration, [`FEES`] and [`SHAPE`].
    pub fn sequencer_config(&self) -> SequencerConfig {
        SequencerConfig {
            state: self.config(),
            fees: FEES,
            shape: shape(),
        }
    }

    fn account(&self, engine: &Engine<MemoryStore>, trader: usize) -> Option<AccountId> {
        let t = &self.keys.traders[trader];
        engine.state().account_by_owner(&t.key.public_key(), &t.l1)
    }

    fn time(n: u64) -> u64 {
        START + n / BATCH
    }

    fn oracle_tick(&self, market: MarketId, price: u64, at: u64) -> Command {
        let quotes = (0..3u8)
            .map(|i| self.keys.quote(i, market, price + u64::from(i), at))
            .collect();
        Command::Apply {
            tx: Transaction::OracleTick(OracleTick { market, quotes }),
        }
    }

    /// Command number `n` of the stream.
    pub fn command(&self, n: u64, engine: &Engine<MemoryStore>) -> Command {
        let at = Self::time(n);
        match (n, n % BATCH) {
            (0, _) | (_, 1) => {
                return Command::BeginBatch {
                    timestamp: Timestamp::new(at).expect("time"),
                }
            }
            (_, 0) => return Command::EndBatch,
            (_, 2) => return self.oracle_tick(btc(), 500_000, at),
            (_, 3) => return self.oracle_tick(eth(), 3_000_000, at),
            (n, _) if (4..4 + TRADERS as u64).contains(&n) => {
                let t = &self.keys.traders[(n - 4) as usize];
                return Command::Apply {
                    tx: Transaction::Deposit(Deposit {
                        request: L1Deposit {
                            index: n - 4,
                            l1_address: t.l1,
                            public_key: t.key.public_key().pack(),
                            account: DepositTarget::New,
                            amount: Amount::new(10_000_000_000).expect("amount"),
                        },
                        ephemeral: zkperp_state::testkit::ephemeral(n + 1),
                    }),
                };
            }
            _ => {}
        }
        let mut rng = ChaCha20Rng::seed_from_u64(self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n);
        let trader = rng.gen_range(0..TRADERS);
        let Some(account) = self.account(engine, trader) else {
            return Command::EndBatch;
        };
        let key = &self.keys.traders[trader].key;
        let roll = rng.gen_range(0..100);
        if roll < 70 {
            let market = if rng.gen_bool(0.7) { btc() } else { eth() };
            let mark = engine.state().markets()[market.index()]
                .mark_price
                .get()
                .max(1);
            let side = if rng.gen_bool(0.5) {
                Side::Buy
            } else {
                Side::Sell
            };
            let offset = mark * rng.gen_range(0..20) / 10_000;
            let price = match (side, rng.gen_bool(0.3)) {
                (Side::Buy, true) | (Side::Sell, false) => mark + offset,
                _ => mark - offset,
            };
            let order = Order {
                account,
                market,
                side,
                size: BaseLots::new(rng.gen_range(1..50)).expect("size"),
                limit_price: PriceTicks::new(price).expect("price"),
                max_fee: Ppm::new(1_000).expect("ppm"),
                expiry: Timestamp::new(at + rng.gen_range(0..5)).expect("expiry"),
                order_id: OrderId::new(n).expect("id"),
            };
            let time_in_force = match rng.gen_range(0..10) {
                0 => TimeInForce::FillOrKill,
                1 | 2 => TimeInForce::ImmediateOrCancel,
                3 => TimeInForce::PostOnly,
                _ => TimeInForce::GoodTillCancelled,
            };
            let options = OrderOptions {
                time_in_force,
                reduce_only: false,
                self_trade: SelfTradePrevention::CancelResting,
            };
            Command::Submit {
                order: SignedOrder {
                    order,
                    signature: key.sign(order.hash(&engine.state().config().domain)),
                },
                options,
            }
        } else if roll < 95 {
            let resting: Vec<_> = engine
                .snapshots()
                .into_iter()
                .flat_map(|s| s.bids.into_iter().chain(s.asks))
                .filter(|o| o.key.account == account)
                .collect();
            let order_id = match resting.is_empty() {
                true => OrderId::new(n).expect("id"),
                false => resting[rng.gen_range(0..resting.len())].key.order_id,
            };
            let domain = engine.state().config().domain;
            let signature = key.sign(CancelOrder::message(&domain, account, order_id));
            Command::Cancel {
                cancel: CancelOrder {
                    account,
                    order_id,
                    signature,
                },
            }
        } else {
            let nonce = engine.state().account(account).expect("account").leaf.nonce;
            let amount = Amount::new(rng.gen_range(1..1_000_000)).expect("amount");
            let domain = engine.state().config().domain;
            let signature = key.sign(Withdrawal::message(&domain, account, amount, nonce));
            Command::Apply {
                tx: Transaction::Withdrawal(Withdrawal {
                    account,
                    amount,
                    nonce,
                    signature,
                }),
            }
        }
    }
}

/// A digest of the state root, the books and the held transactions, to compare two sequencers.
pub fn fingerprint(batcher: &Batcher<MemoryStore>) -> String {
    let engine = batcher.engine();
    let books = serde_json::to_string(&engine.snapshots()).expect("snapshots serialise");
    let held: Vec<_> = batcher.held().collect();
    let held = serde_json::to_string(&held).expect("transactions serialise");
    // The root covers the hashed transactions; the open batch's (applied to the leaves, hashed
    // at the seal) are compared as themselves: the same transactions from the same root give
    // the same leaves.
    let open: Vec<_> = engine.state().batch_txs().collect();
    let open = serde_json::to_string(&open).expect("transactions serialise");
    format!(
        "{}:{}:{}:{}:{}",
        zkperp_state::field::fr_to_decimal(&engine.state().root()),
        blake(&books),
        blake(&held),
        blake(&open),
        batcher.is_open()
    )
}

fn blake(text: &str) -> String {
    let digest = zkperp_state::eddsa::blake512(&[text.as_bytes()]);
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}
