'use strict';
// 1. The seed's client hand-off, verbatim, against `litsignd dev`: a session
//    key pair from the SDK, a delegation for it from the devnet (Go), the
//    envelope built with the seed's exact code, checked with the SDK's own
//    validateDelegationAuthSig, published with the NATS JS client; the sealed
//    variant with libsodium; then a pkp-sign job from a JS producer whose
//    signature is checked with ethers against the PKP's address.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');

const { generateSessionKeyPair, validateDelegationAuthSig } = require('@lit-protocol/auth');
const { ethers } = require('ethers');
const sodium = require('libsodium-wrappers');

const { startDev, gohelper } = require('./lib/harness');
const { connectNats, publishDelegation, sc, jobConsumerWired, submitJob, NOT_WIRED } = require('./lib/nats');

let dev;
let nats;

before(async () => {
  dev = await startDev();
  nats = await connectNats(dev.info);
});

after(async () => {
  if (nats) await nats.nc.drain();
  // litsignd dev shuts down cleanly on SIGTERM.
  if (dev) assert.deepEqual(await dev.stop(), { code: 0, signal: null });
});

// delegationFor asks the devnet, through the Go API, for a delegation of pkp
// to the SDK-made session key.
async function delegationFor(pkp, sessionKeyPair) {
  const out = await gohelper(dev.bins.gohelper, [
    'delegate',
    '--dev-info', dev.infoPath,
    '--pkp', pkp.publicKey,
    '--session-public-key', sessionKeyPair.publicKey,
  ]);
  return JSON.parse(out);
}

// The seed's client code, verbatim.
function seedEnvelope(pkpPublicKey, sessionKeyPair, delegationAuthSig) {
  return JSON.stringify({
    pkpPublicKey,
    payload: Buffer.from(JSON.stringify({ sessionKeyPair, delegationAuthSig }), 'utf8').toString('base64url'),
  });
}

test('plain hand-off: SDK session key + devnet delegation, seed envelope, stored by litsignd', async () => {
  const pkp = dev.info.pkps[0];
  const sessionKeyPair = generateSessionKeyPair();
  assert.match(sessionKeyPair.publicKey, /^[0-9a-f]{64}$/);
  assert.match(sessionKeyPair.secretKey, /^[0-9a-f]{64}$/);

  const delegationAuthSig = await delegationFor(pkp, sessionKeyPair);
  assert.deepEqual(Object.keys(delegationAuthSig), ['sig', 'algo', 'derivedVia', 'signedMessage', 'address'], 'SDK key order');
  assert.equal(delegationAuthSig.derivedVia, 'lit.bls');
  assert.equal(delegationAuthSig.algo, 'LIT_BLS');
  assert.equal(delegationAuthSig.address, pkp.ethAddress);

  // The SDK's own check accepts it, and rejects it for another session key.
  validateDelegationAuthSig({ delegationAuthSig, sessionKeyUri: sessionKeyPair.publicKey });
  validateDelegationAuthSig({ delegationAuthSig, sessionKeyUri: 'lit:session:' + sessionKeyPair.publicKey });
  assert.throws(
    () => validateDelegationAuthSig({ delegationAuthSig, sessionKeyUri: generateSessionKeyPair().publicKey }),
    /Session key URI in delegation signature does not match/,
  );

  const envelope = seedEnvelope(pkp.publicKey, sessionKeyPair, delegationAuthSig);
  const { ack, event } = await publishDelegation(nats, envelope, pkp.publicKey);
  assert.equal(ack.stream, 'LIT_DELEGATIONS');
  assert.equal(event.subject, `lit.events.delegation.stored.${pkp.publicKey.toLowerCase()}`, `event: ${event.data}`);
  assert.equal(event.json.type, 'stored');
  assert.equal(event.json.pkpPublicKey, pkp.publicKey.toLowerCase());
  assert.equal(event.json.sessionPublicKey, sessionKeyPair.publicKey);
  assert.ok(!event.data.includes(sessionKeyPair.secretKey), 'the event never carries the secret');

  // The record is in the KV bucket, keyed by the PKP, without the secret in clear.
  const kv = await nats.js.views.kv('lit_delegations', { bindOnly: true });
  const rec = await kv.get(pkp.publicKey.toLowerCase());
  assert.ok(rec && rec.value.length > 0, 'delegation record stored');
  assert.ok(!Buffer.from(rec.value).toString('latin1').includes(sessionKeyPair.secretKey), 'secret sealed in the store');
});

