// Package delegationstore keeps client PKP delegations in a JetStream KV
// bucket keyed by the PKP public key, with the session secret key sealed
// under a key-encryption key. It provides compare-and-set replacement,
// revocation, expiry tracking and an in-memory read cache kept current by a
// KV watch.
//
// It depends on litnode for the delegation and session-key types and on the
// nats.go jetstream package; it knows nothing of job processing.
//
// # Records
//
// The value under a PKP's key ("0x04" + 128 lowercase hex digits) is a JSON
// record, version 1: the PKP and session public keys, the delegation
// AuthSig, its SIWE issued-at and expiration, the time it was stored, the
// resources it grants ("lit-pkp://*|pkp-signing") and the session secret
// sealed with XChaCha20-Poly1305 under the current KEK. The additional data
// binds the sealed secret to the record's PKP, session public key and key
// id, so it does not open when moved to another record. Nothing else in a
// record is secret.
//
// # Writes
//
// Put writes with compare-and-set on the key's last revision, read from
// the KV, and retries on conflicts. A delegation replaces the stored one
// only if its issued-at is later (ties: later expiration); an older or
// equal one gets ErrStale. Redelivering the stored delegation itself is an
// unchanged success (PutResult.Unchanged, the stored revision), so a
// handler that is redelivered after a successful Put behaves as the first
// time. A stored delegation past its expiration counts as absent.
//
// # Expiry
//
// Every write carries the delegation's remaining lifetime as its message
// TTL (Nats-TTL; nats-server 2.11 or later, bucket LimitMarkerTTL). The
// store publishes the KV message itself with an expected last subject
// sequence instead of calling kv.Update, which would drop the TTL. When the
// TTL runs out the server replaces the record with a marker, which the
// watch sees as a purge; the marker expires after Config.MarkerTTL.
//
// The bucket keeps one revision per key (History 1). nats-server raises any
// per-message TTL below LimitMarkerTTL up to it unless the stream keeps one
// message per subject, so with more history a delegation with two minutes
// left would stay in the bucket for LimitMarkerTTL; and an older revision
// with a later expiration would become the key's value again when a newer,
// shorter one expired. Writes also roll up the subject, so no earlier
// revision survives them even on a bucket configured with more history.
//
// Put does not use kv.Create, so the re-create race of an expiring marker
// (Create answering ErrKeyExists for a key that is gone) cannot occur: a
// write that loses to a vanished marker is simply retried.
//
// Independently of the server, the store treats a delegation as expired at
// its SIWE expiration by its own clock: Get returns ErrExpired, and the
// expiry tracker in Run emits an "expiring" event Config.ExpiringLead before
// the expiration and an "expired" event at it, once per revision and
// process. Every replica emits them with the same Event.ID, for
// deduplication by Nats-Msg-Id.
//
// # Reads
//
// Run watches the whole bucket and keeps an index of every key: its
// revision, session public key, issued-at and expiration (a few hundred
// bytes each; no SIWE parsing and no unsealing at load). Get checks the
// index, then serves the unsealed delegation from the hot set, an LRU of at
// most Config.HotDelegations entries; on a hot-set miss it reads the record
// from the bucket (one KV get), parses and unseals it, and keeps it. A new
// revision or a removal drops the hot copy, secret included. The index
// follows writes asynchronously (a write is visible on every replica once
// the watch delivers it). If the watch breaks, Run restarts it and swaps in
// the new snapshot once loaded, serving the old one meanwhile. The expiry
// tracker keeps the index's next event times in a min-heap: O(log n) per
// event.
//
// # Keys and rotation
//
// A Keyring holds the current KEK, which seals every new secret, and older
// ones kept to unseal secrets sealed before a rotation (LoadKEKFile reads
// "<id>:<64 hex>" lines, current first; RotateKEKFile prepends a new key).
// A record moves to the current key when a newer delegation replaces it,
// or at once with Reseal or ResealAll; after that the old key can leave the
// file. A secret whose key id is unknown, or that does not authenticate,
// gives ErrSealed.
//
// Session secrets and KEKs never reach logs, metrics, error strings or
// JetStream in plaintext: KEK and Keyring redact themselves when printed,
// litnode.SessionKey does too, and errors and logs name only PKPs, session
// public keys, revisions and key ids.
package delegationstore
