use zkperp_state::batch::Shape;
use zkperp_state::eddsa::PrivateKey;
use zkperp_state::pubdata::PubData;
use zkperp_state::state::State;
use zkperp_state::testkit::*;
use zkperp_state::tx::{Deposit, DepositError, L1Deposit, Transaction, TxError};
use zkperp_state::units::{AccountId, L1Address};
use zkperp_state::Fr;

#[test]
fn first_deposit_creates_the_account_and_later_ones_credit_it() {
    let mut f = Fixture::new(2);
    let a = f.deposit(0, 1_000_000);
    assert_eq!(
        a,
        AccountId::new(2).expect("id"),
        "ids 0 and 1 are the system accounts"
    );
    let b = f.deposit(1, 5);
    assert_ne!(a, b);
    assert_eq!(f.deposit(0, 2_500_000), a);
    assert_eq!(f.collateral(a), 3_500_000);
    assert_eq!(f.state.deposits_consumed(), 3);
    let sealed = f.state.end_batch().expect("batch");
    let data = sealed.public_data(&Shape::tight(&sealed)).expect("fits");
    assert_eq!(
        data.data()
            .filter(|r| matches!(r, PubData::Deposit { .. }))
            .count(),
        3
    );
    let written: Vec<_> = data.accounts.iter().map(|u| u.account).collect();
    assert_eq!(
        written,
        vec![a, b, a, AccountId::FEES],
        "every write in order, then the fee settlement"
    );
    let leaf = f.state.account(a).expect("account").leaf.hash();
    assert_eq!(data.accounts[2].leaf_hash, leaf);
}

#[test]
fn same_key_with_another_l1_owner_is_another_account() {
    let mut f = Fixture::new(2);
    let a = f.deposit(0, 10);
    f.traders[1].key = f.traders[0].key.clone();
    let b = f.deposit(1, 10);
    assert_ne!(a, b);
}

#[test]
fn deposits_are_consumed_strictly_in_queue_order() {
    let mut f = Fixture::new(1);
    f.deposits = 1; // skip request 0
    let err = f.refuse(f.deposit_tx(0, 10));
    assert_eq!(
        err,
        TxError::Deposit(DepositError::OutOfOrder {
            expected: 0,
            got: 1
        })
    );
}

/// Applies `tx` and returns whether the deposit was credited, checking that a refund changes
/// no account but still consumes the request.
fn credited(state: &mut State, tx: &Transaction) -> bool {
    let root = state.accounts_root();
    let consumed = state.deposits_consumed();
    let receipt = state
        .apply(tx)
        .expect("a deposit in order is always consumed");
    assert_eq!(state.deposits_consumed(), consumed + 1);
    match receipt.pubdata.as_slice() {
        [PubData::Deposit { credited: true, .. }] => true,
        [PubData::Deposit {
            credited: false, ..
        }] => {
            assert_eq!(state.accounts_root(), root, "a refund changes no account");
            assert!(receipt.writes.is_empty());
            false
        }
        other => panic!("unexpected public data {other:?}"),
    }
}

#[test]
fn a_deposit_that_would_overflow_collateral_is_refunded() {
    let mut f = Fixture::new(1);
    let a = f.deposit(0, (1 << 63) - 1);
    let tx = f.deposit_tx(0, 1);
    assert!(!credited(&mut f.state, &tx));
    assert_eq!(f.collateral(a), (1 << 63) - 1);
    let mut bytes = Vec::new();
    let sealed = f.state.end_batch().expect("batch");
    sealed
        .public_data(&Shape::tight(&sealed))
        .expect("fits")
        .data()
        .last()
        .expect("record")
        .encode(&mut bytes);
    assert_eq!(bytes[0], PubData::DEPOSIT_REFUNDED);
}

#[test]
fn a_deposit_with_an_invalid_key_is_refunded() {
    let mut f = Fixture::new(1);
    let Transaction::Deposit(mut tx) = f.deposit_tx(0, 10) else {
        unreachable!()
    };
    tx.request.public_key = [0xff; 32]; // y >= p
    assert!(!credited(&mut f.state, &Transaction::Deposit(tx)));
    let mut small_order = tx;
    small_order.request.index = 1;
    small_order.request.public_key = [0u8; 32]; // y = 0: a point of order 4
    assert!(!credited(&mut f.state, &Transaction::Deposit(small_order)));
    f.deposits = 2;
    f.deposit(0, 10);
}

#[test]
fn a_full_tree_refunds_new_accounts_but_credits_existing_ones() {
    let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(1);
    let keys: Vec<_> = (0..5).map(|_| PrivateKey::random(&mut rng)).collect();
    let mut config = config(&keys[..3], &keys[3], &keys[4]);
    config.account_tree_depth = 2; // four leaves: two system accounts and two traders
    let mut state = State::genesis(config).expect("genesis");
    let deposit = |index: u64, owner: u8| {
        Transaction::Deposit(Deposit {
            request: L1Deposit {
                index,
                l1_address: L1Address([owner; 20]),
                public_key: keys[0].public_key().pack(),
                amount: amount(7),
            },
            salt: Fr::from(9u64),
        })
    };
    assert!(credited(&mut state, &deposit(0, 1)), "third leaf");
    assert!(credited(&mut state, &deposit(1, 2)), "fourth leaf");
    assert!(!credited(&mut state, &deposit(2, 3)), "no fifth leaf");
    assert!(credited(&mut state, &deposit(3, 1)), "existing account");
}
