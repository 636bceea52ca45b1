use zkperp_state::testkit::*;
use zkperp_state::tx::{FundingTick, FundingTickError, Transaction, TxError};
use zkperp_state::units::FundingIndex;

fn funding(index: i128) -> Transaction {
    Transaction::FundingTick(FundingTick {
        market: btc(),
        index: FundingIndex::new(index).expect("index"),
    })
}

#[test]
fn the_index_moves_at_most_the_capped_rate_and_longs_pay_shorts_exactly() {
    let mut f = Fixture::new(2);
    let (a, b) = (f.deposit(0, 1_000_000_000), f.deposit(1, 1_000_000_000));
    f.trade(0, 1, btc(), 1_000, 500_000).expect("open");
    f.advance(3600);
    // Cap: 100 ppb/s * 500,000 ticks * 10 units * 3,600 s = 1,800 units per lot.
    let err = f.refuse(funding(1_801));
    assert!(
        matches!(
            err,
            TxError::FundingTick(FundingTickError::OverCap { delta: 1_801, .. })
        ),
        "{err:?}"
    );
    assert!(matches!(
        f.refuse(funding(-1_801)),
        TxError::FundingTick(FundingTickError::OverCap { .. })
    ));
    f.apply(funding(1_800)).expect("exactly the cap");
    // Nothing is owed for a second tick at the same time.
    assert!(matches!(
        f.refuse(funding(1_801)),
        TxError::FundingTick(FundingTickError::OverCap { .. })
    ));
    let (ca, cb) = (f.collateral(a), f.collateral(b));
    // Settlement happens when the accounts are next touched.
    f.trade(0, 1, btc(), 1, 500_000).expect("touch both");
    let notional = 500_000 * 10;
    assert_eq!(f.collateral(a), ca - 1_000 * 1_800 - notional);
    assert_eq!(f.collateral(b), cb + 1_000 * 1_800 + notional);
    assert_eq!(f.total_collateral(), f.deposited);
}

#[test]
fn a_market_without_a_price_has_no_funding() {
    let mut f = Fixture::new(0);
    let cfg = f.state.config().clone();
    f.state = zkperp_state::State::genesis(cfg).expect("genesis");
    assert_eq!(
        f.refuse(funding(0)),
        TxError::FundingTick(FundingTickError::MarketNotOpen)
    );
    let unknown = Transaction::FundingTick(FundingTick {
        market: zkperp_state::units::MarketId::new(4).expect("id"),
        index: FundingIndex::new(0).expect("index"),
    });
    assert_eq!(
        f.refuse(unknown),
        TxError::FundingTick(FundingTickError::UnknownMarket)
    );
}

#[test]
fn elapsed_time_is_clamped() {
    let mut f = Fixture::new(0);
    f.advance(10 * (1 << 20));
    // 100 * 500,000 * 10 * (2^20 - 1) / 1e9 = 524,287.5 units per lot at most.
    assert!(matches!(
        f.refuse(funding(524_288)),
        TxError::FundingTick(FundingTickError::OverCap { .. })
    ));
    f.apply(funding(524_287)).expect("within the clamped cap");
}
