//! A small exchange to exercise the rules on: two markets, three oracle keys, a few traders,
//! deterministic keys. Shared by this crate's tests, the benches and (later) the circuits'
//! differential tests, so every layer is tested against the same scenarios.
//!
//! It panics on misuse (it is test scaffolding); nothing in the exchange calls it.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use crate::batch::SlotKind;
use crate::domain::SigningDomain;
use crate::eddsa::{PrivateKey, PublicKey};
use crate::market::{MarginTier, MarketParams};
use crate::order::{Order, Side, SignedOrder};
use crate::state::{StateConfig, SystemOwner};
use crate::tx::{
    Deposit, DepositTarget, L1Deposit, OracleTick, Quote, SignedQuote, Trade, Transaction, TxError,
    Withdrawal,
};
use crate::units::*;
use crate::{Receipt, State};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

pub const START: u64 = 1_700_000_000;

/// An account in the clear: its id, leaf and written order slots.
pub type ClearAccount = (
    AccountId,
    crate::leaf::AccountLeaf,
    Vec<(u64, crate::order::OrderSlot)>,
);

/// A state in the clear: every account's leaf and written order slots, and the markets
/// ([`Fixture::clear`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearState {
    pub accounts: Vec<ClearAccount>,
    pub markets: Vec<crate::market::MarketState>,
}

impl ClearState {
    pub fn of<S: crate::merkle::NodeStore>(state: &State<S>) -> Self {
        ClearState {
            accounts: state
                .accounts()
                .map(|(id, a)| {
                    // An empty slot is the default whether it was never written or restored.
                    let mut slots = a.order_slots();
                    slots.retain(|(_, slot)| *slot != crate::order::OrderSlot::default());
                    (*id, a.leaf.clone(), slots)
                })
                .collect(),
            markets: state.markets().to_vec(),
        }
    }
}

pub fn btc() -> MarketId {
    MarketId::new(0).expect("id")
}

pub fn eth() -> MarketId {
    MarketId::new(1).expect("id")
}

pub fn lots(n: i128) -> BaseLots {
    BaseLots::new(n).expect("lots")
}

pub fn ticks(n: u64) -> PriceTicks {
    PriceTicks::new(n).expect("ticks")
}

pub fn coll(n: i128) -> Collateral {
    Collateral::new(n).expect("collateral")
}

pub fn amount(n: u64) -> Amount {
    Amount::new(n).expect("amount")
}

pub fn ts(n: u64) -> Timestamp {
    Timestamp::new(n).expect("timestamp")
}

#[derive(Debug, Clone)]
pub struct Trader {
    pub key: PrivateKey,
    pub l1: L1Address,
    pub id: Option<AccountId>,
    pub next_order: u64,
}

#[derive(Debug)]
pub struct Fixture {
    pub state: State,
    pub oracles: Vec<PrivateKey>,
    pub traders: Vec<Trader>,
    pub fund_key: PrivateKey,
    /// The fee account's key (a system account: no signature may trade or withdraw with it).
    pub fees_key: PrivateKey,
    pub rng: ChaCha20Rng,
    pub deposits: u64,
    pub deposited: i128,
    pub withdrawn: i128,
}

fn l1(i: u8) -> L1Address {
    let mut a = [0u8; 20];
    a[0] = 0xa0;
    a[19] = i;
    L1Address(a)
}

/// BTC: lot 0.0001 BTC, tick 0.1 USD, so one lot-tick is 10 micro-USD; 10% / 5% margins, 20% /
/// 10% from 100 BTC, 50% / 25% from 500 BTC; at most 1,000 BTC per account and 10,000 BTC of
/// open interest.
/// ETH: lot 0.001 ETH, tick 0.001 USD (1 micro-USD per lot-tick); 20% / 10% margins, 40% / 20%
/// from 1,000 ETH, 80% / 40% from 5,000 ETH; at most 10,000 ETH per account and 100,000 ETH of
/// open interest.
pub fn config(oracles: &[PrivateKey], fund: &PrivateKey, fees: &PrivateKey) -> StateConfig {
    let keys: Vec<_> = oracles.iter().map(PrivateKey::public_key).collect();
    config_of_keys(&keys, fund.public_key(), fees.public_key())
}

