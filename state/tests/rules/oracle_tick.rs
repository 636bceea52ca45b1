use zkperp_state::pubdata::PubData;
use zkperp_state::testkit::*;
use zkperp_state::tx::{OracleTick, OracleTickError, Transaction, TxError};

fn oerr(e: TxError) -> OracleTickError {
    match e {
        TxError::OracleTick(e) => e,
        other => panic!("expected an oracle tick error, got {other:?}"),
    }
}

fn tick(quotes: Vec<zkperp_state::tx::SignedQuote>) -> Transaction {
    Transaction::OracleTick(OracleTick {
        market: btc(),
        quotes,
    })
}

#[test]
fn the_mark_price_is_the_median_of_fresh_distinct_signed_quotes() {
    let mut f = Fixture::new(0);
    // A minute after the genesis marks: every quote is no older than the last tick's.
    f.advance(60);
    let now = f.state.now().get();
    let quotes = vec![
        f.quote(2, btc(), 490_000, now - 60),
        f.quote(0, btc(), 501_000, now),
        f.quote(1, btc(), 900_000, now - 5),
    ];
    let receipt = f.apply(tick(quotes)).expect("tick");
    assert_eq!(f.state.markets()[0].mark_price, ticks(501_000));
    assert_eq!(
        receipt.pubdata,
        vec![PubData::OracleTick(
            zkperp_state::tx::oracle_tick::MarkPriceRecord {
                market: btc(),
                price: ticks(501_000)
            }
        )]
    );
    assert_eq!(
        f.state.markets()[0].mark_time,
        ts(now),
        "the mark is as old as its newest quote"
    );
}

#[test]
fn a_tick_cannot_go_back_before_the_last_ones_newest_quote() {
    let mut f = Fixture::new(0);
    f.advance(30);
    let now = f.state.now().get();
    let q = |f: &Fixture, oracle: u8, price: u64, at: u64| f.quote(oracle, btc(), price, at);
    let tick = |quotes| {
        Transaction::OracleTick(OracleTick {
            market: btc(),
            quotes,
        })
    };
    // Quotes of 30 s ago, 20 s ago and now: the mark's time is now.
    let first = vec![
        q(&f, 0, 500, now - 30),
        q(&f, 1, 510, now - 20),
        q(&f, 2, 520, now),
    ];
    f.apply(tick(first)).expect("first tick");
    assert_eq!(f.state.markets()[0].mark_time, ts(now));
    f.advance(10);
    // Fresh (within the 60 s window), but older than the last tick's newest quote: the
    // operator cannot pick an earlier price it liked better.
    let replayed = vec![
        q(&f, 0, 500, now - 30),
        q(&f, 1, 505, now + 10),
        q(&f, 2, 520, now + 10),
    ];
    assert_eq!(oerr(f.refuse(tick(replayed))), OracleTickError::NotNewer(0));
    // As new as the last tick's newest quote is allowed (two ticks may share a second).
    let same_second = vec![
        q(&f, 0, 500, now),
        q(&f, 1, 505, now + 10),
        q(&f, 2, 520, now + 10),
    ];
    f.apply(tick(same_second)).expect("no older than the last");
    assert_eq!(f.state.markets()[0].mark_time, ts(now + 10));
}

#[test]
fn a_market_refuses_a_repeated_oracle_key_and_a_zero_mark_age() {
    use zkperp_state::market::MarketConfigError;
    let f = Fixture::new(0);
    let mut m = f.state.config().markets[0].clone();
    m.validate().expect("the fixture's market");
    let mut repeated = m.clone();
    repeated.oracle_keys[2] = repeated.oracle_keys[0];
    assert_eq!(
        repeated.validate(),
        Err(MarketConfigError::DuplicateOracleKey(m.name.clone()))
    );
    m.max_mark_age_secs = 0;
    assert_eq!(
        m.validate(),
        Err(MarketConfigError::MarkAge(m.name.clone()))
    );
}

#[test]
fn refuses_every_malformed_quote_set() {
    let mut f = Fixture::new(0);
    let now = f.state.now().get();
    let q = |f: &Fixture, oracle: u8, price: u64, at: u64| f.quote(oracle, btc(), price, at);
    let cases: Vec<(Vec<_>, OracleTickError)> = vec![
        (
            vec![q(&f, 0, 1, now), q(&f, 1, 2, now)],
            OracleTickError::QuorumSize {
                expected: 3,
                got: 2,
            },
        ),
        (
            vec![q(&f, 0, 1, now), q(&f, 1, 2, now), q(&f, 1, 3, now)],
            OracleTickError::DuplicateOracle(2),
        ),
        (
            vec![q(&f, 0, 1, now), q(&f, 1, 2, now), q(&f, 2, 3, now - 61)],
            OracleTickError::Stale(2),
        ),
        (
            vec![q(&f, 0, 1, now + 1), q(&f, 1, 2, now), q(&f, 2, 3, now)],
            OracleTickError::FromTheFuture(0),
        ),
        (
            vec![q(&f, 0, 5, now), q(&f, 1, 2, now), q(&f, 2, 3, now)],
            OracleTickError::NotSorted(1),
        ),
        (
            vec![q(&f, 0, 0, now), q(&f, 1, 0, now), q(&f, 2, 3, now)],
            OracleTickError::ZeroPrice,
        ),
        (
            vec![
                q(&f, 0, 1, now),
                f.quote(1, eth(), 2, now),
                q(&f, 2, 3, now),
            ],
            OracleTickError::WrongMarket(1),
        ),
    ];
    for (quotes, expected) in cases {
        assert_eq!(oerr(f.refuse(tick(quotes))), expected);
    }
    // Unknown key index.
    let mut unknown = q(&f, 0, 1, now);
    unknown.oracle = 3;
    assert_eq!(
        oerr(f.refuse(tick(vec![unknown, q(&f, 1, 2, now), q(&f, 2, 3, now)]))),
        OracleTickError::UnknownOracle(0)
    );
    // A quote signed by one oracle but claimed for another key.
    let mut swapped = q(&f, 0, 2, now);
    swapped.oracle = 2;
    assert_eq!(
        oerr(f.refuse(tick(vec![q(&f, 1, 1, now), swapped, q(&f, 0, 3, now)]))),
        OracleTickError::BadSignature(1)
    );
    // The price changed after signing.
    let mut moved = q(&f, 1, 2, now);
    moved.quote.price = ticks(3);
    assert_eq!(
        oerr(f.refuse(tick(vec![q(&f, 0, 1, now), moved, q(&f, 2, 3, now)]))),
        OracleTickError::BadSignature(1)
    );
    // Unknown market.
    let bad_market = Transaction::OracleTick(OracleTick {
        market: zkperp_state::units::MarketId::new(9).expect("id"),
        quotes: vec![],
    });
    assert_eq!(oerr(f.refuse(bad_market)), OracleTickError::UnknownMarket);
    f.apply(tick(vec![
        q(&f, 0, 1, now),
        q(&f, 1, 2, now),
        q(&f, 2, 3, now),
    ]))
    .expect("well formed");
}
