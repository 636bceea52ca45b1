use zkperp_state::domain::SigningDomain;
use zkperp_state::pubdata::PubData;
use zkperp_state::testkit::*;
use zkperp_state::tx::{Transaction, TxError, Withdrawal, WithdrawalError};
use zkperp_state::units::{AccountId, Nonce};

fn werr(e: TxError) -> WithdrawalError {
    match e {
        TxError::Withdrawal(e) => e,
        other => panic!("expected a withdrawal error, got {other:?}"),
    }
}

#[test]
fn a_signed_withdrawal_pays_the_owners_l1_address_once() {
    let mut f = Fixture::new(1);
    let a = f.deposit(0, 1_000);
    let tx = f.withdrawal_tx(0, 400);
    let receipt = f.apply(tx.clone()).expect("withdraw");
    assert_eq!(f.collateral(a), 600);
    assert_eq!(
        receipt.pubdata,
        vec![PubData::Withdrawal(
            zkperp_state::tx::withdrawal::WithdrawalRecord {
                account: a,
                l1_address: f.traders[0].l1,
                amount: amount(400)
            }
        )]
    );
    // Replaying the same signed withdrawal fails on the nonce.
    assert_eq!(
        werr(f.refuse(tx)),
        WithdrawalError::BadNonce {
            expected: 1,
            got: 0
        }
    );
    f.apply(f.withdrawal_tx(0, 600)).expect("the rest");
    assert_eq!(
        werr(f.refuse(f.withdrawal_tx(0, 1))),
        WithdrawalError::Margin(zkperp_state::margin::MarginError { tv: -1, tr_ppm: 0 })
    );
}

#[test]
fn refuses_zero_unknown_and_forged() {
    let mut f = Fixture::new(2);
    f.deposit(0, 1_000);
    f.deposit(1, 1_000);
    assert_eq!(
        werr(f.refuse(f.withdrawal_tx(0, 0))),
        WithdrawalError::ZeroAmount
    );
    let Transaction::Withdrawal(genuine) = f.withdrawal_tx(0, 10) else {
        unreachable!()
    };
    let forged = Withdrawal {
        signature: f.traders[1].key.sign(Withdrawal::message(
            &SigningDomain::TEST,
            genuine.account,
            genuine.amount,
            genuine.nonce,
        )),
        ..genuine
    };
    assert_eq!(
        werr(f.refuse(Transaction::Withdrawal(forged))),
        WithdrawalError::BadSignature
    );
    let more = Withdrawal {
        amount: amount(11),
        ..genuine
    };
    assert_eq!(
        werr(f.refuse(Transaction::Withdrawal(more))),
        WithdrawalError::BadSignature
    );
    let ghost = Withdrawal {
        account: AccountId::new(99).expect("id"),
        ..genuine
    };
    assert_eq!(
        werr(f.refuse(Transaction::Withdrawal(ghost))),
        WithdrawalError::NoSuchAccount
    );
    let skipped = Withdrawal {
        nonce: Nonce::new(1).expect("nonce"),
        ..genuine
    };
    assert!(matches!(
        werr(f.refuse(Transaction::Withdrawal(skipped))),
        WithdrawalError::BadNonce { .. }
    ));
    f.apply(Transaction::Withdrawal(genuine)).expect("genuine");
}

#[test]
fn only_free_collateral_and_realised_value_can_leave() {
    let mut f = Fixture::new(2);
    let a = f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    f.trade(0, 1, btc(), 1_000, 500_000)
        .expect("open 5,000 USD long");
    // Initial margin is 500 USD: at most 500 USD can leave.
    assert!(matches!(
        werr(f.refuse(f.withdrawal_tx(0, 500_000_001))),
        WithdrawalError::Margin(_)
    ));
    f.apply(f.withdrawal_tx(0, 500_000_000))
        .expect("down to initial margin");
    // Profit is withdrawable: the price rises 10%, TV grows 500 USD, TR 50 USD.
    f.set_price(btc(), 550_000);
    assert!(matches!(
        werr(f.refuse(f.withdrawal_tx(0, 450_000_001))),
        WithdrawalError::Margin(_)
    ));
    f.apply(f.withdrawal_tx(0, 450_000_000))
        .expect("unrealised profit");
    assert_eq!(f.collateral(a), 1_000_000_000 - 5_000_000_000 - 950_000_000);
}
