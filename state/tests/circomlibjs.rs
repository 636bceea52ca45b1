//! Our Poseidon, Baby Jubjub and EdDSA-Poseidon against circomlibjs 0.1.7 (an independent
//! implementation). The vectors and the script that made them: testdata/circomlibjs/.

use ark_ec::{AffineRepr, CurveGroup};
use serde_json::Value;
use zkperp_state::babyjubjub::{
    pack_point, point_from_coordinates, unpack_point, Fq, Point, PointError,
};
use zkperp_state::eddsa::{blake512, PrivateKey, PublicKey, Signature};
use zkperp_state::field::fr_from_decimal;
use zkperp_state::poseidon::{poseidon_slice, PoseidonError, MAX_INPUTS};

fn load(name: &str) -> Value {
    let path = format!("{}/testdata/circomlibjs/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("vector file is JSON")
}

fn fe(v: &Value) -> Fq {
    fr_from_decimal(v.as_str().expect("decimal string")).expect("canonical element")
}

fn point(v: &Value) -> Point {
    Point::new_unchecked(fe(&v["x"]), fe(&v["y"]))
}

fn bytes<const N: usize>(v: &Value) -> [u8; N] {
    let mut out = [0u8; N];
    hex::decode_to_slice(v.as_str().expect("hex string"), &mut out)
        .expect("hex of the right length");
    out
}

#[test]
fn poseidon_matches_circomlibjs_for_every_supported_width() {
    let cases = load("poseidon.json");
    let mut checked = 0;
    for case in cases.as_array().expect("array") {
        let inputs: Vec<Fq> = case["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .map(fe)
            .collect();
        let expected = fe(&case["output"]);
        if inputs.len() <= MAX_INPUTS {
            assert_eq!(
                poseidon_slice(&inputs),
                Ok(expected),
                "inputs {:?}",
                case["inputs"]
            );
            checked += 1;
        } else {
            assert_eq!(
                poseidon_slice(&inputs),
                Err(PoseidonError::InputCount(inputs.len()))
            );
        }
    }
    assert!(checked >= 12 * 4, "too few vectors checked: {checked}");
}

#[test]
fn baby_jubjub_points_packing_and_subgroup_match_circomlibjs() {
    let v = load("babyjubjub.json");
    for case in v["points"].as_array().expect("points") {
        let p = point(&case["point"]);
        assert_eq!(
            p.is_on_curve(),
            case["on_curve"].as_bool().expect("flag"),
            "{}",
            case["label"]
        );
        let in_subgroup = case["in_subgroup"].as_bool().expect("flag");
        assert_eq!(
            point_from_coordinates(p.x, p.y).is_ok(),
            in_subgroup,
            "{}",
            case["label"]
        );
        assert_eq!(
            pack_point(&p),
            bytes::<32>(&case["packed"]),
            "{}",
            case["label"]
        );
        let unpacked = unpack_point(&bytes::<32>(&case["packed"]));
        if in_subgroup {
            assert_eq!(unpacked, Ok(p), "{}", case["label"]);
        } else {
            assert!(unpacked.is_err(), "{} must not decode", case["label"]);
        }
        // Keys are stricter still: never the identity.
        if p.is_zero() {
            assert_eq!(PublicKey::from_point(p), Err(PointError::Identity));
        }
    }
    for case in v["off_curve_points"].as_array().expect("off-curve points") {
        let p = point(&case["point"]);
        assert_eq!(
            point_from_coordinates(p.x, p.y),
            Err(PointError::NotOnCurve)
        );
    }
    for case in v["additions"].as_array().expect("additions") {
        let sum = (point(&case["p"]).into_group() + point(&case["q"])).into_affine();
        assert_eq!(sum, point(&case["sum"]));
    }
}

#[test]
fn eddsa_keys_and_signatures_match_circomlibjs() {
    let v = load("eddsa.json");
    let cases = v["cases"].as_array().expect("cases");
    assert!(cases.len() >= 12);
    for case in cases {
        let key = PrivateKey::from_bytes(bytes::<32>(&case["private_key"]));
        let pk = key.public_key();
        assert_eq!(*pk.point(), point(&case["public_key"]));
        assert_eq!(pk.pack(), bytes::<32>(&case["public_key_packed"]));
        assert_eq!(PublicKey::unpack(&pk.pack()), Ok(pk));
        let msg = fe(&case["message"]);
        let sig = key.sign(msg);
        assert_eq!(*sig.r8(), point(&case["signature"]["r8"]));
        assert_eq!(sig.pack(), bytes::<64>(&case["signature_packed"]));
        let theirs = Signature::unpack(&bytes::<64>(&case["signature_packed"])).expect("decodes");
        assert_eq!(theirs, sig);
        assert_eq!(pk.verify(msg, &theirs), Ok(()));
        assert!(pk.verify(msg + Fq::from(1u64), &theirs).is_err());
    }
}

/// The batch path over circomlibjs' signatures: together they verify; with one message
/// changed, exactly that one is refused.
#[test]
fn circomlibjs_signatures_verify_as_a_batch() {
    let v = load("eddsa.json");
    let cases = v["cases"].as_array().expect("cases");
    let items: Vec<(PublicKey, Fq, Signature)> = cases
        .iter()
        .map(|case| {
            let pk = PublicKey::from_point(point(&case["public_key"])).expect("key");
            let sig = Signature::unpack(&bytes::<64>(&case["signature_packed"])).expect("sig");
            (pk, fe(&case["message"]), sig)
        })
        .collect();
    // Three times over, so the batch is past `BATCH_FROM` and combined.
    let refs: Vec<_> = items
        .iter()
        .cycle()
        .take(3 * items.len())
        .map(|(k, m, s)| (k, *m, s))
        .collect();
    assert!(refs.len() >= zkperp_state::eddsa::BATCH_FROM);
    assert!(zkperp_state::eddsa::verify_batch_uncached(&refs));
    assert!(zkperp_state::eddsa::verify_batch(&refs)
        .iter()
        .all(Result::is_ok));
    for tampered in [0, cases.len() / 2, cases.len() - 1] {
        let mut refs = refs.clone();
        refs[tampered].1 += Fq::from(1u64);
        assert!(!zkperp_state::eddsa::verify_batch_uncached(&refs));
        let answers = zkperp_state::eddsa::verify_batch(&refs);
        for (i, a) in answers.iter().enumerate() {
            assert_eq!(
                a.is_ok(),
                i != tampered,
                "item {i} with {tampered} tampered"
            );
        }
    }
}

#[test]
fn blake512_matches_circomlibjs() {
    let v = load("eddsa.json");
    for case in v["blake512"].as_array().expect("blake512") {
        let input = hex::decode(case["input"].as_str().expect("hex")).expect("hex");
        assert_eq!(blake512(&[&input]), bytes::<64>(&case["output"]));
    }
}
