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

// Error classes of the network client. Every error an operation returns
// matches exactly one of them with errors.Is; Retryable says which ones a
// refresh (chain + handshake + new keys + new session sigs) may cure
// (docs/naga-wire.md §11.4).
var (
	// ErrNodeUnavailable: a transport error or timeout, HTTP 408, a 5xx, or
	// an E2EE failure ("can't decrypt", unknown verification key).
	ErrNodeUnavailable = errors.New("Lit node unavailable")
	// ErrNoValidShares: shares that do not combine into a valid signature.
	ErrNoValidShares = errors.New("no valid signature shares")
	// ErrUnauthorized: the nodes rejected the session signature or the
	// delegation (Node*AuthSig*, NodeExpWrongOrTooLarge, NodeNotAuthorized,
	// NodePKPNotAuthorized, SIWE and ReCap errors). Never retried.
	ErrUnauthorized = errors.New("Lit nodes rejected the auth material")
	// ErrPaymentFailed: HTTP 402 PaymentFailed. Never retried.
	ErrPaymentFailed = errors.New("Lit payment failed")
	// ErrBadRequest: the nodes rejected the request itself (bad input).
	// Never retried.
	ErrBadRequest = errors.New("Lit nodes rejected the request")
	// ErrActionFailed: a Lit Action threw, timed out or ran out of memory.
	ErrActionFailed = errors.New("Lit Action failed")
	// ErrAttestationUnsupported: the network requires SEV-SNP attestation
	// and this build cannot check it (set the client to skip it explicitly).
	ErrAttestationUnsupported = errors.New("node attestation required but not supported by this build")
)

// ErrInvalidChainData: a contract view returned values that break the
// SDK's checks or do not fit (docs/naga-wire.md §2.2), for example minNodeCount 0.
var ErrInvalidChainData = errors.New("invalid chain data")

// ErrDecrypt is wrapped by every E2EEDecrypt failure. Failures caused by an
// envelope field that does not parse also wrap ErrMalformed. A node that
// cannot decrypt answers "can't decrypt" (docs/naga-wire.md §5.5).
var ErrDecrypt = errors.New("e2ee: can't decrypt")

// ErrMaxPriceTooLow: the cheapest threshold nodes cost more than the
// caller's userMaxPrice budget (the SDK's MaxPriceTooLow, docs/naga-wire.md §10.1).
var ErrMaxPriceTooLow = errors.New("max price too low")

// ErrIPFSTooLarge: IPFSCIDv0 computes the CID of single-chunk files only.
var ErrIPFSTooLarge = errors.New("ipfs: file larger than one 256 KiB chunk")

// ErrNoAuthContext is the SDK's error when a delegation carries no EthWallet
// auth context; its text is the SDK's.
var ErrNoAuthContext = errors.New("Failed to derive authData from delegation signature. Provide authData explicitly when calling createPkpAuthContextFromPreGenerated.")
