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
    // The gadget's verdicts, and the native batch path's on the same inputs, all at once.
    let mut gadget = Vec::new();
    let mut native = Vec::new();
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
            gadget.push(expected);
            let key = zkperp_state::eddsa::PublicKey::from_coordinates(
                fe(&case["public_key"]["x"]),
                fe(&case["public_key"]["y"]),
            )
            .expect("key");
            let signature = zkperp_state::eddsa::Signature::new(
                zkperp_state::babyjubjub::Point::new_unchecked(
                    fe(&case["signature"]["r8"]["x"]),
                    fe(&case["signature"]["r8"]["y"]),
                ),
                fe(&case["signature"]["s"])
                    .to_string()
                    .parse()
                    .expect("S below l"),
            )
            .expect("signature");
            native.push((key, fe(&case["message"]) + Fr::from(msg_delta), signature));
        }
    }
    let items: Vec<_> = native.iter().map(|(k, m, s)| (k, *m, s)).collect();
    // The combination over what the circuit accepts holds; with one it refuses, it does not.
    let accepted: Vec<_> = items
        .iter()
        .zip(&gadget)
        .filter(|(_, ok)| **ok)
        .map(|(item, _)| *item)
        .collect();
    assert!(zkperp_state::eddsa::verify_batch_uncached(&accepted));
    let refused = gadget.iter().position(|ok| !ok).expect("a refused input");
    let mut mixed = accepted.clone();
    mixed.push(items[refused]);
    assert!(!zkperp_state::eddsa::verify_batch_uncached(&mixed));
    let batch: Vec<bool> = zkperp_state::eddsa::verify_batch(&items)
        .iter()
        .map(Result::is_ok)
        .collect();
    assert_eq!(batch, gadget, "the batch path and the circuit disagree");
}

fn int(v: &Value) -> i128 {
    v.as_str().expect("decimal").parse().expect("integer")
}

/// The record gadgets against zk-kit (`da.json`, made by `gen-da.js`): the creation from the
/// operator's scalar and the owner's key, the salt's steps, the leaf hash and the ciphertext, all
/// from the JSON's values; a ciphertext element off by one is refused.
#[test]
fn record_gadgets_match_zk_kit() {
    use ark_ff::{BigInteger, PrimeField};
    use zkperp_circuits::funding::PositionVar;
    use zkperp_circuits::leaf::AccountLeafVar;
    use zkperp_circuits::record::{create, nonce, step, RecordVar};
    use zkperp_state::babyjubjub::Fs;
    use zkperp_state::field::fr_from_i128;

    let da = load("da.json");
    for (n, case) in da["records"]
        .as_array()
        .expect("records")
        .iter()
        .enumerate()
    {
        for tamper in [false, true] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let w = |v: Fr| witness(&cs, v);
            let key = PublicKeyVar::new_witness(cs.clone(), || {
                zkperp_state::eddsa::PublicKey::from_coordinates(
                    fe(&case["public_key"]["x"]),
                    fe(&case["public_key"]["y"]),
                )
                .map_err(|_| ark_relations::gr1cs::SynthesisError::Unsatisfiable)
            })
            .expect("key");
            let e: Fs = case["e"].as_str().expect("e").parse().expect("scalar");
            let bits: Vec<Boolean<Fr>> = e.into_bigint().to_bits_le()[..251]
                .iter()
                .map(|b| Boolean::new_witness(cs.clone(), || Ok(*b)).expect("bit"))
                .collect();
            let created = create(&bits, key.point(), &Boolean::TRUE).expect("create");
            assert_eq!(
                created.ephemeral.x().value().expect("x"),
                fe(&case["ephemeral"]["x"])
            );
            assert_eq!(
                created.salt.value().expect("salt"),
                fe(&case["salt_0"]),
                "case {n}"
            );

            let id = w(fe(&case["account"]));
            let mut salt = created.salt;
            let mut record_nonce = None;
            for s in case["steps"].as_array().expect("steps") {
                let batch_nonce = nonce(&w(fe(&s["batch"])), &id);
                salt = step(&salt, &batch_nonce, &w(fe(&s["rho"]))).expect("step");
                assert_eq!(salt.value().expect("salt"), fe(&s["salt"]), "case {n}");
                record_nonce = Some(batch_nonce);
            }
            let record_nonce = record_nonce.expect("a batch");
            assert_eq!(record_nonce.value().expect("nonce"), fe(&case["nonce"]));

            let leaf = &case["leaf"];
            let l1 = leaf["l1_address"]
                .as_str()
                .expect("hex")
                .trim_start_matches("0x");
            let l1 = Fr::from(num_bigint::BigUint::parse_bytes(l1.as_bytes(), 16).expect("hex"));
            let leaf = AccountLeafVar {
                public_key: key,
                l1_address: w(l1),
                collateral: w(fr_from_i128(int(&leaf["collateral"]))),
                nonce: w(fr_from_i128(int(&leaf["nonce"]))),
                order_floor: w(fr_from_i128(int(&leaf["order_floor"]))),
                positions: leaf["positions"]
                    .as_array()
                    .expect("positions")
                    .iter()
                    .map(|p| PositionVar {
                        size: w(fr_from_i128(int(&p["size"]))),
                        funding_index: w(fr_from_i128(int(&p["funding_index"]))),
                    })
                    .collect(),
                orders_root: w(fe(&leaf["orders_root"])),
                salt,
            };
            let hash = leaf.hash().expect("hash");
            assert_eq!(
                hash.value().expect("hash"),
                fe(&case["leaf_hash"]),
                "case {n}"
            );
            let record = RecordVar::seal(&record_nonce, &id, &leaf, &hash).expect("seal");
            let expected = case["ciphertext"].as_array().expect("ciphertext");
            assert_eq!(record.ciphertext.len(), expected.len());
            for (i, (c, e)) in record.ciphertext.iter().zip(expected).enumerate() {
                let claimed = fe(e) + Fr::from(u64::from(tamper && i == 0));
                let input = FpVar::new_input(cs.clone(), || Ok(claimed)).expect("input");
                ark_r1cs_std::eq::EqGadget::enforce_equal(c, &input).expect("equal");
            }
            assert_eq!(
                cs.is_satisfied().expect("satisfiable?"),
                !tamper,
                "case {n}"
            );
        }
    }
}
