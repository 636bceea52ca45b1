//! The L1 path for real: anvil (the project's npm install) runs, the contracts are deployed from
//! Rust with the prover's own verifying keys, two traders deposit from their L1 accounts, the
//! sequencer's first batch (markets priced, both deposits credited) is proven with Groth16 and
//! submitted, and the rollup's root, read back through alloy, is the state machine's.

use std::str::FromStr;
use std::sync::Arc;

use alloy::node_bindings::Anvil;
use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkperp_contracts::{deploy, provider, BatchBlob, DeployConfig, VerifierKey, L1};
use zkperp_prover::{export, BatchProver, ExitProver, KeyCache};
use zkperp_state::batch::Shape;
use zkperp_state::domain::SigningDomain;
use zkperp_state::field::fr_to_decimal;
use zkperp_state::testkit::Fixture;
use zkperp_state::tx::{DepositTarget, Transaction};
use zkperp_state::units::L1Address;
use zkperp_state::{Fr, State};

fn word(x: &Fr) -> U256 {
    U256::from_str(&fr_to_decimal(x)).expect("a field element fits 256 bits")
}

fn key(vk: &zkperp_prover::VerifyingKey) -> VerifierKey {
    let json = serde_json::to_value(export::evm_verifying_key(vk)).expect("json");
    VerifierKey::from_json(&json).expect("the prover's key reads back")
}

