//! The circuits' `.r1cs` export (issue 19, the ceremony's first file): read back by an
//! independent parser, satisfied by the prover's own witness wire for wire, refused when
//! tampered, and read by snarkjs (an independent implementation) with the same counts.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use zkperp_circuits::exit::ExitCircuit;
use zkperp_prover::r1cs::{R1cs, R1csError};
use zkperp_state::testkit::*;
use zkperp_state::Fr;

fn exit_circuit() -> ExitCircuit {
    let mut f = Fixture::with_depths(2, 4, 2);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 2_000_000_000);
    f.state.end_batch().expect("seal");
    let config = Arc::new(f.state.config().clone());
    let witness = f.state.exit_witness(f.id(0)).expect("witness");
    ExitCircuit::new(config, witness, f.state.root()).expect("circuit")
}

#[test]
fn the_exit_circuit_exports_an_r1cs_its_witness_satisfies() {
    let circuit = exit_circuit();
    let public = circuit.public_inputs.clone().expect("inputs");
    let (r1cs, wires) = R1cs::synthesize(circuit.clone(), true).expect("synthesis");
    let wires = wires.expect("a witness");
    // The same system whether synthesized for keys or for a proof.
    let (blank, none) = R1cs::synthesize(ExitCircuit::blank(circuit.config.clone()), false)
        .expect("setup synthesis");
    assert!(none.is_none());
    assert_eq!(
        (blank.wires, blank.public, blank.constraints.len()),
        (r1cs.wires, r1cs.public, r1cs.constraints.len())
    );
    assert_eq!(blank, r1cs, "the matrices do not depend on the witness");
    // Wire 0 is the one, then the public inputs the contract passes, in order.
    assert_eq!(r1cs.public as usize, public.len());
    assert_eq!(&wires[1..=public.len()], &public[..]);

    let bytes = r1cs.to_bytes();
    let parsed = R1cs::parse(&bytes).expect("parses");
    assert_eq!(parsed, r1cs);
    assert_eq!(parsed.first_unsatisfied(&wires), None);
    // Every wire matters to some constraint: change one, and a constraint fails.
    let mut wrong = wires.clone();
    let last = wrong.len() - 1;
    wrong[last] += Fr::from(1u64);
    assert!(parsed.first_unsatisfied(&wrong).is_some());
    let mut wrong = wires.clone();
    wrong[1] += Fr::from(1u64);
    assert!(
        parsed.first_unsatisfied(&wrong).is_some(),
        "another state root"
    );

    // Tampered files are refused with the check that failed.
    assert!(matches!(
        R1cs::parse(&bytes[..bytes.len() - 1]),
        Err(R1csError::Format(_))
    ));
    let mut other = bytes.clone();
    other[0] = b'x';
    assert!(matches!(R1cs::parse(&other), Err(R1csError::Format(_))));
    // The header's prime starts at byte 12 + 12 + 4: another field.
    let mut other = bytes.clone();
    other[28] ^= 1;
    assert!(matches!(R1cs::parse(&other), Err(R1csError::Field { .. })));
    // The first coefficient of the first constraint set to the modulus itself.
    let first = r1cs
        .constraints
        .iter()
        .position(|c| !c[0].is_empty())
        .expect("a term");
    assert_eq!(first, 0, "the first constraint has an A term");
    let header = 12 + 12 + 4 + 32 + 4 * 5 + 8;
    let coeff = header + 12 + 4 + 4;
    let mut other = bytes.clone();
    use ark_ff::{BigInteger, PrimeField};
    other[coeff..coeff + 32].copy_from_slice(&Fr::MODULUS.to_bytes_le());
    assert_eq!(
        R1cs::parse(&other),
        Err(R1csError::NonCanonical { constraint: 0 })
    );
    let mut other = bytes.clone();
    other[coeff - 4..coeff].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        R1cs::parse(&other),
        Err(R1csError::Wire { constraint: 0, .. })
    ));

    // snarkjs reads the file with the same counts.
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin = repo.join("contracts/node_modules/.bin/snarkjs");
    assert!(
        bin.exists(),
        "snarkjs is missing: run scripts/setup.sh (it installs contracts/node_modules)"
    );
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("exit.r1cs");
    std::fs::write(&file, &bytes).expect("write");
    let out = Command::new(&bin)
        .args(["r1cs", "info"])
        .arg(&file)
        .output()
        .expect("snarkjs runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for (what, n) in [
        ("# of Wires", r1cs.wires as usize),
        ("# of Constraints", r1cs.constraints.len()),
        ("# of Public Inputs", r1cs.public as usize),
        ("# of Outputs", 0),
    ] {
        assert!(text.contains(&format!("{what}: {n}")), "{what} {n}: {text}");
    }
}
