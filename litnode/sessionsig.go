package litnode

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// jsTimeLayout is ECMAScript Date.prototype.toISOString: milliseconds, Z.
const jsTimeLayout = "2006-01-02T15:04:05.000Z"

// FormatJSTime formats t as JavaScript's toISOString does (UTC, ms, Z), the
// only form the SDK's schemas accept for expirations (docs/naga-auth.md §3.3).
func FormatJSTime(t time.Time) string { return t.UTC().Format(jsTimeLayout) }

// SessionSigs maps each target node URL to the session signature for that
// node (docs/naga-auth.md §5.1 step 6).
type SessionSigs map[string]AuthSig

// SessionSigRequest is what MintSessionSigs needs.
type SessionSigRequest struct {
	Key       *SessionKey
	Resources []ResourceAbilityRequest
	// Capabilities go into the signed message in order; the PKP delegation
	// must be last (docs/naga-auth.md §5.1 step 1).
	Capabilities []AuthSig
	IssuedAt     time.Time
	Expiration   time.Time
	Targets      []Target
}

// MintSessionSigs signs one session signature per target: the JSON payload
// of docs/naga-auth.md §5.1 in the SDK's key order and JavaScript escaping, with the
// node's URL as nodeAddress and its cap as 0x-hex maxPrice, signed with
// ed25519 over the UTF-8 bytes. The map is keyed by the same URL strings.
func MintSessionSigs(req SessionSigRequest) (SessionSigs, error) {
	if req.Key == nil {
		return nil, fmt.Errorf("%w: session sigs: no session key", ErrMalformed)
	}
	if len(req.Capabilities) == 0 {
		return nil, fmt.Errorf("%w: session sigs: no capabilities", ErrMalformed)
	}
	if len(req.Targets) == 0 {
		return nil, fmt.Errorf("%w: session sigs: no target nodes", ErrMalformed)
	}
	if req.Expiration.Before(req.IssuedAt) {
		return nil, fmt.Errorf("%w: session sigs: expiration before issuedAt", ErrLifetimeTooLong)
	}
	pub := req.Key.PublicKey().Hex()
	tmpl := make([]byte, 0, 4096)
	tmpl = append(tmpl, `{"sessionKey":`...)
	tmpl = appendJSString(tmpl, pub)
	tmpl = append(tmpl, `,"resourceAbilityRequests":[`...)
	for i, r := range req.Resources {
		if i > 0 {
			tmpl = append(tmpl, ',')
		}
		tmpl = append(tmpl, `{"resource":{"resourcePrefix":`...)
		tmpl = appendJSString(tmpl, r.Resource.ResourcePrefix)
		tmpl = append(tmpl, `,"resource":`...)
		tmpl = appendJSString(tmpl, r.Resource.Resource)
		tmpl = append(tmpl, `},"ability":`...)
		tmpl = appendJSString(tmpl, string(r.Ability))
		if r.Data != nil {
			tmpl = append(tmpl, `,"data":`...)
			var err error
			if tmpl, err = appendJSValue(tmpl, map[string]any(r.Data)); err != nil {
				return nil, fmt.Errorf("session sigs: resource data: %w", err)
			}
		}
		tmpl = append(tmpl, '}')
	}
	tmpl = append(tmpl, `],"capabilities":[`...)
	for i, c := range req.Capabilities {
		if i > 0 {
			tmpl = append(tmpl, ',')
		}
		tmpl = c.appendJS(tmpl)
	}
	tmpl = append(tmpl, `],"issuedAt":`...)
	tmpl = appendJSString(tmpl, FormatJSTime(req.IssuedAt))
	tmpl = append(tmpl, `,"expiration":`...)
	tmpl = appendJSString(tmpl, FormatJSTime(req.Expiration))

	sigs := make(SessionSigs, len(req.Targets))
	for _, t := range req.Targets {
		if t.MaxPrice == nil || t.MaxPrice.Sign() < 0 {
			return nil, fmt.Errorf("%w: session sigs: node %s has no max price", ErrMalformed, t.URL)
		}
		msg := append(make([]byte, 0, len(tmpl)+128), tmpl...)
		msg = append(msg, `,"nodeAddress":`...)
		msg = appendJSString(msg, t.URL)
		msg = append(msg, `,"maxPrice":`...)
		msg = appendJSString(msg, "0x"+t.MaxPrice.Text(16))
		msg = append(msg, '}')
		sigs[t.URL] = AuthSig{
			Sig:           hex.EncodeToString(req.Key.Sign(msg)),
			DerivedVia:    DerivedViaSession,
			SignedMessage: string(msg),
			Address:       pub,
			Algo:          AlgoEd25519,
		}
	}
	return sigs, nil
}

// SessionSigMessage is the parsed signedMessage of a session signature, as a
// node reads it (docs/naga-auth.md §6 step 2).
type SessionSigMessage struct {
	SessionKey              string                   `json:"sessionKey"`
	ResourceAbilityRequests []ResourceAbilityRequest `json:"resourceAbilityRequests"`
	Capabilities            []AuthSig                `json:"capabilities"`
	IssuedAt                string                   `json:"issuedAt"`
	Expiration              string                   `json:"expiration"`
	NodeAddress             string                   `json:"nodeAddress"`
	MaxPrice                *big.Int                 `json:"-"`
}

// ParseSessionSigMessage parses a session signature's signedMessage with all
// seven fields required; maxPrice may be 0x-hex or decimal (docs/naga-auth.md §6 step 2).
func ParseSessionSigMessage(signedMessage string) (SessionSigMessage, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(signedMessage), &raw); err != nil {
		return SessionSigMessage{}, fmt.Errorf("%w: session sig message: %v", ErrMalformed, err)
	}
	for _, f := range []string{"sessionKey", "resourceAbilityRequests", "capabilities", "issuedAt", "expiration", "nodeAddress", "maxPrice"} {
		if _, ok := raw[f]; !ok {
			return SessionSigMessage{}, fmt.Errorf("%w: session sig message: missing %q", ErrMalformed, f)
		}
	}
	var m SessionSigMessage
	if err := json.NewDecoder(bytes.NewReader([]byte(signedMessage))).Decode(&m); err != nil {
		return SessionSigMessage{}, fmt.Errorf("%w: session sig message: %v", ErrMalformed, err)
	}
	var mp string
	if err := json.Unmarshal(raw["maxPrice"], &mp); err != nil {
		return SessionSigMessage{}, fmt.Errorf("%w: session sig message: maxPrice is not a string", ErrMalformed)
	}
	n, ok := parseU256(mp)
	if !ok {
		return SessionSigMessage{}, fmt.Errorf("%w: session sig message: maxPrice %q", ErrMalformed, mp)
	}
	m.MaxPrice = n
	return m, nil
}

// parseU256 reads 0x-hex or decimal, as the node's U256 serde accepts.
func parseU256(s string) (*big.Int, bool) {
	var n *big.Int
	var ok bool
	if h, found := strings.CutPrefix(s, "0x"); found {
		n, ok = new(big.Int).SetString(h, 16)
	} else {
		n, ok = new(big.Int).SetString(s, 10)
	}
	if !ok || n.Sign() < 0 || n.BitLen() > 256 {
		return nil, false
	}
	return n, true
}
