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
//
// Where docs/lit-v3.md §11 lists an unknown, the fake does this:
//   - U1 (which version is live): both; Config.Version, v1.2 by default.
//   - U2 (master key on /lit_action): refused (403) as the contract code
//     reads; Config.MasterKeyExecutes allows it.
//   - U3 (handler-level 429/503): the fake renders them with their status;
//     the runtime being unreachable cannot happen here.
//   - U4 (response limit): 102 400 bytes, the code's value.
//   - U5 (64 KB js_params): not enforced, as in the code; only the 10 MiB
//     body limit (413).
//   - U6 (key-operation count): not enforced, as in the April code.
//   - U7 (April guard bodies): Rocket's default catcher, JSON
//     {"error":{"code","reason","description"}} when the request accepts
//     JSON, else its HTML page.
//   - U8 (wrong Content-Type, missing query parameter): 404 like an
//     unknown route, and 422.
//   - U11 (getLitActionPublicKey): compressed SEC1.
//   - U12 (WalletItem.id): "0" on April, the registration index on v1.2.
//   - U13 (propagation time): Config.PropagationDelay (0 by default,
//     DefaultPropagationDelay for a realistic dev setting), and
//     Config.StaleDenial for another instance's cached refusal.
//   - U14 (key expiry): written as now + 10 years, never enforced.
//   - U15 (spending rules): not modelled.
//   - U16 (has_error): always false.
//   - U19 (revoked key in v1.2): 401 once the revocation propagated.
//   - U20 (branch-only APIs): absent; calling one is a TypeError as in Deno.
//
// The runtime differs from Lit's Deno in what goja lacks: no timers, no
// outbound fetch (calls count toward the limit of 50 and reject), no ESM
// imports; the memory limit is measured on the process's Go heap (runs at
// the same time share it); error texts follow Deno's shape ("Uncaught (in
// promise) Error: boom\n    at …") with goja's positions. ethers' first
// secp256k1 use in a fresh VM costs seconds of CPU; VMs are pooled
// (internal/actionjs), and a warmed VM signs in about half a CPU second.
package v3fake
