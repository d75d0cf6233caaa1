'use strict';
// 2. Session signatures cross-checked: what litnode.MintSessionSigs mints
//    (through the Go helper) equals, byte for byte, what the SDK's own
//    session-sig code produces for the same inputs with the clock frozen,
//    and the SDK's validateSessionSigs accepts ours.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');

const { createAuthManager, generateSessionKeyPair } = require('@lit-protocol/auth');
// Not exported from the package index; the SDK's own client-side check (docs/naga-auth.md §5.2).
const { validateSessionSigs } = require('@lit-protocol/auth/src/lib/authenticators/helper/session-sigs-validator');
const { transformShorthandResources } = require('@lit-protocol/auth-helpers');
const networks = require('@lit-protocol/networks');
const { ethers } = require('ethers');

const { startDev, gohelper } = require('./lib/harness');
const { withFrozenClock } = require('./lib/frozen-clock');

let dev;
before(async () => {
  dev = await startDev();
});
after(async () => {
  if (dev) await dev.stop();
});

// An in-memory storage plugin, as the vector generator uses.
function memoryStorage() {
  const mem = {};
  return {
    config: {},
    read: async () => null,
    write: async () => {},
    writeInnerDelegationAuthSig: async ({ publicKey, authSig }) => {
      mem[publicKey] = authSig;
    },
    readInnerDelegationAuthSig: async ({ publicKey }) => mem[publicKey] || null,
  };
}

// fakeLitClient stands in for createLitClient's context: the devnet's nodes
// with the given prices (columns DECRYPTION, SIGN, LIT_ACTION, SIGN_SESSION_KEY).
function fakeLitClient(nodePrices, threshold, userMaxPrice) {
  const ctx = {
    latestConnectionInfo: { priceFeedInfo: { networkPrices: nodePrices }, epochState: { currentNumber: 1 } },
    handshakeResult: { threshold, serverKeys: Object.fromEntries(nodePrices.map((n) => [n.url, {}])) },
    getMaxPricesForNodeProduct: networks.getMaxPricesForNodeProduct,
    getUserMaxPrice: userMaxPrice === undefined ? networks.getUserMaxPrice : () => userMaxPrice,
  };
  return { getContext: async () => ctx };
}

async function delegationFor(pkp, sessionKeyPair, resources) {
  const args = ['delegate', '--dev-info', dev.infoPath, '--pkp', pkp.publicKey, '--session-public-key', sessionKeyPair.publicKey];
  if (resources) args.push('--resources', resources);
  return JSON.parse(await gohelper(dev.bins.gohelper, args));
}

async function goMint(input) {
  return JSON.parse(await gohelper(dev.bins.gohelper, ['mint-session-sigs'], JSON.stringify(input)));
}

// A frozen "now" a little after the real one (the delegation's window must
// contain it), with a non-zero millisecond part.
function frozenNow() {
  return new Date(Math.floor(Date.now() / 1000) * 1000 + 2000 + 345).toISOString();
}

function assertSDKValid(sigs) {
  const v = validateSessionSigs(sigs);
  assert.equal(v.isValid, true, `validateSessionSigs: ${v.errors}`);
}

// assertEd25519 checks every signature with node:crypto (not the SDK's noble).
function assertEd25519(sigs, sessionPublicKey) {
  const key = crypto.createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(sessionPublicKey, 'hex')]),
    format: 'der',
    type: 'spki',
  });
  for (const s of Object.values(sigs)) {
    assert.equal(s.address, sessionPublicKey);
    assert.ok(crypto.verify(null, Buffer.from(s.signedMessage, 'utf8'), key, Buffer.from(s.sig, 'hex')), 'ed25519 verifies');
  }
}

const PRODUCT_COLUMN = { DECRYPTION: 0, SIGN: 1, LIT_ACTION: 2, SIGN_SESSION_KEY: 3 };

