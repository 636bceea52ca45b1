#!/usr/bin/env node
// Generates messages.json: zkperp's signed messages (orders, cancels, withdrawals, oracle
// quotes, API reads) built and signed with circomlibjs alone, for
// state/tests/circomlibjs_messages.rs to check against the Rust types and verifier.
//
// The packing below is written from docs/SIGNING.md, not from the Rust code: the point is that a
// wallet written from the docs produces what zkperp accepts. Nothing here copies a number out
// of Rust; every hash and signature is computed here.
//
// Deterministic (fixed keys, fixed examples; EdDSA-Poseidon and RFC 6979 ECDSA are
// deterministic): running it again gives byte-identical JSON.
//
// Usage: npm ci && node gen-messages.js
"use strict";

const fs = require("fs");
const path = require("path");
const circomlibjs = require("circomlibjs");
// ethers 5 is a dependency of circomlibjs 0.1.7 (pinned in package-lock.json); it is used only
// for the Ethereum side of the trading-key derivation (personal_sign and keccak256).
const ethers = require("ethers");

const OUT = path.join(__dirname, "messages.json");

// BN254 scalar field modulus r (Poseidon's field, Baby Jubjub's base field).
const R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

function fail(msg) {
  console.error("FATAL: " + msg);
  process.exit(1);
}
function assert(cond, msg) {
  if (!cond) fail(msg);
}

// ---------------------------------------------------------------------------------------------
// docs/SIGNING.md, "The signing domain" and "The tag"
// ---------------------------------------------------------------------------------------------

// The trading key of every example: the 32 bytes 0x01, 0x02, ..., 0x20.
const PRIVATE_KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i + 1));
// The Ethereum key of the trading-key derivation example: the 32 bytes 0x21, ..., 0x40.
const ETH_PRIVATE_KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i + 0x21));

const ROLLUP = Buffer.from("zkperp-test-rollup-1", "ascii"); // 20 bytes
assert(ROLLUP.length === 20, "the rollup address is 20 bytes");
const DOMAIN = { chainId: 31337n, rollup: ROLLUP };
// The same rollup address on another chain: no signature of DOMAIN may verify there.
const OTHER_DOMAIN = { chainId: 1n, rollup: ROLLUP };

const KIND = { order: 1n, withdrawal: 2n, oracle_quote: 3n, cancel_order: 4n, api_read: 5n };

const bytesToBig = (buf) => BigInt("0x" + (Buffer.from(buf).toString("hex") || "0"));

// domain = chain_id << 160 | rollup (the address as a 160-bit big-endian integer).
function domainValue(d) {
  assert(d.chainId >= 0n && d.chainId < 1n << 64n, "chain id is a u64");
  assert(d.rollup.length === 20, "rollup is 20 bytes");
  return (d.chainId << 160n) | bytesToBig(d.rollup);
}

// tag(kind) = kind | domain << 8.
function tag(d, kind) {
  return KIND[kind] | (domainValue(d) << 8n);
}

// The same tag built from bytes, as the docs also describe it: 3 zero bytes, the chain id as 8
// big-endian bytes, the 20 address bytes, the kind byte (32 bytes big-endian).
function tagFromBytes(d, kind) {
  const chain = Buffer.alloc(8);
  chain.writeBigUInt64BE(d.chainId);
  const be = Buffer.concat([Buffer.alloc(3), chain, d.rollup, Buffer.from([Number(KIND[kind])])]);
  assert(be.length === 32, "tag is 32 bytes");
  return bytesToBig(be);
}

// ---------------------------------------------------------------------------------------------
// docs/SIGNING.md, "Message layouts": each word is a list of [field, bit offset, width].
// ---------------------------------------------------------------------------------------------

