//! The binary through its command line, as an operator or a trader runs it.

use std::process::Command;

fn zkperp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zkperp"))
        .args(args)
        .output()
        .expect("zkperp runs")
}

#[test]
fn keygen_derives_the_same_key_as_circomlibjs() {
    // First case of state/testdata/circomlibjs/eddsa.json.
    let out = zkperp(&[
        "keygen",
        "--private-key",
        "7cecafdaa24d35056b9da09856f510413999a47ba2e674f38ee6ef007dfee3af",
    ]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        json["public_key"],
        "1f35f98fa170c4db37db78ca2f8dfba1a947289bdd9630d4dfd9bfa0e2822b91"
    );
    assert_eq!(
        json["public_key_x"],
        "19908433092598623271217392080428433717517000294233501878120532206646021150395"
    );
}

#[test]
fn keygen_refuses_malformed_keys_with_a_message() {
    for bad in ["12", "zz".repeat(32).as_str()] {
        let out = zkperp(&["keygen", "--private-key", bad]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--private-key"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// Bad devnet options are refused with a message before anything starts (the full devnet
/// run is tests/devnet.rs).
#[test]
fn devnet_refuses_bad_options_with_a_message() {
    for (args, needle) in [
        (&["devnet", "--shape", "o1-q9"][..], "--shape"),
        (&["devnet", "--traders", "1"][..], "--traders"),
    ] {
        let out = zkperp(args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn circuit_stats_reports_the_budgets() {
    let out = zkperp(&["circuit-stats", "--shape", "o1-d1-t1-w1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["poseidon2"], 240);
    assert!(json["eddsa_verify"].as_u64().expect("count") <= 6_000);
    // Production depths by default: a trade slot (its accesses: signatures, orders trees,
    // margin) and the table entry of one new account within 100,000 constraints, a market
    // maker's fill against a new taker.
    assert_eq!(json["account_tree_depth"], 32);
    let trade = json["slots"]["trade"].as_u64().expect("count");
    let entry = json["table_entry"].as_u64().expect("count");
    assert!(
        trade > 25_000 && entry > 15_000,
        "trade slot {trade}, entry {entry}"
    );
    assert!(
        trade + entry <= 100_000,
        "trade slot {trade} + entry {entry}"
    );
    for kind in [
        "oracle_tick",
        "funding_tick",
        "liquidation",
        "deleverage",
        "deposit",
        "forced_withdrawal",
        "withdrawal",
        "cancel_order",
    ] {
        assert!(json["slots"][kind].as_u64().expect(kind) > 0, "{kind}");
    }
    let batch = json["batch"]["constraints"].as_u64().expect("count");
    assert!(batch > trade + json["batch_overhead"].as_u64().expect("count"));
    assert!(json["exit"].as_u64().expect("count") > 0);
}

#[test]
fn circuit_stats_refuses_a_bad_shape_with_a_message() {
    let out = zkperp(&["circuit-stats", "--shape", "q4"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--shape") && !err.contains("panicked"),
        "{err}"
    );
}

/// The services refuse bad options and files with a message naming what is wrong, before
/// they touch an L1, make a key or bind a port.
#[test]
fn services_refuse_bad_options_with_a_message() {
    let pk = "1f35f98fa170c4db37db78ca2f8dfba1a947289bdd9630d4dfd9bfa0e2822b91";
    let operator = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    let owner = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720";
    let deploy = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = ["deploy", "--rpc", "http://127.0.0.1:9", "--operator-key"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(operator.into());
        for flag in ["--fund-key", "--fee-key"] {
            args.extend([flag.to_string(), pk.to_string()]);
        }
        for flag in ["--fund-owner", "--fee-owner"] {
            args.extend([flag.to_string(), owner.to_string()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let keys: Vec<String> = (1..=3u8)
        .map(|i| {
            let key = zkperp_state::eddsa::PrivateKey::from_bytes([i; 32]);
            hex::encode(key.public_key().pack())
        })
        .collect();
    let three = [
        "--oracle-key",
        keys[0].as_str(),
        "--oracle-key",
        keys[1].as_str(),
        "--oracle-key",
        keys[2].as_str(),
    ];
    let repeated = ["--oracle-key", pk, "--oracle-key", pk, "--oracle-key", pk];
    let dir = tempfile::tempdir().expect("tmp");
    let garbage = dir.path().join("network.json");
    std::fs::write(&garbage, "{\"version\": 1}").expect("write");
    let garbage = garbage.to_string_lossy().into_owned();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            deploy(&["--oracle-key", pk, "--oracle-key", pk]),
            "odd number of --oracle-key",
        ),
        (
            deploy(&["--oracle-key", "zz", "--oracle-key", pk, "--oracle-key", pk]),
            "--oracle-key",
        ),
        (deploy(&repeated), "an oracle key appears twice"),
        (
            deploy(&[&three[..], &["--mint", "nonsense"]].concat()),
            "--mint",
        ),
        (
            deploy(&[&three[..], &["--shape", "o1-q9"]].concat()),
            "--shape",
        ),
        (
            deploy(&[&three[..], &["--token", "0x12"]].concat()),
            "--token",
        ),
        (
            [
                "node",
                "--network",
                "/nonexistent/network.json",
                "--operator-key",
                operator,
            ]
            .map(String::from)
            .to_vec(),
            "reading the network file",
        ),
        (
            ["node", "--network", &garbage, "--operator-key", operator]
                .map(String::from)
                .to_vec(),
            "is not valid",
        ),
        (
            ["oracle", "--key", "zz"].map(String::from).to_vec(),
            "--key",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = zkperp(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// `zkperp ceremony` over files, as participants run it: the exit circuit of a small
/// configuration, a development phase 1, two contributions (entropy piped in, then given) and a
/// beacon, then verify and export; bad input gets a message, never a panic. (The three-party
/// ceremony with snarkjs is tests/ceremony.rs; `prepare` against snarkjs is the prover's.)
#[test]
fn ceremony_walks_from_the_r1cs_to_the_verifying_key() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("tmp");
    let p = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_string();
    let fixture = zkperp_state::testkit::Fixture::with_depths(0, 4, 2);
    std::fs::write(
        p("config.json"),
        serde_json::to_vec(fixture.state.config()).expect("json"),
    )
    .expect("write");
    let ok = |args: &[&str]| {
        let out = zkperp(args);
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {text}");
        text
    };
    let refused = |args: &[&str], needle: &str| {
        let out = zkperp(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    };
    let text = ok(&[
        "ceremony",
        "r1cs",
        "--state-config",
        &p("config.json"),
        "--circuit",
        "exit",
        "--out",
        &p("exit.r1cs"),
    ]);
    assert!(text.contains("constraints"), "{text}");
    refused(
        &[
            "ceremony",
            "r1cs",
            "--state-config",
            &p("config.json"),
            "--circuit",
            "batch",
            "--out",
            &p("b.r1cs"),
        ],
        "--shape",
    );

    let snarkjs = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../contracts/node_modules/.bin/snarkjs");
    // A phase 1 snarkjs began, not prepared yet: refused by `new`, prepared by `prepare`.
    let out = Command::new(&snarkjs)
        .args(["powersoftau", "new", "bn128", "4", &p("p1.ptau")])
        .output()
        .expect("snarkjs runs");
    assert!(out.status.success(), "snarkjs powersoftau new");
    refused(
        &[
            "ceremony",
            "new",
            "--r1cs",
            &p("exit.r1cs"),
            "--ptau",
            &p("p1.ptau"),
            "--out",
            &p("0.zkey"),
        ],
        "not prepared",
    );
    ok(&[
        "ceremony",
        "prepare",
        "--in",
        &p("p1.ptau"),
        "--out",
        &p("small.ptau"),
    ]);
    refused(
        &[
            "ceremony",
            "new",
            "--r1cs",
            &p("exit.r1cs"),
            "--ptau",
            &p("small.ptau"),
            "--out",
            &p("0.zkey"),
        ],
        "power 4 is too small",
    );
    ok(&[
        "ceremony",
        "dev-phase1",
        "--power",
        "12",
        "--out",
        &p("final.ptau"),
    ]);
    let text = ok(&[
        "ceremony",
        "new",
        "--r1cs",
        &p("exit.r1cs"),
        "--ptau",
        &p("final.ptau"),
        "--out",
        &p("0.zkey"),
    ]);
    assert!(text.contains("Circuit Hash"), "{text}");

    // A participant pipes their entropy in.
    let mut child = Command::new(env!("CARGO_BIN_EXE_zkperp"))
        .args([
            "ceremony",
            "contribute",
            "--in",
            &p("0.zkey"),
            "--out",
            &p("1.zkey"),
            "--name",
            "alice",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zkperp runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"the cat walked on the keyboard\n")
        .expect("entropy");
    let out = child.wait_with_output().expect("contribute");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alice = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(alice.contains("Contribution Hash"), "{alice}");
    let out = Command::new(env!("CARGO_BIN_EXE_zkperp"))
        .args([
            "ceremony",
            "contribute",
            "--in",
            &p("1.zkey"),
            "--out",
            &p("x.zkey"),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("zkperp runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no entropy"));
    ok(&[
        "ceremony",
        "contribute",
        "--in",
        &p("1.zkey"),
        "--out",
        &p("2.zkey"),
        "--name",
        "bob",
        "--entropy",
        "dice 4 1 6",
    ]);
    refused(
        &[
            "ceremony",
            "beacon",
            "--in",
            &p("2.zkey"),
            "--out",
            &p("3.zkey"),
            "--hash",
            "abc",
            "--iterations-exp",
            "10",
        ],
        "--hash",
    );
    refused(
        &[
            "ceremony",
            "beacon",
            "--in",
            &p("2.zkey"),
            "--out",
            &p("3.zkey"),
            "--hash",
            "ab",
            "--iterations-exp",
            "9",
        ],
        "10 to 63",
    );
    ok(&[
        "ceremony",
        "beacon",
        "--in",
        &p("2.zkey"),
        "--out",
        &p("3.zkey"),
        "--hash",
        "0x00aabbcc",
        "--name",
        "beacon",
    ]);

    let text = ok(&[
        "ceremony",
        "verify",
        "--r1cs",
        &p("exit.r1cs"),
        "--ptau",
        &p("final.ptau"),
        "--zkey",
        &p("3.zkey"),
    ]);
    assert!(text.contains("the transcript verifies"), "{text}");
    assert!(
        text.contains("contribution #1 alice") && text.contains("contribution #3 beacon (beacon)"),
        "{text}"
    );
    let alice_hash = alice.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert!(
        text.contains(&alice_hash),
        "the published hash is in the transcript: {text}"
    );
    assert!(!text.contains("WARNING"), "{text}");
    let text = ok(&[
        "ceremony",
        "verify",
        "--r1cs",
        &p("exit.r1cs"),
        "--ptau",
        &p("final.ptau"),
        "--zkey",
        &p("0.zkey"),
    ]);
    assert!(text.contains("WARNING: no contribution"), "{text}");
    // The last byte of the file is in the beacon's parameters: the beacon no longer replays.
    let mut bytes = std::fs::read(p("3.zkey")).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(p("bad.zkey"), &bytes).expect("write");
    refused(
        &[
            "ceremony",
            "verify",
            "--r1cs",
            &p("exit.r1cs"),
            "--ptau",
            &p("final.ptau"),
            "--zkey",
            &p("bad.zkey"),
        ],
        "beacon",
    );
    std::fs::write(p("cut.zkey"), &bytes[..1000]).expect("write");
    refused(
        &[
            "ceremony",
            "export",
            "--zkey",
            &p("cut.zkey"),
            "--out-dir",
            &p("vk"),
        ],
        "truncated",
    );

    ok(&[
        "ceremony",
        "export",
        "--zkey",
        &p("3.zkey"),
        "--out-dir",
        &p("vk"),
    ]);
    let vk: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("vk/verification_key.json")).expect("read"),
    )
    .expect("json");
    assert_eq!(vk["protocol"], "groth16");
    assert!(vk["nPublic"].as_u64().expect("count") > 0);
    let args: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("vk/verifier_args.json")).expect("read"),
    )
    .expect("json");
    assert_eq!(
        args["ic"].as_array().expect("ic").len() as u64,
        vk["nPublic"].as_u64().expect("n") + 1
    );
}
