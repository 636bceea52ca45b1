//! Data-availability records against independent implementations: the vectors of
//! testdata/circomlibjs/gen-da.js, made with zk-kit's EdDSA key derivation, Baby Jubjub and
//! Poseidon cipher (what a third-party wallet would use) and circomlibjs' Poseidon, from the
//! specification rather than from this code. A wallet built on zk-kit decrypts the records zkperp
//! seals, and zkperp opens what such a wallet would seal.

use std::str::FromStr;

use serde_json::Value;
use zkperp_state::babyjubjub::{pack_point, Fs};
use zkperp_state::cipher;
use zkperp_state::eddsa::PrivateKey;
use zkperp_state::field::{fr_from_decimal, Fr};
use zkperp_state::leaf::{AccountLeaf, Position};
use zkperp_state::record::{self, Owner, Record, RecordError, KEY_TAG, SALT_TAG, STEP_TAG};
use zkperp_state::units::{
    AccountId, BaseLots, Collateral, FundingIndex, L1Address, Nonce, OrderId,
};

fn load() -> Value {
    let path = format!(
        "{}/testdata/circomlibjs/da.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("vector file is JSON")
}

fn fe(v: &Value) -> Fr {
    fr_from_decimal(v.as_str().expect("decimal string")).expect("canonical element")
}

fn fes(v: &Value) -> Vec<Fr> {
    v.as_array().expect("array").iter().map(fe).collect()
}

fn int<T: FromStr>(v: &Value) -> T
where
    T::Err: std::fmt::Debug,
{
    v.as_str()
        .expect("decimal string")
        .parse()
        .expect("integer")
}

#[test]
fn the_tags_are_the_specified_integers() {
    let tags = &load()["tags"];
    assert_eq!(record::tag(SALT_TAG), fe(&tags["salt"]));
    assert_eq!(record::tag(STEP_TAG), fe(&tags["step"]));
    assert_eq!(record::tag(KEY_TAG), fe(&tags["key"]));
}

#[test]
fn the_cipher_matches_zk_kit() {
    let cases = load()["cipher"].as_array().expect("cases").clone();
    assert_eq!(cases.len(), 21);
    for case in &cases {
        let key = fes(&case["key"]);
        let key = [key[0], key[1]];
        let nonce: u128 = int(&case["nonce"]);
        let message = fes(&case["message"]);
        let ciphertext = fes(&case["ciphertext"]);
        assert_eq!(cipher::encrypt(&message, key, nonce), ciphertext);
        assert_eq!(
            cipher::encrypt_untagged(&message, key, nonce)[..],
            ciphertext[..ciphertext.len() - 1]
        );
        assert_eq!(
            cipher::decrypt(&ciphertext, key, nonce, message.len()),
            Ok(message)
        );
    }
}

fn leaf_of(case: &Value, key: &PrivateKey, salt: Fr) -> AccountLeaf {
    let leaf = &case["leaf"];
    let mut l1 = [0u8; 20];
    hex::decode_to_slice(
        leaf["l1_address"]
            .as_str()
            .expect("hex")
            .trim_start_matches("0x"),
        &mut l1,
    )
    .expect("20 bytes");
    AccountLeaf {
        public_key: key.public_key(),
        l1_address: L1Address(l1),
        collateral: Collateral::new(int(&leaf["collateral"])).expect("collateral"),
        nonce: Nonce::new(int(&leaf["nonce"])).expect("nonce"),
        order_floor: OrderId::new(int(&leaf["order_floor"])).expect("floor"),
        positions: leaf["positions"]
            .as_array()
            .expect("positions")
            .iter()
            .map(|p| Position {
                size: BaseLots::new(int(&p["size"])).expect("size"),
                funding_index: FundingIndex::new(int(&p["funding_index"])).expect("index"),
            })
            .collect(),
        orders_root: fe(&leaf["orders_root"]),
        salt,
    }
}

/// Operator and owner derive zk-kit's salt; the salt chain, the words, the ciphertext and the
/// leaf hash are zk-kit's; the owner opens the record to the leaf, and a record tampered with or
/// read in another batch is refused with an error naming the batch and the account.
#[test]
fn records_match_zk_kit_from_creation_to_the_last_batch() {
    let cases = load()["records"].as_array().expect("records").clone();
    assert_eq!(cases.len(), 4);
    for case in &cases {
        let markets = case["markets"].as_u64().expect("markets") as usize;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(case["private_key"].as_str().expect("hex"), &mut bytes)
            .expect("32 bytes");
        let key = PrivateKey::from_bytes(bytes);
        assert_eq!(key.public_key().x(), fe(&case["public_key"]["x"]));
        assert_eq!(key.public_key().y(), fe(&case["public_key"]["y"]));

        let e = Fs::from_str(case["e"].as_str().expect("e")).expect("scalar");
        let e = record::Ephemeral::new(e).expect("non-zero");
        let creation = record::create(&e, &key.public_key());
        assert_eq!(creation.ephemeral.x, fe(&case["ephemeral"]["x"]));
        assert_eq!(creation.ephemeral.y, fe(&case["ephemeral"]["y"]));
        let mut packed = pack_point(&creation.ephemeral);
        packed.reverse();
        assert_eq!(
            hex::encode(packed),
            case["ephemeral_packed"].as_str().expect("hex"),
            "zk-kit's packPoint as a big-endian integer"
        );
        assert_eq!(creation.salt, fe(&case["salt_0"]));
        let ephemeral = (creation.ephemeral.x, creation.ephemeral.y);
        assert_eq!(record::owner_salt(&key, ephemeral), Ok(creation.salt));

        let id = AccountId::new(int(&case["account"])).expect("id");
        let mut salt = creation.salt;
        let mut batch = 0;
        for step in case["steps"].as_array().expect("steps") {
            batch = int(&step["batch"]);
            salt = record::step(salt, batch, id, int(&step["rho"]));
            assert_eq!(salt, fe(&step["salt"]), "after batch {batch}");
        }

        let leaf = leaf_of(case, &key, salt);
        assert_eq!(record::words(&leaf), fes(&case["words"]));
        assert_eq!(record::nonce(batch, id), int::<u128>(&case["nonce"]));
        let sealed = Record::seal(batch, id, &leaf);
        assert_eq!(sealed.hash, fe(&case["leaf_hash"]));
        assert_eq!(sealed.ciphertext, fes(&case["ciphertext"]));

        let owner = Owner {
            public_key: key.public_key(),
            l1_address: leaf.l1_address,
        };
        assert_eq!(sealed.open(batch, &owner, salt, markets), Ok(leaf.clone()));
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] += Fr::from(1u64);
        let err = tampered
            .open(batch, &owner, salt, markets)
            .expect_err("tampered");
        assert!(
            matches!(err, RecordError::Hash { .. } | RecordError::Garbled { .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains(&format!("account {id}'s record of batch {batch}")),
            "{err}"
        );
        assert!(sealed.open(batch ^ 1, &owner, salt, markets).is_err());
    }
}