const LAYOUTS = {
  order: [
    [["account", 0, 32], ["market", 32, 8], ["side", 40, 1], ["max_fee", 41, 20], ["expiry", 61, 40]],
    [["size", 0, 40], ["limit_price", 40, 40], ["order_id", 80, 40]],
  ],
  cancel_order: [[["account", 0, 32], ["order_id", 32, 40]]],
  withdrawal: [[["account", 0, 32], ["nonce", 32, 32], ["amount", 64, 63]]],
  oracle_quote: [[["market", 0, 8], ["price", 8, 40], ["timestamp", 48, 40]]],
  // Not packed: two inputs of their own.
  api_read: [[["account", 0, 32]], [["timestamp", 0, 64]]],
};
// The width of each word, as the docs state it.
const WORD_BITS = { order: [101, 120], cancel_order: [72], withdrawal: [127], oracle_quote: [88], api_read: [32, 64] };

// The layouts are contiguous from bit 0 (no gap, no overlap) and end at the stated width.
for (const [kind, words] of Object.entries(LAYOUTS)) {
  words.forEach((word, i) => {
    let next = 0;
    for (const [name, offset, width] of word) {
      assert(offset === next, `${kind} word ${i}: ${name} starts at ${offset}, expected ${next}`);
      next = offset + width;
    }
    assert(next === WORD_BITS[kind][i], `${kind} word ${i} is ${next} bits, the docs say ${WORD_BITS[kind][i]}`);
    assert(next < 253, "a word must stay below r");
  });
}

// A field's integer value: "buy" is 0, "sell" is 1; everything else a decimal string.
function fieldValue(name, text) {
  if (name === "side") {
    assert(text === "buy" || text === "sell", `side is buy or sell, got ${text}`);
    return text === "sell" ? 1n : 0n;
  }
  assert(/^(0|[1-9][0-9]*)$/.test(text), `${name} = ${text} is not a decimal integer`);
  return BigInt(text);
}

