//! The gadgets against circomlibjs 0.1.7 (an independent implementation), with the vectors that
//! pin the native crate (`state/testdata/circomlibjs`, made by `gen-vectors.js` there): the
//! circuit must compute circomlibjs' Poseidon outputs and accept circomlibjs' signatures, read
//! from the JSON coordinates, not from the native types.

use ark_r1cs_std::{alloc::AllocVar, boolean::Boolean, fields::fp::FpVar, GR1CSVar};
use ark_relations::gr1cs::{ConstraintSystem, ConstraintSystemRef};
use serde_json::Value;
use zkperp_circuits::babyjubjub::point_from_coordinates;
use zkperp_circuits::eddsa::{PublicKeyVar, SignatureVar};
use zkperp_circuits::poseidon::poseidon_slice;
use zkperp_circuits::Fr;
use zkperp_state::field::fr_from_decimal;
use zkperp_state::poseidon::MAX_INPUTS;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/../state/testdata/circomlibjs/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("vector file is JSON")
}

fn fe(v: &Value) -> Fr {
    fr_from_decimal(v.as_str().expect("decimal string")).expect("canonical element")
}

fn witness(cs: &ConstraintSystemRef<Fr>, v: Fr) -> FpVar<Fr> {
    FpVar::new_witness(cs.clone(), || Ok(v)).expect("allocate")
}

#[test]
fn poseidon_gadget_matches_circomlibjs() {
    let mut checked = 0;
    for case in load("poseidon.json").as_array().expect("array") {
        let inputs: Vec<Fr> = case["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .map(fe)
            .collect();
        if inputs.is_empty() || inputs.len() > MAX_INPUTS {
            continue;
        }
        let cs = ConstraintSystem::<Fr>::new_ref();
        let vars: Vec<FpVar<Fr>> = inputs.iter().map(|v| witness(&cs, *v)).collect();
        let out = poseidon_slice(&vars).expect("synthesise");
        assert_eq!(out.value().expect("value"), fe(&case["output"]));
        assert!(cs.is_satisfied().expect("check"));
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} vectors checked");
}

#[test]
fn eddsa_gadget_accepts_circomlibjs_signatures_and_nothing_else() {
    let v = load("eddsa.json");
    let cases = v["cases"].as_array().expect("cases");
    assert!(cases.len() >= 12);
    for case in cases {
        for (msg_delta, expected) in [(0u64, true), (1, false)] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let coords = |p: &Value| (witness(&cs, fe(&p["x"])), witness(&cs, fe(&p["y"])));
            let (ax, ay) = coords(&case["public_key"]);
            let (rx, ry) = coords(&case["signature"]["r8"]);
            let pk = PublicKeyVar::from_point(point_from_coordinates(&ax, &ay).expect("pk"));
            let sig = SignatureVar {
                r8: point_from_coordinates(&rx, &ry).expect("r8"),
                s: witness(&cs, fe(&case["signature"]["s"])),
            };
            let msg = witness(&cs, fe(&case["message"]) + Fr::from(msg_delta));
            let cond = Boolean::new_witness(cs.clone(), || Ok(true)).expect("cond");
            pk.conditional_enforce_valid(&msg, &sig, &cond)
                .expect("synthesise");
            assert_eq!(cs.is_satisfied().expect("check"), expected);
        }
    }
}
