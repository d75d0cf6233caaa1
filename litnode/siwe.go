package litnode

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	siwe "github.com/spruceid/siwe-go"
)

// EIP-4361 line layout (docs/naga-auth.md §3.3).
const (
	siwePreamble      = " wants you to sign in with your Ethereum account:"
	siweTagURI        = "URI: "
	siweTagVersion    = "Version: "
	siweTagChainID    = "Chain ID: "
	siweTagNonce      = "Nonce: "
	siweTagIssuedAt   = "Issued At: "
	siweTagExpiration = "Expiration Time: "
	siweTagNotBefore  = "Not Before: "
	siweTagRequestID  = "Request ID: "
	siweTagResources  = "Resources:"
	siweResourceItem  = "- "
)

// SIWEMessage is a parsed EIP-4361 (Sign-In with Ethereum) message. Optional
// fields are "" when absent. Every field is kept as written, so String
// reproduces a parsed message byte for byte.
type SIWEMessage struct {
	Domain         string
	Address        string // EIP-55 checksummed, as written in the message
	Statement      string // "" when the message has no statement line
	URI            string
	Version        string // "1"
	ChainID        int64
	Nonce          string
	IssuedAt       string // kept verbatim (e.g. "2025-06-01T11:59:48Z" or with millis)
	ExpirationTime string
	NotBefore      string
	RequestID      string
	Resources      []string
}

// ParseSIWE parses an EIP-4361 message strictly. The grammar, the EIP-55
// address checksum (as siwe-rs on the node requires, docs/naga-auth.md §3.4 step 1),
// the domain and the URIs are checked by siwe-go. The message must also be
// canonical: String must give back the input byte for byte, because a node
// hashes its own re-rendering of the message, not the bytes it was sent
// (docs/naga-auth.md §6 step 6b). Every error wraps ErrMalformed; no input panics.
func ParseSIWE(text string) (*SIWEMessage, error) {
	if err := siweGrammarCheck(text); err != nil {
		return nil, fmt.Errorf("%w: SIWE message: %v", ErrMalformed, err)
	}
	m, err := splitSIWE(text)
	if err != nil {
		return nil, fmt.Errorf("%w: SIWE message: %v", ErrMalformed, err)
	}
	if m.String() != text {
		return nil, fmt.Errorf("%w: SIWE message is not in canonical EIP-4361 form", ErrMalformed)
	}
	return m, nil
}

// siweGrammarCheck runs siwe-go's parser for its grammar and field checks.
// siwe-go is not known to panic while parsing, but it is third-party code on
// untrusted input, so a panic is turned into an error.
func siweGrammarCheck(text string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("siwe-go panicked: %v", r)
		}
	}()
	_, err = siwe.ParseMessage(text)
	return err
}

// splitSIWE reads the fields of a message that siwe-go accepted, as raw
// strings. siwe-go's getters return re-rendered values (url.URL, common.Address),
// which could hide a difference from the text that was signed.
func splitSIWE(text string) (*SIWEMessage, error) {
	// A node's siwe-rs holds the message as a Rust string (valid UTF-8).
	if !utf8.ValidString(text) {
		return nil, errors.New("not valid UTF-8")
	}
	lines := strings.Split(text, "\n")
	i := 0
	next := func() (string, bool) {
		if i >= len(lines) {
			return "", false
		}
		i++
		return lines[i-1], true
	}
	tagged := func(tag string) (string, error) {
		l, ok := next()
		v, found := strings.CutPrefix(l, tag)
		if !ok || !found {
			return "", fmt.Errorf("missing %q line", strings.TrimSpace(tag))
		}
		return v, nil
	}

	m := &SIWEMessage{}
	l, _ := next()
	domain, ok := strings.CutSuffix(l, siwePreamble)
	if !ok || domain == "" {
		return nil, errors.New("missing preamble line")
	}
	// siwe-go's net/url checks let non-ASCII and relative URIs through; the
	// node's siwe-rs parses the domain as an http Authority and the URI and
	// resources as RFC 3986 absolute UriStrings (docs/naga-auth.md §3.4 step 1).
	if !isURIText(domain) {
		return nil, fmt.Errorf("domain %q is not printable ASCII", domain)
	}
	m.Domain = domain
	m.Address, _ = next()
	// EIP-55 only; a node's siwe-rs rejects any other case (docs/naga-auth.md §3.4 step 1).
	if !common.IsHexAddress(m.Address) || common.HexToAddress(m.Address).Hex() != m.Address {
		return nil, fmt.Errorf("address %q is not EIP-55 checksummed", m.Address)
	}
	if l, _ := next(); l != "" {
		return nil, errors.New("no blank line after the address")
	}
	l, ok = next()
	if !ok {
		return nil, errors.New("message ends after the address")
	}
	if l != "" {
		m.Statement = l
		if l, _ := next(); l != "" {
			return nil, errors.New("no blank line after the statement")
		}
	}
	var err error
	if m.URI, err = tagged(siweTagURI); err != nil {
		return nil, err
	}
	if !isAbsoluteURIText(m.URI) {
		return nil, fmt.Errorf("URI %q is not an absolute ASCII URI", m.URI)
	}
	if m.Version, err = tagged(siweTagVersion); err != nil {
		return nil, err
	}
	chain, err := tagged(siweTagChainID)
	if err != nil {
		return nil, err
	}
	if m.ChainID, err = strconv.ParseInt(chain, 10, 64); err != nil || m.ChainID < 0 {
		return nil, fmt.Errorf("chain id %q", chain)
	}
	if m.Nonce, err = tagged(siweTagNonce); err != nil {
		return nil, err
	}
	if m.IssuedAt, err = tagged(siweTagIssuedAt); err != nil {
		return nil, err
	}
	l, ok = next()
	for _, opt := range []struct {
		tag string
		dst *string
	}{
		{siweTagExpiration, &m.ExpirationTime},
		{siweTagNotBefore, &m.NotBefore},
		{siweTagRequestID, &m.RequestID},
	} {
		if v, found := strings.CutPrefix(l, opt.tag); ok && found {
			if v == "" {
				// "" means absent here; String would drop the line.
				return nil, fmt.Errorf("empty %q line", strings.TrimSpace(opt.tag))
			}
			*opt.dst = v
			l, ok = next()
		}
	}
	if !ok {
		return m, nil
	}
	if l != siweTagResources {
		return nil, fmt.Errorf("unexpected line %q", l)
	}
	for {
		l, ok = next()
		if !ok {
			break
		}
		r, found := strings.CutPrefix(l, siweResourceItem)
		if !found {
			return nil, fmt.Errorf("unexpected line %q in resources", l)
		}
		if !isAbsoluteURIText(r) {
			return nil, fmt.Errorf("resource %q is not an absolute ASCII URI", r)
		}
		m.Resources = append(m.Resources, r)
	}
	if len(m.Resources) == 0 {
		return nil, errors.New("empty resources list")
	}
	return m, nil
}

