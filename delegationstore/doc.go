// Package delegationstore keeps client PKP delegations in a JetStream KV
// bucket keyed by the PKP public key, with the session secret key sealed
// under a key-encryption key. It provides compare-and-set replacement,
// revocation, expiry tracking and an in-memory read cache kept current by a
// KV watch.
//
// It depends on litnode for the delegation and session-key types and on the
// nats.go jetstream package; it knows nothing of job processing.
package delegationstore
