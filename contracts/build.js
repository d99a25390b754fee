// Compiles src/*.sol and test/*.sol with the pinned solc into artifacts/<Name>.json and
// artifacts/test/<Name>.json, each {"abi": [...], "bin": "0x..."}. The output is
// deterministic so CI can recompile and `git diff --exit-code artifacts`.
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require("solc");

const ROOT = __dirname;
const ARTIFACTS = path.join(ROOT, "artifacts");
const TEST_ARTIFACTS = path.join(ARTIFACTS, "test");
const NODE_MODULES = path.join(ROOT, "node_modules");

// Compiled alongside our sources so the deployer has a proxy artifact.
const PROXY_SOURCE = "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
// Interfaces have no bytecode; these are still written (abi only) because tools bind to them.
const ABI_ONLY = new Set(["IDocumentResolver"]);
// EIP-170: a chain refuses runtime code larger than this.
const MAX_RUNTIME_BYTES = 24576;
// Safe v1.4.1 as released (the npm package's own build, not recompiled: the bytecode every chain
// runs), into artifacts/safe/<Name>.json in the same {"abi", "bin"} form.
const SAFE_ARTIFACTS = "@safe-global/safe-contracts/build/artifacts/contracts";
const SAFE_DIR = path.join(ARTIFACTS, "safe");
const SAFE_CONTRACTS = [
  ["Safe", "Safe.sol"],
  ["SafeProxyFactory", "proxies/SafeProxyFactory.sol"],
  ["MultiSendCallOnly", "libraries/MultiSendCallOnly.sol"],
  ["CompatibilityFallbackHandler", "handler/CompatibilityFallbackHandler.sol"],
];

function solFiles(dir) {
  return fs
    .readdirSync(path.join(ROOT, dir))
    .filter((f) => f.endsWith(".sol"))
    .sort()
    .map((f) => `${dir}/${f}`);
}

function readImport(unit) {
  if (!unit.startsWith("@openzeppelin/")) {
    return { error: `import outside @openzeppelin/ not allowed: ${unit}` };
  }
  const file = path.join(NODE_MODULES, unit);
  if (!file.startsWith(NODE_MODULES + path.sep) || !fs.existsSync(file)) {
    return { error: `not found: ${unit}` };
  }
  return { contents: fs.readFileSync(file, "utf8") };
}

function compile(units) {
  const sources = {};
  for (const unit of units) {
    const contents = unit.startsWith("@openzeppelin/")
      ? readImport(unit).contents
      : fs.readFileSync(path.join(ROOT, unit), "utf8");
    sources[unit] = { content: contents };
  }
  const input = {
    language: "Solidity",
    sources,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun",
      viaIR: false,
      outputSelection: {
        "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
      },
    },
  };
  return JSON.parse(solc.compile(JSON.stringify(input), { import: readImport }));
}

function writeArtifact(file, abi, bin) {
  const text = JSON.stringify({ abi, bin }, null, 2) + "\n";
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // Rewrite only on change so timestamps stay put and incremental tools are not woken.
  if (!fs.existsSync(file) || fs.readFileSync(file, "utf8") !== text) {
    fs.writeFileSync(file, text);
  }
}

function removeStale(dir, produced) {
  if (!fs.existsSync(dir)) return;
  for (const f of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, f);
    if (f.endsWith(".json") && fs.statSync(file).isFile() && !produced.has(file)) {
      fs.unlinkSync(file);
      console.log(`removed stale ${path.relative(ROOT, file)}`);
    }
  }
}

function main() {
  const started = Date.now();
  const srcUnits = solFiles("src");
  const testUnits = solFiles("test");
  console.log(`solc ${solc.version()}: ${srcUnits.length} src, ${testUnits.length} test files`);

  const output = compile([...srcUnits, ...testUnits, PROXY_SOURCE]);

  let failed = false;
  for (const diag of output.errors || []) {
    const text = (diag.formattedMessage || diag.message).trimEnd();
    if (diag.severity === "error") {
      failed = true;
      console.error(text);
    } else {
      console.warn(text);
    }
  }
  if (failed || !output.contracts) {
    console.error("compilation failed");
    process.exit(1);
  }

  const produced = new Set();
  const problems = [];
  const emit = (dir, name, contract) => {
    const file = path.join(dir, `${name}.json`);
    if (produced.has(file)) {
      problems.push(`two contracts named ${name}: artifact names must be unique`);
      return;
    }
    produced.add(file);
    const runtime = contract.evm.deployedBytecode.object.length / 2;
    if (runtime > MAX_RUNTIME_BYTES) {
      problems.push(`${name}: runtime code is ${runtime} bytes, over the ${MAX_RUNTIME_BYTES}-byte limit`);
    }
    const bin = contract.evm.bytecode.object;
    writeArtifact(file, contract.abi, bin ? `0x${bin}` : "0x");
  };

  for (const unit of Object.keys(output.contracts).sort()) {
    const inSrc = unit.startsWith("src/");
    const inTest = unit.startsWith("test/");
    for (const name of Object.keys(output.contracts[unit]).sort()) {
      const contract = output.contracts[unit][name];
      const deployable = contract.evm.bytecode.object.length > 0;
      if (inSrc && (deployable || ABI_ONLY.has(name))) emit(ARTIFACTS, name, contract);
      else if (inTest && deployable) emit(TEST_ARTIFACTS, name, contract);
      else if (unit === PROXY_SOURCE && name === "ERC1967Proxy") emit(ARTIFACTS, name, contract);
    }
  }
  if (problems.length > 0) {
    for (const p of problems) console.error(p);
    process.exit(1);
  }

  for (const [name, unit] of SAFE_CONTRACTS) {
    const built = JSON.parse(
      fs.readFileSync(path.join(NODE_MODULES, SAFE_ARTIFACTS, unit, `${name}.json`), "utf8"),
    );
    const file = path.join(SAFE_DIR, `${name}.json`);
    produced.add(file);
    writeArtifact(file, built.abi, built.bytecode);
  }

  removeStale(ARTIFACTS, produced);
  removeStale(TEST_ARTIFACTS, produced);
  removeStale(SAFE_DIR, produced);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`wrote ${produced.size} artifacts in ${seconds}s`);
}

main();
