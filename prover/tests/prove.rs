//! Real Groth16 proofs of the batch and exit circuits: they verify, fail with any public input
//! changed, survive the key cache, and verify in snarkjs (an independent implementation) from
//! the exported files. The batch proof is also the fixture the forge tests replay on the L1
//! contract (`contracts/test/data/batch_proof.json`; `ZKPERP_BLESS=1` rewrites it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkperp_prover::{export, BatchProver, ExitProver, KeyCache, KeySource, ProverError};
use zkperp_state::batch::{SealedBatch, Shape};
use zkperp_state::order::Side;
use zkperp_state::testkit::*;
use zkperp_state::Fr;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The fixture's batch: batch 1 from genesis (the two markets' first prices and two deposits,
/// which create the accounts), then batch 2 (a trade, a withdrawal).
fn batches() -> (Fixture, SealedBatch, SealedBatch) {
    let (mut f, first) = first_batch();
    f.state.begin_batch(ts(START + 60)).expect("begin");
    let buy = f.order(0, btc(), Side::Buy, 10, 500_000);
    let sell = f.order(1, btc(), Side::Sell, 10, 500_000);
    f.apply(Fixture::trade_tx_with_fees(
        sell, buy, 10, 500_000, 0, 2_000,
    ))
    .expect("trade");
    let w = f.withdrawal_tx(1, 100_000_000);
    f.apply(w).expect("withdrawal");
    let second = f.state.end_batch().expect("seal 2");
    (f, first, second)
}

/// Batch 1 alone: the state the L1 fixtures leave the rollup in.
fn first_batch() -> (Fixture, SealedBatch) {
    let mut f = Fixture::with_depths(2, 4, 2);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 2_000_000_000);
    let first = f.state.end_batch().expect("seal 1");
    (f, first)
}

const FIRST: &str = "o2-d2";
const SECOND: &str = "t1-w1";

