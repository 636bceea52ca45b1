//! The ceremony's files against snarkjs, the independent implementation participants and
//! auditors use (issue 19): a phase 1 made by snarkjs and prepared by zkperp passes
//! `snarkjs powersoftau verify`; zkperp's initial `.zkey` is byte for byte the one
//! `snarkjs zkey new` makes; a proof made from it (with the circom reduction) verifies in
//! arkworks and in `snarkjs groth16 verify`; the prover's witness, exported as `.wtns`, passes
//! `snarkjs wtns check`; and bad files are refused with the check that failed.
//!
//! Everything runs on the exit circuit at small depths (3,187 constraints, a domain of 2^12):
//! the cost of the snarkjs cross-checks stays out of CI's budget.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use ark_bn254::Bn254;
use ark_groth16::Groth16;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkperp_circuits::exit::ExitCircuit;
use zkperp_prover::ceremony::ptau::Ptau;
use zkperp_prover::ceremony::zkey::Zkey;
use zkperp_prover::ceremony::CeremonyError;
use zkperp_prover::circom::CircomReduction;
use zkperp_prover::r1cs::R1cs;
use zkperp_prover::{export, wtns};
use zkperp_state::testkit::*;
use zkperp_state::Fr;

fn snarkjs(dir: &Path, args: &[&str]) -> (bool, String) {
    let bin =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../contracts/node_modules/.bin/snarkjs");
    assert!(
        bin.exists(),
        "snarkjs is missing: run scripts/setup.sh (it installs contracts/node_modules)"
    );
    let out = Command::new(&bin)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("snarkjs runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

struct Setup {
    dir: tempfile::TempDir,
    /// Phase 1 by snarkjs: power 12, two contributions and a beacon, not prepared.
    phase1: Vec<u8>,
    /// The same, prepared for phase 2 by zkperp.
    prepared: Vec<u8>,
    circuit: ExitCircuit,
    r1cs: R1cs,
    wires: Vec<Fr>,
}

/// Made once per test binary: the snarkjs phase 1 takes about ten seconds.
fn fixture() -> &'static Setup {
    static F: OnceLock<Setup> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tmp");
        let beacon = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        for args in [
            &["powersoftau", "new", "bn128", "12", "p0.ptau"][..],
            &[
                "powersoftau",
                "contribute",
                "p0.ptau",
                "p1.ptau",
                "--name=one",
                "-e=first",
            ],
            &[
                "powersoftau",
                "contribute",
                "p1.ptau",
                "p2.ptau",
                "--name=two",
                "-e=second",
            ],
            &["powersoftau", "beacon", "p2.ptau", "p3.ptau", beacon, "10"],
        ] {
            let (ok, text) = snarkjs(dir.path(), args);
            assert!(ok, "snarkjs {args:?}: {text}");
        }
        let phase1 = std::fs::read(dir.path().join("p3.ptau")).expect("phase 1");
        let prepared = Ptau::parse(&phase1)
            .expect("snarkjs' phase 1 parses")
            .prepare()
            .expect("prepared");
        std::fs::write(dir.path().join("final.ptau"), &prepared).expect("write");

        let mut f = Fixture::with_depths(2, 4, 2);
        f.deposit(0, 1_000_000_000);
        f.deposit(1, 2_000_000_000);
        f.state.end_batch().expect("seal");
        let config = Arc::new(f.state.config().clone());
        let witness = f.state.exit_witness(f.id(0)).expect("witness");
        let circuit = ExitCircuit::new(config, witness, f.state.root()).expect("circuit");
        let (r1cs, wires) = R1cs::synthesize(circuit.clone(), true).expect("synthesis");
        std::fs::write(dir.path().join("exit.r1cs"), r1cs.to_bytes()).expect("write");
        Setup {
            dir,
            phase1,
            prepared,
            circuit,
            r1cs,
            wires: wires.expect("a witness"),
        }
    })
}

