package litnode

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// MaxDelegationLifetime is the longest expiration − issuedAt a node accepts
// (docs/naga-auth.md §3.4 step 6, node MAX_TIMESTAMP_VALIDITY_DAYS).
const MaxDelegationLifetime = 30 * 24 * time.Hour

// Delegation is a parsed capability AuthSig: a SIWE message with ReCap
// resources that delegates to a session key. Parsing checks shape only;
// Verify checks it as a Lit node does.
type Delegation struct {
	AuthSig    AuthSig
	SIWE       *SIWEMessage
	Recaps     []*Recap
	SessionKey SessionPublicKey // from the SIWE URI
	Address    common.Address   // the SIWE address (the PKP's for lit.bls)
	IssuedAt   time.Time
	Expiration time.Time
	NotBefore  time.Time // zero when absent
}

// ParseDelegation parses a delegation AuthSig's SIWE message, its times, its
// session key URI and every ReCap, without checking any signature.
func ParseDelegation(a AuthSig) (*Delegation, error) {
	m, err := ParseSIWE(a.SignedMessage)
	if err != nil {
		return nil, fmt.Errorf("delegation: %w", err)
	}
	return parseDelegationSIWE(a, m)
}

// parseDelegationSIWE is ParseDelegation for a SIWE message m that
// ParseSIWE already returned for a.SignedMessage.
func parseDelegationSIWE(a AuthSig, m *SIWEMessage) (*Delegation, error) {
	var err error
	d := &Delegation{AuthSig: a, SIWE: m}
	if !common.IsHexAddress(m.Address) {
		return nil, fmt.Errorf("%w: delegation: SIWE address %q", ErrMalformed, m.Address)
	}
	d.Address = common.HexToAddress(m.Address)
	if d.IssuedAt, err = m.IssuedAtTime(); err != nil {
		return nil, fmt.Errorf("%w: delegation: Issued At: %v", ErrMalformed, err)
	}
	exp, ok, err := m.ExpirationTimeValue()
	if err != nil {
		return nil, fmt.Errorf("%w: delegation: Expiration Time: %v", ErrMalformed, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: delegation: no Expiration Time", ErrMalformed)
	}
	d.Expiration = exp
	if nbf, ok, err := m.NotBeforeValue(); err != nil {
		return nil, fmt.Errorf("%w: delegation: Not Before: %v", ErrMalformed, err)
	} else if ok {
		d.NotBefore = nbf
	}
	uri, found := strings.CutPrefix(m.URI, SessionKeyURIPrefix)
	if !found {
		return nil, fmt.Errorf("%w: delegation: SIWE URI %q is not a lit:session: URI", ErrURIMismatch, m.URI)
	}
	// The node compares the URI as a string, so only the canonical lowercase
	// form can ever match (docs/naga-auth.md §1 "Case matters").
	if d.SessionKey, err = ParseSessionPublicKey(uri); err != nil || d.SessionKey.Hex() != uri {
		return nil, fmt.Errorf("%w: delegation: SIWE URI %q is not lit:session:<64 lowercase hex>", ErrURIMismatch, m.URI)
	}
	for _, urn := range m.RecapURNs() {
		r, err := DecodeRecapURN(urn)
		if err != nil {
			return nil, fmt.Errorf("delegation: %w", err)
		}
		d.Recaps = append(d.Recaps, r)
	}
	return d, nil
}

// Grants reports whether some ReCap of the delegation grants ability on
// resourceKey ("<prefix>://<id>"), with the node's wildcards: key
// "<prefix>://*" or the exact key, ability "*/*" or the exact one
// (docs/naga-auth.md §6 step 6c).
func (d *Delegation) Grants(resourceKey string, ability Ability) bool {
	ns, name := ability.RecapAbility()
	if ns == "" {
		return false
	}
	for _, r := range d.Recaps {
		if r.Grants(resourceKey, ns+"/"+name) {
			return true
		}
	}
	return false
}

// Resources lists what the delegation grants, as resource-ability requests
// (the SDK's mapping, docs/naga-auth.md §4.2 step 1), over all its ReCaps.
func (d *Delegation) Resources() []ResourceAbilityRequest {
	var out []ResourceAbilityRequest
	for _, r := range d.Recaps {
		out = append(out, RequestsFromRecap(r)...)
	}
	return out
}

// DerivedAuthData is the auth data the SDK's
// createPkpAuthContextFromPreGenerated derives from a delegation's
// lit-resolvedauthcontext (docs/naga-auth.md §4.2 step 1).
type DerivedAuthData struct {
	AuthMethodType int            `json:"authMethodType"`
	AuthMethodID   string         `json:"authMethodId"`
	AccessToken    string         `json:"accessToken"`
	PublicKey      string         `json:"publicKey,omitempty"`
	AuthContext    map[string]any `json:"-"`
}

// DerivedAuthData derives the auth data as the SDK does: from the first
// nota-bene with an auth_context, the auth method context used for the
// sign-session-key request (else the first); only EthWallet (type 1) with a
// 0x userId derives (docs/naga-auth.md §4.2).
func (d *Delegation) DerivedAuthData() (DerivedAuthData, error) {
	for _, r := range d.Recaps {
		for _, uri := range sortedKeys(r.Att) {
			for _, ability := range sortedKeys(r.Att[uri]) {
				for _, nb := range r.Att[uri][ability] {
					ctx, ok := nb["auth_context"].(map[string]any)
					if !ok {
						continue
					}
					methods, _ := ctx["authMethodContexts"].([]any)
					if len(methods) == 0 {
						return DerivedAuthData{}, ErrNoAuthContext
					}
					chosen, _ := methods[0].(map[string]any)
					for _, m := range methods {
						if mm, ok := m.(map[string]any); ok && mm["usedForSignSessionKeyRequest"] == true {
							chosen = mm
							break
						}
					}
					userID, _ := chosen["userId"].(string)
					appID, _ := chosen["appId"].(string)
					if fmt.Sprint(chosen["authMethodType"]) != "1" || !strings.HasPrefix(userID, "0x") {
						return DerivedAuthData{}, ErrNoAuthContext
					}
					tok := appendJSString([]byte(`{"userId":`), userID)
					tok = appendJSString(append(tok, `,"appId":`...), appID)
					out := DerivedAuthData{AuthMethodType: 1, AuthMethodID: userID, AccessToken: string(append(tok, '}')), AuthContext: ctx}
					if pk, ok := ctx["authSigAddress"].(string); ok && strings.HasPrefix(pk, "0x") {
						out.PublicKey = pk
					}
					return out, nil
				}
			}
		}
	}
	return DerivedAuthData{}, ErrNoAuthContext
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// VerifyOptions says what Verify checks a delegation against.
type VerifyOptions struct {
	// NetworkKey is the network's BLS root public key (the handshake's
	// networkPublicKey). Required for lit.bls delegations.
	NetworkKey BLSPublicKey
	// SessionKey is the session key the delegation must name in its URI.
	SessionKey SessionPublicKey
	// PKP, when set, must be the SIWE address of a lit.bls delegation.
	PKP PKPPublicKey
	// AllowWallet accepts an EOA (web3.eth.personal.sign) capability,
	// verified by EIP-191 recovery, as nodes accept it.
	AllowWallet bool
	// Now is the time to check validity at; zero means time.Now().
	Now time.Time
}

// Verify checks a delegation AuthSig as a Lit node checks a capability
// (docs/naga-auth.md §6 step 6, §9), plus the daemon's own rule that the SIWE address
// is the PKP's address. Every rejection wraps one of the package sentinels.
func Verify(a AuthSig, opts VerifyOptions) (*Delegation, error) {
	kind := a.Kind()
	switch {
	case kind == KindBLSNetwork:
	case kind == KindWallet && opts.AllowWallet && a.DerivedVia == DerivedViaWallet:
	default:
		return nil, fmt.Errorf("%w: derivedVia %q with algo %q is not a delegation this verifier accepts", ErrWrongKind, a.DerivedVia, a.Algo)
	}
	d, err := ParseDelegation(a)
	if err != nil {
		return nil, err
	}
	return verifyParsed(d, kind, opts)
}

// VerifyHandOff is Verify(h.Delegation, opts) for a hand-off: a decoded
// hand-off's SIWE message is not parsed again (see HandOff.ParseDelegation).
func VerifyHandOff(h *HandOff, opts VerifyOptions) (*Delegation, error) {
	a := h.Delegation
	kind := a.Kind()
	switch {
	case kind == KindBLSNetwork:
	case kind == KindWallet && opts.AllowWallet && a.DerivedVia == DerivedViaWallet:
	default:
		return nil, fmt.Errorf("%w: derivedVia %q with algo %q is not a delegation this verifier accepts", ErrWrongKind, a.DerivedVia, a.Algo)
	}
	d, err := h.ParseDelegation()
	if err != nil {
		return nil, err
	}
	return verifyParsed(d, kind, opts)
}

// verifyParsed runs Verify's checks on a parsed delegation of the given kind.
func verifyParsed(d *Delegation, kind AuthSigKind, opts VerifyOptions) (*Delegation, error) {
	a := d.AuthSig
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	// siwe valid_now: notBefore < now ≤ expiration, no grace (docs/naga-auth.md §5.4).
	if !d.NotBefore.IsZero() && !now.After(d.NotBefore) {
		return nil, fmt.Errorf("%w: not before %s", ErrNotYetValid, d.SIWE.NotBefore)
	}
	if now.After(d.Expiration) {
		return nil, fmt.Errorf("%w: at %s", ErrExpired, d.SIWE.ExpirationTime)
	}
	if d.Expiration.Before(d.IssuedAt) {
		return nil, fmt.Errorf("%w: expiration %s is before issuedAt %s", ErrLifetimeTooLong, d.SIWE.ExpirationTime, d.SIWE.IssuedAt)
	}
	if d.Expiration.Sub(d.IssuedAt) > MaxDelegationLifetime {
		return nil, fmt.Errorf("%w: %s from issuedAt to expiration exceeds 30 days", ErrLifetimeTooLong, d.Expiration.Sub(d.IssuedAt))
	}
	if d.SessionKey != opts.SessionKey {
		return nil, fmt.Errorf("%w: delegation is for %s, not %s", ErrURIMismatch, d.SIWE.URI, opts.SessionKey.URI())
	}
	// The cheap check first: a delegation for another PKP costs no pairing.
	// (The ReCap checks stay after the signature check: a tampered ReCap is
	// reported as the bad signature it is.)
	if kind == KindBLSNetwork && !opts.PKP.IsZero() && d.Address != opts.PKP.Address() {
		return nil, fmt.Errorf("%w: delegation address %s is not the PKP's %s", ErrAddressMismatch, d.Address.Hex(), opts.PKP.Address().Hex())
	}
	switch kind {
	case KindBLSNetwork:
		if opts.NetworkKey.IsZero() {
			return nil, fmt.Errorf("%w: no network BLS key to verify against", ErrBadSignature)
		}
		sig, err := ParseBLSSigJSON(a.Sig)
		if err != nil {
			return nil, fmt.Errorf("%w: delegation sig: %w", ErrBadSignature, err)
		}
		// The node hashes the re-rendered SIWE; ParseSIWE guarantees it is
		// the signed text byte for byte (docs/naga-auth.md §6 step 6b).
		m := BLSSessionMessage(d.SIWE.String())
		if err := VerifyBLS(opts.NetworkKey, m[:], sig); err != nil {
			// An undecodable point is a bad signature too (it also stays
			// ErrMalformed for callers that care).
			return nil, fmt.Errorf("%w: BLS signature of session key via SIWE is not valid: %w", ErrBadSignature, err)
		}
	case KindWallet:
		if err := verifyEIP191(d.SIWE.String(), a.Sig, d.Address); err != nil {
			return nil, fmt.Errorf("delegation: wallet signature of session key via SIWE is not valid: %w", err)
		}
	}
	if len(d.Recaps) == 0 {
		return nil, fmt.Errorf("%w: delegation has no ReCap resource", ErrScope)
	}
	if _, err := VerifyRecapStatements(d.SIWE); err != nil {
		return nil, err
	}
	return d, nil
}

// verifyEIP191 checks a 65-byte personal_sign signature (v 27/28 or 0/1)
// over msg recovers to addr. It never panics on short input.
func verifyEIP191(msg, sigHex string, addr common.Address) error {
	sig, err := hex.DecodeString(strings.TrimPrefix(sigHex, "0x"))
	if err != nil || len(sig) != 65 {
		return fmt.Errorf("%w: wallet signature must be 65 bytes of hex", ErrMalformed)
	}
	if sig[64] >= 27 {
		sig[64] -= 27
	}
	h := EIP191Hash(msg)
	pub, err := crypto.SigToPub(h[:], sig)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if crypto.PubkeyToAddress(*pub) != addr {
		return fmt.Errorf("%w: signer is not %s", ErrBadSignature, addr.Hex())
	}
	return nil
}

var sdkLineRE = regexp.MustCompile(`^([^:]+):\s*(.*)$`)

// ValidateLikeSDK runs exactly the checks of the JS SDK's
// validateDelegationAuthSig, with its error texts (docs/naga-auth.md §4.1): the
// expiration (if present) has not passed and the URI names the session key.
// It checks no signature; use Verify for that.
func ValidateLikeSDK(a AuthSig, sessionKeyURI string, now time.Time) error {
	expected := sessionKeyURI
	if !strings.HasPrefix(expected, SessionKeyURIPrefix) {
		expected = SessionKeyURIPrefix + expected
	}
	fail := func(msg string) error {
		return &SDKValidationError{Message: "Invalid delegation signature: " + msg}
	}
	fields := map[string][]string{} // a single value, or several for "- " lists
	var last string
	for _, line := range strings.Split(a.SignedMessage, "\n") {
		if item, ok := strings.CutPrefix(line, "- "); ok && last != "" {
			fields[last] = append(fields[last], item)
			continue
		}
		if m := sdkLineRE.FindStringSubmatch(line); m != nil {
			last = m[1]
			fields[last] = []string{m[2]}
		}
	}
	if v, ok := fields["Expiration Time"]; ok {
		if len(v) > 1 {
			return fail("Delegation signature contains multiple expiration timestamps")
		}
		exp, err := parseJSDate(strings.TrimSpace(v[0]))
		if err != nil {
			return fail("Delegation signature contains an invalid expiration timestamp")
		}
		if !exp.After(now) {
			return fail("Delegation signature has expired at " + FormatJSTime(exp))
		}
	}
	if v, ok := fields["URI"]; ok && len(v) == 1 && strings.TrimSpace(v[0]) != "" {
		if strings.TrimSpace(v[0]) != expected {
			return fail("Session key URI in delegation signature does not match provided session key pair")
		}
	} else if !strings.Contains(a.SignedMessage, expected) {
		return fail("Session key URI in delegation signature does not match provided session key pair")
	}
	return nil
}

// SDKValidationError is a ValidateLikeSDK failure. Its Error() is exactly
// the SDK's message; it matches ErrSDKValidation with errors.Is.
type SDKValidationError struct{ Message string }

func (e *SDKValidationError) Error() string { return e.Message }

// Is reports whether target is ErrSDKValidation.
func (e *SDKValidationError) Is(target error) bool { return target == ErrSDKValidation }

// parseJSDate accepts the ISO 8601 forms JavaScript's Date parses reliably.
func parseJSDate(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unparseable date %q", s)
}
