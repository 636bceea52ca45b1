//! The funding schedule against the state machine's funding-tick rule: every tick it produces is
//! accepted by `State::apply`, for random market parameters, marks, books and elapsed times,
//! including premiums far beyond the cap in both directions, a zero elapsed time and a step
//! beyond the index's width; and the step is the documented formula wherever the cap allows it.

use proptest::prelude::*;
use zkperp_core::book::{NewOrder, OrderBook, OrderKey, SelfTradePrevention, TimeInForce};
use zkperp_core::funding::{
    BookPrices, FundingSchedule, FundingScheduleError, DEFAULT_PREMIUM_PERIOD_SECS,
};
use zkperp_state::eddsa::PrivateKey;
use zkperp_state::funding::settle_funding;
use zkperp_state::market::{MarketParams, MarketState};
use zkperp_state::order::Side;
use zkperp_state::state::StateConfig;
use zkperp_state::testkit::{btc, eth, ticks, ts, Fixture, START};
use zkperp_state::tx::funding_tick::funding_cap_ppb;
use zkperp_state::tx::{FundingTick, OracleTick, Quote, SignedQuote, Transaction};
use zkperp_state::units::{
    AccountId, FundingIndex, OrderId, PpbPerSecond, PriceTicks, TickValue, Timestamp,
    FUNDING_ELAPSED_BITS, PPB_ONE,
};
use zkperp_state::State;

const MAX_PRICE: u64 = (1 << 40) - 1;
const MAX_INDEX: i128 = (1 << 63) - 1;

fn every_batch() -> FundingSchedule {
    FundingSchedule::new(0, DEFAULT_PREMIUM_PERIOD_SECS).expect("schedule")
}

fn book(bid: Option<u64>, ask: Option<u64>, last: Option<u64>) -> BookPrices {
    BookPrices {
        best_bid: bid.map(ticks),
        best_ask: ask.map(ticks),
        last_trade: last.map(ticks),
    }
}

fn both(price: u64) -> BookPrices {
    book(Some(price), Some(price), None)
}

/// BTC's funding tick (ETH has a mark too in a fixture, and no book here: a zero step).
fn btc_tick(schedule: &FundingSchedule, state: &State, prices: BookPrices) -> FundingTick {
    let ticks = schedule.ticks(state, &[prices]);
    *ticks
        .iter()
        .find(|t| t.market == btc())
        .expect("BTC is due")
}

fn delta(state: &State, tick: &FundingTick) -> i128 {
    tick.index.get() - state.markets()[tick.market.index()].funding_index.get()
}

/// The cap in whole units for `market` at the state's time.
fn cap(state: &State, market: usize) -> i128 {
    let params = &state.config().markets[market];
    let m = state.markets()[market];
    let elapsed = state.now().get() - m.last_funding.get();
    (funding_cap_ppb(
        params.max_funding_rate,
        m.mark_price,
        params.tick_value,
        elapsed,
    ) / u128::from(PPB_ONE)) as i128
}

// ---- the formula on the fixture (BTC: 10 units per lot-tick, cap 100 ppb/s, mark 500,000) ----

#[test]
fn a_premium_within_the_cap_is_paid_pro_rata() {
    let mut f = Fixture::new(0);
    f.advance(3_600);
    // Mid 500,500 over a mark of 500,000: 0.1%, for an hour of an 8-hour period:
    // 500 ticks * 10 units * 3600 s / 28800 s = 625 units per lot (cap: 1,800).
    let tick = btc_tick(
        &every_batch(),
        &f.state,
        book(Some(500_400), Some(500_600), None),
    );
    assert_eq!(delta(&f.state, &tick), 625);
    assert_eq!(cap(&f.state, 0), 1_800);
    f.apply(Transaction::FundingTick(tick)).expect("accepted");
    assert_eq!(f.state.markets()[0].funding_index.get(), 625);
    assert_eq!(f.state.markets()[0].last_funding, f.state.now());
}

