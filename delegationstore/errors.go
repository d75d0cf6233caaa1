package delegationstore

import (
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// Sentinel errors. Every error the Store returns for one of these conditions
// wraps exactly one of them, so callers decide with errors.Is. No error text
// ever contains a session secret or a key-encryption key.
var (
	// ErrNotFound: no delegation is stored for the PKP (never stored,
	// revoked, or removed by its expiry).
	ErrNotFound = errors.New("delegation not found")

	// ErrExpired: the delegation's SIWE expiration has passed (Get), or
	// Put was given a delegation that has already expired.
	ErrExpired = errors.New("delegation expired")

	// ErrConflict: a compare-and-set write kept losing to concurrent writers
	// of the same key and gave up. Retrying later is safe.
	ErrConflict = errors.New("delegation write conflict")

	// ErrStale: Put was given a delegation that is not newer than the stored
	// one (by SIWE issued-at, ties broken by later expiration). The stored
	// delegation is kept. A redelivery of the very delegation that is stored
	// is not stale: Put reports it as an unchanged success.
	ErrStale = errors.New("delegation is not newer than the stored one")

	// ErrSealed: a stored session secret cannot be unsealed, because its
	// key id is not in the keyring or its ciphertext does not authenticate
	// (wrong key, tampering, or a sealed secret moved to another record).
	ErrSealed = errors.New("sealed session secret cannot be opened")

	// ErrRevoked: Put was given a delegation to a (PKP, session key) pair
	// that was revoked; the revocation is remembered until the revoked
	// delegation would have expired.
	ErrRevoked = errors.New("delegation was revoked")

	// ErrRevocationOlder: a signed revocation was signed before the stored
	// delegation to its session key was issued; it deletes nothing.
	ErrRevocationOlder = errors.New("revocation is older than the stored delegation")
)

// isWrongLastSeq reports whether err is JetStream's compare-and-set failure
// on a subject's last sequence. R1 streams answer with code 10071 and
// replicated streams with 10164 (docs/jetstream.md A.4); the KV helpers map
// both to ErrKeyRevisionMismatch, raw publishes return the API error.
func isWrongLastSeq(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}
