#!/usr/bin/env node
// The solc that forge runs: the npm `solc` package (emscripten build) behind the two entry points
// forge uses. There is no native solc in any registry these machines reach, and forge cannot
// download one, so foundry.toml names this script (through the `tools/solc` shim).
//
//   solc --version                 prints "Version: 0.8.37+commit...", which forge parses
//   solc --standard-json [flags]   reads Standard JSON from stdin, writes the output to stdout
//
// `solcjs --standard-json` cannot stand in: it prints an extra line on stdout that forge cannot
// parse. Imports forge did not inline are read from disk, relative to --base-path and every
// --include-path, and only below those roots and --allow-paths.
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');

const args = process.argv.slice(2);

if (args.includes('--version') || args.includes('-v')) {
  process.stdout.write('solc, the solidity compiler commandline interface\n');
  process.stdout.write(`Version: ${solc.version()}\n`);
  process.exit(0);
}

if (!args.includes('--standard-json')) {
  process.stderr.write('tools/solc.js supports only --version and --standard-json\n');
  process.exit(2);
}

function flagValues(name) {
  const out = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name && i + 1 < args.length) out.push(...args[i + 1].split(','));
    else if (args[i].startsWith(name + '=')) out.push(...args[i].slice(name.length + 1).split(','));
  }
  return out.filter((p) => p.length > 0).map((p) => path.resolve(p));
}

const basePaths = flagValues('--base-path');
const roots = [...(basePaths.length ? basePaths : [process.cwd()]), ...flagValues('--include-path')];
const allowed = [...roots, ...flagValues('--allow-paths')];

function isAllowed(file) {
  return allowed.some((root) => file === root || file.startsWith(root + path.sep));
}

function findImports(importPath) {
  const candidates = path.isAbsolute(importPath)
    ? [importPath]
    : roots.map((root) => path.resolve(root, importPath));
  for (const file of candidates) {
    if (isAllowed(file) && fs.existsSync(file)) {
      return { contents: fs.readFileSync(file, 'utf8') };
    }
  }
  return { error: `File not found: ${importPath}` };
}

const input = fs.readFileSync(0, 'utf8');
process.stdout.write(solc.compile(input, { import: findImports }));
