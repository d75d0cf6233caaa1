#!/usr/bin/env node
/*
 * Offline test-vector generator for the Lit Protocol v8 ("Naga") auth material.
 *
 * Copied from litnode/testdata/gen-lit-auth-vectors.js (ours) and adapted for interop/: the
 * SDK comes from interop/node_modules (pinned by interop/package.json and package-lock.json), and the
 * output goes to $OUT_DIR (required here, so the checked-in vectors are never overwritten by accident).
 *
 * Usage (from interop/, after `npm ci`):
 *   OUT_DIR="$(mktemp -d)" node scripts/gen-lit-auth-vectors.js   # writes $OUT_DIR/lit-auth-vectors.json
 * interop/test/vectors.test.js runs it and compares the result with litnode/testdata/lit-auth-vectors.json.
 *
 * Provenance of every vector is recorded in the JSON ("source" fields):
 *   - "sdk"   : value produced by calling the real npm SDK code (@lit-protocol/auth 8.2.3 and the
 *               exact dependency versions it pins), with the clock frozen.
 *   - "built" : value built by this script to mimic what the Lit NODE does (the node is Rust; see
 *               lit-peer rust/lit-node/lit-node/src/endpoints/web_client.rs sign_session_key).
 *               The BLS "network key" is a test key made up here (no Lit network is reachable).
 */
'use strict';

const path = require('path');
const fs = require('fs');
const { createRequire } = require('module');

const NPM = process.env.LIT_NPM_DIR || path.join(__dirname, '..');
if (!process.env.OUT_DIR) {
  console.error('gen-lit-auth-vectors.js: set OUT_DIR (the directory to write lit-auth-vectors.json into)');
  process.exit(2);
}
const OUT = path.join(process.env.OUT_DIR, 'lit-auth-vectors.json');

// ---------------------------------------------------------------- frozen clock
const FIXED_NOW_ISO = '2025-06-01T12:00:00.000Z';
const FIXED_NOW = Date.parse(FIXED_NOW_ISO);
const RealDate = Date;
class FrozenDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(FIXED_NOW);
    else super(...args);
  }
  static now() {
    return FIXED_NOW;
  }
}
global.Date = FrozenDate;

// quiet the SDK's pino logger
process.env.PINO_LOG_LEVEL = process.env.PINO_LOG_LEVEL || 'silent';
process.env.LOG_LEVEL = process.env.LOG_LEVEL || 'silent';

const reqRoot = createRequire(path.join(NPM, 'package.json'));
const authEntry = reqRoot.resolve('@lit-protocol/auth');
const req = createRequire(authEntry); // resolve deps exactly as @lit-protocol/auth does

const auth = req('@lit-protocol/auth');
const helpers = req('@lit-protocol/auth-helpers');
const networks = req('@lit-protocol/networks');
const wasm = req('@lit-protocol/wasm');
const { Recap } = req('siwe-recap');
const { SiweMessage } = req('siwe');
const { ethers } = req('ethers');
const { ed25519 } = req('@noble/curves/ed25519');
const { bls12_381 } = req('@noble/curves/bls12-381');
const { numberToBytesLE, numberToBytesBE } = req('@noble/curves/abstract/utils');
const { sha256 } = req('@noble/hashes/sha2');
const { keccak_256 } = req('@noble/hashes/sha3');
const { bytesToHex, hexToBytes, utf8ToBytes } = req('@noble/hashes/utils');

const versions = {};
for (const p of ['@lit-protocol/auth', '@lit-protocol/auth-helpers', '@lit-protocol/networks', '@lit-protocol/schemas', '@lit-protocol/constants', '@lit-protocol/wasm', 'siwe', 'siwe-recap']) {
  try {
    let dir = path.dirname(req.resolve(p));
    while (!fs.existsSync(path.join(dir, 'package.json')) || JSON.parse(fs.readFileSync(path.join(dir, 'package.json'))).name !== p) dir = path.dirname(dir);
    versions[p] = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'))).version;
  } catch (e) {
    versions[p] = 'unknown';
  }
}