/// [`config`] from public keys only: what a deployment knows of its oracles and system owners.
pub fn config_of_keys(keys: &[PublicKey], fund: PublicKey, fees: PublicKey) -> StateConfig {
    type Tiers<'a> = &'a [(u64, u64, u64)];
    let market =
        |name: &str, lot: &str, tick: &str, tick_value: u64, (im, mm): (u64, u64), tiers: Tiers| {
            MarketParams {
                name: name.into(),
                lot_size: lot.into(),
                tick_size: tick.into(),
                tick_value: TickValue::new(tick_value).expect("tick value"),
                initial_margin: Ppm::new(im).expect("ppm"),
                maintenance_margin: Ppm::new(mm).expect("ppm"),
                max_funding_rate: PpbPerSecond::new(100).expect("rate"),
                liquidation_fee: Ppm::new(10_000).expect("ppm"),
                oracle_keys: keys.to_vec(),
                oracle_quorum: 3,
                oracle_freshness_secs: 60,
                // A day: fixtures advance the clock by hours between ticks; the rules' own tests
                // use a short age.
                max_mark_age_secs: 86_400,
                max_position_lots: 10_000_000,
                open_interest_cap_lots: 100_000_000,
                // 5% per tick: no single oracle round moves a mark further (BTC's and ETH's
                // largest one-minute moves stay inside it); a larger move takes several ticks.
                mark_band: Ppm::new(50_000).expect("ppm"),
                // Honest quotes of these markets agree within a few hundredths of a percent;
                // 2% apart, one source is broken or pushed.
                max_quote_spread: Ppm::new(20_000).expect("ppm"),
                margin_tiers: tiers
                    .iter()
                    .map(|&(from_lots, im, mm)| MarginTier {
                        from_lots,
                        initial_margin: Ppm::new(im).expect("ppm"),
                        maintenance_margin: Ppm::new(mm).expect("ppm"),
                    })
                    .collect(),
            }
        };
    StateConfig {
        account_tree_depth: 8,
        order_tree_depth: 4,
        markets: vec![
            market(
                "BTC-USD",
                "0.0001",
                "0.1",
                10,
                (100_000, 50_000),
                &[(1_000_000, 200_000, 100_000), (5_000_000, 500_000, 250_000)],
            ),
            market(
                "ETH-USD",
                "0.001",
                "0.001",
                1,
                (200_000, 100_000),
                &[(1_000_000, 400_000, 200_000), (5_000_000, 800_000, 400_000)],
            ),
        ],
        insurance_fund: SystemOwner {
            public_key: fund,
            l1_address: l1(0xf0),
        },
        fee_account: SystemOwner {
            public_key: fees,
            l1_address: l1(0xf1),
        },
        domain: SigningDomain::TEST,
    }
}

impl Fixture {
    /// Genesis at `START`, markets priced (BTC 50,000.0 USD = 500,000 ticks; ETH 3,000 USD =
    /// 3,000,000 ticks), `traders` keys, nobody funded.
    pub fn new(traders: usize) -> Self {
        Self::with_depths(traders, 8, 4)
    }

    /// As [`Fixture::new`] with the given account and orders tree depths.
    pub fn with_depths(traders: usize, account_tree_depth: u8, order_tree_depth: u8) -> Self {
        Self::for_deployment(
            traders,
            account_tree_depth,
            order_tree_depth,
            SigningDomain::TEST,
        )
    }

    /// As [`Fixture::with_depths`], every signature bound to `domain` (a test that submits
    /// batches to a rollup it deployed).
    pub fn for_deployment(
        traders: usize,
        account_tree_depth: u8,
        order_tree_depth: u8,
        domain: SigningDomain,
    ) -> Self {
        Self::configured(traders, |config| {
            config.account_tree_depth = account_tree_depth;
            config.order_tree_depth = order_tree_depth;
            config.domain = domain;
        })
    }