#[test]
fn a_phase_1_prepared_by_zkperp_passes_snarkjs_verify() {
    let f = fixture();
    let ptau = Ptau::parse(&f.prepared).expect("parses");
    assert!(ptau.prepared());
    assert_eq!((ptau.power, ptau.ceremony_power), (12, 12));
    // snarkjs checks every Lagrange section against the powers (and the contributions).
    let (ok, text) = snarkjs(f.dir.path(), &["powersoftau", "verify", "final.ptau"]);
    assert!(ok, "{text}");
    assert!(text.contains("Powers of Tau Ok!"), "{text}");
}

#[test]
fn a_new_key_is_byte_for_byte_the_one_snarkjs_makes() {
    let f = fixture();
    let ptau = Ptau::parse(&f.prepared).expect("parses");
    let zkey = Zkey::new(&f.r1cs, &ptau).expect("new key");
    assert_eq!(zkey.domain_size, 4096);
    let ours = zkey.to_bytes();
    assert_eq!(Zkey::parse(&ours).expect("parses"), zkey);
    let (ok, text) = snarkjs(
        f.dir.path(),
        &["zkey", "new", "exit.r1cs", "final.ptau", "snarkjs.zkey"],
    );
    assert!(ok, "{text}");
    let theirs = std::fs::read(f.dir.path().join("snarkjs.zkey")).expect("read");
    if ours != theirs {
        let parsed = Zkey::parse(&theirs).expect("snarkjs' key parses");
        let first = ours.iter().zip(&theirs).position(|(a, b)| a != b);
        panic!(
            "the keys differ ({} and {} bytes, first at {first:?}); cs hash equal: {}, \
             points equal: {}, coefficients equal: {}",
            ours.len(),
            theirs.len(),
            parsed.cs_hash == zkey.cs_hash,
            (
                parsed.a == zkey.a,
                parsed.b_g1 == zkey.b_g1,
                parsed.b_g2 == zkey.b_g2,
                parsed.c == zkey.c,
                parsed.h == zkey.h,
                parsed.ic == zkey.ic
            ) == (true, true, true, true, true, true),
            parsed.coefficients == zkey.coefficients,
        );
    }
}

#[test]
fn a_proof_from_a_zkey_verifies_in_arkworks_and_in_snarkjs() {
    let f = fixture();
    let ptau = Ptau::parse(&f.prepared).expect("parses");
    let zkey = Zkey::new(&f.r1cs, &ptau).expect("new key");
    let pk = zkey.proving_key();
    let mut rng = ChaCha20Rng::seed_from_u64(19);
    let proof = Groth16::<Bn254, CircomReduction>::create_random_proof_with_reduction(
        f.circuit.clone(),
        &pk,
        &mut rng,
    )
    .expect("proof");
    let inputs = f.circuit.public_inputs.clone().expect("inputs");
    let pvk = ark_groth16::prepare_verifying_key(&pk.vk);
    assert!(zkperp_prover::verify(&pvk, &inputs, &proof));
    let mut wrong = inputs.clone();
    wrong[0] += Fr::from(1u64);
    assert!(!zkperp_prover::verify(&pvk, &wrong, &proof));

    let dir = tempfile::tempdir().expect("tmp");
    let write = |name: &str, v: serde_json::Value| {
        std::fs::write(dir.path().join(name), v.to_string()).expect("write")
    };
    write("vk.json", export::snarkjs_verifying_key(&pk.vk));
    write("proof.json", export::snarkjs_proof(&proof));
    write("public.json", export::snarkjs_public(&inputs));
    let (ok, text) = snarkjs(
        dir.path(),
        &["groth16", "verify", "vk.json", "public.json", "proof.json"],
    );
    assert!(ok && text.contains("OK!"), "{text}");
    write("public.json", export::snarkjs_public(&wrong));
    let (ok, _) = snarkjs(
        dir.path(),
        &["groth16", "verify", "vk.json", "public.json", "proof.json"],
    );
    assert!(!ok, "snarkjs refuses another input");
}

