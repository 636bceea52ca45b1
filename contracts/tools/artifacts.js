#!/usr/bin/env node
// Copies the ABI and bytecode of the contracts the Rust code deploys and calls (crate
// zkperp-contracts, `sol!` in rust/lib.rs) from forge's out/ into artifacts/, which is committed
// so that `cargo build` works on a fresh clone without node or forge.
//
//   node tools/artifacts.js          write artifacts/ from out/ (run `forge build` first)
//   node tools/artifacts.js --check  fail if artifacts/ differs from out/ (CI, after forge test)
'use strict';
const fs = require('fs');
const path = require('path');

const CONTRACTS = ['Rollup', 'Groth16Verifier', 'TestToken'];
const root = path.join(__dirname, '..');
const check = process.argv.includes('--check');
let stale = [];

for (const name of CONTRACTS) {
  const built = JSON.parse(fs.readFileSync(path.join(root, 'out', `${name}.sol`, `${name}.json`), 'utf8'));
  const artifact = {
    contractName: name,
    abi: built.abi,
    bytecode: built.bytecode.object,
    deployedBytecode: built.deployedBytecode.object,
  };
  const text = JSON.stringify(artifact, null, 1) + '\n';
  const file = path.join(root, 'artifacts', `${name}.json`);
  if (check) {
    const stored = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    if (stored !== text) stale.push(name);
  } else {
    fs.writeFileSync(file, text);
  }
}
if (stale.length) {
  console.error(`artifacts/ is stale for ${stale.join(', ')}: run \`node_modules/.bin/forge build && node tools/artifacts.js\` in contracts/ and commit artifacts/`);
  process.exit(1);
}
console.log(check ? 'artifacts: up to date' : 'artifacts: written');
