//! The trusted setup end to end (issue 19), as a deployment runs it: the circuits of a
//! configuration exported as `.r1cs`, a phase 1 (here a development one of power 18: a public
//! one is 300 MB), for the exit circuit a three-party phase 2 — alice with
//! `zkperp ceremony contribute`, bob with `snarkjs zkey contribute`, carol with zkperp again
//! (entropy piped in) — closed by a beacon, and for the batch circuit alice and the beacon.
//! snarkjs verifies the exit transcript (its verifier takes many minutes on the batch circuit:
//! that one is verified by zkperp, when the keys are installed), a tampered transcript and a
//! development phase 1 are refused, and the deployment's keys are the ceremony's: the contracts
//! are deployed on anvil with its verifying keys, and a batch proven with its proving key is
//! verified by the rollup.
//!
//! The batch circuit is the smallest there is, to keep the ceremony within CI's budget: one
//! cancel slot, an account tree of depth 2 and orders trees of depth 1 (about 130,000
//! constraints, a domain of 2^17), proving the first batch of the genesis state (empty, every
//! slot padded). A contribution to it costs what one to the exit circuit does, times the key's
//! size, through the same code: bob and carol contribute to the exit circuit only (they would add
//! about a minute of CI), and prover/tests/ceremony.rs has a transcript of both tools' turns that
//! both tools verify. docs/PERFORMANCE.md has the whole ceremony on a larger shape.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::str::FromStr;

use common::zkperp;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkperp_contracts::alloy::node_bindings::Anvil;
use zkperp_contracts::alloy::primitives::U256;
use zkperp_contracts::alloy::signers::local::PrivateKeySigner;
use zkperp_contracts::{deploy, provider, BatchBlob, DeployConfig, VerifierKey, L1};
use zkperp_prover::ceremony::deployment::{self, Setup};
use zkperp_prover::export;
use zkperp_state::batch::Shape;
use zkperp_state::domain::SigningDomain;
use zkperp_state::field::fr_to_decimal;
use zkperp_state::testkit::{ts, Fixture, START};
use zkperp_state::units::L1Address;
use zkperp_state::{Fr, State};

/// The batch circuit's domain is 2^17; snarkjs hashes past the end of a phase 1 used at its full
/// power, so one more.
const POWER: &str = "18";
const SHAPE: &str = "c1";
/// Named before the ceremony starts (in a real one: the hash of a future L1 block).
const BEACON: &str = "3f1e9a0b5c7d2e4f6a8b0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f7";

fn word(x: &Fr) -> U256 {
    U256::from_str(&fr_to_decimal(x)).expect("a field element fits 256 bits")
}

fn key(vk: &zkperp_prover::VerifyingKey) -> VerifierKey {
    let json = serde_json::to_value(export::evm_verifying_key(vk)).expect("json");
    VerifierKey::from_json(&json).expect("the key reads back")
}

fn ok(command: &mut Command) -> String {
    let out = command.output().expect("runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{command:?}: {text}");
    text
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().expect("utf-8").to_string()
}