for (const { product, userMaxPrice } of [
  { product: 'LIT_ACTION', userMaxPrice: undefined },
  { product: 'SIGN', userMaxPrice: 100000n },
]) {
  test(`createPkpSessionSigs (${product}, userMaxPrice ${userMaxPrice ?? 'unlimited'}) on a devnet delegation == litnode.MintSessionSigs`, async () => {
    const pkp = dev.info.pkps[0];
    const sessionKeyPair = generateSessionKeyPair();
    const delegationAuthSig = await delegationFor(pkp, sessionKeyPair, 'pkp-signing:*,lit-action-execution:*,access-control-condition-decryption:*');
    // Prices with ties (stable sort) and a cheapest node that is not first.
    const urls = dev.info.network.nodes;
    const nodePrices = urls.map((url, i) => ({ url, prices: [[7n, 5n, 9n, 5n][i], [30n, 10n, 30n, 20n][i], [9n, 5n, 5n, 7n][i], 1n] }));
    const threshold = dev.info.network.threshold;
    const now = frozenNow();

    const authManager = createAuthManager({ storage: memoryStorage() });
    const sdkSigs = await withFrozenClock(now, () =>
      authManager.createPkpSessionSigs({
        pkpPublicKey: pkp.publicKey,
        sessionKeyPair,
        delegationAuthSig,
        litClient: fakeLitClient(nodePrices, threshold, userMaxPrice),
        product,
      }),
    );
    assert.equal(Object.keys(sdkSigs).length, threshold);
    for (const s of Object.values(sdkSigs)) assert.equal(JSON.parse(s.signedMessage).issuedAt, now, 'clock frozen');

    // Go derives resources and expiration from the delegation and picks the
    // nodes itself, as litsignd does.
    const goSigs = await goMint({
      sessionKeySeed: sessionKeyPair.secretKey,
      capabilities: [delegationAuthSig],
      issuedAt: now,
      nodePrices: nodePrices.map((n) => ({ url: n.url, price: n.prices[PRODUCT_COLUMN[product]].toString() })),
      threshold,
      ...(userMaxPrice !== undefined ? { userMaxPrice: userMaxPrice.toString() } : {}),
    });
    assert.deepEqual(Object.keys(goSigs).sort(), Object.keys(sdkSigs).sort(), 'same nodes selected');
    for (const url of Object.keys(sdkSigs)) {
      assert.equal(goSigs[url].signedMessage, sdkSigs[url].signedMessage, `signedMessage for ${url}`);
      assert.deepEqual(goSigs[url], sdkSigs[url], `session sig for ${url}`);
      // The outer AuthSig's key order differs (SDK: sig, derivedVia,
      // signedMessage, address, algo; litnode: sig, algo, derivedVia, …); it
      // is not signed and a node parses it as JSON (README: differences).
    }
    assertEd25519(goSigs, sessionKeyPair.publicKey);
    // The SDK's own check accepts ours (with the real clock, too).
    await withFrozenClock(now, async () => assertSDKValid(goSigs));
    assertSDKValid(goSigs);
  });
}

// A hand-made EOA auth sig (a payment-delegation-like capability placed
// before the PKP delegation, as authConfig.capabilityAuthSigs are).
function eoaCapability(expiration) {
  const wallet = new ethers.Wallet('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d');
  const msg = [
    'localhost wants you to sign in with your Ethereum account:',
    wallet.address,
    '',
    "Payer <&> caf\u00e9 \u2028 line-sep \u{1F511} I further authorize the stated URI to perform the following actions on my behalf:",
    '',
    'URI: lit:capability:delegation',
    'Version: 1',
    'Chain ID: 1',
    'Nonce: 0x' + '11'.repeat(32),
    'Issued At: 2025-01-01T00:00:00.000Z',
    'Expiration Time: ' + expiration,
  ].join('\n');
  return { sig: '0x' + 'ab'.repeat(65), derivedVia: 'web3.eth.personal.sign', signedMessage: msg, address: wallet.address };
}