fn proof_words(p: &zkperp_prover::Proof) -> [U256; 8] {
    export::evm_proof(p).map(|w| U256::from_be_bytes(w.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deposits_and_a_real_proven_batch_move_the_root_on_anvil() {
    // The L1's clock starts an hour after the fixture's batches: they are in its past, and
    // within maxBatchAge of it.
    let anvil = Anvil::at(zkperp_contracts::anvil_path())
        .args([
            "--timestamp",
            &(zkperp_state::testkit::START + 3_600).to_string(),
        ])
        .try_spawn()
        .expect("anvil runs (scripts/setup.sh installs it into contracts/node_modules)");
    let url = anvil.endpoint();
    let signer = |i: usize| PrivateKeySigner::from(anvil.keys()[i].clone());
    let operator: Address = anvil.addresses()[0];

    // The traders' L1 accounts are anvil's accounts 1 and 2. Signatures are bound to the
    // rollup `deploy` will create: the deployer's fourth contract (token, two verifiers, rollup).
    let rollup_address = operator.create(3);
    let domain = SigningDomain {
        chain_id: 31337,
        rollup: L1Address(rollup_address.into_array()),
    };
    let mut f = Fixture::for_deployment(2, 4, 2, domain);
    for (t, trader) in f.traders.iter_mut().enumerate() {
        trader.l1 = L1Address(anvil.addresses()[t + 1].into_array());
    }
    // The rollup starts at the genesis state of the configuration (the fixture has already
    // begun batch 1 and applied its oracle ticks).
    let genesis = State::genesis(f.state.config().clone())
        .expect("genesis")
        .root();

    // Keys for the batch shape and the exit circuit, generated as the devnet does.
    let config = Arc::new(f.state.config().clone());
    let shape: Shape = "o2-d2".parse().expect("shape");
    let keys = tempfile::tempdir().expect("tmp");
    let cache = KeyCache::new(keys.path());
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let (batch_prover, _) =
        BatchProver::new(config.clone(), shape, &cache, &mut rng).expect("batch keys");
    let (exit_prover, _) = ExitProver::new(config.clone(), &cache, &mut rng).expect("exit keys");

    let deployer = provider(&url, signer(0)).expect("provider");
    let deployment = deploy(
        &deployer,
        &DeployConfig {
            operator,
            token: None,
            genesis_root: word(&genesis),
            market_count: config.markets.len() as u64,
            grace_period: 3_600,
            forced_spacing: 60,
            deposit_spacing: 60,
            claim_window: 3_600,
            max_batch_age: 86_400,
            min_deposit: 1,
            min_forced_amount: 1,
            batch_keys: vec![key(batch_prover.verifying_key())],
            exit_key: key(exit_prover.verifying_key()),
            config_hash: [1; 32],
            exit_key_hash: exit_prover.key_hash().expect("hash"),
        },
    )
    .await
    .expect("deploy");
    assert_eq!(
        deployment.rollup, rollup_address,
        "the rollup the signatures name"
    );
    let l1 = |i: usize| {
        L1::connect(&url, signer(i), deployment.rollup, deployment.block).expect("client")
    };
    let op = l1(0);
    assert_eq!(op.state_root().await.expect("root"), word(&genesis));
    assert_eq!(op.token().await.expect("token"), deployment.token);
    assert_eq!(
        op.pins().await.expect("pins"),
        ([1; 32], exit_prover.key_hash().expect("hash")),
        "what exits need is pinned"
    );
    assert_eq!(
        op.verifier_key_hashes().await.expect("key hashes"),
        (
            vec![key(batch_prover.verifying_key()).hash()],
            key(exit_prover.verifying_key()).hash()
        ),
        "each verifier's keyHash() is its key's"
    );

    // The token refuses a mint by anyone but its deployer.
    let refused = l1(1)
        .mint_test_tokens(anvil.addresses()[1], 1)
        .await
        .expect_err("not the minter");
    assert_eq!(refused.reason(), Some("NotMinter"), "{refused}");

    // Both traders are funded by the faucet (the deployer) and deposit on L1.
    let amounts = [1_000_000_000u64, 2_000_000_000];
    for (t, amount) in amounts.iter().enumerate() {
        let trader = l1(t + 1);
        op.mint_test_tokens(anvil.addresses()[t + 1], *amount)
            .await
            .expect("the deployer mints");
        let key = f.traders[t].key.public_key().pack();
        let index = trader
            .deposit(key, DepositTarget::New.wire(), *amount)
            .await
            .expect("deposit");
        assert_eq!(index, t as u64, "queue order");
    }
    let queued = op.deposits(0).await.expect("events");
    assert_eq!(queued.len(), 2);
    assert_eq!(queued[1].l1_address, anvil.addresses()[2]);
    assert_eq!(queued[1].amount, amounts[1]);

    // The sequencer consumes the queue in order: exactly the deposits the events describe.
    for (t, amount) in amounts.iter().enumerate() {
        let Transaction::Deposit(d) = f.deposit_tx(t, *amount) else {
            panic!("a deposit transaction")
        };
        let event = &queued[t];
        assert_eq!(d.request.index, event.index);
        assert_eq!(d.request.l1_address.0, event.l1_address.into_array());
        assert_eq!(d.request.public_key, event.public_key.0);
        assert_eq!(d.request.amount.get(), event.amount);
        assert_eq!(d.request.account.wire(), event.account);
        f.deposit(t, *amount);
    }
    let batch = f.state.end_batch().expect("seal");
    let proof = batch_prover.prove(&batch, &mut rng).expect("prove");
    let published = batch.publish(&shape).expect("fits");
    let pubdata = published.public.to_bytes();
    let blobs: Vec<BatchBlob> = published
        .blobs
        .iter()
        .map(|b| BatchBlob::of(b).expect("kzg"))
        .collect();

    // Only the operator may submit.
    let refused = l1(1)
        .submit_batch(0, pubdata.clone(), proof_words(&proof.proof), &blobs)
        .await
        .expect_err("not the operator");
    assert_eq!(refused.reason(), Some("NotOperator"), "{refused}");
    // Without its blobs, the batch is refused: the claim names a blob the transaction lacks.
    let blobless = op
        .submit_batch(0, pubdata.clone(), proof_words(&proof.proof), &[])
        .await
        .expect_err("no blob");
    assert_eq!(blobless.reason(), Some("MalformedPubdata"), "{blobless}");

    let receipt = op
        .submit_batch(0, pubdata.clone(), proof_words(&proof.proof), &blobs)
        .await
        .expect("the proven batch applies");
    // Reported, never asserted: docs/PERFORMANCE.md quotes it.
    eprintln!(
        "anvil: submitBatch of {} ({} public-data bytes, {} blob): {} gas, {} blob gas",
        shape.id(),
        pubdata.len(),
        blobs.len(),
        receipt.gas_used,
        receipt.blob_gas_used.unwrap_or_default()
    );
    assert_eq!(op.state_root().await.expect("root"), word(&batch.new_root));
    assert_eq!(batch.old_root, genesis);
    assert_eq!(op.batch_count().await.expect("count"), 1);

    // Anyone reads the batch back from the chain alone (another client, not the operator's):
    // its calldata and its blobs, from which the state is rebuilt to the L1's root.
    let reader = l1(2);
    let posted = reader
        .posted_batch(1)
        .await
        .expect("rpc")
        .expect("batch 1 applied");
    assert_eq!((posted.shape, &posted.pubdata), (0, &pubdata));
    let claimed: Vec<[u8; 32]> = published
        .blobs
        .iter()
        .map(|b| b.claim.versioned_hash)
        .collect();
    assert_eq!(posted.versioned_hashes, claimed);
    let carried = reader
        .blobs_of(posted.tx)
        .await
        .expect("rpc")
        .expect("the transaction carried blobs");
    // A consensus client's beacon API serves the same blobs (anvil's, named by block number
    // since it has no beacon chain), picked by versioned hash; a blob it does not hold is
    // `None`, not an error or a wrong blob.
    let beacon = reader
        .beacon_blobs(&anvil.endpoint(), posted.block, &posted.versioned_hashes)
        .await
        .expect("beacon API");
    assert_eq!(beacon.as_ref(), Some(&carried));
    assert_eq!(
        reader
            .beacon_blobs(&anvil.endpoint(), posted.block, &[[7u8; 32]])
            .await
            .expect("beacon API"),
        None
    );
    let carried: Vec<zkperp_state::blob::Blob> = carried
        .iter()
        .map(|b| zkperp_state::blob::Blob::from_bytes(b).expect("a blob"))
        .collect();
    let mut rebuild =
        zkperp_state::rebuild::Rebuilder::genesis(f.state.config().clone()).expect("genesis");
    rebuild
        .apply(&shape, &posted.pubdata, &carried)
        .expect("the chain's batch rebuilds");
    assert_eq!(rebuild.root(), batch.new_root);
    assert_eq!(reader.posted_batch(2).await.expect("rpc"), None);

    // The same batch again: the root has moved on.
    let again = op
        .submit_batch(0, pubdata, proof_words(&proof.proof), &blobs)
        .await
        .expect_err("applied twice");
    assert!(
        again
            .reason()
            .is_some_and(|r| r.starts_with("WrongOldRoot")),
        "{again}"
    );
}
