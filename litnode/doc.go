// Package litnode is a native Go client for the Lit Protocol v8 ("Naga") node
// network and the auth material it runs on.
//
// Auth material (spec: docs/naga-auth.md):
//   - session keys (ed25519; the secret never prints),
//   - AuthSigs and their classification,
//   - SIWE (EIP-4361) messages with ReCap (EIP-5573) capabilities,
//   - PKP delegations (lit.bls AuthSigs signed by the network's BLS key):
//     ValidateLikeSDK reproduces the JS SDK's weak check; Verify checks what a
//     Lit node checks,
//   - per-node session signatures, minted just in time,
//   - the hand-off envelope a client gives a server.
//
// Network client (spec: docs/naga-wire.md): discovery on chain,
// handshake, the E2EE envelope, pkpSign, executeJs and sign_session_key, with
// share combination, typed node errors and refresh-and-retry.
//
// litnode imports neither NATS nor Prometheus: it reports results and
// durations, and callers record them.
package litnode
