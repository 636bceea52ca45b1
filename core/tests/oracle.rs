//! The oracle book against the state machine's oracle-tick rule: every tick it builds is
//! accepted by `State::apply`, it builds one whenever a quorum of fresh quotes from distinct keys
//! exists, and its median is the (lower) median of all fresh quotes. Every refusal at ingestion
//! has its own test, and the local signers give the path's price as the mark.

use proptest::prelude::*;
use zkperp_core::oracle::{
    LocalOracle, OracleBook, PathError, PricePath, QuoteError, RandomWalk, RawQuote,
};
use zkperp_state::eddsa::PrivateKey;
use zkperp_state::market::MarketState;
use zkperp_state::state::StateConfig;
use zkperp_state::testkit::{btc, eth, ticks, ts, Fixture, START};
use zkperp_state::tx::{OracleTick, Quote, SignedQuote, Transaction};
use zkperp_state::units::MarketId;
use zkperp_state::State;

/// Seven oracle keys for both markets; BTC takes 3 quotes fresh for 60 s, ETH 5 fresh for 45 s.
struct Setup {
    keys: Vec<PrivateKey>,
    config: StateConfig,
}

const KEYS: usize = 7;

fn setup() -> Setup {
    let keys: Vec<PrivateKey> = (0..KEYS as u8)
        .map(|i| PrivateKey::from_bytes([i + 1; 32]))
        .collect();
    let fund = PrivateKey::from_bytes([0xf0; 32]);
    let fees = PrivateKey::from_bytes([0xf1; 32]);
    let mut config = zkperp_state::testkit::config(&keys, &fund, &fees);
    config.markets[1].oracle_quorum = 5;
    config.markets[1].oracle_freshness_secs = 45;
    Setup { keys, config }
}

fn sign(key: &PrivateKey, oracle: u8, market: MarketId, price: u64, at: u64) -> SignedQuote {
    let quote = Quote {
        market,
        price: ticks(price),
        timestamp: ts(at),
    };
    SignedQuote {
        oracle,
        quote,
        signature: key.sign(quote.message(&zkperp_state::domain::SigningDomain::TEST)),
    }
}

impl Setup {
    fn quote(&self, oracle: u8, market: MarketId, price: u64, at: u64) -> SignedQuote {
        sign(&self.keys[usize::from(oracle)], oracle, market, price, at)
    }

    fn book(&self) -> OracleBook {
        OracleBook::new(&self.config)
    }

    /// A state at genesis with a batch open at `now`.
    fn state_at(&self, now: u64) -> State {
        let mut state = State::genesis(self.config.clone()).expect("genesis");
        state.begin_batch(ts(now)).expect("time");
        state
    }
}

fn prices(tick: &OracleTick) -> Vec<u64> {
    tick.quotes.iter().map(|q| q.quote.price.get()).collect()
}

// ---- refusals at ingestion, one per rule ----

#[test]
fn a_quote_for_an_unknown_market_is_refused() {
    let s = setup();
    let mut book = s.book();
    let q = s.quote(0, MarketId::new(2).expect("id"), 100, START);
    assert_eq!(book.ingest(q, ts(START)), Err(QuoteError::UnknownMarket(2)));
}

#[test]
fn a_quote_from_an_unconfigured_key_index_is_refused() {
    let s = setup();
    let mut book = s.book();
    let q = sign(&s.keys[0], KEYS as u8, btc(), 100, START);
    assert_eq!(
        book.ingest(q, ts(START)),
        Err(QuoteError::UnknownKey {
            market: btc(),
            oracle: KEYS as u8
        })
    );
}

#[test]
fn a_quote_signed_by_another_key_is_refused_and_not_kept() {
    let s = setup();
    let mut book = s.book();
    // Key 1 signs, claiming to be key 0: a configured key, but not the one named.
    let forged = sign(&s.keys[1], 0, btc(), 100, START);
    assert_eq!(
        book.ingest(forged, ts(START)),
        Err(QuoteError::BadSignature {
            market: btc(),
            oracle: 0
        })
    );
    // A key outside the market's list, in the slot of key 2.
    let outsider = sign(&PrivateKey::from_bytes([0x99; 32]), 2, btc(), 100, START);
    assert!(matches!(
        book.ingest(outsider, ts(START)),
        Err(QuoteError::BadSignature { .. })
    ));
    // A valid signature over another price.
    let mut tampered = s.quote(3, btc(), 100, START);
    tampered.quote.price = ticks(101);
    assert!(matches!(
        book.ingest(tampered, ts(START)),
        Err(QuoteError::BadSignature { .. })
    ));
    assert_eq!(book.latest(btc()).count(), 0);
}

