package litnode

import "errors"

// Sentinel errors for auth material. Every rejection wraps exactly one of
// them, so callers branch with errors.Is.
var (
	// ErrMalformed: input that does not parse or has the wrong shape.
	ErrMalformed = errors.New("malformed")
	// ErrExpired: the delegation's Expiration Time has passed.
	ErrExpired = errors.New("delegation expired")
	// ErrNotYetValid: the delegation's Not Before is in the future.
	ErrNotYetValid = errors.New("delegation not yet valid")
	// ErrLifetimeTooLong: expiration − issuedAt exceeds 30 days, or
	// expiration is before issuedAt.
	ErrLifetimeTooLong = errors.New("delegation lifetime out of range")
	// ErrBadSignature: a signature (BLS, ECDSA or ed25519) does not verify.
	ErrBadSignature = errors.New("bad signature")
	// ErrURIMismatch: the SIWE URI is not lit:session:<session public key>.
	ErrURIMismatch = errors.New("session key URI mismatch")
	// ErrStatementMismatch: the SIWE statement does not end with a ReCap's
	// generated statement.
	ErrStatementMismatch = errors.New("statement does not match ReCap")
	// ErrScope: the delegation does not grant the requested resource and ability.
	ErrScope = errors.New("resource not granted")
	// ErrAddressMismatch: the SIWE address is not the PKP's address.
	ErrAddressMismatch = errors.New("address mismatch")
	// ErrWrongKind: an AuthSig of a kind that is not accepted here (for
	// example lit.bls without algo LIT_BLS).
	ErrWrongKind = errors.New("wrong auth sig kind")
	// ErrKeyMismatch: a session key pair whose public key does not match its
	// secret key.
	ErrKeyMismatch = errors.New("session key pair mismatch")
)

// Sentinel errors of the network client.
var (
	// ErrNotEnoughNodes: fewer healthy nodes than the signing threshold.
	ErrNotEnoughNodes = errors.New("not enough Lit nodes")
)

// ErrSDKValidation wraps every ValidateLikeSDK failure; the message after it
// is the SDK's own text.
var ErrSDKValidation = errors.New("sdk validation")