test('plain hand-off: a delegation for another session key is rejected (session_uri_mismatch)', async () => {
  const pkp = dev.info.pkps[2];
  const sessionKeyPair = generateSessionKeyPair();
  const delegationAuthSig = await delegationFor(pkp, generateSessionKeyPair());
  const envelope = seedEnvelope(pkp.publicKey, sessionKeyPair, delegationAuthSig);
  const { event } = await publishDelegation(nats, envelope, pkp.publicKey);
  assert.equal(event.json.type, 'rejected', event.data);
  assert.equal(event.json.reason, 'session_uri_mismatch', event.data);
});

test('sealed hand-off: crypto_box_seal (libsodium) to the key from KV lit_daemon/sealing-public-key', async () => {
  await sodium.ready;
  const kv = await nats.js.views.kv('lit_daemon', { bindOnly: true });
  const entry = await kv.get('sealing-public-key');
  assert.ok(entry, 'sealing-public-key is in KV lit_daemon');
  const sealingKeyHex = sc.decode(entry.value).trim();
  assert.match(sealingKeyHex, /^[0-9a-f]{64}$/);
  assert.equal(sealingKeyHex, dev.info.sealingPublicKey);

  const pkp = dev.info.pkps[1];
  const sessionKeyPair = generateSessionKeyPair();
  const delegationAuthSig = await delegationFor(pkp, sessionKeyPair);
  validateDelegationAuthSig({ delegationAuthSig, sessionKeyUri: sessionKeyPair.publicKey });

  const payload = Buffer.from(JSON.stringify({ sessionKeyPair, delegationAuthSig }), 'utf8');
  const box = sodium.crypto_box_seal(payload, sodium.from_hex(sealingKeyHex));
  assert.equal(box.length, payload.length + sodium.crypto_box_SEALBYTES);
  const sealedPayload = Buffer.from(box).toString('base64url');
  assert.ok(!sealedPayload.includes('='), 'base64url without padding');
  const envelope = JSON.stringify({ pkpPublicKey: pkp.publicKey, sealedPayload });

  const { event } = await publishDelegation(nats, envelope, pkp.publicKey);
  assert.equal(event.json.type, 'stored', event.data);
  assert.equal(event.json.sessionPublicKey, sessionKeyPair.publicKey);
});

test('pkp-sign job from a JS producer: the signature recovers to the PKP address (ethers)', async (t) => {
  const wired = await jobConsumerWired(nats);
  if (!wired.ok) {
    t.skip(`${NOT_WIRED} (${wired.why}); the job assertions need it`);
    return;
  }
  const pkp = dev.info.pkps[0]; // delegated by the plain hand-off test above
  const text = `hello from the JS producer ${crypto.randomUUID()}`;
  const { id, ack, result: res } = await submitJob(nats, pkp.publicKey, text);
  assert.equal(ack.stream, wired.stream);
  t.diagnostic(`result: ${JSON.stringify(res)}`);
  assert.equal(res.id, id);
  assert.equal(res.status, 'ok', JSON.stringify(res));
  assert.equal(res.kind, 'pkp-sign');
  assert.equal(res.pkpPublicKey.toLowerCase(), pkp.publicKey.toLowerCase());
  const s = res.signature;
  const digest = ethers.utils.keccak256(ethers.utils.toUtf8Bytes(text));
  assert.equal(s.signedData.toLowerCase(), digest.toLowerCase());
  assert.match(s.signature, /^0x[0-9a-fA-F]{130}$/);
  assert.equal(parseInt(s.signature.slice(-2), 16), 27 + s.recoveryId);
  assert.equal(ethers.utils.recoverAddress(digest, s.signature), pkp.ethAddress);
  const split = ethers.utils.splitSignature(s.signature);
  assert.equal(BigInt(split.r), BigInt(s.r.startsWith('0x') ? s.r : '0x' + s.r));
  assert.equal(BigInt(split.s), BigInt(s.s.startsWith('0x') ? s.s : '0x' + s.s));
  assert.equal(ethers.utils.computeAddress(s.publicKey.startsWith('0x') ? s.publicKey : '0x' + s.publicKey), pkp.ethAddress);
});

test('pkp-sign job for a PKP without a stored delegation: error result delegation_not_found', async (t) => {
  const wired = await jobConsumerWired(nats);
  if (!wired.ok) {
    t.skip(`${NOT_WIRED} (${wired.why})`);
    return;
  }
  const pkp = dev.info.pkps[2]; // only a rejected hand-off above
  const { id, result: res } = await submitJob(nats, pkp.publicKey, 'no delegation');
  assert.equal(res.id, id);
  assert.equal(res.status, 'error', JSON.stringify(res));
  assert.equal(res.kind, 'pkp-sign');
  assert.equal(res.error.code, 'delegation_not_found', JSON.stringify(res));
  assert.equal(res.signature, undefined);
});
