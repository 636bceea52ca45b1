//! The batch pipeline against a real L1 (anvil) with real Groth16 proofs:
//! L1 deposits are followed into the state machine, the sealed batch is proven and verified on
//! the rollup; a forced withdrawal requested on L1 is followed, answered by the next batch and
//! made claimable; a restarted pipeline neither re-proves nor re-submits, and one that lost its
//! records recovers them from the rollup's events. The verified state follows the rollup's
//! root, survives a restart and serves an exit witness; after a freeze the trader's own exit
//! proof pays its account value on L1.

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use alloy::node_bindings::Anvil;
use alloy::primitives::U256;
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkperp_contracts::{alloy, deploy, provider, DeployConfig, VerifierKey, L1};
use zkperp_prover::{export, BatchProver, ExitProver, KeyCache};
use zkperp_sequencer::follower::{deadline_alarm, DeadlineAlarm, Follower};
use zkperp_sequencer::pipeline::{BatchStatus, BatchStore, Pipeline};
use zkperp_sequencer::proving::{self, ProvingQueue};
use zkperp_sequencer::verified::VerifiedState;
use zkperp_state::batch::Shape;
use zkperp_state::batch::SlotKind;
use zkperp_state::field::fr_to_decimal;
use zkperp_state::testkit::{btc, ts, Fixture, START};
use zkperp_state::tx::Transaction;
use zkperp_state::units::L1Address;
use zkperp_state::{Fr, State};

fn word(x: &Fr) -> U256 {
    U256::from_str(&fr_to_decimal(x)).expect("fits")
}

