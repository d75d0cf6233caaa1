package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// Job kinds and chains a policy may name (the consumer's job kinds and
// pkp-sign chains; kept as strings so this package imports neither).
const (
	KindPKPSign   = "pkp-sign"
	KindExecuteJS = "execute-js"
)

var (
	knownKinds  = []string{KindPKPSign, KindExecuteJS}
	knownChains = []string{"ethereum", "bitcoin", "raw"}
)

// Limits of a policy's lists.
const (
	MaxListEntries   = 64
	MaxJobsPerMinute = 1_000_000
	// MaxBytes is the largest policy object accepted.
	MaxBytes = 16 << 10
)

// AnyCID in ActionCIDs allows every Lit Action by CID.
const AnyCID = "*"

var (
	validProducer = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	validCID      = regexp.MustCompile(`^[A-Za-z0-9]{10,128}$`)
)

// Errors.
var (
	// ErrInvalid: a policy object that does not decode or names unknown
	// kinds, chains or malformed producers/CIDs (intake reason
	// invalid_policy).
	ErrInvalid = errors.New("invalid policy")
	// ErrDenied: a job the policy does not allow (job code policy_denied).
	ErrDenied = errors.New("denied by the PKP's policy")
)

// Policy is what a PKP's owner allows. The zero value is the secure
// default: pkp-sign for any producer on any chain, no Lit Actions, no
// signatures by other PKPs, no rate limit.
//
// JSON (the "policy" member of a hand-off payload, next to sessionKeyPair
// and delegationAuthSig):
//
//	{"producers":["billing"],          // absent: any producer
//	 "kinds":["pkp-sign","execute-js"], // absent: both (execute-js still needs actionCids or inlineCode)
//	 "chains":["ethereum"],             // pkp-sign chains; absent: any
//	 "actionCids":["Qm…"],              // Lit Actions allowed by CID ("*": any); absent: none
//	 "inlineCode":false,                // execute-js with inline code (any code)
//	 "otherPkpSignatures":false,        // an action may return signatures by other PKPs
//	 "maxJobsPerMinute":0}              // 0 or absent: unlimited
type Policy struct {
	Producers          []string `json:"producers,omitempty"`
	Kinds              []string `json:"kinds,omitempty"`
	Chains             []string `json:"chains,omitempty"`
	ActionCIDs         []string `json:"actionCids,omitempty"`
	InlineCode         bool     `json:"inlineCode,omitempty"`
	OtherPKPSignatures bool     `json:"otherPkpSignatures,omitempty"`
	MaxJobsPerMinute   int      `json:"maxJobsPerMinute,omitempty"`
}

// Default is the operator default outside dev: pkp-sign for any producer,
// no execute-js.
func Default() *Policy { return &Policy{} }

// Permissive is the dev default: every kind, any Lit Action by CID or
// inline, still no signatures by other PKPs.
func Permissive() *Policy {
	return &Policy{ActionCIDs: []string{AnyCID}, InlineCode: true}
}

// Parse decodes and validates a policy object. Empty input (or JSON null)
// means "no policy" and returns nil, nil. Unknown members are rejected, so
// a misspelt restriction is never silently dropped.
func Parse(raw []byte) (*Policy, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if len(raw) > MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrInvalid, len(raw), MaxBytes)
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalid)
	}
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the object", ErrInvalid)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Validate checks every member.
func (p *Policy) Validate() error {
	check := func(name string, list []string, ok func(string) bool) error {
		if len(list) > MaxListEntries {
			return fmt.Errorf("%w: %s has %d entries, at most %d", ErrInvalid, name, len(list), MaxListEntries)
		}
		for _, v := range list {
			if !ok(v) {
				return fmt.Errorf("%w: %s: %q is not allowed here", ErrInvalid, name, v)
			}
		}
		return nil
	}
	if err := check("producers", p.Producers, validProducer.MatchString); err != nil {
		return err
	}
	if err := check("kinds", p.Kinds, func(s string) bool { return slices.Contains(knownKinds, s) }); err != nil {
		return err
	}
	if err := check("chains", p.Chains, func(s string) bool { return slices.Contains(knownChains, s) }); err != nil {
		return err
	}
	if err := check("actionCids", p.ActionCIDs, func(s string) bool { return s == AnyCID || validCID.MatchString(s) }); err != nil {
		return err
	}
	if p.MaxJobsPerMinute < 0 || p.MaxJobsPerMinute > MaxJobsPerMinute {
		return fmt.Errorf("%w: maxJobsPerMinute %d is outside 0..%d", ErrInvalid, p.MaxJobsPerMinute, MaxJobsPerMinute)
	}
	return nil
}

// Request is what a job asks of a PKP.
type Request struct {
	Producer string
	Kind     string
	// Chain of a pkp-sign job.
	Chain string
	// CID of an execute-js job's action; Inline when the job sent code.
	CID    string
	Inline bool
}

// Check reports whether the policy allows req: nil, or an error wrapping
// ErrDenied that says which member denied it (no secret: only the job's
// public parameters).
func (p *Policy) Check(req Request) error {
	if len(p.Producers) > 0 && !slices.Contains(p.Producers, req.Producer) {
		return fmt.Errorf("%w: producer %q is not among the PKP's producers", ErrDenied, req.Producer)
	}
	if len(p.Kinds) > 0 && !slices.Contains(p.Kinds, req.Kind) {
		return fmt.Errorf("%w: job kind %s is not among the PKP's kinds", ErrDenied, req.Kind)
	}
	switch req.Kind {
	case KindPKPSign:
		if len(p.Chains) > 0 && !slices.Contains(p.Chains, req.Chain) {
			return fmt.Errorf("%w: chain %s is not among the PKP's chains", ErrDenied, req.Chain)
		}
	case KindExecuteJS:
		if p.allowsCID(req.CID) {
			return nil
		}
		if req.Inline {
			if p.InlineCode {
				return nil
			}
			return fmt.Errorf("%w: inline action code (CID %s) is not allowed: the policy has no inlineCode and does not list the CID", ErrDenied, req.CID)
		}
		return fmt.Errorf("%w: Lit Action %s is not among the PKP's actionCids", ErrDenied, req.CID)
	}
	return nil
}

func (p *Policy) allowsCID(cid string) bool {
	return cid != "" && (slices.Contains(p.ActionCIDs, AnyCID) || slices.Contains(p.ActionCIDs, cid))
}

// CheckSignerKey reports whether an action may return a signature by the
// public key signer (hex or raw bytes compared case-insensitively as hex)
// when the job's PKP is jobPKP.
func (p *Policy) CheckSignerKey(jobPKP, signer string) error {
	if strings.EqualFold(strings.TrimPrefix(jobPKP, "0x"), strings.TrimPrefix(signer, "0x")) || p.OtherPKPSignatures {
		return nil
	}
	return fmt.Errorf("%w: the action returned a signature by another key (%s), and the policy has no otherPkpSignatures", ErrDenied, shortKey(signer))
}

func shortKey(k string) string {
	k = strings.TrimPrefix(k, "0x")
	if len(k) > 20 {
		return "0x" + k[:12] + "…" + k[len(k)-6:]
	}
	return "0x" + k
}

// String renders the policy as its JSON.
func (p *Policy) String() string {
	if p == nil {
		return "null"
	}
	b, _ := json.Marshal(p)
	return string(b)
}