#[test]
fn extreme_premiums_hit_the_cap_in_both_directions() {
    let mut f = Fixture::new(0);
    let schedule = every_batch();
    f.advance(60);
    // Cap for 60 s: 100e-9 * 500,000 * 10 * 60 = 30 units per lot.
    assert_eq!(cap(&f.state, 0), 30);
    let up = btc_tick(&schedule, &f.state, both(MAX_PRICE));
    assert_eq!(delta(&f.state, &up), 30);
    f.apply(Transaction::FundingTick(up)).expect("accepted");
    f.advance(60);
    let down = btc_tick(&schedule, &f.state, both(1));
    assert_eq!(delta(&f.state, &down), -30);
    f.apply(Transaction::FundingTick(down)).expect("accepted");
    assert_eq!(f.state.markets()[0].funding_index.get(), 0);
    // One tick above the cap would be refused: the schedule stops exactly at it.
    f.advance(60);
    let over = FundingTick {
        market: btc(),
        index: FundingIndex::new(31).expect("index"),
    };
    assert!(f.state.apply(&Transaction::FundingTick(over)).is_err());
}

#[test]
fn zero_elapsed_time_gives_a_zero_step_that_is_accepted() {
    // The fixture's first prices were set at START: last_funding = now.
    let mut f = Fixture::new(0);
    assert_eq!(f.state.markets()[0].last_funding, f.state.now());
    let ticks = every_batch().ticks(&f.state, &[both(MAX_PRICE), both(1)]);
    assert_eq!(ticks.len(), 2);
    for tick in ticks {
        assert_eq!(delta(&f.state, &tick), 0);
        f.apply(Transaction::FundingTick(tick)).expect("accepted");
    }
}

#[test]
fn the_last_trade_stands_in_for_a_one_sided_book_and_no_price_means_no_step() {
    let mut f = Fixture::new(0);
    let schedule = every_batch();
    f.advance(3_600);
    let bid_only = book(Some(499_000), None, Some(500_500));
    assert_eq!(bid_only.fair_price_x2(), Some(1_001_000));
    assert_eq!(
        delta(&f.state, &btc_tick(&schedule, &f.state, bid_only)),
        625
    );
    let nothing = book(None, Some(600_000), None);
    assert_eq!(nothing.fair_price_x2(), None);
    let tick = btc_tick(&schedule, &f.state, nothing);
    assert_eq!(delta(&f.state, &tick), 0);
    // Still a tick: the hour without a price is not charged later.
    f.apply(Transaction::FundingTick(tick)).expect("accepted");
    assert_eq!(f.state.markets()[0].last_funding, f.state.now());
}

#[test]
fn rounding_is_to_the_nearest_unit() {
    let f = Fixture::new(0);
    let schedule = FundingSchedule::new(0, 7).expect("schedule");
    let m = MarketState {
        mark_price: ticks(500_000),
        funding_index: FundingIndex::ZERO,
        last_funding: ts(START),
        mark_time: ts(START),
        open_interest: 0,
        ..MarketState::default()
    };
    let now = ts(START + 1);
    // A cap far above these steps, so only the rounding shows.
    let with = |tick_value: u64| MarketParams {
        tick_value: TickValue::new(tick_value).expect("tick value"),
        max_funding_rate: PpbPerSecond::new(u64::from(u32::MAX)).expect("rate"),
        ..f.state.config().markets[0].clone()
    };
    // step = (2 fair - 2 mark) * tick_value * 1 s / (2 * 7 s), with 2 fair - 2 mark = +-1.
    let above = book(Some(500_000), Some(500_001), None);
    let below = book(Some(499_999), Some(500_000), None);
    let step = |tick_value: u64, prices: &BookPrices| {
        schedule.index_step(&with(tick_value), &m, now, prices)
    };
    assert_eq!(step(10, &above), 1, "10/14 = 0.71");
    assert_eq!(step(3, &above), 0, "3/14 = 0.21");
    assert_eq!(step(7, &above), 1, "7/14 = 0.5: ties away from zero");
    assert_eq!(step(7, &below), -1);
    assert_eq!(step(10, &below), -1);
    assert_eq!(step(3, &below), 0);
    // The fixture's own cap (100 ppb/s) for one second is half a unit: nothing may move.
    assert_eq!(
        schedule.index_step(&f.state.config().markets[0], &m, now, &above),
        0
    );
}

