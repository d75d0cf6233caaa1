'use strict';
// Lit v3 ("Chipotle") fake: the documentation's example actions
// (litv3/v3fake/examples.go) run unmodified on the fake (through the Go
// litv3 client, `gohelper v3-examples`), and what they return verifies with
// ethers 5.7.2's own verifyMessage / recoverAddress / utils — the library
// the real service loads into every action.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { ethers } = require('ethers');

const { tempDir, build, gohelper } = require('./lib/harness');

let dir;
let out;
before(async () => {
  dir = tempDir('lit-v3-examples-');
  const bins = await build(dir);
  out = JSON.parse(await gohelper(bins.gohelper, ['v3-examples'], ''));
});

after(() => {
  if (dir && !process.env.LITSIGND_INTEROP_KEEP) fs.rmSync(dir, { recursive: true, force: true });
});

test('signing guide action: wallet.signMessage verifies with ethers.utils.verifyMessage', () => {
  const { signature, address } = out.signMessage;
  assert.equal(ethers.utils.verifyMessage(out.message, signature), out.wallet);
  assert.equal(address, out.wallet);
});

test('raw digest signature recovers with ethers.utils.recoverAddress', () => {
  const { signature, r, s, v, recoveryParam } = out.signDigest;
  assert.equal(ethers.utils.recoverAddress(out.digest, signature), out.wallet);
  const split = ethers.utils.splitSignature(signature);
  assert.deepEqual([split.r, split.s, split.v, split.recoveryParam], [r, s, v, recoveryParam]);
  assert.ok(v === 27 || v === 28);
});

test('Encrypt/Decrypt round trip, and Go decrypts the same ciphertext', () => {
  const { ciphertext, plaintext } = out.encryptDecrypt;
  assert.equal(plaintext, 'secret ✓ message');
  assert.equal(out.goDecrypted, plaintext);
  assert.match(ciphertext, /^[0-9a-f]+$/); // lowercase hex, no 0x
  assert.equal(ciphertext.length, 2 * (12 + Buffer.byteLength(plaintext) + 16));
});

test('an action using ethers.utils computes what ethers computes', () => {
  const u = out.ethersUtils;
  const bytes = ethers.utils.toUtf8Bytes(out.message);
  assert.equal(u.keccak256, ethers.utils.keccak256(bytes));
  assert.equal(u.hashMessage, ethers.utils.hashMessage(out.message));
  assert.equal(u.digestBytes, 32);
  assert.equal(u.checksummed, ethers.utils.getAddress(out.wallet.toLowerCase()));
  assert.equal(u.version, ethers.version); // the same library: "ethers/5.7.2"
});

test("the action's own key signs, and its address and public key agree", () => {
  const { signature, address, publicKey } = out.actionKey;
  assert.equal(ethers.utils.verifyMessage(out.message, signature).toLowerCase(), address);
  assert.equal(ethers.utils.computeAddress(publicKey).toLowerCase(), address);
  assert.equal(ethers.utils.arrayify(publicKey).length, 33); // compressed SEC1
});

test('each example ran exactly once', () => {
  assert.equal(out.runs, 5);
});
