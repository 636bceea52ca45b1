//! The signing domain: a signature made for another deployment (another chain, or another
//! rollup contract on the same chain) authorises nothing here, for every signed kind.

use zkperp_state::domain::SigningDomain;
use zkperp_state::order::{Side, SignedOrder};
use zkperp_state::testkit::*;
use zkperp_state::tx::{
    CancelOrder, CancelOrderError, OracleTick, OracleTickError, TradeError, Transaction, TxError,
    Withdrawal, WithdrawalError,
};
use zkperp_state::units::OrderId;

/// The deployments a replayed signature could come from.
fn elsewhere() -> [SigningDomain; 2] {
    let here = SigningDomain::TEST;
    let mut other_rollup = here;
    other_rollup.rollup.0[19] ^= 1;
    [
        SigningDomain {
            chain_id: 1,
            ..here
        },
        other_rollup,
    ]
}

fn funded(traders: usize) -> Fixture {
    let mut f = Fixture::new(traders);
    for t in 0..traders {
        f.deposit(t, 1_000_000_000);
    }
    f
}

#[test]
fn an_order_signed_for_another_deployment_never_fills() {
    let mut f = funded(2);
    for domain in elsewhere() {
        let maker = f.order(0, btc(), Side::Buy, 10, 500_000);
        let taker = f.order(1, btc(), Side::Sell, 10, 500_000);
        let replayed = SignedOrder {
            signature: f.traders[1].key.sign(taker.order.hash(&domain)),
            ..taker
        };
        let err = f.refuse(Fixture::trade_tx(maker, replayed, 10, 500_000));
        assert!(
            matches!(err, TxError::Trade(TradeError::BadSignature(_))),
            "{err:?}"
        );
    }
    // The same orders signed here fill.
    f.trade(0, 1, btc(), 10, 500_000).expect("trade");
}

#[test]
fn a_withdrawal_or_cancel_signed_for_another_deployment_is_refused() {
    let mut f = funded(1);
    let Transaction::Withdrawal(genuine) = f.withdrawal_tx(0, 10) else {
        unreachable!()
    };
    for domain in elsewhere() {
        let replayed = Withdrawal {
            signature: f.traders[0].key.sign(Withdrawal::message(
                &domain,
                genuine.account,
                genuine.amount,
                genuine.nonce,
            )),
            ..genuine
        };
        assert_eq!(
            f.refuse(Transaction::Withdrawal(replayed)),
            TxError::Withdrawal(WithdrawalError::BadSignature)
        );
        let (account, order_id) = (f.id(0), OrderId::new(3).expect("id"));
        let cancel = CancelOrder {
            account,
            order_id,
            signature: f.traders[0]
                .key
                .sign(CancelOrder::message(&domain, account, order_id)),
        };
        assert_eq!(
            f.refuse(Transaction::CancelOrder(cancel)),
            TxError::CancelOrder(CancelOrderError::BadSignature)
        );
    }
    f.apply(Transaction::Withdrawal(genuine))
        .expect("the withdrawal signed here");
}

#[test]
fn an_oracle_quote_signed_for_another_deployment_sets_no_mark() {
    let mut f = Fixture::new(0);
    let now = f.state.now().get();
    for domain in elsewhere() {
        let mut quotes: Vec<_> = (0..3u8)
            .map(|o| f.quote(o, btc(), 500_000 + u64::from(o), now))
            .collect();
        let q = quotes[1].quote;
        quotes[1].signature = f.oracles[1].sign(q.message(&domain));
        let err = f.refuse(Transaction::OracleTick(OracleTick {
            market: btc(),
            quotes,
        }));
        assert_eq!(err, TxError::OracleTick(OracleTickError::BadSignature(1)));
    }
}