#[test]
fn longs_pay_shorts_when_the_book_trades_above_the_mark() {
    let mut f = Fixture::new(2);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    f.trade(0, 1, btc(), 100, 500_000).expect("trade");
    let (long, short) = (f.id(0), f.id(1));
    f.advance(3_600);
    let tick = btc_tick(
        &every_batch(),
        &f.state,
        book(Some(500_400), Some(500_600), None),
    );
    f.apply(Transaction::FundingTick(tick)).expect("accepted");
    let pays = |id: AccountId| {
        let mut leaf = f.state.account(id).expect("account").leaf.clone();
        let before = leaf.collateral.get();
        settle_funding(&mut leaf, f.state.markets()).expect("settle");
        leaf.collateral.get() - before
    };
    assert_eq!(pays(long), -100 * 625);
    assert_eq!(pays(short), 100 * 625);
}

// ---- the schedule ----

#[test]
fn a_market_is_due_every_interval_once_it_has_a_mark() {
    let mut f = Fixture::new(0);
    let hourly = FundingSchedule::new(3_600, DEFAULT_PREMIUM_PERIOD_SECS).expect("schedule");
    let prices = [both(500_500), both(3_000_300)];
    f.advance(1_800);
    assert!(hourly.ticks(&f.state, &prices).is_empty());
    f.advance(1_799);
    assert!(hourly.ticks(&f.state, &prices).is_empty());
    f.advance(1);
    let ticks = hourly.ticks(&f.state, &prices);
    assert_eq!(
        ticks.iter().map(|t| t.market).collect::<Vec<_>>(),
        [btc(), eth()]
    );
    for tick in ticks {
        f.apply(Transaction::FundingTick(tick)).expect("accepted");
    }
    f.advance(3_599);
    assert!(
        hourly.ticks(&f.state, &prices).is_empty(),
        "funded an hour ago less a second"
    );

    // A market without a mark is never due: the state machine would refuse its tick.
    let mut fresh = State::genesis(f.state.config().clone()).expect("genesis");
    fresh.begin_batch(ts(START + 100_000)).expect("time");
    assert!(every_batch().ticks(&fresh, &prices).is_empty());
}

#[test]
fn a_premium_period_of_zero_is_refused() {
    assert_eq!(
        FundingSchedule::new(60, 0),
        Err(FundingScheduleError::ZeroPremiumPeriod)
    );
}

#[test]
fn book_prices_come_from_the_books_best_levels() {
    let mut b = OrderBook::new();
    let order = |account: u64, side: Side, price: u64| NewOrder {
        key: OrderKey {
            account: AccountId::new(account).expect("id"),
            order_id: OrderId::new(1).expect("id"),
        },
        side,
        price,
        size: 5,
        time_in_force: TimeInForce::GoodTillCancelled,
        reduce_only: None,
        expiry: u64::MAX,
        self_trade: SelfTradePrevention::CancelResting,
    };
    assert_eq!(BookPrices::of(&b, None).fair_price_x2(), None);
    b.submit(order(2, Side::Buy, 499_000), 0);
    b.submit(order(3, Side::Buy, 499_900), 0);
    assert_eq!(
        BookPrices::of(&b, Some(ticks(500_000))).fair_price_x2(),
        Some(1_000_000),
        "one side: the last trade"
    );
    b.submit(order(4, Side::Sell, 500_300), 0);
    let prices = BookPrices::of(&b, Some(ticks(1)));
    assert_eq!(prices.best_bid, Some(ticks(499_900)));
    assert_eq!(prices.best_ask, Some(ticks(500_300)));
    assert_eq!(prices.fair_price_x2(), Some(1_000_200));
}

// ---- widths ----

/// A configuration whose BTC market has the given tick value and funding cap.
fn config(tick_value: u64, rate: u64) -> (StateConfig, Vec<PrivateKey>) {
    let keys: Vec<PrivateKey> = (1..=3u8).map(|i| PrivateKey::from_bytes([i; 32])).collect();
    let mut config = zkperp_state::testkit::config(
        &keys,
        &PrivateKey::from_bytes([0xf0; 32]),
        &PrivateKey::from_bytes([0xf1; 32]),
    );
    config.markets[0].tick_value = TickValue::new(tick_value).expect("tick value");
    config.markets[0].max_funding_rate = PpbPerSecond::new(rate).expect("rate");
    (config, keys)
}

