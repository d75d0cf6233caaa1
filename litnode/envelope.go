package litnode

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Envelope is the hand-off a client gives a server (the seed's format):
// {"pkpPublicKey": "0x04…", "payload": base64url(JSON{sessionKeyPair,
// delegationAuthSig})}.
type Envelope struct {
	PKPPublicKey string `json:"pkpPublicKey"`
	Payload      string `json:"payload"`
}

// HandOff is a decoded hand-off: the PKP, the session key pair and the
// delegation AuthSig. Its session key redacts itself when printed.
type HandOff struct {
	PKP        PKPPublicKey
	SessionKey *SessionKey
	Delegation AuthSig
	// Policy is the payload's optional "policy" member, undecoded: the
	// owner's restrictions for litsignd (not a Lit protocol field; this
	// package carries it and does not interpret it). nil when absent.
	Policy json.RawMessage

	// siwe is the SIWE message DecodePayload parsed from
	// Delegation.SignedMessage, reused by ParseDelegation.
	siwe *SIWEMessage
}

// ParseDelegation is ParseDelegation(h.Delegation); for a decoded hand-off
// it reuses the SIWE message decoding already parsed (the grammar check is
// the costly part).
func (h *HandOff) ParseDelegation() (*Delegation, error) {
	if h.siwe != nil && h.siwe.String() == h.Delegation.SignedMessage {
		return parseDelegationSIWE(h.Delegation, h.siwe)
	}
	return ParseDelegation(h.Delegation)
}

// Stable reasons of EnvelopeError, usable as event and metric labels.
const (
	ReasonInvalidJSON        = "invalid_json"
	ReasonInvalidBase64URL   = "invalid_base64url"
	ReasonMissingField       = "missing_field"
	ReasonInvalidPKPKey      = "invalid_pkp_public_key"
	ReasonInvalidSessionKey  = "invalid_session_key"
	ReasonSessionKeyMismatch = "session_key_mismatch"
	ReasonInvalidAuthSig     = "invalid_auth_sig"
	ReasonInvalidSIWE        = "invalid_siwe"
	ReasonPKPAddressMismatch = "pkp_address_mismatch"
	ReasonSessionURIMismatch = "session_uri_mismatch"
)

// EnvelopeError says why a hand-off envelope was rejected. Reason is one of
// the Reason* constants; Err wraps a package sentinel.
type EnvelopeError struct {
	Reason string
	Err    error
}

func (e *EnvelopeError) Error() string { return "hand-off envelope: " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *EnvelopeError) Unwrap() error { return e.Err }

func envErr(reason string, sentinel error, format string, args ...any) error {
	return &EnvelopeError{Reason: reason, Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
}

type payloadWire struct {
	SessionKeyPair *struct {
		PublicKey *string `json:"publicKey"`
		SecretKey *string `json:"secretKey"`
	} `json:"sessionKeyPair"`
	DelegationAuthSig json.RawMessage `json:"delegationAuthSig"`
	Policy            json.RawMessage `json:"policy"`
}

// DecodeEnvelope decodes the seed's hand-off envelope and checks its shape:
// the PKP key is an uncompressed secp256k1 point, the session key pair is
// consistent, the delegation AuthSig is well formed, its SIWE message parses
// and names the PKP's address and the session key. It does not verify the
// delegation's signature (use Verify).
func DecodeEnvelope(data []byte) (*HandOff, error) {
	var env struct {
		PKPPublicKey *string `json:"pkpPublicKey"`
		Payload      *string `json:"payload"`
	}
	if err := decodeStrictObject(data, &env); err != nil {
		return nil, envErr(ReasonInvalidJSON, ErrMalformed, "%v", err)
	}
	if env.PKPPublicKey == nil {
		return nil, envErr(ReasonMissingField, ErrMalformed, "missing pkpPublicKey")
	}
	if env.Payload == nil {
		return nil, envErr(ReasonMissingField, ErrMalformed, "missing payload")
	}
	raw, err := decodeBase64URL(*env.Payload)
	if err != nil {
		return nil, envErr(ReasonInvalidBase64URL, ErrMalformed, "payload is not base64url")
	}
	return DecodePayload(*env.PKPPublicKey, raw)
}

// DecodePayload decodes the envelope's payload JSON (already base64url-decoded
// or unsealed) for the PKP named by pkpHex, with the checks of DecodeEnvelope.
func DecodePayload(pkpHex string, payload []byte) (*HandOff, error) {
	pkp, err := ParsePKPPublicKey(pkpHex)
	if err != nil {
		return nil, &EnvelopeError{Reason: ReasonInvalidPKPKey, Err: err}
	}
	var p payloadWire
	if err := decodeStrictObject(payload, &p); err != nil {
		return nil, envErr(ReasonInvalidJSON, ErrMalformed, "payload: %v", err)
	}
	if p.SessionKeyPair == nil {
		return nil, envErr(ReasonMissingField, ErrMalformed, "payload: missing sessionKeyPair")
	}
	if p.SessionKeyPair.PublicKey == nil || p.SessionKeyPair.SecretKey == nil {
		return nil, envErr(ReasonMissingField, ErrMalformed, "payload: sessionKeyPair needs publicKey and secretKey")
	}
	if len(p.DelegationAuthSig) == 0 || string(p.DelegationAuthSig) == "null" {
		return nil, envErr(ReasonMissingField, ErrMalformed, "payload: missing delegationAuthSig")
	}
	key, err := ParseSessionKeyPair(*p.SessionKeyPair.PublicKey, *p.SessionKeyPair.SecretKey)
	if err != nil {
		reason := ReasonInvalidSessionKey
		if errors.Is(err, ErrKeyMismatch) {
			reason = ReasonSessionKeyMismatch
		}
		return nil, &EnvelopeError{Reason: reason, Err: err}
	}
	a, err := ParseAuthSig(p.DelegationAuthSig)
	if err != nil {
		return nil, &EnvelopeError{Reason: ReasonInvalidAuthSig, Err: err}
	}
	m, err := ParseSIWE(a.SignedMessage)
	if err != nil {
		return nil, &EnvelopeError{Reason: ReasonInvalidSIWE, Err: err}
	}
	if !strings.EqualFold(m.Address, pkp.Address().Hex()) {
		return nil, envErr(ReasonPKPAddressMismatch, ErrAddressMismatch, "delegation address %s is not the PKP's %s", m.Address, pkp.Address().Hex())
	}
	if m.URI != key.URI() {
		return nil, envErr(ReasonSessionURIMismatch, ErrURIMismatch, "delegation URI %s does not name the session key %s", m.URI, key.PublicKey())
	}
	var pol json.RawMessage
	if len(p.Policy) > 0 && string(p.Policy) != "null" {
		pol = p.Policy
	}
	return &HandOff{PKP: pkp, SessionKey: key, Delegation: a, Policy: pol, siwe: m}, nil
}

// Encode writes the envelope exactly as the seed's JavaScript does:
// JSON.stringify({pkpPublicKey, payload: Buffer.from(JSON.stringify(
// {sessionKeyPair, delegationAuthSig})).toString('base64url')}).
func (h *HandOff) Encode() []byte {
	return h.encode(h.PKP.Hex())
}

func (h *HandOff) encode(pkp string) []byte {
	out := append([]byte(nil), `{"pkpPublicKey":`...)
	out = appendJSString(out, pkp)
	out = append(out, `,"payload":`...)
	out = appendJSString(out, base64.RawURLEncoding.EncodeToString(h.PayloadJSON()))
	return append(out, '}')
}

// PayloadJSON returns JSON.stringify({sessionKeyPair:{publicKey,secretKey},
// delegationAuthSig}), with the policy last when h has one. It carries the session secret: seal or encode it, never
// log it.
func (h *HandOff) PayloadJSON() []byte {
	p := append([]byte(nil), `{"sessionKeyPair":{"publicKey":`...)
	p = appendJSString(p, h.SessionKey.PublicKey().Hex())
	p = append(p, `,"secretKey":`...)
	p = appendJSString(p, h.SessionKey.RevealSecretHex())
	p = append(p, `},"delegationAuthSig":`...)
	p = h.Delegation.appendJS(p)
	if len(h.Policy) > 0 {
		var c bytes.Buffer
		if json.Compact(&c, h.Policy) == nil {
			p = append(p, `,"policy":`...)
			p = append(p, c.Bytes()...)
		}
	}
	return append(p, '}')
}

// decodeBase64URL accepts base64url with or without '=' padding (Node's
// Buffer writes none), and rejects the standard alphabet's '+' and '/'.
func decodeBase64URL(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

// decodeStrictObject decodes one JSON object into v; nothing may follow it.
// Unknown keys are allowed (a client may add fields).
func decodeStrictObject(data []byte, v any) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}