fn key(vk: &zkperp_prover::VerifyingKey) -> VerifierKey {
    VerifierKey::from_json(&serde_json::to_value(export::evm_verifying_key(vk)).expect("json"))
        .expect("key")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_batches_are_proven_verified_on_l1_and_recorded() {
    // The L1's clock starts an hour after the fixture's batches: they are in its past, and
    // within maxBatchAge of it.
    let anvil = Anvil::at(zkperp_contracts::anvil_path())
        .args(["--timestamp", &(START + 3_600).to_string()])
        .try_spawn()
        .expect("anvil runs (scripts/setup.sh installs it)");
    let url = anvil.endpoint();
    let signer = |i: usize| PrivateKeySigner::from(anvil.keys()[i].clone());
    let trader_l1 = |t: usize| anvil.addresses()[t + 1];

    // Signatures name the rollup `deploy` creates: the deployer's fourth contract.
    let rollup_address = anvil.addresses()[0].create(3);
    let domain = zkperp_state::domain::SigningDomain {
        chain_id: 31337,
        rollup: L1Address(rollup_address.into_array()),
    };
    let mut f = Fixture::for_deployment(2, 4, 2, domain);
    for t in 0..2 {
        f.traders[t].l1 = L1Address(trader_l1(t).into_array());
    }
    let config = Arc::new(f.state.config().clone());
    let genesis = State::genesis(f.state.config().clone())
        .expect("genesis")
        .root();
    let shape: Shape = "o2-d2-fw1-fc1-ft2".parse().expect("shape");
    let keys = tempfile::tempdir().expect("tmp");
    let cache = KeyCache::new(keys.path());
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let (prover, _) = BatchProver::new(config.clone(), shape, &cache, &mut rng).expect("keys");
    let (exit, _) = ExitProver::new(config.clone(), &cache, &mut rng).expect("keys");
    let deployment = deploy(
        &provider(&url, signer(0)).expect("provider"),
        &DeployConfig {
            operator: anvil.addresses()[0],
            token: None,
            genesis_root: word(&genesis),
            market_count: 2,
            grace_period: 3_600,
            forced_spacing: 60,
            deposit_spacing: 60,
            claim_window: 3_600,
            max_batch_age: 86_400,
            min_deposit: 1,
            min_forced_amount: 1,
            batch_keys: vec![key(prover.verifying_key())],
            exit_key: key(exit.verifying_key()),
            config_hash: [1; 32],
            exit_key_hash: exit.key_hash().expect("hash"),
        },
    )
    .await
    .expect("deploy");
    assert_eq!(deployment.rollup, rollup_address);
    let l1 = |i: usize| {
        L1::connect(&url, signer(i), deployment.rollup, deployment.block).expect("client")
    };
    let operator = l1(0);

    // Two traders deposit on L1.
    for (t, amount) in [(0usize, 1_000_000_000u64), (1, 2_000_000_000)] {
        operator
            .mint_test_tokens(trader_l1(t), amount)
            .await
            .expect("mint");
        l1(t + 1)
            .deposit(f.traders[t].key.public_key().pack(), u32::MAX, amount)
            .await
            .expect("deposit");
    }

    // The follower turns the queue into deposit transactions, in order, with fresh ephemeral
    // scalars.
    let mut follower = Follower::new(l1(0), |_| 0, deployment.block);
    let txs = follower.poll(&mut rng).await.expect("poll");
    assert_eq!(txs.len(), 2);
    assert_eq!(follower.next(SlotKind::Deposit), 2);
    // Until a verified batch consumes them, the deposits' deadlines are watched: an
    // unconsumed deposit freezes the rollup as an unanswered forced request does.
    let due = follower.oldest_unanswered().expect("the deposits are due");
    assert_eq!((due.queue, due.index), (SlotKind::Deposit, 0), "{due:?}");
    assert!(
        follower.poll(&mut rng).await.expect("poll").is_empty(),
        "nothing new"
    );
    let mut salts = Vec::new();
    let mut accounts = Vec::new();
    for tx in &txs {
        let Transaction::Deposit(d) = tx else {
            panic!("a deposit")
        };
        salts.push(d.ephemeral);
        let receipt = f.state.apply(tx).expect("the followed deposit applies");
        accounts.push(receipt.writes[0].account);
    }
    assert_ne!(salts[0], salts[1], "each account its own ephemeral scalar");
    let first = f.state.end_batch().expect("seal 1");

    let store_dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(BatchStore::open(store_dir.path()).expect("store"));
    let prover = Arc::new(prover);
    // One prover thread of this process, as a node with `--local-provers 1` has.
    let provers = Arc::new(ProvingQueue::new(prover.verifier().clone(), 60));
    proving::spawn_local(provers.clone(), prover.clone(), "local-0".into());
    let verified_dir = tempfile::tempdir().expect("tmp");
    let verified = Arc::new(Mutex::new(
        VerifiedState::open(verified_dir.path(), &config).expect("verified state"),
    ));
    assert_eq!(
        verified.lock().expect("lock").root(),
        genesis,
        "starts at genesis"
    );
    let pipeline = Pipeline::new(store.clone(), provers.clone(), 0, operator.clone())
        .with_verified(verified.clone());
    let record = pipeline.process(first.clone()).await.expect("batch 1");
    assert!(
        matches!(record.status, BatchStatus::Verified { gas: Some(_), .. }),
        "{record:?}"
    );
    assert_eq!(
        operator.state_root().await.expect("root"),
        word(&first.new_root)
    );

    // Trader 1 asks L1 to force out part of its balance; the next batch must answer it.
    let account = u32::try_from(accounts[1].get()).expect("a small id");
    l1(2)
        .request_forced_withdrawal(account, 300_000_000)
        .await
        .expect("request");
    // Trader 0 asks L1 to cancel every order of its below id 100 (its own queue).
    let account0 = u32::try_from(accounts[0].get()).expect("a small id");
    assert_eq!(
        l1(1)
            .request_forced_cancel(account0, 100)
            .await
            .expect("request"),
        0
    );
    // Trader 1 (party B) offers to sell 2 BTC lots to trader 0 at the mark, signing the terms
    // with its L1 key; trader 0 submits them (its own queue). A second offer names trader 1's
    // account but is signed by trader 0's key: the contract queues it, the proof refuses it.
    let terms = zkperp_contracts::ForcedTradeTerms {
        account_a: account0,
        account_b: account,
        market: 0,
        a_buys: true,
        size: 2,
        price: 500_000,
        expiry: follower.chain_time().await.expect("L1 time") + 3_600,
        nonce: 1,
    };
    assert_eq!(
        l1(1).forced_trade_digest(&terms).await.expect("digest"),
        terms.digest(31337, deployment.rollup),
        "the wallet's EIP-712 digest is the contract's"
    );
    let offer = l1(2)
        .sign_forced_trade(&signer(2), &terms)
        .await
        .expect("offer");
    assert_eq!(
        l1(1).request_forced_trade(&offer).await.expect("request"),
        0
    );
    let forged = zkperp_contracts::ForcedTradeTerms { nonce: 2, ..terms };
    let forged = l1(1)
        .sign_forced_trade(&signer(1), &forged)
        .await
        .expect("offer");
    assert_eq!(
        l1(1).request_forced_trade(&forged).await.expect("request"),
        1
    );
    let replayed = l1(1)
        .request_forced_trade(&offer)
        .await
        .expect_err("replay");
    assert_eq!(
        replayed
            .reason()
            .map(|r| r.starts_with("ForcedTradeReplayed")),
        Some(true),
        "{replayed}"
    );
    let txs = follower.poll(&mut rng).await.expect("poll");
    assert_eq!(txs.len(), 4, "the forced requests");
    assert!(matches!(
        (&txs[0], &txs[1], &txs[2], &txs[3]),
        (
            Transaction::ForcedWithdrawal(_),
            Transaction::ForcedCancel(_),
            Transaction::ForcedTrade(_),
            Transaction::ForcedTrade(_)
        )
    ));
    // Its deadline is watched until a verified batch answers it.
    let due = follower.oldest_unanswered().expect("unanswered");
    let now = follower.chain_time().await.expect("L1 time");
    assert_eq!(
        (due.queue, due.index),
        (SlotKind::ForcedWithdrawal, 0),
        "the deposits were consumed"
    );
    assert!(
        due.deadline > now && due.deadline - now <= 3_600,
        "{due:?} at {now}"
    );
    assert_eq!(deadline_alarm(due, now, 60), None, "an hour left");
    assert!(matches!(
        deadline_alarm(due, now, 3_600),
        Some(DeadlineAlarm::Near { .. })
    ));
    f.state.begin_batch(ts(START + 60)).expect("begin 2");
    for tx in &txs {
        f.state.apply(tx).expect("answered");
    }
    let second = f.state.end_batch().expect("seal 2");

    // Through the pipeline's own loop this time.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let running = pipeline.clone().spawn(rx);
    tx.send(second.clone()).await.expect("send");
    drop(tx);
    assert_eq!(running.await.expect("join").expect("pipeline"), 1);
    assert_eq!(
        operator.state_root().await.expect("root"),
        word(&second.new_root)
    );
    assert_eq!(operator.forced_answered().await.expect("cursor"), 1);
    assert_eq!(operator.forced_cancels_answered().await.expect("cursor"), 1);
    assert_eq!(operator.forced_trades_answered().await.expect("cursor"), 2);
    assert_eq!(
        (
            f.position(accounts[0], btc()),
            f.position(accounts[1], btc())
        ),
        (2, -2),
        "the signed forced trade was served, the forged one refused"
    );
    assert_eq!(
        f.state
            .account(accounts[0])
            .expect("account")
            .leaf
            .order_floor
            .get(),
        100,
        "the owner's forced cancel was served"
    );
    assert!(follower.poll(&mut rng).await.expect("poll").is_empty());
    assert_eq!(follower.oldest_unanswered(), None, "answered on L1");
    assert_eq!(
        operator.claimable(trader_l1(1)).await.expect("claimable"),
        U256::from(300_000_000u64),
        "served and claimable"
    );

    // The verified state followed both batches: its root is the rollup's.
    let (verified_batch, verified_root) = {
        let v = verified.lock().expect("lock");
        (v.batch(), v.root())
    };
    assert_eq!(verified_batch, 2);
    assert_eq!(
        word(&verified_root),
        operator.state_root().await.expect("root")
    );

    // Restarted over the same store: both batches are known, nothing is proven or sent again.
    let records = store.all().expect("records");
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.status.name() == "verified"));
    let again = Pipeline::new(store.clone(), provers.clone(), 0, operator.clone());
    assert_eq!(
        again.process(second.clone()).await.expect("known"),
        records[1]
    );

    // A pipeline that lost its store (a crash between the L1 transaction and the status write)
    // finds the batch on L1 instead of submitting it twice.
    let lost_dir = tempfile::tempdir().expect("tmp");
    let lost = Pipeline::new(
        Arc::new(BatchStore::open(lost_dir.path()).expect("store")),
        provers.clone(),
        0,
        operator.clone(),
    );
    let recovered = lost.process(first.clone()).await.expect("recovered");
    assert!(
        matches!(recovered.status, BatchStatus::Verified { gas: None, .. }),
        "{recovered:?}"
    );
    assert_eq!(
        operator.batch_count().await.expect("count"),
        2,
        "not resubmitted"
    );

    // The verified state survives a restart, and serves trader 0 an exit witness: after a
    // freeze (an unanswered forced request, its deadline passed) trader 0 proves its exit
    // locally and the rollup pays exactly the proven amount to its L1 address.
    drop(pipeline);
    drop(again);
    let v = match Arc::try_unwrap(verified) {
        Ok(m) => m.into_inner().expect("lock"),
        Err(_) => panic!("pipelines dropped"),
    };
    drop(v);
    let v = VerifiedState::open(verified_dir.path(), &config).expect("reopen");
    assert_eq!(v.batch(), 2);
    let witness = v.exit_witness(accounts[0]).expect("witness");
    let exit_proof = exit.prove(witness, v.root(), &mut rng).expect("exit proof");
    let amount = exit_proof.inputs[3];
    l1(2)
        .request_forced_withdrawal(account, 1)
        .await
        .expect("unanswered request");
    let grace = 3_600u64 + 60;
    let _: serde_json::Value = operator
        .provider()
        .raw_request("evm_increaseTime".into(), (grace,))
        .await
        .expect("time");
    let _: serde_json::Value = operator
        .provider()
        .raw_request("evm_mine".into(), ())
        .await
        .expect("mine");
    assert_eq!(follower.poll(&mut rng).await.expect("poll").len(), 1);
    let due = follower
        .oldest_unanswered()
        .expect("the unanswered request");
    assert_eq!(due.index, 1);
    let now = follower.chain_time().await.expect("L1 time");
    assert!(
        matches!(
            deadline_alarm(due, now, 900),
            Some(DeadlineAlarm::Overdue { secs_over, .. }) if secs_over == now - due.deadline
        ),
        "{due:?} at {now}"
    );
    operator.freeze().await.expect("freeze");
    let exit_words = export::evm_proof(&exit_proof.proof).map(|w| U256::from_be_bytes(w.0));
    let id = accounts[0].get() as u32;
    let wrong = l1(2)
        .register_exit(id, word(&amount), exit_words)
        .await
        .expect_err("another owner");
    assert_eq!(wrong.reason(), Some("InvalidProof"), "{wrong}");
    l1(1)
        .register_exit(id, word(&amount), exit_words)
        .await
        .expect("exit registered");
    let early = l1(2).claim_exit(id).await.expect_err("the window is open");
    assert_eq!(early.reason(), Some("ExitWindowOpen"), "{early}");
    for (method, params) in [
        ("evm_increaseTime", serde_json::json!([3_600])),
        ("evm_mine", serde_json::json!([])),
    ] {
        let _: serde_json::Value = operator
            .provider()
            .raw_request(method.into(), params)
            .await
            .expect("time");
    }
    // Anyone may trigger the payment; it goes to the registered owner, in full (the rollup
    // holds every registered exit's value).
    l1(2).claim_exit(id).await.expect("exit claimed");
    assert_eq!(
        word(&amount),
        U256::from(1_000_000_000u64),
        "its whole deposit"
    );
    let token =
        zkperp_contracts::bindings::TestToken::new(deployment.token, operator.provider().clone());
    assert_eq!(
        token.balanceOf(trader_l1(0)).call().await.expect("balance"),
        U256::from(1_000_000_000u64),
        "paid to its L1 address"
    );

    // Only the operator submits: a pipeline with another key records the refusal and stops.
    let mut third_state = f;
    third_state
        .state
        .begin_batch(ts(START + 120))
        .expect("begin 3");
    let third = third_state.state.end_batch().expect("seal 3");
    let rogue = Pipeline::new(store.clone(), provers, 0, l1(1));
    let err = rogue.process(third).await.expect_err("not the operator");
    assert!(err.to_string().contains("NotOperator"), "{err}");
    let failed = store.get(3).expect("get").expect("recorded");
    assert_eq!(failed.status.name(), "failed");
}