/// One circuit's phase 2, as its participants and the beacon run it (alice, then with
/// `everyone` bob and carol); returns what alice printed (her contribution hash, which she
/// publishes).
fn phase2(work: &Path, ceremony: &Path, circuit: &str, everyone: bool) -> String {
    let p = |name: &str| path(work, &format!("{circuit}.{name}"));
    let phase1 = path(ceremony, "phase1.ptau");
    ok(&mut zkperp(&[
        "ceremony",
        "new",
        "--r1cs",
        &p("r1cs"),
        "--ptau",
        &phase1,
        "--out",
        &p("0.zkey"),
    ]));
    let alice = ok(&mut zkperp(&[
        "ceremony",
        "contribute",
        "--in",
        &p("0.zkey"),
        "--out",
        &p("1.zkey"),
        "--name",
        "alice",
        "--entropy",
        "alice rolled 3 5 2 6 1",
    ]));
    if !everyone {
        beacon(ceremony, circuit, &p("1.zkey"));
        return alice;
    }
    let snarkjs =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/node_modules/.bin/snarkjs");
    ok(Command::new(&snarkjs).args([
        "zkey",
        "contribute",
        &p("1.zkey"),
        &p("2.zkey"),
        "--name=bob",
        "-e=bob's own entropy",
    ]));
    let mut carol = zkperp(&[
        "ceremony",
        "contribute",
        "--in",
        &p("2.zkey"),
        "--out",
        &p("3.zkey"),
        "--name",
        "carol",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("runs");
    carol
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"carol typed this\n")
        .expect("entropy");
    let out = carol.wait_with_output().expect("carol");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    beacon(ceremony, circuit, &p("3.zkey"));
    alice
}

/// The beacon closes `circuit`'s transcript after `last`, into the ceremony's directory.
fn beacon(ceremony: &Path, circuit: &str, last: &str) {
    ok(&mut zkperp(&[
        "ceremony",
        "beacon",
        "--in",
        last,
        "--out",
        &path(ceremony, &format!("{circuit}.zkey")),
        "--hash",
        BEACON,
        "--iterations-exp",
        "10",
        "--name",
        "beacon",
    ]));
}

#[test]
fn a_three_party_ceremony_deploys_on_anvil_and_proves_a_batch_the_l1_verifies() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let anvil = Anvil::at(zkperp_contracts::anvil_path())
        .args(["--timestamp", &(START + 3_600).to_string()])
        .try_spawn()
        .expect("anvil runs (scripts/setup.sh installs it)");
    let url = anvil.endpoint();
    let signer = |i: usize| PrivateKeySigner::from(anvil.keys()[i].clone());
    let operator = anvil.addresses()[0];
    let rollup = operator.create(3);
    let domain = SigningDomain {
        chain_id: 31337,
        rollup: L1Address(rollup.into_array()),
    };
    let config = Fixture::for_deployment(0, 2, 1, domain)
        .state
        .config()
        .clone();
    let shape: Shape = SHAPE.parse().expect("shape");

    let work = tempfile::tempdir().expect("tmp");
    let ceremony = tempfile::tempdir().expect("tmp");
    let (w, c) = (work.path(), ceremony.path());
    std::fs::write(
        w.join("config.json"),
        serde_json::to_vec(&config).expect("json"),
    )
    .expect("write");
    let cfg = path(w, "config.json");
    ok(&mut zkperp(&[
        "ceremony",
        "r1cs",
        "--state-config",
        &cfg,
        "--circuit",
        "batch",
        "--shape",
        SHAPE,
        "--out",
        &path(w, "batch.r1cs"),
    ]));
    ok(&mut zkperp(&[
        "ceremony",
        "r1cs",
        "--state-config",
        &cfg,
        "--circuit",
        "exit",
        "--out",
        &path(w, "exit.r1cs"),
    ]));
    ok(&mut zkperp(&[
        "ceremony",
        "dev-phase1",
        "--power",
        POWER,
        "--out",
        &path(c, "phase1.ptau"),
    ]));
    let alice_exit = phase2(w, c, "exit", true);
    phase2(w, c, "batch", false);

    // Both tools verify the exit transcript and name the same contributions.
    let snarkjs =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/node_modules/.bin/snarkjs");
    let theirs = ok(Command::new(&snarkjs).args([
        "zkey",
        "verify",
        &path(w, "exit.r1cs"),
        &path(c, "phase1.ptau"),
        &path(c, "exit.zkey"),
    ]));
    assert!(theirs.contains("ZKey Ok!"), "{theirs}");
    let ours = ok(&mut zkperp(&[
        "ceremony",
        "verify",
        "--r1cs",
        &path(w, "exit.r1cs"),
        "--ptau",
        &path(c, "phase1.ptau"),
        "--zkey",
        &path(c, "exit.zkey"),
    ]));
    let squeeze = |t: &str| t.split_whitespace().collect::<String>();
    let alice_hash = squeeze(
        alice_exit
            .split("Contribution Hash:")
            .nth(1)
            .expect("a hash"),
    );
    assert!(squeeze(&ours).contains(&alice_hash), "{ours}");
    assert!(
        squeeze(&theirs).contains(&alice_hash),
        "snarkjs lists alice's hash: {theirs}"
    );
    for name in ["#2 bob", "#3 carol", "#4 beacon (beacon)"] {
        assert!(ours.contains(&format!("contribution {name}")), "{ours}");
    }

    // Installing the keys refuses a development phase 1 unless told, and a tampered transcript.
    let keys = tempfile::tempdir().expect("tmp");
    let e = deployment::keys(&config, shape, c, keys.path(), false)
        .expect_err("development")
        .to_string();
    assert!(e.contains("development phase 1"), "{e}");
    let tampered = tempfile::tempdir().expect("tmp");
    std::os::unix::fs::symlink(c.join("phase1.ptau"), tampered.path().join("phase1.ptau"))
        .expect("link");
    let mut exit = std::fs::read(c.join("exit.zkey")).expect("read");
    let last = exit.len() - 1;
    exit[last] ^= 1; // in the beacon's parameters
    std::fs::write(tampered.path().join("exit.zkey"), exit).expect("write");
    let e = deployment::keys(&config, shape, tampered.path(), keys.path(), true)
        .expect_err("tampered")
        .to_string();
    assert!(e.contains("exit.zkey") && e.contains("beacon"), "{e}");

    let (batch_prover, exit_prover, setup) =
        deployment::keys(&config, shape, c, keys.path(), true).expect("the transcripts verify");
    let Setup::Ceremony {
        phase1,
        batch,
        exit,
    } = &setup
    else {
        panic!("a ceremony's record: {setup:?}")
    };
    assert_eq!((phase1.power, phase1.contributions), (18, 0));
    for (t, parties) in [
        (batch, &["alice", "beacon"][..]),
        (exit, &["alice", "bob", "carol", "beacon"]),
    ] {
        let names: Vec<_> = t
            .contributions
            .iter()
            .map(|c| c.name.clone().unwrap_or_default())
            .collect();
        assert_eq!(names, parties);
        let beacons: Vec<_> = t.contributions.iter().map(|c| c.beacon).collect();
        let mut only_last = vec![false; parties.len()];
        only_last[parties.len() - 1] = true;
        assert_eq!(
            beacons, only_last,
            "the beacon, and only the beacon, is last"
        );
    }
    assert!(alice_hash.contains(&exit.contributions[0].hash[..8]));
    // The verifying key the contracts get is the one the transcript exports.
    let exported_text = ok(&mut zkperp(&[
        "ceremony",
        "export",
        "--zkey",
        &path(c, "batch.zkey"),
        "--out-dir",
        &path(w, "vk"),
    ]));
    let exported: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.join("vk/verifier_args.json")).expect("read"))
            .expect("json");
    assert_eq!(
        exported,
        serde_json::to_value(export::evm_verifying_key(batch_prover.verifying_key()))
            .expect("json")
    );

    rt.block_on(async {
        let genesis = State::genesis(config.clone()).expect("genesis").root();
        let deployment = deploy(
            &provider(&url, signer(0)).expect("provider"),
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
        assert_eq!(deployment.rollup, rollup);
        let op = L1::connect(&url, signer(0), deployment.rollup, deployment.block).expect("client");
        // The deployed verifiers' keyHash() is the transcript's exported key's hash.
        let (batch_hashes, exit_hash) = op.verifier_key_hashes().await.expect("key hashes");
        assert_eq!(batch_hashes, [key(batch_prover.verifying_key()).hash()]);
        assert_eq!(exit_hash, key(exit_prover.verifying_key()).hash());
        assert!(
            exported_text.contains(&format!("key hash: 0x{}", hex::encode(batch_hashes[0]))),
            "{exported_text}"
        );
        let mut state = State::genesis(config.clone()).expect("genesis");
        state.begin_batch(ts(START)).expect("time");
        let sealed = state.end_batch().expect("seal");
        let mut rng = ChaCha20Rng::seed_from_u64(19);
        let proof = batch_prover
            .prove(&sealed, &mut rng)
            .expect("the ceremony's key proves");
        let published = sealed.publish(&shape).expect("fits");
        let blobs: Vec<BatchBlob> = published
            .blobs
            .iter()
            .map(|b| BatchBlob::of(b).expect("kzg"))
            .collect();
        let words = export::evm_proof(&proof.proof).map(|w| U256::from_be_bytes(w.0));
        op.submit_batch(0, published.public.to_bytes(), words, &blobs)
            .await
            .expect("the L1 verifies the proof");
        assert_eq!(op.batch_count().await.expect("count"), 1);
        assert_eq!(op.state_root().await.expect("root"), word(&sealed.new_root));
    });
}
