use zkperp_state::batch::Shape;
use zkperp_state::batch::SlotKind;
use zkperp_state::eddsa::PrivateKey;
use zkperp_state::pubdata::PubData;
use zkperp_state::state::State;
use zkperp_state::testkit::*;
use zkperp_state::tx::{Deposit, DepositTarget, L1Deposit, Transaction, TxError};
use zkperp_state::units::{AccountId, L1Address};

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
    assert_eq!(f.state.queue_next(SlotKind::Deposit), 3);
    let sealed = f.state.end_batch().expect("batch");
    let published = sealed.publish(&Shape::tight(&sealed)).expect("fits");
    let data = &published.public;
    assert_eq!(
        data.data()
            .filter(|r| matches!(
                r,
                PubData::Deposit(zkperp_state::tx::deposit::DepositRecord { .. })
            ))
            .count(),
        3
    );
    // The account table: each touched account once, in id order, with its final leaf; the
    // tight shape's table has room for every access (four), so one entry is unused.
    let records = &published.payload.records;
    let written: Vec<_> = records.iter().flatten().map(|r| r.id).collect();
    assert_eq!(
        written,
        vec![AccountId::FEES, a, b],
        "the fee account, a, b, then an unused entry"
    );
    assert_eq!(records.len(), 4);
    assert!(records[3].is_none());
    let leaf = f.state.account(a).expect("account").leaf.hash();
    assert_eq!(records[1].as_ref().map(|r| r.hash), Some(leaf));
    // Two deposits created accounts (slots 0 and 1); the third credited one.
    let created: Vec<_> = published
        .payload
        .creations
        .iter()
        .map(|c| c.map(|c| c.id))
        .collect();
    assert_eq!(created, vec![Some(a), Some(b), None]);
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
        TxError::QueueOutOfOrder {
            kind: SlotKind::Deposit,
            expected: 0,
            got: 1
        }
    );
}