/// Sets BTC's mark with three equal quotes signed at the state's time.
fn set_mark(state: &mut State, keys: &[PrivateKey], price: u64) {
    let now = state.now();
    let quotes = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let quote = Quote {
                market: btc(),
                price: ticks(price),
                timestamp: now,
            };
            SignedQuote {
                oracle: i as u8,
                quote,
                signature: key.sign(quote.message(&zkperp_state::domain::SigningDomain::TEST)),
            }
        })
        .collect();
    state
        .apply(&Transaction::OracleTick(OracleTick {
            market: btc(),
            quotes,
        }))
        .expect("oracle tick");
}

fn advance(state: &mut State, secs: u64) {
    let now = state.now().get();
    state.end_batch().expect("seal");
    state.begin_batch(ts(now + secs)).expect("time");
}

#[test]
fn a_step_beyond_the_index_width_stops_at_the_width() {
    let (config, keys) = config((1 << 16) - 1, u64::from(u32::MAX));
    let mut state = State::genesis(config).expect("genesis");
    state.begin_batch(ts(START)).expect("time");
    set_mark(&mut state, &keys, MAX_PRICE);
    advance(&mut state, (1 << FUNDING_ELAPSED_BITS) - 1);
    let schedule = FundingSchedule::new(0, 1).expect("schedule");
    // (1 - (2^40 - 1)) * (2^16 - 1) * (2^20 - 1) / 1 ~ -2^76 per lot: within the cap (~2^78),
    // beyond the index's 63 bits.
    let step = schedule.index_step(
        &state.config().markets[0],
        &state.markets()[0],
        state.now(),
        &both(1),
    );
    assert!(step < -MAX_INDEX);
    let ticks = schedule.ticks(&state, &[both(1)]);
    assert_eq!(ticks[0].index.get(), -MAX_INDEX);
    state
        .apply(&Transaction::FundingTick(ticks[0]))
        .expect("accepted");
}

// ---- properties ----

fn price() -> impl Strategy<Value = u64> {
    prop_oneof![
        1u64..=10,
        100_000u64..=1_000_000,
        1u64..=MAX_PRICE,
        Just(MAX_PRICE),
    ]
}

fn elapsed() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        1u64..=60,
        1u64..=100_000,
        (1u64 << FUNDING_ELAPSED_BITS) - 3..=(1 << FUNDING_ELAPSED_BITS) + 3,
        1u64..=1 << 22,
    ]
}

fn prices() -> impl Strategy<Value = BookPrices> {
    let side = || prop::option::weighted(0.8, price());
    (side(), side(), side()).prop_map(|(bid, ask, last)| book(bid, ask, last))
}

fn rate() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 1u64..=1_000, 1u64..=u64::from(u32::MAX)]
}

fn period() -> impl Strategy<Value = u64> {
    prop_oneof![
        1u64..=100,
        1u64..=1_000_000,
        Just(DEFAULT_PREMIUM_PERIOD_SECS)
    ]
}

