//! Properties of the encodings every layer relies on: Merkle proofs against a dense
//! recomputation, point and signature packing, leaf and order packings, and serde of
//! transactions (what the API will decode) with range checks on the way in.

use ark_ec::{AffineRepr, CurveGroup};
use proptest::prelude::*;
use zkperp_state::babyjubjub::{mul, pack_point, unpack_point, Fs, BASE8};
use zkperp_state::eddsa::{PrivateKey, Signature};
use zkperp_state::leaf::Position;
use zkperp_state::merkle::SparseMerkleTree;
use zkperp_state::order::Side;
use zkperp_state::poseidon::poseidon2;
use zkperp_state::testkit::*;
use zkperp_state::tx::Transaction;
use zkperp_state::units::{BaseLots, FundingIndex};
use zkperp_state::Fr;

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sparse_tree_matches_dense_recomputation(writes in proptest::collection::vec((0u64..32, 0u64..1_000), 1..40)) {
        let mut tree = SparseMerkleTree::new(5).expect("depth");
        let mut dense = vec![Fr::from(0u64); 32];
        for (index, value) in writes {
            let value = Fr::from(value);
            tree.update(index, value).expect("update");
            dense[index as usize] = value;
        }
        let mut level = dense.clone();
        while level.len() > 1 {
            level = level.chunks(2).map(|p| poseidon2(p[0], p[1])).collect();
        }
        prop_assert_eq!(tree.root(), level[0]);
        for (i, leaf) in dense.iter().enumerate() {
            prop_assert!(tree.proof(i as u64).expect("proof").verify(tree.root(), *leaf));
        }
    }

    #[test]
    fn subgroup_points_round_trip_and_negation_flips_only_the_sign(k in 1u64..u64::MAX) {
        let p = mul(&BASE8, &Fs::from(k));
        prop_assert_eq!(unpack_point(&pack_point(&p)), Ok(p));
        let neg = (-p.into_group()).into_affine();
        let (a, b) = (pack_point(&p), pack_point(&neg));
        prop_assert_eq!(a[..31].to_vec(), b[..31].to_vec());
        prop_assert_eq!(a[31] ^ b[31], 0x80);
    }

    #[test]
    fn signatures_do_not_transfer_between_messages(seed in any::<[u8; 32]>(), m in any::<u64>(), d in 1u64..u64::MAX) {
        let key = PrivateKey::from_bytes(seed);
        let sig = key.sign(Fr::from(m));
        prop_assert_eq!(Signature::unpack(&sig.pack()), Ok(sig));
        prop_assert!(key.public_key().verify(Fr::from(m), &sig).is_ok());
        prop_assert!(key.public_key().verify(Fr::from(m) + Fr::from(d), &sig).is_err());
    }

    #[test]
    fn position_packing_is_injective(
        a in -(1i128 << 40) + 1..(1i128 << 40), b in -(1i128 << 40) + 1..(1i128 << 40),
        i in any::<i64>(), j in any::<i64>(),
    ) {
        let p = |s: i128, f: i64| Position {
            size: BaseLots::new(s).expect("size"),
            funding_index: FundingIndex::new(i128::from(f)).expect("index"),
        };
        prop_assume!(i > i64::MIN && j > i64::MIN);
        prop_assert_eq!(p(a, i).pack() == p(b, j).pack(), a == b && i == j);
    }
}

#[test]
fn transactions_round_trip_through_json_and_out_of_range_values_are_refused() {
    let mut f = Fixture::new(2);
    f.deposit(0, 1_000_000);
    f.deposit(1, 1_000_000);
    let buy = f.order(0, btc(), Side::Buy, 10, 500_000);
    let sell = f.order(1, btc(), Side::Sell, 10, 500_000);
    let txs = vec![
        Fixture::trade_tx(buy, sell, 3, 500_000),
        f.withdrawal_tx(0, 7),
        f.deposit_tx(1, 9),
        f.oracle_tick_tx(btc(), [1, 2, 3]),
    ];
    for tx in txs {
        let json = serde_json::to_string(&tx).expect("serialise");
        let back: Transaction = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, tx);
    }
    let json = serde_json::to_string(&Fixture::trade_tx(buy, sell, 3, 500_000)).expect("serialise");
    let too_big = json.replacen("\"size\":3", &format!("\"size\":{}", 1u64 << 40), 1);
    assert_ne!(too_big, json);
    assert!(
        serde_json::from_str::<Transaction>(&too_big).is_err(),
        "sizes beyond 40 bits are refused"
    );
    // A signature with S >= l is refused at decoding.
    let sig_hex = hex::encode(buy.signature.pack());
    let bad_s = format!("{}{}", &sig_hex[..64], "ff".repeat(32));
    let tampered = json.replacen(&sig_hex, &bad_s, 1);
    assert!(serde_json::from_str::<Transaction>(&tampered).is_err());
}

/// A sealed batch (the prover's whole input: transactions, receipts, every Merkle path) survives
/// JSON exactly, so it can be stored or sent to a prover elsewhere; a field element `>= r`
/// anywhere in it is refused at decoding.
#[test]
fn sealed_batches_round_trip_through_json_and_non_canonical_field_elements_are_refused() {
    let mut f = Fixture::new(2);
    f.fund_deposit(1_000_000_000);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    f.trade(0, 1, btc(), 3, 500_000).expect("trade");
    f.apply(f.withdrawal_tx(0, 7)).expect("withdrawal");
    let batch = f.state.end_batch().expect("seal");
    assert!(batch.txs.len() >= 4 && !batch.txs[3].receipt.writes.is_empty());

    let json = serde_json::to_string(&batch).expect("serialise");
    let back: zkperp_state::batch::SealedBatch = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(back, batch);

    // The new root, one Merkle sibling and the fees, each replaced by a value out of range.
    let r = "21888242871839275222246405745257275088548364400416903765911924429365778644481";
    let root = zkperp_state::field::fr_to_decimal(&batch.new_root);
    let sibling = zkperp_state::field::fr_to_decimal(&batch.table[0].proof.siblings[0]);
    for (from, to) in [
        (
            format!("\"new_root\":\"{root}\""),
            format!("\"new_root\":\"{r}\""),
        ),
        (
            format!("\"siblings\":[\"{sibling}\""),
            format!("\"siblings\":[\"{r}\""),
        ),
        (
            format!("\"fees\":\"{}\"", batch.fees),
            "\"fees\":\"1e3\"".to_string(),
        ),
    ] {
        let tampered = json.replacen(&from, &to, 1);
        assert_ne!(tampered, json, "{from} is in the encoding");
        assert!(
            serde_json::from_str::<zkperp_state::batch::SealedBatch>(&tampered).is_err(),
            "{to} must be refused"
        );
    }
}