// ---------------------------------------------------------------- constants
const BLS_POP_DST = 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_';

// Session key: RFC 8032 section 7.1 TEST 1 secret key (so Go can cross-check with crypto/ed25519).
const SESSION_SEED_HEX = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';

// PKP: secp256k1 key = the well-known hardhat #0 dev key (also @lit-protocol/constants DEV_PRIVATE_KEY).
const PKP_PRIV = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
// The EOA that "owns" the PKP via an EthWallet auth method: hardhat #1.
const EOA_PRIV = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';

// Test BLS "network root key" (NOT a Lit key). 32-byte secret scalar.
const BLS_SK_HEX = '2a1f3c5e7b9d0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899a';

const BLOCKHASH = '0x' + bytesToHex(keccak_256(utf8ToBytes('lit-go-test-block')));
const BLOCK_TIMESTAMP_ISO_SECONDS = '2025-06-01T11:59:48Z'; // node uses block timestamp, whole seconds, "Z"
const DELEGATION_EXPIRATION = '2025-06-02T12:00:00.000Z'; // 24h after FIXED_NOW

const NODE_PRICES = [
  { url: 'https://node-a.example.org:443', prices: [10n, 20n, 30n, 40n] },
  { url: 'https://node-b.example.org:443', prices: [11n, 21n, 31n, 41n] },
  { url: 'https://node-c.example.org:443', prices: [12n, 22n, 29n, 42n] },
];
const THRESHOLD = 2;

// ---------------------------------------------------------------- helpers
const eip191Hash = (msg) => {
  const m = utf8ToBytes(msg);
  const prefix = utf8ToBytes(`\x19Ethereum Signed Message:\n${m.length}`);
  const buf = new Uint8Array(prefix.length + m.length);
  buf.set(prefix);
  buf.set(m, prefix.length);
  return keccak_256(buf);
};
const blsSessionHash = (siwe) => sha256(utf8ToBytes('lit_session:' + bytesToHex(eip191Hash(siwe))));

const Fr = bls12_381.fields.Fr;
const blsSk = BigInt('0x' + BLS_SK_HEX) % Fr.ORDER;
const blsSkBytes = numberToBytesBE(blsSk, 32);
const blsPk = bls12_381.getPublicKey(blsSkBytes); // G1 compressed, 48 bytes

const sessionSecret = hexToBytes(SESSION_SEED_HEX);
const sessionPublic = bytesToHex(ed25519.getPublicKey(sessionSecret));
const sessionKeyPair = { publicKey: sessionPublic, secretKey: SESSION_SEED_HEX };
const sessionKeyUri = 'lit:session:' + sessionPublic;

const pkpPublicKey = ethers.utils.computePublicKey(PKP_PRIV, false); // 0x04 + 64 bytes
const pkpAddress = ethers.utils.computeAddress(pkpPublicKey);
const pkpTokenId = ethers.utils.keccak256(pkpPublicKey); // node: pubkey_to_token_id = keccak256(65-byte pubkey)
const eoaAddress = new ethers.Wallet(EOA_PRIV).address;

const vectors = {
  generatedBy: 'gen-lit-auth-vectors.js',
  frozenNow: FIXED_NOW_ISO,
  npmVersions: versions,
  notes: [
    'All hex is lowercase without 0x unless the field shows 0x.',
    'BLS network key here is a TEST key; real networks use the handshake subnetPublicKey/networkPublicKey.',
  ],
};

