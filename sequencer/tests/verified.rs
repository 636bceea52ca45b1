//! The verified state: it follows sealed batches in order, refuses a batch that does not chain
//! or does not reach its own new root without writing anything, reopens where it stopped, and
//! serves exit witnesses that the exit rules accept against its root.

use zkperp_sequencer::verified::{VerifiedError, VerifiedState};
use zkperp_state::field::fr_from_i128;
use zkperp_state::order::Side;
use zkperp_state::testkit::*;
use zkperp_state::State;

#[test]
fn follows_batches_in_order_and_refuses_what_does_not_chain() {
    let mut f = Fixture::with_depths(2, 6, 3);
    let config = f.state.config().clone();
    let dir = tempfile::tempdir().expect("tmp");
    let mut v = VerifiedState::open(dir.path(), &config).expect("open");
    assert_eq!(v.batch(), 0);
    assert_eq!(
        v.root(),
        State::genesis(config.clone()).expect("genesis").root()
    );

    let a = f.deposit(0, 1_000_000_000);
    let b = f.deposit(1, 1_000_000_000);
    let first = f.state.end_batch().expect("seal 1");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    let buy = f.order(0, btc(), Side::Buy, 10, 500_000);
    let sell = f.order(1, btc(), Side::Sell, 10, 500_000);
    f.apply(Fixture::trade_tx_with_fees(
        sell, buy, 10, 500_000, 0, 1_000,
    ))
    .expect("trade");
    let second = f.state.end_batch().expect("seal 2");

    // Out of order, then tampered: refused, nothing written.
    assert!(matches!(
        v.apply(&second),
        Err(VerifiedError::OutOfOrder { at: 0, got: 2 })
    ));
    let mut forged = first.clone();
    forged.new_root += fr_from_i128(1);
    assert!(matches!(
        v.apply(&forged),
        Err(VerifiedError::WrongNewRoot { .. })
    ));
    assert_eq!(v.batch(), 0);

    assert!(v.apply(&first).expect("batch 1"));
    assert!(!v.apply(&first).expect("again"), "already applied: skipped");
    assert_eq!(v.root(), first.new_root);
    let mut other = second.clone();
    other.old_root = first.old_root;
    assert!(matches!(
        v.apply(&other),
        Err(VerifiedError::WrongOldRoot { .. })
    ));
    assert!(v.apply(&second).expect("batch 2"));
    assert_eq!(v.root(), f.state.root());
    drop(v);

    // Reopened where it stopped; its witnesses are the live state's, valid against its root.
    let v = VerifiedState::open(dir.path(), &config).expect("reopen");
    assert_eq!(v.batch(), 2);
    assert_eq!(v.root(), second.new_root);
    for id in [a, b] {
        let w = v.exit_witness(id).expect("witness");
        assert_eq!(w, f.state.exit_witness(id).expect("live witness"));
        w.check(&config, v.root()).expect("a valid exit witness");
    }
    let missing = zkperp_state::units::AccountId::new(40).expect("id");
    assert!(matches!(
        v.exit_witness(missing),
        Err(VerifiedError::NoSuchAccount(_))
    ));
}

/// Every verified batch stays readable: after five batches, each account's witness at each
/// earlier batch is exactly what the live state gave right after that batch, valid against
/// that batch's root, also after a reopen. An account is unknown before the batch that made
/// it, and a batch not yet verified is refused.
#[test]
fn witnesses_after_every_verified_batch_stay_readable() {
    let mut f = Fixture::with_depths(3, 6, 3);
    let config = f.state.config().clone();
    let dir = tempfile::tempdir().expect("tmp");
    let mut v = VerifiedState::open(dir.path(), &config).expect("open");
    let genesis_root = v.root();
    // (batch, root, [(account, witness)]) right after each batch.
    let mut history = Vec::new();
    let mut ids = Vec::new();
    for n in 1..=5u64 {
        if n <= 3 {
            ids.push(f.deposit(n as usize - 1, 1_000_000_000));
        }
        if n >= 3 {
            let price = 500_000 + 1_000 * n;
            let buy = f.order(0, btc(), Side::Buy, 10, price);
            let sell = f.order(1, btc(), Side::Sell, 10, price);
            f.apply(Fixture::trade_tx_with_fees(sell, buy, 10, price, 0, 1_000))
                .expect("trade");
        }
        let batch = f.state.end_batch().expect("seal");
        assert!(v.apply(&batch).expect("apply"));
        let witnesses: Vec<_> = ids
            .iter()
            .map(|id| (*id, f.state.exit_witness(*id).expect("live witness")))
            .collect();
        history.push((n, batch.new_root, witnesses));
        f.state.begin_batch(ts(START + 60 * n)).expect("begin");
    }
    drop(v);
    let v = VerifiedState::open(dir.path(), &config).expect("reopen");
    assert_eq!(v.root_at(0).expect("genesis root"), genesis_root);
    for (n, root, witnesses) in &history {
        assert_eq!(v.root_at(*n).expect("root"), *root, "batch {n}");
        for (id, live) in witnesses {
            let w = v.exit_witness_at(*id, *n).expect("witness");
            assert_eq!(&w, live, "account {id} after batch {n}");
            w.check(&config, *root)
                .expect("valid against that batch's root");
        }
    }
    // Account 3 (the third trader) was made by batch 3: unknown after batches 1 and 2.
    let third = ids[2];
    assert!(matches!(
        v.exit_witness_at(third, 2),
        Err(VerifiedError::NoSuchAccount(_))
    ));
    assert!(matches!(
        v.exit_witness_at(third, 6),
        Err(VerifiedError::NotVerified { batch: 6, at: 5 })
    ));
    assert_eq!(
        v.exit_witness_at(third, 5).expect("latest"),
        v.exit_witness(third).expect("witness")
    );
}