fn snarkjs_verify(
    dir: &Path,
    vk: &serde_json::Value,
    public: &serde_json::Value,
    proof: &serde_json::Value,
) -> bool {
    let bin = repo().join("contracts/node_modules/.bin/snarkjs");
    assert!(
        bin.exists(),
        "snarkjs is missing: run scripts/setup.sh (it installs contracts/node_modules)"
    );
    for (name, v) in [
        ("vk.json", vk),
        ("public.json", public),
        ("proof.json", proof),
    ] {
        std::fs::write(dir.join(name), serde_json::to_vec_pretty(v).expect("json")).expect("write");
    }
    let out = Command::new(bin)
        .args(["groth16", "verify", "vk.json", "public.json", "proof.json"])
        .current_dir(dir)
        .output()
        .expect("snarkjs runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.contains("OK!")
}

#[test]
fn batch_proofs_verify_here_in_snarkjs_and_on_the_l1_fixture() {
    let (f, first, second) = batches();
    let config = Arc::new(f.state.config().clone());
    let dir = tempfile::tempdir().expect("tmp");
    let cache = KeyCache::new(dir.path().join("keys"));
    let mut rng = ChaCha20Rng::seed_from_u64(7);

    for (shape, batch) in [(FIRST, &first), (SECOND, &second)] {
        let shape: Shape = shape.parse().expect("shape");
        let (prover, source) =
            BatchProver::new(config.clone(), shape, &cache, &mut rng).expect("keys");
        assert_eq!(source, KeySource::Generated);
        let p = prover.prove(batch, &mut rng).expect("proof");
        assert_eq!(
            p.commitment,
            batch.public_data(&shape).expect("fits").commitment()
        );
        assert!(prover.verify(p.commitment, &p.proof), "{shape:?} verifies");
        assert!(!prover.verify(p.commitment + Fr::from(1u64), &p.proof));
        assert!(!prover.verify(Fr::from(0u64), &p.proof));

        // snarkjs, from our exports.
        let vk = export::snarkjs_verifying_key(prover.verifying_key());
        let proof = export::snarkjs_proof(&p.proof);
        assert!(snarkjs_verify(
            dir.path(),
            &vk,
            &export::snarkjs_public(&[p.commitment]),
            &proof
        ));
        assert!(!snarkjs_verify(
            dir.path(),
            &vk,
            &export::snarkjs_public(&[p.commitment + Fr::from(1u64)]),
            &proof
        ));

        // The cached key is found again and proves the same statement.
        let (again, source) =
            BatchProver::new(config.clone(), shape, &cache, &mut rng).expect("keys");
        assert_eq!(source, KeySource::Loaded);
        assert_eq!(again.verifying_key(), prover.verifying_key());
        assert!(again.verify(p.commitment, &p.proof));

        if shape.id() == FIRST.parse::<Shape>().expect("shape").id() {
            check_l1_fixture(
                &first,
                &shape,
                prover.verifying_key(),
                &p.proof,
                p.commitment,
            );
        }
    }
}

/// The first batch, proven, as the forge tests read it: they queue its deposits, submit it to a
/// rollup deployed at its genesis root with a verifier of this key, and expect the new root.
fn check_l1_fixture(
    batch: &SealedBatch,
    shape: &Shape,
    vk: &zkperp_prover::VerifyingKey,
    proof: &zkperp_prover::Proof,
    commitment: Fr,
) {
    let published = batch.publish(shape).expect("fits");
    let data = &published.public;
    let bytes = data.to_bytes();
    let mut kzg = Vec::new();
    for b in &published.blobs {
        kzg.extend_from_slice(&b.commitment);
        kzg.extend_from_slice(&b.opening_proof().expect("opens"));
    }
    let hashes: Vec<String> = published
        .blobs
        .iter()
        .map(|b| format!("0x{}", hex(&b.claim.versioned_hash)))
        .collect();
    let deposits: Vec<serde_json::Value> = data
        .data()
        .filter_map(|r| match r {
            zkperp_state::pubdata::PubData::Deposit(zkperp_state::tx::deposit::DepositRecord {
                index,
                l1_address,
                public_key,
                amount,
                ..
            }) => Some(serde_json::json!({
                "index": index,
                "l1_address": format!("0x{}", hex(&l1_address.0)),
                "public_key": format!("0x{}", hex(public_key)),
                "amount": amount.get(),
            })),
            _ => None,
        })
        .collect();
    let mut fixture = export::evm_fixture(vk, proof, &[commitment]);
    fixture["about"] = serde_json::json!(
        "Generated by prover/tests/prove.rs; do not edit. Regenerate with: ZKPERP_BLESS=1 cargo test -p zkperp-prover --test prove"
    );
    fixture["shape"] = serde_json::json!(shape.id());
    fixture["pubdata"] = serde_json::json!(format!("0x{}", hex(&bytes)));
    fixture["old_root"] = serde_json::json!(zkperp_state::field::fr_to_decimal(&data.old_root));
    fixture["new_root"] = serde_json::json!(zkperp_state::field::fr_to_decimal(&data.new_root));
    fixture["timestamp"] = serde_json::json!(data.timestamp.get());
    fixture["deposits"] = serde_json::json!(deposits);
    fixture["versioned_hashes"] = serde_json::json!(hashes);
    fixture["kzg"] = serde_json::json!(format!("0x{}", hex(&kzg)));
    check_or_bless("contracts/test/data/batch_proof.json", &fixture);
    // The key alone, as `script/Deploy.s.sol` and `zkperp_contracts::VerifierKey` read it.
    let key = serde_json::to_value(export::evm_verifying_key(vk)).expect("json");
    check_or_bless("contracts/test/data/batch_proof_vk.json", &key);
}

/// Compares `fixture` with the stored file (`ZKPERP_BLESS=1` writes it first): the forge tests
/// replay exactly what the prover makes today.
fn check_or_bless(file: &str, fixture: &serde_json::Value) {
    let mut text = serde_json::to_string_pretty(fixture).expect("json");
    text.push('\n');
    let path = repo().join(file);
    if std::env::var_os("ZKPERP_BLESS").is_some() {
        std::fs::write(&path, &text).expect("write fixture");
    }
    let stored =
        std::fs::read_to_string(&path).expect("fixture exists (ZKPERP_BLESS=1 to write it)");
    assert_eq!(stored, text, "{file} is what the prover makes today");
}

/// A real exit proof for the forge tests (`contracts/test/data/exit_proof.json`): account 0
/// leaves the state of batch 1 (the root the batch fixture moves the rollup to) at the mark
/// prices that batch published, paid to its L1 owner.
#[test]
fn exit_proof_fixture_for_the_l1() {
    let (f, first) = first_batch();
    let config = Arc::new(f.state.config().clone());
    let dir = tempfile::tempdir().expect("tmp");
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let (prover, _) =
        ExitProver::new(config.clone(), &KeyCache::new(dir.path()), &mut rng).expect("keys");
    let root = f.state.root();
    assert_eq!(root, first.new_root, "the root batch 1 leaves");
    let witness = f.state.exit_witness(f.id(0)).expect("witness");
    let owner = witness.leaf.l1_address;
    let checked = witness.check(&config, root).expect("valid witness");
    let p = prover.prove(witness, root, &mut rng).expect("proof");
    assert!(prover.verify(&p.inputs, &p.proof));
    let mut fixture = export::evm_fixture(prover.verifying_key(), &p.proof, &p.inputs);
    fixture["about"] = serde_json::json!(
        "Generated by prover/tests/prove.rs; do not edit. Regenerate with: ZKPERP_BLESS=1 cargo test -p zkperp-prover --test prove"
    );
    fixture["account"] = serde_json::json!(f.id(0).get());
    fixture["owner"] = serde_json::json!(format!("0x{}", hex(&owner.0)));
    fixture["amount"] = serde_json::json!(checked.amount.to_string());
    fixture["root"] = serde_json::json!(zkperp_state::field::fr_to_decimal(&root));
    check_or_bless("contracts/test/data/exit_proof.json", &fixture);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn exit_proofs_verify_and_bind_every_input() {
    let (f, _, _) = batches();
    let config = Arc::new(f.state.config().clone());
    let dir = tempfile::tempdir().expect("tmp");
    let cache = KeyCache::new(dir.path());
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let (prover, _) = ExitProver::new(config, &cache, &mut rng).expect("keys");
    let root = f.state.root();
    let witness = f.state.exit_witness(f.id(0)).expect("witness");
    let p = prover.prove(witness, root, &mut rng).expect("proof");
    assert!(prover.verify(&p.inputs, &p.proof));
    for i in 0..p.inputs.len() {
        let mut changed = p.inputs.clone();
        changed[i] += Fr::from(1u64);
        assert!(!prover.verify(&changed, &p.proof), "input {i} changed");
    }
    assert!(
        !prover.verify(&p.inputs[..p.inputs.len() - 1], &p.proof),
        "an input short"
    );
}

/// A toy circuit: `x^(2^n) = y` with `y` public.
#[derive(Clone)]
struct Squares {
    x: Fr,
    n: usize,
}

impl ConstraintSynthesizer<Fr> for Squares {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        use ark_r1cs_std::{alloc::AllocVar, eq::EqGadget, fields::fp::FpVar};
        let mut y = self.x;
        for _ in 0..self.n {
            y *= y;
        }
        let out = FpVar::new_input(cs.clone(), || Ok(y))?;
        let mut acc = FpVar::new_witness(cs, || Ok(self.x))?;
        for _ in 0..self.n {
            acc = &acc * &acc;
        }
        acc.enforce_equal(&out)
    }
}

#[test]
fn the_key_cache_detects_other_circuits_and_damage() {
    let dir = tempfile::tempdir().expect("tmp");
    let cache = KeyCache::new(dir.path());
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let circuit = || {
        Ok::<_, ProverError>(Squares {
            x: Fr::from(3u64),
            n: 64,
        })
    };
    let (pk, source) = cache
        .load_or_setup("toy", &[1; 32], circuit, &mut rng)
        .expect("setup");
    assert_eq!(source, KeySource::Generated);
    let (loaded, source) = cache
        .load_or_setup("toy", &[1; 32], circuit, &mut rng)
        .expect("load");
    assert_eq!(source, KeySource::Loaded);
    assert_eq!(loaded.vk, pk.vk);
    // Another fingerprint: regenerated, not reused.
    let (other, source) = cache
        .load_or_setup("toy", &[2; 32], circuit, &mut rng)
        .expect("setup");
    assert_eq!(source, KeySource::Generated);
    assert_ne!(other.vk, pk.vk);
    // One byte flipped, then the file cut short: refused with the file named, never a panic.
    let path = cache.path("toy");
    let mut bytes = std::fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).expect("write");
    let err = cache.load("toy", &[2; 32]).expect_err("corrupt");
    assert!(err.to_string().contains("checksum"), "{err}");
    std::fs::write(&path, &bytes[..40]).expect("write");
    assert!(cache.load("toy", &[2; 32]).is_err());
    std::fs::write(&path, b"not a key").expect("write");
    assert!(cache.load("toy", &[2; 32]).is_err());
}

