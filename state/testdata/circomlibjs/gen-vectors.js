#!/usr/bin/env node
// Generates golden test vectors for zkperp's Rust Poseidon / Baby Jubjub /
// EdDSA-Poseidon code from circomlibjs (pinned to 0.1.7 in package.json).
//
// Deterministic: all "random" values come from a SHA-256 counter-mode stream
// with a fixed seed (never Math.random). Re-running produces identical files.
//
// Conventions in the output JSON:
//   * field elements and scalars: decimal strings (canonical, < modulus)
//   * byte strings: lowercase hex, no 0x prefix
//
// Usage: npm ci && npm run gen
"use strict";

const fs = require("fs");
const path = require("path");
const crypto = require("crypto");
const circomlibjs = require("circomlibjs");
const createBlakeHash = require("blake-hash");
const blakeHashJs = require("blake-hash/js");

const OUT_DIR = __dirname;
const SEED = "zkperp-circomlibjs-golden-vectors-v1";

// BN254 scalar field modulus (= Baby Jubjub base field).
const R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
const POSEIDON_1_2 = "7853200120776062878684798364095072458815029376092732009249414926327459813530";

function fail(msg) {
  console.error("FATAL: " + msg);
  process.exit(1);
}
function assert(cond, msg) {
  if (!cond) fail(msg);
}