(async () => {
  // ------------------------------------------------------------ 1. session keys
  const randomPair = auth.generateSessionKeyPair();
  vectors.sessionKeyPairShape = {
    source: 'sdk',
    fn: '@lit-protocol/auth generateSessionKeyPair() (random; only the shape is meaningful)',
    sample: randomPair,
    publicKeyHexLen: randomPair.publicKey.length,
    secretKeyHexLen: randomPair.secretKey.length,
    secretKeyIsSeed: bytesToHex(ed25519.getPublicKey(hexToBytes(randomPair.secretKey))) === randomPair.publicKey,
  };
  vectors.sessionKeyPair = {
    source: 'built (same algorithm as SDK: noble ed25519, 32-byte seed as secretKey)',
    rfc8032: 'RFC 8032 7.1 TEST 1',
    ...sessionKeyPair,
    sessionKeyUri,
  };

  // ------------------------------------------------------------ 2. identities
  vectors.identities = {
    pkpPublicKey,
    pkpEthAddress: pkpAddress,
    pkpTokenIdHex: pkpTokenId,
    eoaAddress,
    blsNetworkSecretKeyHex: bytesToHex(blsSkBytes),
    blsNetworkPublicKeyG1Hex: bytesToHex(blsPk),
    blockhashNonce: BLOCKHASH,
    blockTimestamp: BLOCK_TIMESTAMP_ISO_SECONDS,
  };

  // ------------------------------------------------------------ 3. shorthand resources
  const shorthand = [
    ['pkp-signing', '*'],
    ['lit-action-execution', '*'],
    ['access-control-condition-decryption', '*'],
  ];
  const full = helpers.transformShorthandResources(shorthand);
  const fullExtra = helpers.transformShorthandResources([
    ['pkp-signing', pkpTokenId],
    ['lit-action-execution', 'QmYLrnqPZ9vH2wK5cD5fEZ7JvSdw4wYzvX8rGk1n6rWm3v'],
    ['access-control-condition-signing', 'abcd/ef01'],
    ['lit-payment-delegation', '*'],
  ]);
  vectors.resourceShorthand = {
    source: 'sdk',
    fn: 'auth-helpers transformShorthandResources',
    cases: [...full, ...fullExtra].map((r) => ({
      ability: r.ability,
      resourcePrefix: r.resource.resourcePrefix,
      resource: r.resource.resource,
      resourceKey: r.resource.getResourceKey(),
      recap: helpers.getRecapNamespaceAndAbility(r.ability),
    })),
  };

  // ------------------------------------------------------------ 4. client SIWE via generatePkpDelegationAuthSig
  let capturedRequest = null;
  let builtNode = null;

  const nodeMimic = async ({ requestBody, nodeUrls }) => {
    capturedRequest = { requestBody: JSON.parse(JSON.stringify(requestBody)), nodeUrls };
    // ---- what lit-node sign_session_key does (see docs/naga-auth.md §3.4) ----
    const clientMsg = new SiweMessage(requestBody.siweMessage);
    const userRecap = Recap.decode_urn(clientMsg.resources[clientMsg.resources.length - 1]);
    const authContext = {
      actionIpfsIdStack: [],
      authSigAddress: null,
      authMethodContexts: [
        { userId: eoaAddress, appId: 'lit', authMethodType: 1, usedForSignSessionKeyRequest: true },
      ],
      resources: [],
      customAuthResource: '',
    };
    const merged = new Recap({}, []);
    merged.addAttenuation('lit-resolvedauthcontext://*', 'Auth', 'Auth', { auth_context: authContext });
    merged.merge(userRecap);
    const nodeMsg = new SiweMessage({
      domain: clientMsg.domain,
      address: ethers.utils.getAddress(clientMsg.address),
      statement: clientMsg.statement + ' ' + merged.statement,
      uri: clientMsg.uri,
      version: clientMsg.version,
      chainId: clientMsg.chainId,
      nonce: BLOCKHASH,
      issuedAt: BLOCK_TIMESTAMP_ISO_SECONDS,
      expirationTime: clientMsg.expirationTime,
      resources: [merged.encode()],
    }).prepareMessage();

    const toSign = blsSessionHash(nodeMsg);
    const sig = bls12_381.sign(toSign, blsSkBytes, { DST: BLS_POP_DST });
    const sigHex = bytesToHex(sig);

    // threshold shares (t=2 of n=3) with little-endian scalar identifiers, combined by the SDK's WASM
    const a1 = BigInt('0x' + bytesToHex(sha256(utf8ToBytes('poly-coeff')))) % Fr.ORDER;
    const poly = (x) => Fr.add(blsSk, Fr.mul(a1, x));
    const H = bls12_381.G2.hashToCurve(toSign, { DST: BLS_POP_DST });
    const ids = [258n, 3n, 7n];
    const shares = ids.map((x) => ({
      ProofOfPossession: {
        identifier: bytesToHex(numberToBytesLE(x, 32)),
        value: H.multiply(poly(x)).toHex(true),
      },
    }));
    const combined = await wasm.blsCombine(shares.slice(0, 2).map((s) => JSON.stringify(s)));
    const combined2 = await wasm.blsCombine([shares[2], shares[0]].map((s) => JSON.stringify(s)));

    builtNode = {
      authContext,
      mergedRecapAtt: merged.attenuations,
      nodeSiweMessage: nodeMsg,
      eip191HashHex: bytesToHex(eip191Hash(nodeMsg)),
      blsPreimage: 'lit_session:' + bytesToHex(eip191Hash(nodeMsg)),
      blsSignedDataHex: bytesToHex(toSign),
      blsSignatureG2Hex: sigHex,
      signatureShares: shares,
      wasmCombineOfShares01: combined,
      wasmCombineOfShares20: combined2,
      combineMatchesFullKeySignature: combined === sigHex && combined2 === sigHex,
    };
    // same object shape/field order as networks BaseModuleFactory signSessionKey.handleResponse
    return {
      sig: JSON.stringify({ ProofOfPossession: sigHex }),
      algo: 'LIT_BLS',
      derivedVia: 'lit.bls',
      signedMessage: nodeMsg,
      address: ethers.utils.computeAddress(pkpPublicKey),
    };
  };

  const fakeCtx = {
    latestBlockhash: BLOCKHASH,
    latestConnectionInfo: {
      priceFeedInfo: { networkPrices: NODE_PRICES },
      epochState: { currentNumber: 42 },
    },
    handshakeResult: {
      threshold: THRESHOLD,
      serverKeys: Object.fromEntries(NODE_PRICES.map((n) => [n.url, {}])),
      coreNodeConfig: { subnetPubKey: bytesToHex(blsPk) },
    },
    getMaxPricesForNodeProduct: networks.getMaxPricesForNodeProduct,
    getUserMaxPrice: networks.getUserMaxPrice,
    signSessionKey: nodeMimic,
  };
  const fakeLitClient = { getContext: async () => fakeCtx };
  const memStore = {};
  const storage = {
    config: {},
    read: async () => null,
    write: async () => {},
    writeInnerDelegationAuthSig: async ({ publicKey, authSig }) => {
      memStore[publicKey] = authSig;
    },
    readInnerDelegationAuthSig: async ({ publicKey }) => memStore[publicKey] || null,
  };
  const authManager = auth.createAuthManager({ storage });

  // the EthWallet authData: accessToken = JSON of an EOA auth sig (content irrelevant offline)
  const authData = {
    authMethodType: 1,
    authMethodId: ethers.utils.keccak256(ethers.utils.toUtf8Bytes(`${eoaAddress}:lit`)),
    accessToken: JSON.stringify({ sig: '0x00', derivedVia: 'web3.eth.personal.sign', signedMessage: 'x', address: eoaAddress }),
  };

  const delegationAuthSig = await authManager.generatePkpDelegationAuthSig({
    pkpPublicKey,
    authData,
    sessionKeyPair,
    authConfig: { resources: shorthand, expiration: DELEGATION_EXPIRATION },
    litClient: fakeLitClient,
  });

  vectors.signSessionKeyRequest = {
    source: 'sdk',
    fn: 'authManager.generatePkpDelegationAuthSig -> getPkpAuthContext -> preparePkpAuthRequestBody (captured at litClient.signSessionKey)',
    inputs: { shorthand, expiration: DELEGATION_EXPIRATION, nonce: BLOCKHASH, threshold: THRESHOLD, nodePrices: NODE_PRICES.map((n) => ({ url: n.url, prices: n.prices.map(String) })) },
    captured: capturedRequest,
    clientSiweMessage: capturedRequest.requestBody.siweMessage,
    clientRecapDecoded: Recap.decode_urn(new SiweMessage(capturedRequest.requestBody.siweMessage).resources.slice(-1)[0]).attenuations,
  };
  vectors.nodeSignSessionKey = {
    source: 'built (mimics lit-node sign_session_key with a TEST BLS key)',
    ...builtNode,
  };
  vectors.delegationAuthSig = {
    source: 'built (shape identical to networks signSessionKey.handleResponse output)',
    authSig: delegationAuthSig,
    blsVerifyNoble: bls12_381.verify(hexToBytes(JSON.parse(delegationAuthSig.sig).ProofOfPossession), blsSessionHash(delegationAuthSig.signedMessage), blsPk, { DST: BLS_POP_DST }),
  };
  // SDK WASM verification (same routine the SDK uses for decryption shares)
  try {
    await wasm.blsVerify(blsPk, blsSessionHash(delegationAuthSig.signedMessage), JSON.parse(delegationAuthSig.sig).ProofOfPossession);
    vectors.delegationAuthSig.blsVerifySdkWasm = true;
  } catch (e) {
    vectors.delegationAuthSig.blsVerifySdkWasm = String(e);
  }
  // negative: NUL DST must fail
  const nulSig = bls12_381.sign(blsSessionHash(delegationAuthSig.signedMessage), blsSkBytes, { DST: 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_' });
  try {
    await wasm.blsVerify(blsPk, blsSessionHash(delegationAuthSig.signedMessage), bytesToHex(nulSig));
    vectors.delegationAuthSig.negativeNulDstRejectedByWasm = false;
  } catch (e) {
    vectors.delegationAuthSig.negativeNulDstRejectedByWasm = true;
  }

  // ------------------------------------------------------------ 5. validateDelegationAuthSig
  const tryValidate = (label, sig, uri) => {
    try {
      auth.validateDelegationAuthSig({ delegationAuthSig: sig, sessionKeyUri: uri });
      return { label, ok: true };
    } catch (e) {
      return { label, ok: false, error: e.message };
    }
  };
  const otherPub = bytesToHex(ed25519.getPublicKey(sha256(utf8ToBytes('other'))));
  const expiredSig = { ...delegationAuthSig, signedMessage: delegationAuthSig.signedMessage.replace(/Expiration Time: .*/, 'Expiration Time: 2025-06-01T11:00:00.000Z') };
  const badDateSig = { ...delegationAuthSig, signedMessage: delegationAuthSig.signedMessage.replace(/Expiration Time: .*/, 'Expiration Time: not-a-date') };
  const noUriSig = { ...delegationAuthSig, signedMessage: delegationAuthSig.signedMessage.replace(/URI: .*\n/, '') };
  vectors.validateDelegationAuthSig = {
    source: 'sdk',
    fn: '@lit-protocol/auth validateDelegationAuthSig (clock frozen at ' + FIXED_NOW_ISO + ')',
    cases: [
      tryValidate('valid, uri given as bare pubkey', delegationAuthSig, sessionPublic),
      tryValidate('valid, uri given with lit:session: prefix', delegationAuthSig, sessionKeyUri),
      tryValidate('other session key', delegationAuthSig, otherPub),
      tryValidate('expired', expiredSig, sessionPublic),
      tryValidate('unparseable expiration', badDateSig, sessionPublic),
      tryValidate('URI line removed (falls back to substring search of the whole message)', noUriSig, sessionPublic),
      tryValidate('BLS sig garbage (not checked)', { ...delegationAuthSig, sig: '{"ProofOfPossession":"00"}' }, sessionPublic),
    ],
  };

  // ------------------------------------------------------------ 6. createPkpAuthContextFromPreGenerated
  const ctx = await authManager.createPkpAuthContextFromPreGenerated({ pkpPublicKey, sessionKeyPair, delegationAuthSig });
  vectors.authContextFromPreGenerated = {
    source: 'sdk',
    fn: 'authManager.createPkpAuthContextFromPreGenerated',
    chain: ctx.chain,
    pkpPublicKey: ctx.pkpPublicKey,
    authData: ctx.authData,
    derivedAuthMetadata: ctx.derivedAuthMetadata,
    authConfig: JSON.parse(JSON.stringify(ctx.authConfig)),
    authConfigResourceKeys: ctx.authConfig.resources.map((r) => ({ ability: r.ability, key: r.resource.getResourceKey(), data: r.data })),
  };
  let noAuthCtxError = null;
  try {
    const stripped = new Recap({ 'lit-pkp://*': { 'Threshold/Signing': [{}] } }, []);
    const m = new SiweMessage(delegationAuthSig.signedMessage);
    m.resources = [stripped.encode()];
    await authManager.createPkpAuthContextFromPreGenerated({ pkpPublicKey, sessionKeyPair, delegationAuthSig: { ...delegationAuthSig, signedMessage: m.prepareMessage() } });
  } catch (e) {
    noAuthCtxError = e.message;
  }
  vectors.authContextFromPreGenerated.errorWhenNoResolvedAuthContext = noAuthCtxError;

  // ------------------------------------------------------------ 7. createPkpSessionSigs
  const sessionSigs = await authManager.createPkpSessionSigs({
    pkpPublicKey,
    sessionKeyPair,
    delegationAuthSig,
    litClient: fakeLitClient,
    product: 'LIT_ACTION',
  });
  const checks = {};
  for (const [url, s] of Object.entries(sessionSigs)) {
    const parsed = JSON.parse(s.signedMessage);
    checks[url] = {
      ed25519Valid: ed25519.verify(hexToBytes(s.sig), utf8ToBytes(s.signedMessage), hexToBytes(s.address)),
      keyOrder: Object.keys(parsed),
      nodeAddress: parsed.nodeAddress,
      maxPrice: parsed.maxPrice,
      maxPriceDecimal: BigInt(parsed.maxPrice).toString(),
      issuedAt: parsed.issuedAt,
      expiration: parsed.expiration,
      nodeSideAddressCompare: parsed.nodeAddress.trim().replace(/^https:\/\//, '').replace(/^http:\/\//, '').replace('localhost', '127.0.0.1'),
    };
  }
  vectors.pkpSessionSigs = {
    source: 'sdk',
    fn: 'authManager.createPkpSessionSigs (getPkpSessionSigsAdapter -> networks issueSessionFromContext), product LIT_ACTION, threshold ' + THRESHOLD,
    sessionSigs,
    checks,
  };

  // a second run with an explicit userMaxPrice to show the price split
  const ctxPriced = { ...fakeCtx, getUserMaxPrice: () => 1000n };
  const sessionSigsPriced = await authManager.createPkpSessionSigs({
    pkpPublicKey,
    sessionKeyPair,
    delegationAuthSig,
    litClient: { getContext: async () => ctxPriced },
    product: 'SIGN',
  });
  vectors.pkpSessionSigsPriced = {
    source: 'sdk',
    fn: 'createPkpSessionSigs with getUserMaxPrice()=1000n, product SIGN (price column 1)',
    maxPrices: Object.fromEntries(Object.entries(sessionSigsPriced).map(([u, s]) => [u, JSON.parse(s.signedMessage).maxPrice])),
  };

  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, JSON.stringify(vectors, (k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
  console.log('wrote', OUT);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