/// The tick is the formula of the module header: capped, rounded, in the premium's direction.
fn check_tick(
    schedule: &FundingSchedule,
    params: &MarketParams,
    before: &MarketState,
    now: Timestamp,
    prices: &BookPrices,
    tick: &FundingTick,
) -> Result<(), TestCaseError> {
    let elapsed = (now.get() - before.last_funding.get()).min((1 << FUNDING_ELAPSED_BITS) - 1);
    let cap = (funding_cap_ppb(
        params.max_funding_rate,
        before.mark_price,
        params.tick_value,
        elapsed,
    ) / u128::from(PPB_ONE)) as i128;
    let d = tick.index.get() - before.funding_index.get();
    prop_assert!(d.abs() <= cap);
    let Some(fair_x2) = prices.fair_price_x2() else {
        prop_assert_eq!(d, 0);
        return Ok(());
    };
    let num = (i128::from(fair_x2) - 2 * i128::from(before.mark_price.get()))
        * i128::from(params.tick_value.get())
        * i128::from(elapsed);
    let den = 2 * i128::from(schedule.premium_period_secs());
    prop_assert!(d == 0 || d.signum() == num.signum());
    let saturated = tick.index.get().abs() == MAX_INDEX;
    if saturated {
        return Ok(());
    }
    if num.abs() >= (cap + 1) * den {
        prop_assert_eq!(d.abs(), cap, "a premium beyond the cap stops at the cap");
    } else if d.abs() < cap {
        prop_assert!(
            2 * (d * den - num).abs() <= den,
            "rounded to the nearest unit"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Through the state machine: a first mark, a funding tick after `e0`, a new mark and a
    /// second funding tick after `e1`; both ticks are accepted and are the formula.
    #[test]
    fn the_state_machine_accepts_every_tick(
        tick_value in prop_oneof![1u64..=20, 1u64..=65_535, Just(65_535u64)],
        rate in rate(),
        mark0 in price(),
        mark1 in price(),
        e0 in elapsed(),
        e1 in elapsed(),
        prices0 in prices(),
        prices1 in prices(),
        period in period(),
    ) {
        let (config, keys) = config(tick_value, rate);
        let mut state = State::genesis(config).expect("genesis");
        state.begin_batch(ts(START)).expect("time");
        set_mark(&mut state, &keys, mark0);
        let schedule = FundingSchedule::new(0, period).expect("schedule");
        for (secs, mark, prices) in [(e0, None, prices0), (e1, Some(mark1), prices1)] {
            advance(&mut state, secs);
            if let Some(mark) = mark {
                set_mark(&mut state, &keys, mark);
            }
            let ticks = schedule.ticks(&state, &[prices]);
            prop_assert_eq!(ticks.len(), 1, "only BTC has a mark");
            let before = state.markets()[0];
            let params = state.config().markets[0].clone();
            check_tick(&schedule, &params, &before, state.now(), &prices, &ticks[0])?;
            state
                .apply(&Transaction::FundingTick(ticks[0]))
                .map_err(|e| TestCaseError::fail(format!("refused: {e}")))?;
            prop_assert_eq!(state.markets()[0].funding_index, ticks[0].index);
        }
    }
}

fn market_state() -> impl Strategy<Value = MarketState> {
    (price(), -MAX_INDEX..=MAX_INDEX, 0u64..=START).prop_map(|(mark, index, last)| MarketState {
        mark_price: PriceTicks::new(mark).expect("price"),
        funding_index: FundingIndex::new(index).expect("index"),
        last_funding: ts(last),
        mark_time: ts(last),
        open_interest: 0,
        ..MarketState::default()
    })
}

fn params() -> impl Strategy<Value = MarketParams> {
    let (config, _) = config(1, 1);
    let base = config.markets[0].clone();
    (1u64..=65_535, rate()).prop_map(move |(tick_value, rate)| MarketParams {
        tick_value: TickValue::new(tick_value).expect("tick value"),
        max_funding_rate: PpbPerSecond::new(rate).expect("rate"),
        ..base.clone()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Without a state (so many more cases): the rule's inequality holds for any market state,
    /// including indices near the width, and the step never decreases as the fair price rises.
    #[test]
    fn the_step_meets_the_rule_and_follows_the_premium(
        params in params(),
        market in market_state(),
        after in elapsed(),
        a in prices(),
        b in prices(),
        period in period(),
    ) {
        let schedule = FundingSchedule::new(0, period).expect("schedule");
        let now = ts(market.last_funding.get() + after);
        let Some(tick) = schedule.tick(btc(), &params, &market, now, &a) else {
            return Err(TestCaseError::fail("a market with a mark is always due at interval 0"));
        };
        check_tick(&schedule, &params, &market, now, &a, &tick)?;
        let d = (tick.index.get() - market.funding_index.get()).unsigned_abs();
        let cap = funding_cap_ppb(params.max_funding_rate, market.mark_price, params.tick_value, after);
        prop_assert!(d * u128::from(PPB_ONE) <= cap);
        if let (Some(fa), Some(fb)) = (a.fair_price_x2(), b.fair_price_x2()) {
            let (sa, sb) = (
                schedule.index_step(&params, &market, now, &a),
                schedule.index_step(&params, &market, now, &b),
            );
            if fa <= fb {
                prop_assert!(sa <= sb);
            } else {
                prop_assert!(sa >= sb);
            }
        }
    }
}
