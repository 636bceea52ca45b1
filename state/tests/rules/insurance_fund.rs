//! The insurance fund is a system account: deposits (anyone may top it up), liquidations,
//! deleverages and fees move it; no signature, and no forced request by its L1 owner, moves its
//! capital out.

use zkperp_state::order::{Order, Side};
use zkperp_state::pubdata::PubData;
use zkperp_state::testkit::*;
use zkperp_state::tx::{
    ForcedWithdrawal, L1ForcedWithdrawal, TradeError, Transaction, TxError, Withdrawal,
    WithdrawalError,
};
use zkperp_state::units::{AccountId, OrderId, Ppm};

const FUND: AccountId = AccountId::INSURANCE_FUND;

/// The fund's key signs an order for the fund.
fn fund_order(f: &Fixture, side: Side) -> zkperp_state::order::SignedOrder {
    let order = Order {
        account: FUND,
        market: btc(),
        side,
        size: lots(10),
        limit_price: ticks(500_000),
        max_fee: Ppm::new(1_000).expect("ppm"),
        expiry: ts(f.state.now().get() + 60),
        order_id: OrderId::new(1).expect("id"),
    };
    zkperp_state::order::SignedOrder {
        order,
        signature: f.fund_key.sign(order.hash(&f.state.config().domain)),
    }
}

#[test]
fn no_signature_trades_with_the_fund() {
    let mut f = Fixture::new(1);
    f.deposit(0, 1_000_000_000);
    f.fund_deposit(1_000_000_000);
    let sell = f.order(0, btc(), Side::Sell, 10, 500_000);
    let buy = fund_order(&f, Side::Buy);
    assert_eq!(
        f.refuse(Fixture::trade_tx(buy, sell, 10, 500_000)),
        TxError::Trade(TradeError::InsuranceFundTrades),
        "the fund as maker"
    );
    let buy = f.order(0, btc(), Side::Buy, 10, 500_000);
    let sell = fund_order(&f, Side::Sell);
    assert_eq!(
        f.refuse(Fixture::trade_tx(buy, sell, 10, 500_000)),
        TxError::Trade(TradeError::InsuranceFundTrades),
        "the fund as taker"
    );
}

#[test]
fn no_signature_withdraws_from_the_fund() {
    let mut f = Fixture::new(0);
    f.fund_deposit(1_000_000_000);
    let nonce = f.state.account(FUND).expect("fund").leaf.nonce;
    let amount = amount(1_000_000);
    let signature = f.fund_key.sign(Withdrawal::message(
        &f.state.config().domain,
        FUND,
        amount,
        nonce,
    ));
    assert_eq!(
        f.refuse(Transaction::Withdrawal(Withdrawal {
            account: FUND,
            amount,
            nonce,
            signature,
        })),
        TxError::Withdrawal(WithdrawalError::InsuranceFund)
    );
}

#[test]
fn the_funds_owner_cannot_force_money_out_of_it() {
    let mut f = Fixture::new(0);
    f.fund_deposit(1_000_000_000);
    let owner = f.state.config().insurance_fund.l1_address;
    let before = f.collateral(FUND);
    let receipt = f
        .apply(Transaction::ForcedWithdrawal(ForcedWithdrawal {
            request: L1ForcedWithdrawal {
                index: 0,
                account: FUND,
                requester: owner,
                amount: amount(1_000_000),
            },
        }))
        .expect("answered");
    assert!(
        matches!(receipt.pubdata.as_slice(), [PubData::ForcedWithdrawal(zkperp_state::tx::forced_withdrawal::ForcedWithdrawalRecord { paid, .. })] if paid.get() == 0),
        "refused (an answer: no freeze follows)"
    );
    assert_eq!(f.collateral(FUND), before);
}