    /// As [`Fixture::new`] under the built-in configuration as `edit` changes it (a market's
    /// limits, its fractions).
    pub fn configured(traders: usize, edit: impl FnOnce(&mut StateConfig)) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(42);
        let oracles: Vec<_> = (0..3).map(|_| PrivateKey::random(&mut rng)).collect();
        let fund_key = PrivateKey::random(&mut rng);
        let fees = PrivateKey::random(&mut rng);
        let mut config = config(&oracles, &fund_key, &fees);
        edit(&mut config);
        let mut state = State::genesis(config).expect("genesis");
        state.begin_batch(ts(START)).expect("time");
        let traders = (0..traders)
            .map(|i| Trader {
                key: PrivateKey::random(&mut rng),
                l1: l1(i as u8),
                id: None,
                next_order: 1,
            })
            .collect();
        let mut f = Fixture {
            state,
            oracles,
            traders,
            fund_key,
            fees_key: fees,
            rng,
            deposits: 0,
            deposited: 0,
            withdrawn: 0,
        };
        f.set_price(btc(), 500_000);
        f.set_price(eth(), 3_000_000);
        f
    }

    pub fn id(&self, trader: usize) -> AccountId {
        self.traders[trader].id.expect("trader has deposited")
    }

    pub fn apply(&mut self, tx: Transaction) -> Result<Receipt, TxError> {
        self.state.apply(&tx)
    }

    /// Applies `tx`, expecting a refusal that leaves the state root and counters untouched.
    pub fn refuse(&mut self, tx: Transaction) -> TxError {
        let root = self.state.root();
        let deposits = self.state.queue_next(SlotKind::Deposit);
        let err = self
            .state
            .apply(&tx)
            .expect_err("transaction must be refused");
        assert_eq!(
            self.state.root(),
            root,
            "a refused transaction changed the state"
        );
        assert_eq!(self.state.queue_next(SlotKind::Deposit), deposits);
        err
    }

    pub fn deposit_tx(&self, trader: usize, amount_units: u64) -> Transaction {
        let t = &self.traders[trader];
        Transaction::Deposit(Deposit {
            request: L1Deposit {
                index: self.deposits,
                l1_address: t.l1,
                public_key: t.key.public_key().pack(),
                account: t.id.map_or(DepositTarget::New, DepositTarget::Existing),
                amount: amount(amount_units),
            },
            ephemeral: ephemeral(1000 + trader as u64),
        })
    }

    pub fn deposit(&mut self, trader: usize, amount_units: u64) -> AccountId {
        let tx = self.deposit_tx(trader, amount_units);
        let receipt = self.apply(tx).expect("deposit");
        self.deposits += 1;
        self.deposited += i128::from(amount_units);
        let id = receipt.writes[0].account;
        self.traders[trader].id = Some(id);
        id
    }

    /// The insurance fund's owner deposits into the fund.
    pub fn fund_deposit(&mut self, amount_units: u64) {
        let tx = Transaction::Deposit(Deposit {
            request: L1Deposit {
                index: self.deposits,
                l1_address: l1(0xf0),
                public_key: self.fund_key.public_key().pack(),
                account: DepositTarget::Existing(AccountId::INSURANCE_FUND),
                amount: amount(amount_units),
            },
            ephemeral: ephemeral(1),
        });
        let receipt = self.apply(tx).expect("fund deposit");
        assert_eq!(receipt.writes[0].account, AccountId::INSURANCE_FUND);
        self.deposits += 1;
        self.deposited += i128::from(amount_units);
    }

    pub fn quote(&self, oracle: u8, market: MarketId, price: u64, at: u64) -> SignedQuote {
        let quote = Quote {
            market,
            price: ticks(price),
            timestamp: ts(at),
        };
        SignedQuote {
            oracle,
            quote,
            signature: self.oracles[usize::from(oracle)]
                .sign(quote.message(&self.state.config().domain)),
        }
    }

    pub fn oracle_tick_tx(&self, market: MarketId, prices: [u64; 3]) -> Transaction {
        let now = self.state.now().get();
        Transaction::OracleTick(OracleTick {
            market,
            quotes: prices
                .iter()
                .enumerate()
                .map(|(i, p)| self.quote(i as u8, market, *p, now))
                .collect(),
        })
    }

    /// Ticks whose median is `price` until the mark reaches it: one tick while the move is
    /// inside the market's band, several (in the same second) while the band binds.
    pub fn set_price(&mut self, market: MarketId, price: u64) {
        loop {
            let tx =
                self.oracle_tick_tx(market, [price.saturating_sub(1).max(1), price, price + 1]);
            self.apply(tx).expect("oracle tick");
            if self.state.markets()[market.index()].mark_price.get() == price {
                return;
            }
        }
    }

    /// Seals the open batch (unless it is empty) and begins the next one `secs` later.
    pub fn advance(&mut self, secs: u64) {
        let now = self.state.now().get();
        if self.state.batch_len() != 0 {
            self.state.end_batch().expect("seal");
        }
        self.state.begin_batch(ts(now + secs)).expect("time");
    }

    pub fn order(
        &mut self,
        trader: usize,
        market: MarketId,
        side: Side,
        size: i128,
        limit: u64,
    ) -> SignedOrder {
        let id = self.traders[trader].next_order;
        self.traders[trader].next_order += 1;
        self.order_with_id(trader, market, side, size, limit, id)
    }

    pub fn order_with_id(
        &self,
        trader: usize,
        market: MarketId,
        side: Side,
        size: i128,
        limit: u64,
        order_id: u64,
    ) -> SignedOrder {
        let order = Order {
            account: self.id(trader),
            market,
            side,
            size: lots(size),
            limit_price: ticks(limit),
            max_fee: Ppm::new(1_000).expect("ppm"),
            expiry: ts(self.state.now().get() + 3600),
            order_id: OrderId::new(order_id).expect("order id"),
        };
        self.sign(trader, order)
    }

    pub fn sign(&self, trader: usize, order: Order) -> SignedOrder {
        SignedOrder {
            order,
            signature: self.traders[trader]
                .key
                .sign(order.hash(&self.state.config().domain)),
        }
    }

    pub fn trade_tx(maker: SignedOrder, taker: SignedOrder, size: i128, price: u64) -> Transaction {
        Self::trade_tx_with_fees(maker, taker, size, price, 0, 0)
    }

    /// A fill of `size` lots at `price` charging the given fees (collateral units).
    pub fn trade_tx_with_fees(
        maker: SignedOrder,
        taker: SignedOrder,
        size: i128,
        price: u64,
        maker_fee: i128,
        taker_fee: i128,
    ) -> Transaction {
        Transaction::Trade(Trade {
            maker,
            taker,
            size: lots(size),
            price: ticks(price),
            maker_fee: coll(maker_fee),
            taker_fee: coll(taker_fee),
        })
    }

    /// `buyer` buys `size` lots from `seller` at `price` (fresh orders at that limit).
    pub fn trade(
        &mut self,
        buyer: usize,
        seller: usize,
        market: MarketId,
        size: i128,
        price: u64,
    ) -> Result<Receipt, TxError> {
        let maker = self.order(buyer, market, Side::Buy, size, price);
        let taker = self.order(seller, market, Side::Sell, size, price);
        self.apply(Self::trade_tx(maker, taker, size, price))
    }

    /// The forced cancel of queue entry `index`: `requester` asks that `account`'s orders below
    /// `below` never fill.
    pub fn forced_cancel_tx(
        index: u64,
        account: AccountId,
        requester: L1Address,
        below: u64,
    ) -> Transaction {
        Transaction::ForcedCancel(crate::tx::ForcedCancel {
            request: crate::tx::forced_cancel::L1ForcedCancel {
                index,
                account,
                requester,
                order_id: OrderId::new(below).expect("order id"),
            },
        })
    }

    /// The forced trade of queue entry `index` between traders `(a, b)`: `a` (the requester)
    /// buys (or, with `Side::Sell`, sells) `size` lots of `market` from `b` at `price`, both
    /// authorised by their own L1 addresses.
    pub fn forced_trade_tx(
        &self,
        index: u64,
        (a, b): (usize, usize),
        market: MarketId,
        a_side: crate::order::Side,
        size: i128,
        price: u64,
    ) -> Transaction {
        Transaction::ForcedTrade(crate::tx::ForcedTrade {
            request: crate::tx::forced_trade::L1ForcedTrade {
                index,
                account_a: self.id(a),
                account_b: self.id(b),
                requester: self.traders[a].l1,
                signer: self.traders[b].l1,
                market,
                a_side,
                size: lots(size),
                price: ticks(price),
            },
        })
    }

    pub fn withdrawal_tx(&self, trader: usize, amount_units: u64) -> Transaction {
        let id = self.id(trader);
        let nonce = self.state.account(id).expect("account").leaf.nonce;
        let a = amount(amount_units);
        let signature = self.traders[trader].key.sign(Withdrawal::message(
            &self.state.config().domain,
            id,
            a,
            nonce,
        ));
        Transaction::Withdrawal(Withdrawal {
            account: id,
            amount: a,
            nonce,
            signature,
        })
    }

    /// The state in the clear: every account's leaf and order slots, and the markets. Inside a
    /// batch the root does not move (the account tree is written at the seal), so this is what
    /// two moments of one batch are compared by.
    pub fn clear(&self) -> ClearState {
        ClearState::of(&self.state)
    }

    pub fn collateral(&self, id: AccountId) -> i128 {
        self.state
            .account(id)
            .expect("account")
            .leaf
            .collateral
            .get()
    }

    pub fn position(&self, id: AccountId, market: MarketId) -> i128 {
        self.state.account(id).expect("account").leaf.positions[market.index()]
            .size
            .get()
    }

    /// Total value of an account at the current marks (funding as last settled).
    pub fn total_value(&self, id: AccountId) -> i128 {
        let leaf = &self.state.account(id).expect("account").leaf;
        crate::margin::total_value(
            leaf.collateral,
            &leaf.positions,
            self.state.markets(),
            &self.state.config().markets,
        )
    }

    /// Whether an account is below maintenance margin (funding as last settled).
    pub fn is_liquidatable(&self, id: AccountId) -> bool {
        let leaf = &self.state.account(id).expect("account").leaf;
        crate::margin::is_liquidatable(&crate::margin::margin_summary(
            leaf.collateral,
            &leaf.positions,
            self.state.markets(),
            &self.state.config().markets,
            crate::margin::Fraction::Maintenance,
        ))
    }

    /// Sum of every account's positions in `market` (always zero: every lot has a counterparty).
    pub fn open_interest_balance(&self, market: MarketId) -> i128 {
        self.state
            .accounts()
            .map(|(_, a)| a.leaf.positions[market.index()].size.get())
            .sum()
    }

    /// Sum of every account's long position in `market`: what the market's open interest must
    /// be (`MarketState::open_interest`).
    pub fn longs(&self, market: MarketId) -> i128 {
        self.state
            .accounts()
            .map(|(_, a)| crate::limits::long(a.leaf.positions[market.index()].size))
            .sum()
    }

    /// Sum of every account's collateral.
    pub fn total_collateral(&self) -> i128 {
        self.state
            .accounts()
            .map(|(_, a)| a.leaf.collateral.get())
            .sum()
    }
}