#[test]
fn an_unsatisfied_batch_is_refused_before_proving() {
    let (f, _, second) = batches();
    let config = Arc::new(f.state.config().clone());
    let dir = tempfile::tempdir().expect("tmp");
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let shape: Shape = SECOND.parse().expect("shape");
    let (prover, _) =
        BatchProver::new(config, shape, &KeyCache::new(dir.path()), &mut rng).expect("keys");
    // The trade's maker signature swapped for the taker's: the receipts and the table are
    // consistent, only the signature rule refuses it.
    let mut tampered = second.clone();
    let zkperp_state::tx::Transaction::Trade(trade) = &mut tampered.txs[0].tx else {
        panic!("the second batch starts with its trade");
    };
    trade.maker.signature = trade.taker.signature;
    match prover.prove(&tampered, &mut rng) {
        Err(ProverError::Unsatisfied(_)) => {}
        other => panic!("expected an unsatisfied witness, got {other:?}"),
    }
    // A batch that does not fit the shape is refused with the reason.
    let shape_err = BatchProver::new(
        Arc::new(f.state.config().clone()),
        "w1".parse().expect("shape"),
        &KeyCache::new(dir.path()),
        &mut rng,
    )
    .expect("keys")
    .0
    .prove(&second, &mut rng)
    .expect_err("too many kinds");
    assert!(shape_err.to_string().contains("trade"), "{shape_err}");
}