#[test]
fn the_witness_passes_snarkjs_wtns_check_against_the_r1cs() {
    let f = fixture();
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("exit.r1cs"), f.r1cs.to_bytes()).expect("write");
    let bytes = wtns::to_bytes(&f.wires);
    assert_eq!(wtns::parse(&bytes).expect("parses"), f.wires);
    std::fs::write(dir.path().join("exit.wtns"), &bytes).expect("write");
    let (ok, text) = snarkjs(dir.path(), &["wtns", "check", "exit.r1cs", "exit.wtns"]);
    assert!(ok && text.contains("WITNESS IS CORRECT"), "{text}");
    // One wire off (the last): snarkjs finds the broken constraint.
    let mut wrong = f.wires.clone();
    *wrong.last_mut().expect("wires") += Fr::from(1u64);
    std::fs::write(dir.path().join("wrong.wtns"), wtns::to_bytes(&wrong)).expect("write");
    let (ok, text) = snarkjs(dir.path(), &["wtns", "check", "exit.r1cs", "wrong.wtns"]);
    assert!(!ok || !text.contains("WITNESS IS CORRECT"), "{text}");
    assert!(
        wtns::parse(&bytes[..bytes.len() - 1]).is_err(),
        "a truncated witness"
    );
}

#[test]
fn bad_phase_1_and_phase_2_files_are_refused_with_the_check_that_failed() {
    let f = fixture();
    let message = |e: CeremonyError| e.to_string();
    // Not prepared.
    let raw = Ptau::parse(&f.phase1).expect("parses");
    assert!(!raw.prepared());
    let e = message(Zkey::new(&f.r1cs, &raw).expect_err("unprepared"));
    assert!(e.contains("not prepared"), "{e}");
    // Too small: a power-10 phase 1 for a circuit of 2^12 rows.
    let dir = tempfile::tempdir().expect("tmp");
    let (ok, text) = snarkjs(
        dir.path(),
        &["powersoftau", "new", "bn128", "10", "small.ptau"],
    );
    assert!(ok, "{text}");
    let small = std::fs::read(dir.path().join("small.ptau")).expect("read");
    let small = Ptau::parse(&small)
        .expect("parses")
        .prepare()
        .expect("prepared");
    let e = Zkey::new(&f.r1cs, &Ptau::parse(&small).expect("parses")).expect_err("small");
    assert!(
        matches!(
            e,
            CeremonyError::PtauTooSmall {
                power: 10,
                needed: 12
            }
        ),
        "{e}"
    );
    // Truncated, or a section cut short.
    for cut in [1, 64, f.prepared.len() / 2] {
        let e = Ptau::parse(&f.prepared[..f.prepared.len() - cut]).expect_err("truncated");
        assert!(e.to_string().contains(".ptau"), "{e}");
    }
    // A point of the Lagrange basis moved off the curve: refused when the key is made.
    let mut tampered = f.prepared.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let e =
        message(Zkey::new(&f.r1cs, &Ptau::parse(&tampered).expect("sizes fine")).expect_err("off"));
    assert!(e.contains("G1 point"), "{e}");

    let ptau = Ptau::parse(&f.prepared).expect("parses");
    let key = Zkey::new(&f.r1cs, &ptau).expect("key").to_bytes();
    assert!(Zkey::parse(&key[..key.len() - 1]).is_err());
    let mut other = key.clone();
    other[0] = b'x';
    let e = Zkey::parse(&other).expect_err("magic").to_string();
    assert!(e.contains("magic"), "{e}");
    // The header's alpha_1 (section 2's body starts at 12 + 12 + 4 + 12 = 40, alpha_1 after
    // the primes and three counts, 84 bytes in): its y made not below the modulus.
    let mut other = key.clone();
    let alpha_y = 40 + 84 + 32;
    other[alpha_y..alpha_y + 32].copy_from_slice(&[0xff; 32]);
    let e = Zkey::parse(&other).expect_err("modulus").to_string();
    assert!(e.contains("not below the modulus"), "{e}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Everything snarkjs printed, without whitespace (its hashes span lines).
fn squeezed(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn a_transcript_of_zkperp_and_snarkjs_contributions_and_a_beacon_verifies_in_both() {
    use zkperp_prover::ceremony::contribute::{contribution_hash, participant_rng};
    use zkperp_prover::ceremony::verify::{verify, verify_from_init};
    let f = fixture();
    let dir = tempfile::tempdir().expect("tmp");
    let path = |name: &str| dir.path().join(name);
    let to = |name: &str| path(name).to_str().expect("utf-8").to_string();
    let ptau_path = f.dir.path().join("final.ptau");
    let r1cs_path = f.dir.path().join("exit.r1cs");
    let (ptau_path, r1cs_path) = (
        ptau_path.to_str().expect("utf-8"),
        r1cs_path.to_str().expect("utf-8"),
    );
    let ptau = Ptau::parse(&f.prepared).expect("parses");

    // Two participants with zkperp around one with snarkjs, then the beacon.
    let mut key = Zkey::new(&f.r1cs, &ptau).expect("new key");
    let alice = key
        .contribute(&mut participant_rng(b"alice's keyboard"), Some("alice"))
        .expect("alice");
    std::fs::write(path("1.zkey"), key.to_bytes()).expect("write");
    let (ok, text) = snarkjs(
        dir.path(),
        &[
            "zkey",
            "contribute",
            &to("1.zkey"),
            &to("2.zkey"),
            "--name=bob",
            "-e=bob's dice",
        ],
    );
    assert!(ok, "{text}");
    let mut key = Zkey::parse(&std::fs::read(path("2.zkey")).expect("read")).expect("parses");
    assert_eq!(key.contributions.len(), 2);
    let bob = contribution_hash(&key.contributions[1]);
    assert!(
        squeezed(&text).contains(&hex(&bob)),
        "snarkjs printed bob's hash: {text}"
    );
    let carol = key
        .contribute(&mut participant_rng(b"carol"), Some("carol"))
        .expect("carol");
    std::fs::write(path("3.zkey"), key.to_bytes()).expect("write");
    let beacon_hex = "8b4e3f2a1d0c9b8a7f6e5d4c3b2a19080706050403020100ffeeddccbbaa9988";
    let beacon_bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&beacon_hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    let mut ours = key.clone();
    ours.beacon(&beacon_bytes, 10, Some("beacon"))
        .expect("beacon");
    // The beacon is deterministic: snarkjs' beacon over the same key is the same key.
    let (ok, text) = snarkjs(
        dir.path(),
        &[
            "zkey",
            "beacon",
            &to("3.zkey"),
            &to("4.zkey"),
            beacon_hex,
            "10",
            "--name=beacon",
        ],
    );
    assert!(ok, "{text}");
    let theirs = Zkey::parse(&std::fs::read(path("4.zkey")).expect("read")).expect("parses");
    assert_eq!(theirs, ours, "the beacon's draws are snarkjs' draws");

    // Both tools verify the whole transcript, and list the same contribution hashes.
    let verified = verify(&f.r1cs, &ptau, &ours).expect("verifies");
    let names: Vec<_> = verified
        .contributions
        .iter()
        .map(|c| c.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, ["alice", "bob", "carol", "beacon"]);
    assert_eq!(
        verified
            .contributions
            .iter()
            .map(|c| c.hash)
            .collect::<Vec<_>>()[..3],
        [alice, bob, carol]
    );
    assert!(verified.contributions[3].beacon);
    std::fs::write(path("final.zkey"), ours.to_bytes()).expect("write");
    let (ok, text) = snarkjs(
        dir.path(),
        &["zkey", "verify", r1cs_path, ptau_path, &to("final.zkey")],
    );
    assert!(ok && text.contains("ZKey Ok!"), "{text}");
    for c in &verified.contributions {
        assert!(squeezed(&text).contains(&hex(&c.hash)), "{text}");
    }

    // A proof from the final key verifies with its verifying key, here and in snarkjs' export.
    let pk = ours.proving_key();
    let proof = Groth16::<Bn254, CircomReduction>::create_random_proof_with_reduction(
        f.circuit.clone(),
        &pk,
        &mut ChaCha20Rng::seed_from_u64(4),
    )
    .expect("proof");
    let inputs = f.circuit.public_inputs.clone().expect("inputs");
    assert!(zkperp_prover::verify(
        &ark_groth16::prepare_verifying_key(&pk.vk),
        &inputs,
        &proof
    ));
    let (ok, text) = snarkjs(
        dir.path(),
        &[
            "zkey",
            "export",
            "verificationkey",
            &to("final.zkey"),
            &to("vk.json"),
        ],
    );
    assert!(ok, "{text}");
    let vk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path("vk.json")).expect("read")).expect("json");
    let mine = export::snarkjs_verifying_key(&pk.vk);
    for field in [
        "vk_alpha_1",
        "vk_beta_2",
        "vk_gamma_2",
        "vk_delta_2",
        "IC",
        "nPublic",
    ] {
        assert_eq!(vk[field], mine[field], "{field}");
    }

    // Refused: each with the check that failed.
    let init = Zkey::new(&f.r1cs, &ptau).expect("new key");
    let refused = |key: &Zkey| {
        verify_from_init(&init, key)
            .expect_err("refused")
            .to_string()
    };
    let mut skipped = ours.clone();
    skipped.contributions[1].g2_spx = skipped.contributions[0].g2_spx;
    let e = refused(&skipped);
    assert!(
        e.contains("contribution 2 (bob)") && e.contains("proof of knowledge"),
        "{e}"
    );
    let mut unrecorded = key.clone();
    unrecorded.delta_g1 = (unrecorded.delta_g1 * Fr::from(7u64)).into();
    unrecorded.delta_g2 = (unrecorded.delta_g2 * Fr::from(7u64)).into();
    let e = refused(&unrecorded);
    assert!(e.contains("delta_1 is not the last contribution's"), "{e}");
    let mut forged = ours.clone();
    if let zkperp_prover::ceremony::zkey::ContributionKind::Beacon { hash, .. } =
        &mut forged.contributions[3].kind
    {
        hash[0] ^= 1;
    }
    let e = refused(&forged);
    assert!(e.contains("beacon"), "{e}");
    let mut moved = ours.clone();
    moved.h[0] = moved.h[1];
    let e = refused(&moved);
    assert!(e.contains("H (section 9)"), "{e}");
    // A key for another circuit (one constraint less).
    let mut other = f.r1cs.clone();
    other.constraints.pop();
    let other = Zkey::new(&other, &ptau).expect("key");
    let e = refused(&other);
    assert!(e.contains("not this circuit's"), "{e}");
    let mut fewer = ours.clone();
    fewer.public -= 1;
    let e = refused(&fewer);
    assert!(e.contains("another circuit"), "{e}");
}

#[test]
fn a_development_phase_1_is_what_prepare_makes_of_its_own_powers() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let dev = zkperp_prover::ceremony::ptau::development(6, &mut rng);
    let ptau = Ptau::parse(&dev).expect("parses");
    assert!(ptau.prepared());
    assert_eq!((ptau.power, ptau.contributions().expect("count")), (6, 0));
    assert!(
        ptau.prepare().expect("prepared") == dev,
        "the Lagrange sections are the powers' own"
    );
    // snarkjs' phase 1 records its two contributions and the beacon.
    let snarkjs_made = Ptau::parse(&fixture().phase1).expect("parses");
    assert_eq!(snarkjs_made.contributions().expect("count"), 3);
}
