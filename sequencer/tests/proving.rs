//! The proving queue with real Groth16 proofs: batches are leased lowest first and one prover
//! at a time; a proof is accepted only if it verifies for the leased batch (any lease it was
//! given under, even a lapsed one) and an invalid one frees the batch at once; a lapsed lease
//! lets another prover take the batch; the pipeline takes the proofs in batch order; only the
//! node's own prover can declare a batch unprovable; closing stops everyone. The proofs' wire
//! encoding round-trips and refuses every non-canonical input.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkperp_prover::{export, BatchProver, KeyCache, Proof};
use zkperp_sequencer::proving::{self, ProvingQueue, SubmitError, TakeError};
use zkperp_state::batch::{SealedBatch, Shape};
use zkperp_state::testkit::{ts, Fixture, START};

struct Setup {
    prover: Arc<BatchProver>,
    /// Two consecutive sealed (empty) batches and a proof of each.
    batches: Vec<SealedBatch>,
    proofs: Vec<Proof>,
    _keys: tempfile::TempDir,
}

/// The keys of a small shape, two batches and their proofs: made once, shared by the tests
/// (key generation and proving are most of this file's time).
fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let mut f = Fixture::with_depths(2, 4, 2);
        let config = Arc::new(f.state.config().clone());
        // The fixture's first batch holds its oracle ticks; the two after it are empty, so a
        // shape of one deposit slot (no signature checks) proves them, in well under a second.
        let shape: Shape = "d1".parse().expect("shape");
        let keys = tempfile::tempdir().expect("tmp");
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let (prover, _) =
            BatchProver::new(config, shape, &KeyCache::new(keys.path()), &mut rng).expect("keys");
        f.state.end_batch().expect("seal");
        let mut batches = Vec::new();
        for i in 1..=2 {
            f.state.begin_batch(ts(START + 60 * i)).expect("begin");
            batches.push(f.state.end_batch().expect("seal"));
        }
        let proofs = batches
            .iter()
            .map(|b| prover.prove(b, &mut rng).expect("proof").proof)
            .collect();
        Setup {
            prover: Arc::new(prover),
            batches,
            proofs,
            _keys: keys,
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_proofs_checks_and_order() {
    let s = setup();
    let queue = ProvingQueue::new(s.prover.verifier().clone(), 600);
    for b in &s.batches {
        queue.offer(b).expect("offer");
    }
    queue
        .offer(&s.batches[0])
        .expect("offering twice changes nothing");
    let a = queue.try_lease("a").expect("a lease");
    let b = queue.try_lease("b").expect("a lease");
    assert_eq!(
        (a.batch.batch_number, b.batch.batch_number),
        (2, 3),
        "lowest first, one prover each"
    );
    assert!(queue.try_lease("c").is_none(), "both are held");
    assert_ne!(a.id, b.id);
    assert_eq!(a.id.len(), 32, "128 random bits in hex");
    let status = queue.status();
    assert_eq!(status.len(), 2);
    assert_eq!(status[0].state, "leased");
    assert_eq!(status[0].prover.as_deref(), Some("a"));

    // Batch 3's valid proof sent under batch 2's lease does not verify for batch 2: refused,
    // and batch 2 is free again at once.
    let proof2 = s.proofs[1].clone();
    assert_eq!(
        queue.submit(&a.id, proof2.clone()),
        Err(SubmitError::InvalidProof { batch: 2 })
    );
    assert_eq!(queue.status()[0].refused, 1);
    assert_eq!(
        queue.submit(&a.id, proof2.clone()),
        Err(SubmitError::UnknownLease(a.id.clone())),
        "a refused lease is over"
    );
    let c = queue.try_lease("c").expect("batch 2 again");
    assert_eq!(c.batch.batch_number, 2);
    assert_eq!(queue.status()[0].leases, 2);

    // The right proofs are accepted, once.
    assert_eq!(queue.submit(&b.id, proof2.clone()), Ok(3));
    assert_eq!(
        queue.submit(&b.id, proof2.clone()),
        Err(SubmitError::UnknownLease(b.id.clone())),
        "batch 3 is proven"
    );
    assert_eq!(queue.status()[1].state, "proven");
    let proof1 = s.proofs[0].clone();
    assert_eq!(
        queue.submit("not-a-lease", proof1.clone()),
        Err(SubmitError::UnknownLease("not-a-lease".into()))
    );

    // The pipeline takes them in batch order: batch 2 waits for its proof even though batch 3
    // is ready.
    let queue = Arc::new(queue);
    let first = tokio::spawn({
        let queue = queue.clone();
        async move { queue.take(2).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!first.is_finished(), "no proof of batch 2 yet");
    assert_eq!(queue.submit(&c.id, proof1.clone()), Ok(2));
    let taken = first.await.expect("join").expect("proof 2");
    assert_eq!(taken.prover, "c");
    assert_eq!(taken.proof, proof1);
    let taken = queue.take(3).await.expect("proof 3");
    assert_eq!((taken.prover.as_str(), taken.proof), ("b", proof2));
    assert!(queue.status().is_empty(), "taken proofs leave the queue");
    assert_eq!(
        queue.take(3).await.expect_err("taken"),
        TakeError::NotOffered(3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_lease_goes_to_another_prover_and_its_late_proof_still_counts() {
    let s = setup();
    let queue = Arc::new(ProvingQueue::new(s.prover.verifier().clone(), 1));
    queue.offer(&s.batches[0]).expect("offer");
    let slow = queue.try_lease("slow").expect("lease");
    assert!(queue.try_lease("other").is_none());
    // A prover waiting for work is woken when the lease lapses.
    let other = queue
        .lease("other", Duration::from_secs(5))
        .await
        .expect("the lapsed batch");
    assert_eq!(other.batch.batch_number, 2);
    assert_eq!(queue.status()[0].prover.as_deref(), Some("other"));
    // The slow prover's proof is still a valid proof of the batch: accepted.
    let proof = s.proofs[0].clone();
    assert_eq!(queue.submit(&slow.id, proof.clone()), Ok(2));
    assert_eq!(
        queue.submit(&other.id, proof),
        Err(SubmitError::UnknownLease(other.id.clone())),
        "proven already"
    );
    assert_eq!(queue.take(2).await.expect("proof").prover, "slow");
    // A released lease frees its batch at once.
    queue.offer(&s.batches[0]).expect("offer again");
    let held = queue.try_lease("quitter").expect("lease");
    assert_eq!(queue.release(&held.id), Ok(2));
    assert!(queue.try_lease("next").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_provers_prove_what_is_offered_and_a_failure_or_close_ends_the_wait() {
    let s = setup();
    let queue = Arc::new(ProvingQueue::new(s.prover.verifier().clone(), 600));
    let worker = proving::spawn_local(queue.clone(), s.prover.clone(), "local-0".into());
    queue.offer(&s.batches[0]).expect("offer");
    let proved = tokio::time::timeout(Duration::from_secs(300), queue.take(2))
        .await
        .expect("in time")
        .expect("proof");
    assert_eq!(proved.prover, "local-0");
    let commitment = s
        .prover
        .verifier()
        .commitment(&s.batches[0])
        .expect("commitment");
    assert!(s.prover.verify(commitment, &proved.proof));

    // Only a trusted prover can say a batch cannot be proven; the pipeline's wait ends.
    let queue2 = ProvingQueue::new(s.prover.verifier().clone(), 600);
    queue2.offer(&s.batches[1]).expect("offer");
    let lease = queue2.try_lease("own").expect("lease");
    queue2.fail(&lease.id, "unsatisfied".into()).expect("fail");
    assert_eq!(
        queue2.take(3).await.expect_err("failed"),
        TakeError::Unprovable {
            number: 3,
            reason: "unsatisfied".into()
        }
    );

    // Closing ends the local prover and every wait.
    queue.offer(&s.batches[1]).expect("offer");
    queue.close();
    assert_eq!(queue.take(3).await.expect_err("closed"), TakeError::Closed);
    assert!(queue.lease("late", Duration::from_secs(5)).await.is_none());
    tokio::time::timeout(Duration::from_secs(300), worker)
        .await
        .expect("the local prover stops")
        .expect("join");
}

#[test]
fn the_wire_encoding_round_trips_and_refuses_non_canonical_proofs() {
    let s = setup();
    let proof = s.proofs[0].clone();
    let bytes = export::proof_bytes(&proof);
    assert_eq!(bytes.len(), export::PROOF_BYTES);
    assert_eq!(export::proof_from_bytes(&bytes).expect("decodes"), proof);

    assert!(export::proof_from_bytes(&bytes[..127]).is_err(), "short");
    let mut long = bytes.clone();
    long.push(0);
    assert!(export::proof_from_bytes(&long).is_err(), "trailing byte");
    // A's x coordinate (little-endian, flags in the top bits of the last byte) set to p - 1 +
    // 2^k for the largest k that keeps the flags: >= p, refused.
    let mut big = bytes.clone();
    big[..32].fill(0xff);
    big[31] &= 0x3f;
    assert!(export::proof_from_bytes(&big).is_err(), "a coordinate >= p");
    // Some x has no point on the curve: find one by walking A's x and check that every
    // decoding that succeeds is a different proof (never the original under another name).
    let mut refused = 0;
    for delta in 1..=64u8 {
        let mut other = bytes.clone();
        other[0] = other[0].wrapping_add(delta);
        match export::proof_from_bytes(&other) {
            Ok(p) => assert_ne!(p, proof),
            Err(_) => refused += 1,
        }
    }
    assert!(refused > 0, "about half of all x are off the curve");
    // B on the twist: a changed x is off the curve or, when on it, outside the prime-order
    // subgroup (the cofactor is about 2^254): every one is refused.
    for delta in 1..=8u8 {
        let mut twisted = bytes.clone();
        twisted[32] = twisted[32].wrapping_add(delta);
        assert!(
            export::proof_from_bytes(&twisted).is_err(),
            "B's x + {delta} is refused"
        );
    }
}