test('issueSessionFromContext with explicit resources (data with <>&, U+2028, non-ASCII), an EOA capability first and a price split == litnode.MintSessionSigs', async () => {
  const pkp = dev.info.pkps[1];
  const sessionKeyPair = generateSessionKeyPair();
  const delegationAuthSig = await delegationFor(pkp, sessionKeyPair, 'pkp-signing:*');
  const expiration = new Date(Date.now() + 10 * 60 * 1000).toISOString();
  const resources = transformShorthandResources([
    ['pkp-signing', '*'],
    ['lit-action-execution', 'QmYLrnqPZ9vH2wK5cD5fEZ7JvSdw4wYzvX8rGk1n6rWm3v'],
  ]);
  // data keys in sorted order: litnode writes object keys sorted (it has
  // no insertion order); the SDK keeps insertion order (README: differences).
  resources[0].data = { a: 'x<y>&z', b: 'caf\u00e9 \u2028\u2029 "q" \\ \u{1F511}', c: [1, 2.5, true, 'x'], d: { e: 1e21, f: 1e-7 } };
  const capability = eoaCapability(expiration);
  const urls = dev.info.network.nodes;
  const nodePrices = urls.map((url, i) => ({ url, prices: [0n, [20n, 21n, 25n, 22n][i], 0n, 0n] }));
  const now = frozenNow();

  const sdkSigs = await withFrozenClock(now, () =>
    networks.issueSessionFromContext({
      authContext: {
        sessionKeyPair,
        authConfig: { resources, expiration, capabilityAuthSigs: [capability] },
        authNeededCallback: async () => delegationAuthSig,
      },
      pricingContext: networks.PricingContextSchema.parse({ product: 'SIGN', nodePrices, threshold: 3, userMaxPrice: 1000n }),
      delegationAuthSig,
    }),
  );
  const first = JSON.parse(Object.values(sdkSigs)[0].signedMessage);
  assert.equal(first.capabilities.length, 2);

  const goSigs = await goMint({
    sessionKeySeed: sessionKeyPair.secretKey,
    resources: first.resourceAbilityRequests, // the SDK's own serialisation of the inputs
    capabilities: [capability, delegationAuthSig],
    issuedAt: now,
    expiration,
    targets: Object.entries(sdkSigs).map(([url, s]) => ({ url, maxPrice: JSON.parse(s.signedMessage).maxPrice })),
  });
  assert.deepEqual(Object.keys(goSigs).sort(), Object.keys(sdkSigs).sort());
  for (const url of Object.keys(sdkSigs)) {
    assert.equal(goSigs[url].signedMessage, sdkSigs[url].signedMessage, `signedMessage for ${url}`);
    assert.deepEqual(goSigs[url], sdkSigs[url]);
  }
  // The price split (docs/naga-auth.md §5.3): cheapest three of 20, 21, 25, 22 with a
  // budget of 1000: caps 20+312, 21+312, 22+312.
  const caps = Object.values(goSigs).map((s) => BigInt(JSON.parse(s.signedMessage).maxPrice)).sort((a, b) => (a < b ? -1 : 1));
  assert.deepEqual(caps, [332n, 333n, 334n]);
  assertEd25519(goSigs, sessionKeyPair.publicKey);
  assertSDKValid(goSigs);
});

test('documented difference: a capabilityAuthSig WITH algo is re-ordered by the SDK (zod AuthSigSchema puts algo last)', async (t) => {
  const pkp = dev.info.pkps[2];
  const sessionKeyPair = generateSessionKeyPair();
  const delegationAuthSig = await delegationFor(pkp, sessionKeyPair, 'pkp-signing:*');
  const other = await delegationFor(pkp, sessionKeyPair, 'lit-action-execution:*');
  const expiration = new Date(Date.now() + 10 * 60 * 1000).toISOString();
  const urls = dev.info.network.nodes;
  const nodePrices = urls.map((url) => ({ url, prices: [1n, 1n, 1n, 1n] }));
  const now = frozenNow();
  const sdkSigs = await withFrozenClock(now, () =>
    networks.issueSessionFromContext({
      authContext: {
        sessionKeyPair,
        authConfig: { resources: transformShorthandResources([['pkp-signing', '*']]), expiration, capabilityAuthSigs: [other] },
        authNeededCallback: async () => delegationAuthSig,
      },
      pricingContext: networks.PricingContextSchema.parse({ product: 'SIGN', nodePrices, threshold: 3 }),
      delegationAuthSig,
    }),
  );
  const first = JSON.parse(Object.values(sdkSigs)[0].signedMessage);
  assert.deepEqual(Object.keys(first.capabilities[0]), ['sig', 'derivedVia', 'signedMessage', 'address', 'algo'], 'SDK: capabilityAuthSigs in schema order');
  assert.deepEqual(Object.keys(first.capabilities[1]), ['sig', 'algo', 'derivedVia', 'signedMessage', 'address'], 'SDK: the delegation as given');
  const goSigs = await goMint({
    sessionKeySeed: sessionKeyPair.secretKey,
    resources: first.resourceAbilityRequests,
    capabilities: [other, delegationAuthSig],
    issuedAt: now,
    expiration,
    targets: Object.entries(sdkSigs).map(([url, s]) => ({ url, maxPrice: JSON.parse(s.signedMessage).maxPrice })),
  });
  for (const url of Object.keys(sdkSigs)) {
    // Same content; only the key order of the first capability differs, so
    // the bytes (and signatures) differ. Both are valid session sigs.
    assert.deepEqual(JSON.parse(goSigs[url].signedMessage), JSON.parse(sdkSigs[url].signedMessage));
  }
  const sameBytes = Object.keys(sdkSigs).every((u) => goSigs[u].signedMessage === sdkSigs[u].signedMessage);
  t.diagnostic(`byte-identical: ${sameBytes} (expected false until litnode orders capabilityAuthSigs as the SDK's zod schema does)`);
  assertEd25519(goSigs, sessionKeyPair.publicKey);
  assertSDKValid(goSigs);
});
