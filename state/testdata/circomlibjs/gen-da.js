#!/usr/bin/env node
// Generates da.json: zkperp's data-availability records (issue 18) made by independent
// implementations, for state/tests/circomlibjs_da.rs and the circuit twin to check against.
//
// Written from the specification in state/src/record.rs's module docs and docs/CIRCUITS.md
// (*Records*), not from the Rust code. The cryptography is zk-kit's, what a third-party wallet
// would use: @zk-kit/eddsa-poseidon (the secret scalar and the key), @zk-kit/baby-jubjub (the
// Diffie-Hellman), @zk-kit/poseidon-cipher (the cipher); hashes are circomlibjs' Poseidon. The
// cipher is also re-implemented here on circomlibjs' permutation and must agree with zk-kit.
//
// Deterministic: running it again gives byte-identical JSON.
//
// Usage: npm ci && node gen-da.js
"use strict";

const fs = require("fs");
const path = require("path");
const crypto = require("crypto");
const circomlibjs = require("circomlibjs");
const { deriveSecretScalar, derivePublicKey } = require("@zk-kit/eddsa-poseidon");
const { mulPointEscalar, Base8, packPoint, subOrder } = require("@zk-kit/baby-jubjub");
const {
  poseidonEncrypt,
  poseidonDecryptWithoutCheck,
  poseidonDecrypt,
} = require("@zk-kit/poseidon-cipher");

const OUT = path.join(__dirname, "da.json");
const R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

function fail(msg) {
  console.error("FATAL: " + msg);
  process.exit(1);
}
function assert(cond, msg) {
  if (!cond) fail(msg);
}
const mod = (x) => ((x % R) + R) % R;
const sha = (label) => BigInt("0x" + crypto.createHash("sha256").update(label).digest("hex"));