#[test]
fn stale_and_future_quotes_are_refused_at_the_edges_of_the_window() {
    let s = setup();
    let mut book = s.book();
    let now = START + 1_000;
    // BTC: fresh for 60 s.
    assert_eq!(
        book.ingest(s.quote(0, btc(), 100, now - 61), ts(now)),
        Err(QuoteError::Stale {
            timestamp: ts(now - 61),
            now: ts(now),
            freshness_secs: 60
        })
    );
    assert_eq!(
        book.ingest(s.quote(0, btc(), 100, now + 1), ts(now)),
        Err(QuoteError::FromTheFuture {
            timestamp: ts(now + 1),
            now: ts(now)
        })
    );
    assert_eq!(
        book.ingest(s.quote(0, btc(), 100, now - 60), ts(now)),
        Ok(())
    );
    assert_eq!(book.ingest(s.quote(1, btc(), 100, now), ts(now)), Ok(()));
    // ETH: fresh for 45 s.
    assert!(matches!(
        book.ingest(s.quote(0, eth(), 100, now - 46), ts(now)),
        Err(QuoteError::Stale { .. })
    ));
    assert_eq!(
        book.ingest(s.quote(0, eth(), 100, now - 45), ts(now)),
        Ok(())
    );
}

#[test]
fn a_zero_price_is_refused() {
    let s = setup();
    let mut book = s.book();
    assert_eq!(
        book.ingest(s.quote(0, btc(), 0, START), ts(START)),
        Err(QuoteError::ZeroPrice)
    );
}

#[test]
fn fields_outside_their_widths_are_refused() {
    let s = setup();
    let mut book = s.book();
    let signature = s.quote(0, btc(), 1, START).signature;
    let raw = RawQuote {
        oracle: 0,
        market: 0,
        price_ticks: 1 << 40,
        timestamp: START,
        signature,
    };
    assert!(matches!(
        book.ingest_raw(raw, ts(START)),
        Err(QuoteError::OutOfWidth(e)) if e.what == "PriceTicks"
    ));
    let raw = RawQuote {
        timestamp: 1 << 40,
        price_ticks: 1,
        ..raw
    };
    assert!(matches!(
        book.ingest_raw(raw, ts(START)),
        Err(QuoteError::OutOfWidth(e)) if e.what == "Timestamp"
    ));
    let raw = RawQuote {
        market: 256,
        timestamp: START,
        ..raw
    };
    assert!(matches!(
        book.ingest_raw(raw, ts(START)),
        Err(QuoteError::OutOfWidth(e)) if e.what == "MarketId"
    ));
    // In width, the raw path is the ordinary one.
    let raw = RawQuote { market: 0, ..raw };
    assert_eq!(book.ingest_raw(raw, ts(START)), Ok(()));
}

#[test]
fn only_a_newer_quote_replaces_a_keys_latest() {
    let s = setup();
    let mut book = s.book();
    let now = START + 100;
    book.ingest(s.quote(0, btc(), 100, now - 10), ts(now))
        .expect("first");
    assert_eq!(
        book.ingest(s.quote(0, btc(), 999, now - 10), ts(now)),
        Err(QuoteError::NotNewer {
            timestamp: ts(now - 10),
            latest: ts(now - 10)
        })
    );
    assert!(matches!(
        book.ingest(s.quote(0, btc(), 999, now - 20), ts(now)),
        Err(QuoteError::NotNewer { .. })
    ));
    book.ingest(s.quote(0, btc(), 105, now - 5), ts(now))
        .expect("newer");
    let latest: Vec<_> = book.latest(btc()).collect();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].quote.price, ticks(105));
}

#[test]
fn oracle_index_finds_a_configured_key() {
    let s = setup();
    let book = s.book();
    assert_eq!(book.oracle_index(eth(), &s.keys[4].public_key()), Some(4));
    let outsider = PrivateKey::from_bytes([0x99; 32]).public_key();
    assert_eq!(book.oracle_index(eth(), &outsider), None);
}

// ---- ticks ----