// ---------------------------------------------------------------------------
// Deterministic byte stream: block_i = SHA-256(SEED || ":" || label || ":" || u64be(i))
// ---------------------------------------------------------------------------
class Stream {
  constructor(label) {
    this.label = label;
    this.counter = 0n;
    this.buf = Buffer.alloc(0);
  }
  bytes(n) {
    while (this.buf.length < n) {
      const ctr = Buffer.alloc(8);
      ctr.writeBigUInt64BE(this.counter++);
      const block = crypto
        .createHash("sha256")
        .update(Buffer.from(SEED + ":" + this.label + ":", "utf8"))
        .update(ctr)
        .digest();
      this.buf = Buffer.concat([this.buf, block]);
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return Buffer.from(out);
  }
  // Uniform in [0, bound) by rejection sampling on the minimal bit length.
  below(bound) {
    const bits = bound.toString(2).length;
    const nbytes = Math.ceil(bits / 8);
    const mask = (1n << BigInt(bits)) - 1n;
    for (;;) {
      const v = BigInt("0x" + this.bytes(nbytes).toString("hex")) & mask;
      if (v < bound) return v;
    }
  }
}

const hex = (u8) => Buffer.from(u8).toString("hex");
const leBytesToBig = (u8) => BigInt("0x" + (Buffer.from(u8).reverse().toString("hex") || "0"));

function writeJson(name, obj) {
  const file = path.join(OUT_DIR, name);
  fs.writeFileSync(file, JSON.stringify(obj, null, 2) + "\n");
  console.log(`wrote ${name} (${fs.statSync(file).size} bytes)`);
}

const CIRCOMLIBJS_VERSION = JSON.parse(
  fs.readFileSync(path.join(path.dirname(require.resolve("circomlibjs")), "..", "package.json"), "utf8")
).version;

async function main() {
  assert(CIRCOMLIBJS_VERSION === "0.1.7", `expected circomlibjs 0.1.7, found ${CIRCOMLIBJS_VERSION}`);
  const poseidonWasm = await circomlibjs.buildPoseidon();
  const poseidonRef = await circomlibjs.buildPoseidonReference();
  const poseidonOpt = await circomlibjs.buildPoseidonOpt();
  const babyJub = await circomlibjs.buildBabyjub();
  const eddsa = await circomlibjs.buildEddsa();

  // -------------------------------------------------------------------------
  // Poseidon
  // -------------------------------------------------------------------------
  const hashers = [
    ["buildPoseidon", poseidonWasm],
    ["buildPoseidonReference", poseidonRef],
    ["buildPoseidonOpt", poseidonOpt],
  ];
  const pos = (inputs) => {
    const outs = hashers.map(([name, h]) => h.F.toObject(h(inputs.map((x) => BigInt(x)))).toString());
    for (let i = 1; i < outs.length; i++) {
      assert(outs[i] === outs[0], `poseidon mismatch ${hashers[i][0]} vs ${hashers[0][0]} on [${inputs}]: ${outs[i]} != ${outs[0]}`);
    }
    return outs[0];
  };
  {
    const o = pos([1n, 2n]);
    assert(o === POSEIDON_1_2, `poseidon([1,2]) = ${o}, expected ${POSEIDON_1_2}`);
  }

  const ps = new Stream("poseidon");
  const poseidonCases = [];
  const addP = (inputs) => poseidonCases.push({ inputs: inputs.map(String), output: pos(inputs) });
  addP([1n, 2n]); // canonical case first
  for (let n = 1; n <= 16; n++) {
    addP(Array.from({ length: n }, () => 0n)); // all zero
    addP(Array.from({ length: n }, (_, i) => BigInt(i + 1))); // 1,2,3,...
    addP(Array.from({ length: n }, () => ps.below(R))); // random
    addP(Array.from({ length: n }, () => ps.below(R))); // random (second)
    // contains r-1: last position r-1, others random; also the all-(r-1) case
    const withMax = Array.from({ length: n }, () => ps.below(R));
    withMax[n - 1] = R - 1n;
    addP(withMax);
    addP(Array.from({ length: n }, () => R - 1n));
  }
  writeJson("poseidon.json", poseidonCases);

  // -------------------------------------------------------------------------
  // Baby Jubjub
  // -------------------------------------------------------------------------
  const F = babyJub.F;
  const P = babyJub.p;
  assert(P === R, "babyJub.p != BN254 r");
  const subOrder = BigInt(babyJub.subOrder);
  const toDec = (e) => F.toObject(e).toString();
  const pt = (p) => ({ x: toDec(p[0]), y: toDec(p[1]) });
  const mul = (p, k) => babyJub.mulPointEscalar(p, k);
  const eqPt = (a, b) => F.eq(a[0], b[0]) && F.eq(a[1], b[1]);
  const G = babyJub.Generator;
  const B8 = babyJub.Base8;
  const ID = [F.e(0n), F.e(1n)];

  assert(eqPt(mul(G, 8n), B8), "Base8 != 8*Generator");
  assert(babyJub.inCurve(G) && babyJub.inCurve(B8), "G/B8 not on curve");
  assert(eqPt(mul(B8, subOrder), ID), "subOrder*Base8 != identity");
  assert(!eqPt(mul(G, subOrder), ID), "Generator unexpectedly in subgroup");

  const unpackOrNull = (packed) => {
    const copy = Uint8Array.from(packed); // unpackPoint mutates its argument
    const u = babyJub.unpackPoint(copy);
    return u === null ? null : pt(u);
  };
  const pointEntry = (label, base, scalar, p) => {
    const packed = babyJub.packPoint(p);
    const e = {
      label,
      base,
      scalar: scalar.toString(),
      point: pt(p),
      packed: hex(packed),
      in_subgroup: babyJub.inSubgroup(p),
      on_curve: babyJub.inCurve(p),
      unpacked: unpackOrNull(packed),
    };
    // Round-trip holds for every point except those with x == 0 (see README).
    if (!F.isZero(p[0])) {
      assert(e.unpacked && e.unpacked.x === e.point.x && e.unpacked.y === e.point.y, `pack/unpack roundtrip failed for ${label}`);
    }
    return e;
  };

  const bs = new Stream("babyjubjub");
  const points = [];
  for (const k of [1n, 2n, 3n, 8n, bs.below(subOrder), bs.below(subOrder), bs.below(subOrder), bs.below(subOrder), subOrder - 1n]) {
    points.push(pointEntry(`base8*${k === subOrder - 1n ? "(subOrder-1)" : k}`, "base8", k, mul(B8, k)));
  }
  // Points outside the prime-order subgroup (multiples of Generator).
  const T8 = mul(G, subOrder); // order 8
  const T4 = mul(G, 2n * subOrder); // order 4
  const T2 = mul(G, 4n * subOrder); // order 2 : (0, p-1)
  assert(toDec(T2[0]) === "0" && toDec(T2[1]) === (P - 1n).toString(), "4*subOrder*G != (0,-1)");
  assert(toDec(T4[1]) === "0", "order-4 point should have y = 0");
  const genCases = [
    ["generator", 1n],
    ["generator*2", 2n],
    ["generator*3", 3n],
    ["generator*random(k mod 8 != 0)", (() => { let k; do { k = bs.below(8n * subOrder); } while (k % 8n === 0n); return k; })()],
    ["generator*(8*subOrder-1)", 8n * subOrder - 1n],
    ["torsion order 8 (generator*subOrder)", subOrder],
    ["torsion order 8 (generator*3*subOrder)", 3n * subOrder],
    ["torsion order 4 (generator*2*subOrder)", 2n * subOrder],
    ["torsion order 4 (generator*6*subOrder)", 6n * subOrder],
    ["torsion order 2 (0,p-1) (generator*4*subOrder)", 4n * subOrder],
    ["identity (0,1) (generator*0)", 0n],
    ["base8*5 + torsion order 2 (generator*(40+4*subOrder))", 40n + 4n * subOrder],
  ];
  for (const [label, k] of genCases) {
    points.push(pointEntry(label, "generator", k, mul(G, k)));
  }
  // Sanity on flags
  for (const e of points) {
    assert(e.on_curve, `${e.label} not on curve`);
    const k = BigInt(e.scalar);
    const expectSub = e.base === "base8" ? true : k % 8n === 0n;
    assert(e.in_subgroup === expectSub, `${e.label}: in_subgroup=${e.in_subgroup}, expected ${expectSub}`);
  }
  // Points that are not on the curve at all.
  const offCurve = [
    [F.e(1n), F.e(1n)],
    [B8[0], F.add(B8[1], F.one)],
  ].map((p, i) => ({
    label: i === 0 ? "(1,1)" : "(base8.x, base8.y+1)",
    point: pt(p),
    packed: hex(babyJub.packPoint(p)),
    in_subgroup: babyJub.inSubgroup(p),
    on_curve: babyJub.inCurve(p),
  }));
  for (const e of offCurve) assert(!e.on_curve && !e.in_subgroup, "off-curve point flagged on curve");

  // Additions
  const rnd1 = mul(B8, bs.below(subOrder));
  const rnd2 = mul(B8, bs.below(subOrder));
  const negB8 = [F.neg(B8[0]), B8[1]];
  const addPairs = [
    ["base8 + base8", B8, B8],
    ["base8 + 2*base8", B8, mul(B8, 2n)],
    ["random + random", rnd1, rnd2],
    ["random + identity", rnd1, ID],
    ["base8 + (-base8)", B8, negB8],
    ["generator + generator", G, G],
    ["generator + base8", G, B8],
    ["base8 + torsion order 2", B8, T2],
    ["random + torsion order 8", rnd2, T8],
    ["torsion order 4 + torsion order 4", T4, T4],
  ];
  const additions = addPairs.map(([label, p, q]) => {
    const s = babyJub.addPoint(p, q);
    assert(eqPt(s, babyJub.addPoint(q, p)), `addition not commutative for ${label}`);
    return { label, p: pt(p), q: pt(q), sum: pt(s) };
  });
  assert(eqPt(babyJub.addPoint(B8, negB8), ID), "B8 + (-B8) != identity");

  writeJson("babyjubjub.json", {
    field_modulus: P.toString(),
    a: toDec(babyJub.A),
    d: toDec(babyJub.D),
    base8: pt(B8),
    generator: pt(G),
    order: BigInt(babyJub.order).toString(),
    sub_order: subOrder.toString(),
    points,
    off_curve_points: offCurve,
    additions,
  });

  // -------------------------------------------------------------------------
  // EdDSA-Poseidon
  // -------------------------------------------------------------------------
  assert(eddsa.babyJub.F === eddsa.F, "eddsa field mismatch");
  const eF = eddsa.babyJub.F;
  const es = new Stream("eddsa");
  const blake512 = (buf) => createBlakeHash("blake512").update(Buffer.from(buf)).digest();

  const keys = Array.from({ length: 6 }, () => es.bytes(32));
  const messages = [0n, 1n, R - 1n];
  while (messages.length < 14) messages.push(es.below(R));
  const eddsaCases = [];
  messages.forEach((msg, i) => {
    // keys 0..5 each used with >= 2 messages; key 0 is used with 0, 1, r-1 and more.
    const prv = i < 3 ? keys[0] : keys[(i - 3) % keys.length];
    const A = eddsa.prv2pub(prv);
    const sig = eddsa.signPoseidon(prv, eF.e(msg));
    if (!eddsa.verifyPoseidon(eF.e(msg), sig, A)) fail(`verifyPoseidon failed for case ${i}`);
    const sigPacked = eddsa.packSignature(sig);
    const unpacked = eddsa.unpackSignature(Uint8Array.from(sigPacked));
    assert(eqPt(unpacked.R8, sig.R8) && BigInt(unpacked.S) === BigInt(sig.S), "signature unpack roundtrip failed");
    assert(eddsa.verifyPoseidon(eF.e(msg), unpacked, A), "verify after unpack failed");
    // A wrong message must not verify.
    assert(!eddsa.verifyPoseidon(eF.e((msg + 1n) % R), sig, A), "verify accepted wrong message");

    // Re-derive the intermediate values independently of eddsa.js to document
    // (and assert) the exact algorithm.
    const h = blake512(prv);
    const pruned = Buffer.from(h);
    pruned[0] &= 0xf8;
    pruned[31] &= 0x7f;
    pruned[31] |= 0x40;
    const s = leBytesToBig(pruned.subarray(0, 32));
    const aScalar = s >> 3n;
    assert(eqPt(mul(B8, aScalar), A), "A != Base8 * (s >> 3)");
    const msgLe = Buffer.from(msg.toString(16).padStart(64, "0"), "hex").reverse();
    const rh = blake512(Buffer.concat([pruned.subarray(32, 64), msgLe]));
    const nonce = leBytesToBig(rh) % subOrder;
    assert(eqPt(mul(B8, nonce), sig.R8), "R8 != Base8 * r");
    const hm = BigInt(poseidonWasm.F.toObject(poseidonWasm([sig.R8[0], sig.R8[1], A[0], A[1], eF.e(msg)])));
    const S = (nonce + hm * s) % subOrder;
    assert(S === BigInt(sig.S), "S != (r + H*s) mod subOrder");
    assert(BigInt(sig.S) < subOrder, "S >= subOrder");

    eddsaCases.push({
      private_key: hex(prv),
      public_key: pt(A),
      public_key_packed: hex(babyJub.packPoint(A)),
      message: msg.toString(),
      signature: { r8: pt(sig.R8), s: BigInt(sig.S).toString() },
      signature_packed: hex(sigPacked),
      derived: {
        blake512_private_key: hex(h),
        pruned_scalar: s.toString(),
        secret_scalar: aScalar.toString(),
        nonce_r: nonce.toString(),
        challenge_hm: hm.toString(),
      },
    });
  });

  // BLAKE-512 vectors (same blake-hash package that circomlibjs uses);
  // native and pure-JS implementations must agree.
  const blakeInputs = [
    Buffer.alloc(0),
    Buffer.from("abc", "utf8"),
    es.bytes(32),
    es.bytes(64),
    es.bytes(111), // crosses the 1-block padding boundary (>= 112 needs 2 blocks)
    es.bytes(112),
    es.bytes(128),
    es.bytes(200),
  ];
  const blakeVectors = blakeInputs.map((inp) => {
    const a = blake512(inp);
    const b = blakeHashJs("blake512").update(Buffer.from(inp)).digest();
    assert(Buffer.compare(a, b) === 0, "blake-hash native vs js mismatch");
    assert(a.length === 64, "blake512 output not 64 bytes");
    return { input: hex(inp), output: hex(a) };
  });
  // Known-answer check: BLAKE-512("") from the BLAKE submission.
  assert(
    blakeVectors[0].output ===
      "a8cfbbd73726062df0c6864dda65defe58ef0cc52a5625090fa17601e1eecd1b628e94f396ae402a00acc9eab77b4d4c2e852aaaa25a636d80af3fc7913ef5b8",
    "BLAKE-512('') known answer mismatch: " + blakeVectors[0].output
  );

  writeJson("eddsa.json", {
    circomlibjs_version: CIRCOMLIBJS_VERSION,
    cases: eddsaCases,
    blake512: blakeVectors,
  });

  console.log(`poseidon cases: ${poseidonCases.length}, points: ${points.length}, additions: ${additions.length}, eddsa cases: ${eddsaCases.length}, blake512: ${blakeVectors.length}`);
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