(async () => {
  const P = await circomlibjs.buildPoseidonReference();
  const F = P.F;
  const big = (x) => BigInt(F.toString(x));
  const H = (xs) => big(P(xs.map((x) => F.e(mod(x)))));
  const perm = (st) => P(st.slice(1).map((x) => F.e(x)), F.e(st[0]), 4).map(big);

  // The cipher of zk-kit's README, rebuilt on circomlibjs' permutation (state [0, k0, k1,
  // nonce + len 2^128]; per block of three: permute, add, output; the tag permute(state)[1]).
  const encrypt = (msg, key, nonce) => {
    const padded = [...msg];
    while (padded.length % 3) padded.push(0n);
    let s = [0n, key[0], key[1], mod(nonce + BigInt(msg.length) * (1n << 128n))];
    const ct = [];
    for (let i = 0; i < padded.length / 3; i++) {
      s = perm(s);
      for (let j = 1; j <= 3; j++) {
        s[j] = mod(s[j] + padded[3 * i + j - 1]);
        ct.push(s[j]);
      }
    }
    ct.push(perm(s)[1]);
    return ct;
  };
  // zk-kit's published known answer.
  const known = encrypt(
    [0n, 1n],
    [
      18215233274609902892566361706948385597370728108990013889912246034099844508236n,
      14884395706232754242497822954958766875005771827082919466711779658153477561231n,
    ],
    5n,
  );
  assert(
    known[3] === 9075054520224362422769554641603717496449971372103870041485347221024944155182n,
    "the rebuilt cipher misses zk-kit's known answer",
  );
  const zkkitEncrypt = (msg, key, nonce) => {
    const ct = poseidonEncrypt(msg, key, nonce).map(BigInt);
    const mine = encrypt(msg, key, nonce);
    assert(JSON.stringify(ct.map(String)) === JSON.stringify(mine.map(String)), "cipher mismatch");
    const back = poseidonDecrypt(ct, key, nonce, msg.length).map(BigInt);
    assert(back.every((m, i) => m === msg[i]), "zk-kit does not decrypt its own ciphertext");
    return ct;
  };

  // --- the cipher on its own ---
  const cipher = [];
  let counter = 0;
  const rnd = () => sha("zkperp-da-vectors-" + counter++) % R;
  for (const nonce of [0n, 5n, (1n << 128n) - 1n]) {
    for (let len = 1; len <= 7; len++) {
      const key = nonce === 0n ? [0n, 0n] : [rnd(), rnd()];
      const message = [...Array(len)].map((_, i) => (i === len - 1 ? R - 1n : rnd()));
      cipher.push({
        key: key.map(String),
        nonce: String(nonce),
        message: message.map(String),
        ciphertext: zkkitEncrypt(message, key, nonce).map(String),
      });
    }
  }

  // --- records ---
  const tag = (s) => BigInt("0x" + Buffer.from(s, "ascii").toString("hex"));
  const SALT = tag("zkperp.da.salt");
  const STEP = tag("zkperp.da.step");
  const KEY = tag("zkperp.da.key");
  const SIZE_BITS = 40n;
  const pack = (p) => (p.size + (1n << SIZE_BITS)) * (1n << 64n) + (p.funding_index + (1n << 63n));
  const PACK_BITS = 105n;
  const words = (leaf) => {
    const w = [
      leaf.orders_root,
      leaf.collateral +
        (1n << 63n) +
        ((leaf.nonce + (leaf.order_floor << 32n)) << 64n) +
        (pack(leaf.positions[0]) << 136n),
    ];
    for (let k = 1; k < leaf.positions.length; k += 2) {
      const upper = k + 1 < leaf.positions.length ? pack(leaf.positions[k + 1]) << PACK_BITS : 0n;
      w.push(pack(leaf.positions[k]) + upper);
    }
    return w;
  };
  const circomPub = await circomlibjs.buildEddsa();
  const records = [];
  const cases = [
    // markets, account, batches, collateral, nonce, floor, sizes, indices
    { markets: 1, id: 0n, batches: [1n], collateral: 0n, nonce: 0n, floor: 0n },
    { markets: 2, id: 5n, batches: [7n, 9n], collateral: -1234567n, nonce: 3n, floor: 0n },
    { markets: 3, id: (1n << 32n) - 2n, batches: [2n, 3n, 40n], collateral: (1n << 63n) - 1n, nonce: (1n << 32n) - 1n, floor: (1n << 40n) - 1n },
    { markets: 8, id: 77n, batches: [(1n << 64n) - 1n], collateral: -(1n << 63n) + 1n, nonce: 1n, floor: 12n },
  ];
  for (const [n, c] of cases.entries()) {
    const prv = Buffer.from([...Array(32).keys()].map((i) => (i + 1 + 31 * n) % 256));
    const s = deriveSecretScalar(prv);
    const A = derivePublicKey(prv).map(BigInt);
    const circomA = circomPub.prv2pub(prv).map(big);
    assert(A[0] === circomA[0] && A[1] === circomA[1], "zk-kit and circomlibjs keys differ");
    const e = (sha("zkperp-da-vectors-e-" + n) % (subOrder - 1n)) + 1n;
    const E = mulPointEscalar(Base8, e);
    const K = mulPointEscalar(A, e);
    const Kowner = mulPointEscalar(E, s);
    assert(K[0] === Kowner[0] && K[1] === Kowner[1], "e A != s E");
    const salt0 = H([SALT, K[0], K[1]]);
    let salt = salt0;
    const steps = [];
    for (const b of c.batches) {
      const rho = sha("zkperp-da-vectors-rho-" + n + "-" + b) >> 128n;
      salt = H([STEP, salt, (b << 32n) + c.id + (rho << 96n)]);
      steps.push({ batch: String(b), rho: String(rho), salt: String(salt) });
    }
    const extreme = (1n << SIZE_BITS) - 1n;
    const leaf = {
      l1_address: "0x" + crypto.createHash("sha256").update("l1-" + n).digest("hex").slice(0, 40),
      collateral: c.collateral,
      nonce: c.nonce,
      order_floor: c.floor,
      positions: [...Array(c.markets)].map((_, m) => ({
        size: m % 3 === 0 ? extreme : m % 3 === 1 ? -extreme : BigInt(m) - 4n,
        funding_index: m % 2 === 0 ? (1n << 63n) - 1n - BigInt(m) : -(1n << 63n) + 1n + BigInt(m),
      })),
      orders_root: rnd(),
    };
    const w = words(leaf);
    const b = c.batches[c.batches.length - 1];
    const nonce = (b << 32n) + c.id;
    assert(nonce < 1n << 128n, "nonce");
    const full = zkkitEncrypt(w, [salt, KEY], nonce);
    const ciphertext = full.slice(0, Math.ceil(w.length / 3) * 3);
    const back = poseidonDecryptWithoutCheck(ciphertext, [salt, KEY], nonce, w.length).map(BigInt);
    assert(back.every((x, i) => x === w[i]), "decryption without the tag");
    const positionsHash = H(leaf.positions.map(pack));
    const leafHash = H([
      A[0],
      A[1],
      BigInt(leaf.l1_address),
      leaf.collateral,
      leaf.nonce + (leaf.order_floor << 32n),
      leaf.orders_root,
      positionsHash,
      salt,
    ]);
    records.push({
      markets: c.markets,
      private_key: prv.toString("hex"),
      secret_scalar: String(s),
      public_key: { x: String(A[0]), y: String(A[1]) },
      e: String(e),
      ephemeral: { x: String(E[0]), y: String(E[1]) },
      ephemeral_packed: packPoint(E).toString(16).padStart(64, "0"),
      shared: { x: String(K[0]), y: String(K[1]) },
      salt_0: String(salt0),
      account: String(c.id),
      steps,
      leaf: {
        l1_address: leaf.l1_address,
        collateral: String(leaf.collateral),
        nonce: String(leaf.nonce),
        order_floor: String(leaf.order_floor),
        positions: leaf.positions.map((p) => ({
          size: String(p.size),
          funding_index: String(p.funding_index),
        })),
        orders_root: String(leaf.orders_root),
      },
      words: w.map(String),
      nonce: String(nonce),
      ciphertext: ciphertext.map(String),
      zkkit_tag: String(full[full.length - 1]),
      leaf_hash: String(leafHash),
    });
  }

  const out = {
    generator: "gen-da.js: @zk-kit/eddsa-poseidon 1.1.0, @zk-kit/poseidon-cipher 0.3.2, circomlibjs 0.1.7",
    tags: { salt: String(SALT), step: String(STEP), key: String(KEY) },
    cipher,
    records,
  };
  fs.writeFileSync(OUT, JSON.stringify(out, null, 1) + "\n");
  console.log(`wrote ${OUT}: ${cipher.length} cipher cases, ${records.length} records`);
})().catch((e) => fail(e.stack || String(e)));
