'use strict';
// 3. Vectors regenerated: scripts/gen-lit-auth-vectors.js (our generator,
//    ours) regenerates lit-auth-vectors.json from the SDK
//    installed here into a temp dir; it must agree with the checked-in copy
//    litnode/testdata/lit-auth-vectors.json, and the Go code must agree with
//    the regenerated file (litnode/regenerated_vectors_test.go). An SDK
//    upgrade that changes the wire format fails here.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { INTEROP_DIR, REPO_ROOT, tempDir, execFileP } = require('./lib/harness');

const CHECKED_IN = path.join(REPO_ROOT, 'litnode', 'testdata', 'lit-auth-vectors.json');
let regenPath;
let regen;
let checkedIn;

let dir;
before(async () => {
  dir = tempDir('lit-vectors-');
  await execFileP(process.execPath, [path.join(INTEROP_DIR, 'scripts', 'gen-lit-auth-vectors.js')], {
    cwd: INTEROP_DIR,
    env: { ...process.env, OUT_DIR: dir },
    maxBuffer: 16 << 20,
    timeout: 120000,
  });
  regenPath = path.join(dir, 'lit-auth-vectors.json');
  regen = JSON.parse(fs.readFileSync(regenPath, 'utf8'));
  checkedIn = JSON.parse(fs.readFileSync(CHECKED_IN, 'utf8'));
});

after(() => {
  if (dir && !process.env.LITSIGND_INTEROP_KEEP) fs.rmSync(dir, { recursive: true, force: true });
});

// withoutSample drops the one random value (a fresh SDK key pair).
function withoutSample(entry) {
  const copy = JSON.parse(JSON.stringify(entry));
  if (copy.sample) copy.sample = '<random>';
  return copy;
}

test('the regenerated vectors come from the pinned SDK versions', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(INTEROP_DIR, 'package.json'), 'utf8'));
  for (const name of ['@lit-protocol/auth', '@lit-protocol/auth-helpers', '@lit-protocol/networks', '@lit-protocol/schemas', '@lit-protocol/constants', '@lit-protocol/wasm']) {
    assert.equal(regen.npmVersions[name], pkg.dependencies[name], `${name} resolved as pinned`);
  }
  assert.deepEqual(regen.npmVersions, checkedIn.npmVersions, 'same SDK versions as the checked-in vectors');
});

test('every "source":"sdk" entry of the regenerated file equals litnode/testdata/lit-auth-vectors.json', () => {
  const sdkKeys = Object.keys(regen).filter((k) => regen[k] && regen[k].source === 'sdk');
  assert.deepEqual(sdkKeys.sort(), Object.keys(checkedIn).filter((k) => checkedIn[k] && checkedIn[k].source === 'sdk').sort(), 'same SDK-sourced entries');
  assert.ok(sdkKeys.length >= 7, `SDK entries: ${sdkKeys}`);
  for (const k of sdkKeys) {
    assert.deepEqual(withoutSample(regen[k]), withoutSample(checkedIn[k]), `SDK entry ${k} changed: the SDK's wire format moved`);
  }
  // The random sample still has the shape the Go code relies on.
  const s = regen.sessionKeyPairShape;
  assert.equal(s.publicKeyHexLen, 64);
  assert.equal(s.secretKeyHexLen, 64);
  assert.equal(s.secretKeyIsSeed, true);
});

// isSubset: every value the generator writes is in the checked-in file (which
// may carry fields added by hand, e.g. delegationAuthSig.negativeNulDst*).
function assertSubset(got, want, where) {
  if (got === null || typeof got !== 'object' || Array.isArray(got)) {
    assert.deepEqual(got, want, where);
    return;
  }
  assert.ok(want && typeof want === 'object', `${where}: missing in the checked-in file`);
  for (const k of Object.keys(got)) assertSubset(got[k], want[k], `${where}.${k}`);
}

test('the built (node-mimicking) entries are reproduced too', () => {
  for (const k of Object.keys(regen)) {
    if (regen[k] && regen[k].source === 'sdk') continue;
    assertSubset(regen[k], checkedIn[k], k);
  }
});

test('go test: litnode agrees with the regenerated vectors (TestRegeneratedVectors)', async () => {
  let stdout;
  try {
    ({ stdout } = await execFileP('go', ['test', '-count=1', '-run', '^TestRegeneratedVectors$', '-v', './litnode'], {
      cwd: REPO_ROOT,
      env: { ...process.env, LITSIGND_REGENERATED_VECTORS: regenPath },
      maxBuffer: 16 << 20,
      timeout: 240000,
    }));
  } catch (e) {
    assert.fail(`go test failed (${e.code ?? e.signal}):\n${e.stdout}\n${e.stderr}`);
  }
  assert.match(stdout, /^--- PASS: TestRegeneratedVectors /m, stdout);
  assert.doesNotMatch(stdout, /--- SKIP|--- FAIL/, stdout);
});