#[test]
fn more_fresh_quotes_than_the_quorum_keep_the_middle_ones() {
    let s = setup();
    let now = START + 100;
    // Seven quotes, two wild: the middle three (quorum 3) are 101..=103, median 102.
    let mut book = s.book();
    for (k, p) in [1, 100, 101, 102, 103, 104, 1_000_000_000]
        .iter()
        .enumerate()
    {
        book.ingest(s.quote(k as u8, btc(), *p, now), ts(now))
            .expect("fresh");
    }
    let tick = book.tick(btc(), ts(now), ts(0)).expect("a quorum");
    assert_eq!(prices(&tick), [101, 102, 103]);
    let mut state = s.state_at(now);
    state
        .apply(&Transaction::OracleTick(tick))
        .expect("accepted");
    assert_eq!(state.markets()[0].mark_price, ticks(102));

    // Six quotes: the lower median (101), never a price no oracle quoted.
    let mut book = s.book();
    for (k, p) in [1, 100, 101, 102, 103, 1_000_000_000].iter().enumerate() {
        book.ingest(s.quote(k as u8, btc(), *p, now), ts(now))
            .expect("fresh");
    }
    let tick = book.tick(btc(), ts(now), ts(0)).expect("a quorum");
    assert_eq!(prices(&tick), [100, 101, 102]);
    // ETH, quorum 5 of six: the window starts at (6 - 5) / 2 = 0.
    for (k, p) in [7, 3, 5, 1, 9, 11].iter().enumerate() {
        book.ingest(s.quote(k as u8, eth(), *p, now), ts(now))
            .expect("fresh");
    }
    let tick = book.tick(eth(), ts(now), ts(0)).expect("a quorum");
    assert_eq!(prices(&tick), [1, 3, 5, 7, 9]);
}

#[test]
fn equal_prices_are_ordered_by_key_and_accepted() {
    let s = setup();
    let now = START + 100;
    let mut book = s.book();
    for k in [4u8, 2, 6, 0, 5] {
        book.ingest(s.quote(k, eth(), 500, now), ts(now))
            .expect("fresh");
    }
    let tick = book.tick(eth(), ts(now), ts(0)).expect("a quorum");
    let keys: Vec<u8> = tick.quotes.iter().map(|q| q.oracle).collect();
    assert_eq!(keys, [0, 2, 4, 5, 6]);
    let mut state = s.state_at(now);
    state
        .apply(&Transaction::OracleTick(tick))
        .expect("accepted");
}

#[test]
fn no_tick_without_a_quorum_of_fresh_quotes_at_the_batch_time() {
    let s = setup();
    let now = START + 1_000;
    let mut book = s.book();
    book.ingest(s.quote(0, btc(), 100, now - 50), ts(now))
        .expect("fresh");
    book.ingest(s.quote(1, btc(), 101, now - 5), ts(now))
        .expect("fresh");
    assert_eq!(book.tick(btc(), ts(now), ts(0)), None, "two of three");
    book.ingest(s.quote(2, btc(), 102, now), ts(now))
        .expect("fresh");
    assert!(book.tick(btc(), ts(now), ts(0)).is_some());
    // Eleven seconds on, key 0's quote is 61 s old.
    assert_eq!(book.tick(btc(), ts(now + 11), ts(0)), None);
    assert!(book.tick(btc(), ts(now + 10), ts(0)).is_some());
    assert_eq!(
        book.ticks(ts(now), &[MarketState::default(); 2]).len(),
        1,
        "ETH has no quote"
    );
    // A quote older than the last tick's newest (the market's mark time) does not count: the
    // state machine refuses a tick that goes back in time.
    assert_eq!(
        book.tick(btc(), ts(now), ts(now - 49)),
        None,
        "key 0's is older"
    );
    assert!(
        book.tick(btc(), ts(now), ts(now - 50)).is_some(),
        "as old is allowed"
    );
    let mut marked = [MarketState::default(); 2];
    marked[0].mark_time = ts(now - 5);
    assert!(book.ticks(ts(now), &marked).is_empty());
}

#[test]
fn a_quote_newer_than_the_batch_does_not_count_for_it() {
    let s = setup();
    let batch = START + 100;
    let mut book = s.book();
    for k in 0..2u8 {
        book.ingest(s.quote(k, btc(), 100, batch), ts(batch))
            .expect("fresh");
    }
    // Key 2 quotes after the batch began: usable from the next batch on.
    book.ingest(s.quote(2, btc(), 100, batch + 3), ts(batch + 3))
        .expect("fresh");
    assert_eq!(book.tick(btc(), ts(batch), ts(0)), None);
    assert!(book.tick(btc(), ts(batch + 3), ts(0)).is_some());
}

/// One oracle's attempts: `(price, seconds before the ingestion time (negative: after), forged)`.
type Attempts = Vec<(u64, i64, bool)>;

