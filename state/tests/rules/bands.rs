//! Bounded marks and the disagreement breaker: a tick moves the mark at most the market's band
//! (5% in the fixture) and keeps the median as the index price; while the band binds a
//! withdrawal checks margin on the less favourable of the two; quotes spread wider than the
//! market's largest spread (2%) make the market reduce-only until a tick whose quotes agree.

use zkperp_state::limits::ReduceOnly;
use zkperp_state::margin::MarginError;
use zkperp_state::pubdata::PubData;
use zkperp_state::testkit::*;
use zkperp_state::tx::oracle_tick::MarkPriceRecord;
use zkperp_state::tx::{Role, TradeError, TxError, WithdrawalError};
use zkperp_state::units::MarketId;

/// One tick of `market` at the current time with these quotes (sorted).
fn tick(f: &mut Fixture, market: MarketId, quotes: [u64; 3]) -> Vec<PubData> {
    let tx = f.oracle_tick_tx(market, quotes);
    f.apply(tx).expect("tick").pubdata
}

fn mark(f: &Fixture) -> (u64, u64) {
    let m = f.state.markets()[btc().index()];
    (m.mark_price.get(), m.index_price.get())
}

#[test]
fn a_tick_moves_the_mark_at_most_the_band_and_keeps_the_median() {
    let mut f = Fixture::new(0);
    assert_eq!(mark(&f), (500_000, 500_000));
    // A 20% jump: the mark moves 5% (25,000 ticks), the median is kept, the record carries the
    // mark.
    let published = tick(&mut f, btc(), [599_999, 600_000, 600_001]);
    assert_eq!(mark(&f), (525_000, 600_000));
    assert!(f.state.markets()[0].band_binds());
    assert_eq!(
        published,
        vec![PubData::OracleTick(MarkPriceRecord {
            market: btc(),
            price: ticks(525_000)
        })]
    );
    // The next tick follows from the new mark: 5% of 525,000 is 26,250.
    tick(&mut f, btc(), [599_999, 600_000, 600_001]);
    assert_eq!(mark(&f), (551_250, 600_000));
    // The price falls back inside the band: the mark is the median again.
    tick(&mut f, btc(), [539_999, 540_000, 540_001]);
    assert_eq!(mark(&f), (540_000, 540_000));
    assert!(!f.state.markets()[0].band_binds());
    // A crash to 1 tick is followed 5% per tick, rounding the step down (27,000 here).
    tick(&mut f, btc(), [1, 1, 2]);
    assert_eq!(mark(&f), (513_000, 1));
    // The edge of the band is inside it.
    tick(&mut f, btc(), [487_349, 487_350, 487_351]);
    assert_eq!(mark(&f), (487_350, 487_350));
    // ETH is untouched by BTC's ticks.
    let eth_state = f.state.markets()[eth().index()];
    assert_eq!(eth_state.mark_price, eth_state.index_price);
}

#[test]
fn while_the_band_binds_a_withdrawal_reads_the_less_favourable_price() {
    let mut f = Fixture::new(2);
    // 20 USD each; trader 0 buys 10 lots (50 USD of notional) from trader 1 at 50,000.0.
    f.deposit(0, 20_000_000);
    f.deposit(1, 20_000_000);
    f.trade(0, 1, btc(), 10, 500_000).expect("trade");
    // The price falls 20%: the mark only 5%.
    tick(&mut f, btc(), [399_999, 400_000, 400_001]);
    assert_eq!(mark(&f), (475_000, 400_000));
    // At the mark the long could take 10 USD (TV 17.5 USD, risk 4.75 USD); at the median it
    // has 10 USD of value and 4 USD of risk, so 10 USD is refused and 5 USD allowed.
    assert_eq!(
        f.refuse(f.withdrawal_tx(0, 10_000_000)),
        TxError::Withdrawal(WithdrawalError::Margin(MarginError {
            tv: 0,
            tr_ppm: 4_000_000_000_000,
        }))
    );
    f.apply(f.withdrawal_tx(0, 5_000_000))
        .expect("within the margin at the median");
    // The short's less favourable price is the mark (it gains as the price falls): its profit
    // at the mark (2.5 USD) can leave, the median's larger one cannot.
    // At the mark: TV 22.5 USD, risk 4.75 USD, so 17.75 USD may leave.
    f.apply(f.withdrawal_tx(1, 17_750_000))
        .expect("the mark is the short's less favourable price");
    assert!(matches!(
        f.refuse(f.withdrawal_tx(1, 1)),
        TxError::Withdrawal(WithdrawalError::Margin(_))
    ));
    // Once the mark has caught up, the two agree again.
    f.set_price(btc(), 400_000);
    assert_eq!(mark(&f), (400_000, 400_000));
}