/// Applies `tx` and returns whether the deposit was credited, checking that a refund changes
/// no account but still consumes the request.
fn credited(state: &mut State, tx: &Transaction) -> bool {
    let root = state.accounts_root();
    let consumed = state.queue_next(SlotKind::Deposit);
    let receipt = state
        .apply(tx)
        .expect("a deposit in order is always consumed");
    assert_eq!(state.queue_next(SlotKind::Deposit), consumed + 1);
    match receipt.pubdata.as_slice() {
        [PubData::Deposit(zkperp_state::tx::deposit::DepositRecord { credited: true, .. })] => true,
        [PubData::Deposit(zkperp_state::tx::deposit::DepositRecord {
            credited: false, ..
        })] => {
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
    assert_eq!(bytes[0], zkperp_state::tx::deposit::DepositRecord::REFUNDED);
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
    let deposit = |index: u64, owner: u8, account: DepositTarget| {
        Transaction::Deposit(Deposit {
            request: L1Deposit {
                index,
                l1_address: L1Address([owner; 20]),
                public_key: keys[0].public_key().pack(),
                account,
                amount: amount(7),
            },
            ephemeral: ephemeral(9),
        })
    };
    let new = DepositTarget::New;
    assert!(credited(&mut state, &deposit(0, 1, new)), "third leaf");
    assert!(credited(&mut state, &deposit(1, 2, new)), "fourth leaf");
    assert!(!credited(&mut state, &deposit(2, 3, new)), "no fifth leaf");
    let third = DepositTarget::Existing(AccountId::new(2).expect("id"));
    assert!(
        credited(&mut state, &deposit(3, 1, third)),
        "existing account"
    );
}

/// The deposit of `trader` naming `target`, as the L1 would queue it next.
fn deposit_to(f: &Fixture, trader: usize, units: u64, target: DepositTarget) -> Transaction {
    let Transaction::Deposit(mut tx) = f.deposit_tx(trader, units) else {
        unreachable!()
    };
    tx.request.account = target;
    Transaction::Deposit(tx)
}

#[test]
fn a_deposit_credits_exactly_the_account_it_names() {
    let mut f = Fixture::new(1);
    let first = f.deposit(0, 10);
    // The same owner asks for a second account: a new id, the first untouched.
    let tx = deposit_to(&f, 0, 20, DepositTarget::New);
    let receipt = f.apply(tx).expect("deposit");
    f.deposits += 1;
    let second = receipt.writes[0].account;
    assert_ne!(second, first);
    assert_eq!((f.collateral(first), f.collateral(second)), (10, 20));
    // A top-up naming the first account credits it, never the second (nor a third).
    let tx = deposit_to(&f, 0, 5, DepositTarget::Existing(first));
    f.apply(tx).expect("deposit");
    f.deposits += 1;
    assert_eq!((f.collateral(first), f.collateral(second)), (15, 20));
    let tx = deposit_to(&f, 0, 1, DepositTarget::Existing(second));
    f.apply(tx).expect("deposit");
    assert_eq!((f.collateral(first), f.collateral(second)), (15, 21));
    assert_eq!(
        f.state
            .account_by_owner(&f.traders[0].key.public_key(), &f.traders[0].l1),
        Some(first)
    );
}

/// Applies `tx`, which must be refunded (consumed, no account changed).
fn refunded(f: &mut Fixture, tx: Transaction) {
    assert!(!credited(&mut f.state, &tx));
    f.deposits += 1;
}

#[test]
fn a_deposit_naming_another_owners_or_no_account_is_refunded() {
    let mut f = Fixture::new(2);
    let a = f.deposit(0, 10);
    let b = f.deposit(1, 10);
    // Trader 1 names trader 0's account: refunded, trader 0 untouched.
    let tx = deposit_to(&f, 1, 7, DepositTarget::Existing(a));
    refunded(&mut f, tx);
    // The same key with another L1 address is another owner.
    f.traders[1].key = f.traders[0].key.clone();
    let tx = deposit_to(&f, 1, 7, DepositTarget::Existing(a));
    refunded(&mut f, tx);
    // The fee account is not the fund: nobody but its owner tops it up.
    let tx = deposit_to(&f, 1, 7, DepositTarget::Existing(AccountId::FEES));
    refunded(&mut f, tx);
    let nobody = AccountId::new(200).expect("id");
    let tx = deposit_to(&f, 0, 7, DepositTarget::Existing(nobody));
    refunded(&mut f, tx);
    assert_eq!((f.collateral(a), f.collateral(b)), (10, 10));
}

#[test]
fn anyone_may_top_up_the_insurance_fund() {
    let mut f = Fixture::new(1);
    let before = f.collateral(AccountId::INSURANCE_FUND);
    let tx = deposit_to(
        &f,
        0,
        1_000,
        DepositTarget::Existing(AccountId::INSURANCE_FUND),
    );
    f.apply(tx).expect("deposit");
    assert_eq!(f.collateral(AccountId::INSURANCE_FUND), before + 1_000);
}

#[test]
fn the_target_travels_in_the_record_and_new_is_all_ones() {
    assert_eq!(DepositTarget::New.wire(), u32::MAX);
    assert_eq!(DepositTarget::from(u32::MAX), DepositTarget::New);
    let id = AccountId::new(7).expect("id");
    assert_eq!(DepositTarget::from(7), DepositTarget::Existing(id));
    let mut f = Fixture::new(1);
    let receipt = f.apply(f.deposit_tx(0, 10)).expect("deposit");
    let mut bytes = Vec::new();
    receipt.pubdata[0].encode(&mut bytes);
    assert_eq!(
        bytes.len(),
        <zkperp_state::tx::deposit::DepositRecord as zkperp_state::pubdata::L1Record>::LEN
    );
    assert_eq!(bytes[61..65], [0xff; 4], "u32 account after the key");
    assert_eq!(bytes[65..], 10u64.to_be_bytes());
}