fn attempts() -> impl Strategy<Value = Attempts> {
    let price = prop_oneof![1u64..=12, 1u64..(1 << 40)];
    prop::collection::vec((price, -3i64..=60, prop::bool::weighted(0.1)), 0..=2)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Random quotes (some stale, some from the future, some forged, some superseded), ingested
    /// at one time and ticked at a later batch time: ingestion refuses exactly what the model
    /// refuses, a tick exists exactly when a quorum is fresh, `State::apply` accepts every tick,
    /// and the mark is the lower median of every fresh quote.
    #[test]
    fn every_tick_is_accepted_and_exists_whenever_a_quorum_is_fresh(
        quotes in prop::collection::vec(prop::collection::vec(attempts(), KEYS), 2),
        delay in 0u64..=15,
    ) {
        let s = setup();
        let ingest_at = START + 1_000;
        let batch_at = ingest_at + delay;
        let mut book = s.book();
        let mut state = s.state_at(batch_at);
        for (m, per_key) in quotes.iter().enumerate() {
            let market = MarketId::new(m as u64).expect("id");
            let freshness = s.config.markets[m].oracle_freshness_secs;
            let quorum = usize::from(s.config.markets[m].oracle_quorum);
            // The model: the latest accepted (time, price) of each key.
            let mut latest: Vec<Option<(u64, u64)>> = vec![None; KEYS];
            for (k, tries) in per_key.iter().enumerate() {
                for &(price, before, forged) in tries {
                    let at = ingest_at.checked_add_signed(-before).expect("time");
                    let signer = if forged { (k + 1) % KEYS } else { k };
                    let q = sign(&s.keys[signer], k as u8, market, price, at);
                    let got = book.ingest(q, ts(ingest_at));
                    let expected_ok = at <= ingest_at
                        && ingest_at - at <= freshness
                        && latest[k].is_none_or(|(t, _)| at > t)
                        && !forged;
                    prop_assert_eq!(got.is_ok(), expected_ok, "{:?}", got);
                    if let Err(e) = got {
                        let kind_ok = match e {
                            QuoteError::FromTheFuture { .. } => at > ingest_at,
                            QuoteError::Stale { .. } => ingest_at - at > freshness,
                            QuoteError::NotNewer { .. } => latest[k].is_some(),
                            QuoteError::BadSignature { .. } => forged,
                            _ => false,
                        };
                        prop_assert!(kind_ok, "unexpected refusal {:?}", e);
                    } else {
                        latest[k] = Some((at, price));
                    }
                }
            }
            let mut fresh: Vec<u64> = latest
                .iter()
                .flatten()
                .filter(|(t, _)| batch_at - t <= freshness)
                .map(|(_, p)| *p)
                .collect();
            fresh.sort_unstable();
            let tick = book.tick(market, ts(batch_at), ts(0));
            prop_assert_eq!(tick.is_some(), fresh.len() >= quorum);
            if let Some(tick) = tick {
                prop_assert_eq!(tick.quotes.len(), quorum);
                state
                    .apply(&Transaction::OracleTick(tick))
                    .map_err(|e| TestCaseError::fail(format!("refused: {e}")))?;
                let lower_median = fresh[(fresh.len() - 1) / 2];
                prop_assert_eq!(state.markets()[m].mark_price.get(), lower_median);
            }
        }
        let all = book.ticks(ts(batch_at), &[MarketState::default(); 2]);
        let each: Vec<_> = [btc(), eth()].iter().filter_map(|m| book.tick(*m, ts(batch_at), ts(0))).collect();
        prop_assert_eq!(all, each);
    }
}

// ---- local signers ----

fn walk(seed: u64) -> PricePath {
    PricePath::random_walk(RandomWalk {
        seed,
        start: ts(START),
        initial: ticks(500_000),
        step_secs: 5,
        volatility_ppm: 4_000,
    })
    .expect("walk")
}

#[test]
fn three_local_signers_over_a_path_set_the_paths_price() {
    let mut f = Fixture::new(0);
    let mut book = OracleBook::new(f.state.config());
    let mut path = walk(7);
    let mut signers: Vec<LocalOracle> = [-3i64, 0, 5]
        .iter()
        .enumerate()
        .map(|(i, offset)| {
            LocalOracle::new(
                zkperp_state::domain::SigningDomain::TEST,
                f.oracles[i].clone(),
                i as u8,
                btc(),
                walk(7),
            )
            .with_offset(*offset)
        })
        .collect();
    let mut moved = false;
    for _ in 0..30 {
        f.advance(5);
        let now = f.state.now();
        for signer in &mut signers {
            book.ingest(signer.sign_at(now), now).expect("fresh");
        }
        let tick = book.tick(btc(), now, ts(0)).expect("a quorum");
        f.apply(Transaction::OracleTick(tick)).expect("accepted");
        let expected = path.price_at(now);
        assert_eq!(f.state.markets()[0].mark_price, expected);
        moved |= expected != ticks(500_000);
    }
    assert!(moved, "the walk moves");
}