function words(kind, fields) {
  const used = new Set();
  const out = LAYOUTS[kind].map((word) => {
    let w = 0n;
    for (const [name, offset, width] of word) {
      assert(name in fields, `${kind}: missing ${name}`);
      const v = fieldValue(name, fields[name]);
      assert(v >= 0n && v < 1n << BigInt(width), `${kind}: ${name} = ${v} does not fit ${width} bits`);
      w |= v << BigInt(offset);
      used.add(name);
    }
    return w;
  });
  for (const name of Object.keys(fields)) assert(used.has(name), `${kind}: unknown field ${name}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Examples: several of each kind, with every field at its extremes somewhere.
// ---------------------------------------------------------------------------------------------

const MAX = (bits) => ((1n << BigInt(bits)) - 1n).toString();
const TOP = (bits) => (1n << BigInt(bits - 1)).toString();

const EXAMPLES = [
  // Orders. size: lots (> 0 for a real order), limit_price: ticks, max_fee: ppm of the notional,
  // expiry: unix seconds, order_id: the trader's number (its slot is order_id mod 2^depth).
  ["order", "buy 18 lots at 4400050 ticks, fee up to 0.1%", {
    account: "7", market: "0", side: "buy", max_fee: "1000", expiry: "1700003600",
    size: "18", limit_price: "4400050", order_id: "170000000000" }],
  ["order", "sell, every field at its maximum: max order id, max price, max size, max fee width, max expiry", {
    account: MAX(32), market: MAX(8), side: "sell", max_fee: MAX(20), expiry: MAX(40),
    size: MAX(40), limit_price: MAX(40), order_id: MAX(40) }],
  ["order", "sell, max fee 100% (10^6 ppm), the least of everything else", {
    account: "3", market: "1", side: "sell", max_fee: "1000000", expiry: "1",
    size: "1", limit_price: "1", order_id: "1" }],
  ["order", "the top bit of every field alone", {
    account: TOP(32), market: TOP(8), side: "sell", max_fee: TOP(20), expiry: TOP(40),
    size: TOP(40), limit_price: TOP(40), order_id: TOP(40) }],
  ["order", "all zero (the API refuses size 0, but the hash is defined)", {
    account: "0", market: "0", side: "buy", max_fee: "0", expiry: "0",
    size: "0", limit_price: "0", order_id: "0" }],
  ["order", "buy, max order id and max price on market 2", {
    account: "123456", market: "2", side: "buy", max_fee: "500", expiry: "1893456000",
    size: "250000", limit_price: MAX(40), order_id: MAX(40) }],

  // Cancels.
  ["cancel_order", "cancel order 170000000000 of account 7", { account: "7", order_id: "170000000000" }],
  ["cancel_order", "max account, max order id", { account: MAX(32), order_id: MAX(40) }],
  ["cancel_order", "top bits", { account: TOP(32), order_id: TOP(40) }],
  ["cancel_order", "zeros", { account: "0", order_id: "0" }],

  // Withdrawals. amount: collateral units of 10^-6; nonce: the account's withdrawal counter.
  ["withdrawal", "100 collateral (10^8 units), nonce 0", { account: "7", amount: "100000000", nonce: "0" }],
  ["withdrawal", "max account, max amount (2^63 - 1), max nonce", { account: MAX(32), amount: MAX(63), nonce: MAX(32) }],
  ["withdrawal", "a large amount above 2^53 (a JavaScript Number would round it)", { account: "12", amount: "9007199254740993", nonce: "3" }],
  ["withdrawal", "top bits", { account: TOP(32), amount: TOP(63), nonce: TOP(32) }],
  ["withdrawal", "one unit", { account: "1", amount: "1", nonce: "1" }],

  // Oracle quotes. price: ticks; timestamp: unix seconds.
  ["oracle_quote", "market 0 at 4400050 ticks", { market: "0", price: "4400050", timestamp: "1700000000" }],
  ["oracle_quote", "max market, max price, max timestamp", { market: MAX(8), price: MAX(40), timestamp: MAX(40) }],
  ["oracle_quote", "top bits", { market: TOP(8), price: TOP(40), timestamp: TOP(40) }],
  ["oracle_quote", "ones", { market: "1", price: "1", timestamp: "1" }],

  // API reads. timestamp: unix seconds (a u64; the server accepts 60 s either side of its clock).
  ["api_read", "account 7 at 1700000000", { account: "7", timestamp: "1700000000" }],
  ["api_read", "max account, max u64 timestamp", { account: MAX(32), timestamp: MAX(64) }],
  ["api_read", "zeros", { account: "0", timestamp: "0" }],
];

// ---------------------------------------------------------------------------------------------
// JSON text with exact integers (JSON.stringify cannot write a BigInt, and a Number above 2^53
// is rounded): BigInt values are written as bare integers.
// ---------------------------------------------------------------------------------------------

function json(v) {
  if (typeof v === "bigint") return v.toString();
  if (Array.isArray(v)) return "[" + v.map(json).join(",") + "]";
  if (v !== null && typeof v === "object") {
    return "{" + Object.entries(v).map(([k, x]) => JSON.stringify(k) + ":" + json(x)).join(",") + "}";
  }
  return JSON.stringify(v);
}

// The request a wallet sends for a message (docs/SIGNING.md, "The API").
function request(kind, f, signatureHex) {
  const n = (name) => BigInt(f[name]);
  switch (kind) {
    case "order":
      return {
        method: "POST",
        path: "/v1/orders",
        body: json({
          order: {
            order: {
              account: n("account"), market: n("market"), side: f.side, size: n("size"),
              limit_price: n("limit_price"), max_fee: n("max_fee"), expiry: n("expiry"),
              order_id: n("order_id"),
            },
            signature: signatureHex,
          },
          options: { time_in_force: "good_till_cancelled", reduce_only: false, self_trade: "cancel_resting" },
        }),
      };
    case "cancel_order":
      return { method: "DELETE", path: `/v1/orders/${f.account}-${f.order_id}`, body: json({ signature: signatureHex }) };
    case "withdrawal":
      return {
        method: "POST",
        path: "/v1/withdrawals",
        body: json({ withdrawal: { account: n("account"), amount: n("amount"), nonce: n("nonce"), signature: signatureHex } }),
      };
    case "oracle_quote":
      return {
        method: "POST",
        path: "/v1/oracle/quotes",
        body: json({ market: n("market"), oracle: 0n, price_ticks: n("price"), timestamp: n("timestamp"), signature: signatureHex }),
      };
    case "api_read":
      return {
        method: "GET",
        path: `/v1/accounts/${f.account}`,
        headers: { "x-zkperp-timestamp": f.timestamp, "x-zkperp-signature": signatureHex },
      };
    default:
      fail(`unknown kind ${kind}`);
  }
}

const CIRCOMLIBJS_VERSION = JSON.parse(
  fs.readFileSync(path.join(path.dirname(require.resolve("circomlibjs")), "..", "package.json"), "utf8")
).version;

async function main() {
  assert(CIRCOMLIBJS_VERSION === "0.1.7", `expected circomlibjs 0.1.7, found ${CIRCOMLIBJS_VERSION}`);
  const poseidon = await circomlibjs.buildPoseidon();
  const poseidonRef = await circomlibjs.buildPoseidonReference();
  const eddsa = await circomlibjs.buildEddsa();
  const babyJub = await circomlibjs.buildBabyjub();
  const F = eddsa.babyJub.F;
  const subOrder = BigInt(eddsa.babyJub.subOrder);

  // circomlib Poseidon of BigInt inputs, as a BigInt; the wasm and reference builds must agree.
  const hash = (inputs) => {
    inputs.forEach((x) => assert(typeof x === "bigint" && x >= 0n && x < R, `Poseidon input ${x} is not below r`));
    const a = poseidon.F.toObject(poseidon(inputs));
    const b = poseidonRef.F.toObject(poseidonRef(inputs));
    assert(a === b, `buildPoseidon and buildPoseidonReference disagree on [${inputs}]`);
    return a;
  };
  assert(hash([1n, 2n]) === 7853200120776062878684798364095072458815029376092732009249414926327459813530n, "poseidon([1,2])");

  // docs/SIGNING.md, "Signature encoding": packPoint(P) = y as 32 little-endian bytes, with bit
  // 7 of byte 31 set when x > (p - 1) / 2; a signature is packPoint(R8) || S as 32 LE bytes.
  const le32 = (v) => {
    assert(v >= 0n && v < 1n << 256n, "32 bytes");
    return Buffer.from(v.toString(16).padStart(64, "0"), "hex").reverse();
  };
  const packPoint = (P) => {
    const x = F.toObject(P[0]);
    const out = le32(F.toObject(P[1]));
    if (x > (R - 1n) / 2n) out[31] |= 0x80;
    return out;
  };
  const packSignature = (sig) => Buffer.concat([packPoint(sig.R8), le32(BigInt(sig.S))]).toString("hex");

  const A = eddsa.prv2pub(PRIVATE_KEY);
  const publicKeyPacked = packPoint(A).toString("hex");
  assert(publicKeyPacked === Buffer.from(babyJub.packPoint(A)).toString("hex"), "packPoint(A) differs from circomlibjs");

  const domainJson = (d) => {
    const tags = {};
    for (const kind of Object.keys(KIND)) {
      const t = tag(d, kind);
      assert(t === tagFromBytes(d, kind), `tag(${kind}) differs from its byte layout`);
      assert(t < 1n << 232n, "a tag is 232 bits");
      tags[kind] = t.toString();
    }
    return {
      chain_id: d.chainId.toString(),
      rollup: "0x" + d.rollup.toString("hex"),
      value: domainValue(d).toString(),
      tags,
    };
  };

  const messages = EXAMPLES.map(([kind, label, fields]) => {
    const w = words(kind, fields);
    w.forEach((x, i) => assert(x < 1n << BigInt(WORD_BITS[kind][i]), `${label}: word ${i} exceeds its width`));
    const t = tag(DOMAIN, kind);
    const message = hash([t, ...w]);
    const otherMessage = hash([tag(OTHER_DOMAIN, kind), ...w]);
    assert(message !== otherMessage, "the domain changes the message");

    const sig = eddsa.signPoseidon(PRIVATE_KEY, F.e(message));
    assert(eddsa.verifyPoseidon(F.e(message), sig, A), `${label}: the signature does not verify`);
    assert(!eddsa.verifyPoseidon(F.e(otherMessage), sig, A), `${label}: the signature verifies under another domain`);
    assert(BigInt(sig.S) < subOrder, "S < l");
    const packed = packSignature(sig);
    assert(packed === Buffer.from(eddsa.packSignature(sig)).toString("hex"), `${label}: packing differs from circomlibjs packSignature`);
    assert(packed.length === 128, "128 hex digits");
    const unpacked = eddsa.unpackSignature(Buffer.from(packed, "hex"));
    assert(eddsa.verifyPoseidon(F.e(message), unpacked, A), `${label}: the unpacked signature does not verify`);

    return {
      kind,
      kind_number: Number(KIND[kind]),
      label,
      fields,
      tag: t.toString(),
      words: w.map(String),
      message: message.toString(),
      other_domain_message: otherMessage.toString(),
      signature: packed,
      signature_parts: { r8: { x: F.toObject(sig.R8[0]).toString(), y: F.toObject(sig.R8[1]).toString() }, s: BigInt(sig.S).toString() },
      request: request(kind, fields, packed),
    };
  });

  // docs/SIGNING.md, "The trading key": keccak256 of the 65-byte personal_sign signature
  // (r || s || v, v = 27 or 28) of the derivation message, as circomlibjs' 32-byte private key.
  const ethWallet = new ethers.Wallet(ETH_PRIVATE_KEY);
  const derivationMessage = `zkperp trading key v2\nchain id: ${DOMAIN.chainId}\nrollup: 0x${DOMAIN.rollup.toString("hex")}`;
  const ethSignature = await ethWallet.signMessage(derivationMessage);
  assert(ethers.utils.hexDataLength(ethSignature) === 65, "personal_sign gives 65 bytes");
  const v = ethers.utils.arrayify(ethSignature)[64];
  assert(v === 27 || v === 28, "v is 27 or 28");
  assert(ethers.utils.verifyMessage(derivationMessage, ethSignature) === ethWallet.address, "personal_sign recovers");
  assert((await ethWallet.signMessage(derivationMessage)) === ethSignature, "personal_sign is deterministic");
  const tradingKey = Buffer.from(ethers.utils.arrayify(ethers.utils.keccak256(ethSignature)));
  const tradingPublic = eddsa.prv2pub(tradingKey);

  const out = {
    circomlibjs_version: CIRCOMLIBJS_VERSION,
    ethers_version: ethers.version,
    docs: "docs/SIGNING.md",
    private_key: PRIVATE_KEY.toString("hex"),
    public_key: { x: F.toObject(A[0]).toString(), y: F.toObject(A[1]).toString() },
    public_key_packed: publicKeyPacked,
    domain: domainJson(DOMAIN),
    other_domain: domainJson(OTHER_DOMAIN),
    messages,
    trading_key_derivation: {
      eth_private_key: ETH_PRIVATE_KEY.toString("hex"),
      eth_address: ethWallet.address,
      chain_id: DOMAIN.chainId.toString(),
      rollup: "0x" + DOMAIN.rollup.toString("hex"),
      message: derivationMessage,
      personal_sign_signature: ethSignature.slice(2),
      trading_private_key: tradingKey.toString("hex"),
      trading_public_key_packed: packPoint(tradingPublic).toString("hex"),
    },
  };
  fs.writeFileSync(OUT, JSON.stringify(out, null, 2) + "\n");
  const count = {};
  for (const m of messages) count[m.kind] = (count[m.kind] || 0) + 1;
  console.log(`wrote messages.json (${fs.statSync(OUT).size} bytes): ${json(count)}`);
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
