// Package v3fake is a local fake of the Lit v3 ("Chipotle") REST API for
// tests, in the style of net/http/httptest and litnode/devnet: Start serves
// it on loopback, and the Go methods of *Server play the operator (accounts,
// usage keys, wallets, groups, credits) and the faults (overload, billing
// outage, grant propagation delay).
//
// It reproduces what docs/lit-v3.md §9 asks of a faithful fake: the paths,
// JSON field names, statuses and bodies of both server versions (April
// v1.0.x and v1.2+, Config.Version), real key format and hashing, real
// secp256k1 wallets, the execute check by CID with the real 403 text, the
// in-action wallet check with the real thrown message, billing per second
// with 402, 429 before auth, and the action runtime contract (§4): `async
// function main(params)` with js_params, return value vs setResponse,
// Lit.Actions.getPrivateKey/Encrypt/Decrypt/getLitActionPrivateKey, console
// capture, the published ethers 5.7.2 as a global (internal/actionjs), and
// the time, memory, response and log limits with their failure bodies.
//
// Runs counts every execution per CID, so tests can assert at-most-once.
package v3fake