/// A fixed ephemeral scalar for a test's deposit (`n` non-zero).
pub fn ephemeral(n: u64) -> crate::record::Ephemeral {
    crate::record::Ephemeral::new(crate::babyjubjub::Fs::from(n)).expect("a non-zero scalar")
}

/// A leaf with every field at the end of its width (collateral and funding indices near -2^63,
/// nonce 2^32 - 1, floor 2^40 - 1, sizes +-(2^40 - 1)) under `key` and `salt`: what packing and
/// encryption tests need to reach.
pub fn extreme_leaf(
    key: PublicKey,
    markets: usize,
    salt: crate::field::Fr,
) -> crate::leaf::AccountLeaf {
    crate::leaf::AccountLeaf {
        public_key: key,
        l1_address: L1Address([0xab; 20]),
        collateral: Collateral::new(-(1i128 << 63) + 1).expect("collateral"),
        nonce: Nonce::new(u64::from(u32::MAX)).expect("nonce"),
        order_floor: OrderId::new((1 << 40) - 1).expect("floor"),
        positions: (0..markets)
            .map(|m| crate::leaf::Position {
                size: BaseLots::new(if m % 2 == 0 {
                    (1 << 40) - 1
                } else {
                    -(1 << 40) + 1
                })
                .expect("size"),
                funding_index: FundingIndex::new(-(1i128 << 63) + 1 + m as i128).expect("index"),
            })
            .collect(),
        orders_root: crate::field::Fr::from(987_654_321u64),
        salt,
    }
}