// String renders the message in EIP-4361 form exactly as siwe@2.3.2
// prepareMessage and siwe-rs to_string do: lines joined by "\n", a blank line
// on each side of the statement (two blank lines when there is none), absent
// optional fields and an empty resource list omitted, no trailing newline
// (docs/naga-auth.md §3.3).
func (m *SIWEMessage) String() string {
	var b strings.Builder
	b.WriteString(m.Domain)
	b.WriteString(siwePreamble)
	b.WriteString("\n")
	b.WriteString(m.Address)
	b.WriteString("\n\n")
	if m.Statement != "" {
		b.WriteString(m.Statement)
		b.WriteString("\n")
	}
	b.WriteString("\n")
	b.WriteString(siweTagURI + m.URI + "\n")
	b.WriteString(siweTagVersion + m.Version + "\n")
	b.WriteString(siweTagChainID + strconv.FormatInt(m.ChainID, 10) + "\n")
	b.WriteString(siweTagNonce + m.Nonce + "\n")
	b.WriteString(siweTagIssuedAt + m.IssuedAt)
	if m.ExpirationTime != "" {
		b.WriteString("\n" + siweTagExpiration + m.ExpirationTime)
	}
	if m.NotBefore != "" {
		b.WriteString("\n" + siweTagNotBefore + m.NotBefore)
	}
	if m.RequestID != "" {
		b.WriteString("\n" + siweTagRequestID + m.RequestID)
	}
	if len(m.Resources) > 0 {
		b.WriteString("\n" + siweTagResources)
		for _, r := range m.Resources {
			b.WriteString("\n" + siweResourceItem + r)
		}
	}
	return b.String()
}

// IssuedAtTime parses Issued At as an RFC 3339 date-time.
func (m *SIWEMessage) IssuedAtTime() (time.Time, error) {
	if m.IssuedAt == "" {
		return time.Time{}, fmt.Errorf("%w: SIWE message has no Issued At", ErrMalformed)
	}
	return parseSIWETime(m.IssuedAt)
}

// ExpirationTimeValue parses Expiration Time; ok is false when it is absent.
func (m *SIWEMessage) ExpirationTimeValue() (t time.Time, ok bool, err error) {
	return optionalSIWETime(m.ExpirationTime)
}

// NotBeforeValue parses Not Before; ok is false when it is absent.
func (m *SIWEMessage) NotBeforeValue() (t time.Time, ok bool, err error) {
	return optionalSIWETime(m.NotBefore)
}

// RecapURNs returns every resource that is a ReCap URN ("urn:recap:…"), in
// message order. A node checks all of them, not only the last (docs/naga-auth.md §3.2).
func (m *SIWEMessage) RecapURNs() []string {
	var out []string
	for _, r := range m.Resources {
		if strings.HasPrefix(r, recapURNPrefix) {
			out = append(out, r)
		}
	}
	return out
}

// EIP191Hash returns keccak256("\x19Ethereum Signed Message:\n" + len(msg) +
// msg), the personal_sign hash (docs/naga-auth.md §6 step 6b). For a SIWE message, pass
// String() of the parsed message, which is what a node hashes.
func EIP191Hash(msg string) [32]byte {
	var h [32]byte
	copy(h[:], accounts.TextHash([]byte(msg)))
	return h
}

// isURIText reports whether s is non-empty printable ASCII without spaces,
// the character set of an RFC 3986 URI.
func isURIText(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return s != ""
}

// isAbsoluteURIText reports whether s is printable ASCII that starts with an
// RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":".
func isAbsoluteURIText(s string) bool {
	scheme, _, ok := strings.Cut(s, ":")
	if !ok || scheme == "" || !isURIText(s) {
		return false
	}
	for i := 0; i < len(scheme); i++ {
		c := scheme[i]
		alpha := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !alpha && (i == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

func optionalSIWETime(s string) (time.Time, bool, error) {
	if s == "" {
		return time.Time{}, false, nil
	}
	t, err := parseSIWETime(s)
	if err != nil {
		return time.Time{}, false, err
	}
	return t, true, nil
}

// parseSIWETime parses an EIP-4361 date-time (RFC 3339, which allows a
// lowercase "t" and "z").
func parseSIWETime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: SIWE time %q is not RFC 3339", ErrMalformed, s)
	}
	return t, nil
}