#[test]
fn while_the_price_rises_past_the_band_the_short_reads_the_median() {
    let mut f = Fixture::new(2);
    f.deposit(0, 20_000_000);
    f.deposit(1, 20_000_000);
    f.trade(0, 1, btc(), 10, 500_000).expect("trade");
    tick(&mut f, btc(), [599_999, 600_000, 600_001]);
    assert_eq!(mark(&f), (525_000, 600_000));
    // The short at the median: TV 10 USD, risk 6 USD; at the mark it could take 12.25 USD.
    assert!(matches!(
        f.refuse(f.withdrawal_tx(1, 4_000_001)),
        TxError::Withdrawal(WithdrawalError::Margin(_))
    ));
    f.apply(f.withdrawal_tx(1, 4_000_000))
        .expect("within the margin at the median");
    // The long gains as the price rises: the mark (TV 22.5, risk 5.25 USD) bounds it.
    f.apply(f.withdrawal_tx(0, 17_250_000))
        .expect("the mark is the long's less favourable price");
    assert!(matches!(
        f.refuse(f.withdrawal_tx(0, 1)),
        TxError::Withdrawal(WithdrawalError::Margin(_))
    ));
}

#[test]
fn disagreeing_quotes_make_the_market_reduce_only_until_they_agree() {
    let mut f = Fixture::new(3);
    for t in 0..3 {
        f.deposit(t, 1_000_000_000);
    }
    f.trade(0, 1, btc(), 10, 500_000).expect("trade");
    // 2% of the median is the widest agreement: 10,000 ticks apart is still agreement.
    tick(&mut f, btc(), [495_000, 500_000, 505_000]);
    assert!(!f.state.markets()[0].quotes_disagree);
    // 10,001 apart: the market is reduce-only.
    tick(&mut f, btc(), [495_000, 500_000, 505_001]);
    assert!(f.state.markets()[0].quotes_disagree);
    // Opening is refused (the maker, the buyer here, first).
    assert_eq!(
        f.trade(2, 1, btc(), 1, 500_000).expect_err("new risk"),
        TxError::Trade(TradeError::ReduceOnly(
            Role::Maker,
            ReduceOnly {
                before: 0,
                after: 1
            }
        ))
    );
    // So is a close that flips a position, or one side that opens against a closing one.
    assert_eq!(
        f.trade(1, 0, btc(), 11, 500_000).expect_err("a flip"),
        TxError::Trade(TradeError::ReduceOnly(
            Role::Maker,
            ReduceOnly {
                before: -10,
                after: 1
            }
        ))
    );
    assert!(matches!(
        f.trade(1, 2, btc(), 1, 500_000),
        Err(TxError::Trade(TradeError::ReduceOnly(Role::Taker, _)))
    ));
    // Both sides closing passes, down to flat.
    f.trade(1, 0, btc(), 4, 500_000).expect("both reduce");
    f.trade(1, 0, btc(), 6, 500_000).expect("both close");
    // ETH trades on: its quotes agree.
    f.trade(2, 1, eth(), 1, 3_000_000).expect("another market");
    // A tick whose quotes agree lifts it.
    tick(&mut f, btc(), [499_999, 500_000, 500_001]);
    assert!(!f.state.markets()[0].quotes_disagree);
    f.trade(2, 1, btc(), 1, 500_000).expect("open again");
}