#[test]
fn a_walk_is_a_function_of_seed_and_time_within_its_volatility() {
    let (mut a, mut b) = (walk(3), walk(3));
    let late = a.price_at(ts(START + 500));
    let forward: Vec<_> = (0..=100).map(|k| b.price_at(ts(START + 5 * k))).collect();
    assert_eq!(b.price_at(ts(START + 500)), late);
    assert_eq!(a.price_at(ts(START + 5 * 37 + 4)), forward[37]);
    assert_eq!(
        a.price_at(ts(START - 10)),
        ticks(500_000),
        "before the start"
    );
    for w in forward.windows(2) {
        let (p, q) = (w[0].get() as f64, w[1].get() as f64);
        assert!((q / p - 1.0).abs() <= 0.004 + 1e-5, "{p} -> {q}");
    }
    let other: Vec<_> = (0..=100)
        .map(|k| walk(4).price_at(ts(START + 5 * k)))
        .collect();
    assert_ne!(forward, other);
}

#[test]
fn a_path_from_a_file_steps_through_its_points() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("btc.path");
    std::fs::write(
        &file,
        "# seconds price\n0 500000\n\n10 501000\n25   499500\n",
    )
    .expect("write");
    let mut path = PricePath::from_file(&file, ts(START)).expect("path");
    let at = |p: &mut PricePath, s: u64| p.price_at(ts(START + s)).get();
    assert_eq!(at(&mut path, 0), 500_000);
    assert_eq!(at(&mut path, 9), 500_000);
    assert_eq!(at(&mut path, 10), 501_000);
    assert_eq!(at(&mut path, 24), 501_000);
    assert_eq!(at(&mut path, 25), 499_500);
    assert_eq!(at(&mut path, 10_000), 499_500, "the last point holds");
    assert_eq!(path.price_at(ts(START - 1)).get(), 500_000);
}

#[test]
fn bad_path_files_and_walks_are_refused() {
    let line = |text: &str| match PricePath::parse(text, ts(START)) {
        Err(PathError::Line { line, .. }) => line,
        other => panic!("expected a line error, got {other:?}"),
    };
    assert_eq!(line("0 1\n0 2\n"), 2);
    assert_eq!(line("0 1\n5 0\n"), 2);
    assert_eq!(line("0 1099511627776\n"), 1);
    assert_eq!(line("0 1 2\n"), 1);
    assert_eq!(line("x 1\n"), 1);
    assert_eq!(line("# c\n0\n"), 2);
    assert!(matches!(
        PricePath::parse("# nothing\n", ts(START)),
        Err(PathError::Empty)
    ));
    assert!(matches!(
        PricePath::from_file(std::path::Path::new("/nonexistent/path"), ts(START)),
        Err(PathError::Io { .. })
    ));
    let ok = RandomWalk {
        seed: 1,
        start: ts(START),
        initial: ticks(100),
        step_secs: 1,
        volatility_ppm: 0,
    };
    assert!(PricePath::random_walk(ok).is_ok());
    assert!(matches!(
        PricePath::random_walk(RandomWalk { step_secs: 0, ..ok }),
        Err(PathError::ZeroStep)
    ));
    assert!(matches!(
        PricePath::random_walk(RandomWalk {
            volatility_ppm: 1_000_000,
            ..ok
        }),
        Err(PathError::Volatility(_))
    ));
    assert!(matches!(
        PricePath::random_walk(RandomWalk {
            initial: ticks(0),
            ..ok
        }),
        Err(PathError::ZeroPrice)
    ));
}

#[test]
fn an_offset_never_quotes_below_one_tick() {
    let path = PricePath::parse("0 3\n", ts(START)).expect("path");
    let key = PrivateKey::from_bytes([1; 32]);
    let mut low = LocalOracle::new(
        zkperp_state::domain::SigningDomain::TEST,
        key,
        0,
        btc(),
        path,
    )
    .with_offset(-10);
    let q = low.sign_at(ts(START));
    assert_eq!(q.quote.price, ticks(1));
    assert_eq!(
        low.key.public_key().verify(
            q.quote.message(&zkperp_state::domain::SigningDomain::TEST),
            &q.signature
        ),
        Ok(())
    );
}
