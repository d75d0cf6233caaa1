package consumer

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/policy"
)

// V3Checker is the part of a Lit v3 client the intake uses to check a
// usage key without spending credits: GET /core/v1/account_exists (free;
// docs/lit-v3.md §2.4-2.5). It reports false for an unknown key (a 200
// false, or the 401 of v1.2+ servers); an error means the service could
// not answer (the hand-off is retried).
type V3Checker interface {
	AccountExists(ctx context.Context, usageKey string) (bool, error)
}

// V3CredentialStore is the part of *delegationstore.V3Store the intake uses.
type V3CredentialStore interface {
	Put(ctx context.Context, c *delegationstore.V3Credential, issuedAt time.Time) (delegationstore.PutResult, error)
	Get(ctx context.Context, addr string) (*delegationstore.V3Credential, error)
	Revoke(ctx context.Context, addr, keyHash string, notAfter time.Time) (bool, error)
}

// V3Intake is the v3 part of the intake: hand-offs and revocations whose
// "backend" is "lit-v3" (docs/lit-v3.md, README "Lit v3").
type V3Intake struct {
	Store V3CredentialStore
	// Checker checks the key with the service (free); nil skips the check.
	Checker V3Checker
}

// Rejection reasons of v3 hand-offs.
const (
	ReasonV3UsageKey      = "invalid_usage_key"
	ReasonV3UnknownAcct   = "unknown_account"
	ReasonV3Group         = "invalid_group"
	ReasonV3Policy        = "invalid_policy"
	ReasonV3NoBackend     = "v3_not_served"
	ReasonV3WrongIdentity = "pkp_not_an_address"
)

// v3Envelope is a v3 hand-off or revocation on the wire:
//
//	{"backend":"lit-v3","pkp":"0x<wallet address>","sealedPayload":"<base64url crypto_box_seal>"}
type v3Envelope struct {
	Backend       string  `json:"backend"`
	PKP           *string `json:"pkp"`
	SealedPayload *string `json:"sealedPayload"`
}

// v3Payload is the sealed payload of a v3 hand-off (or, with only
// usageKey and revokedAt, of a revocation).
type v3Payload struct {
	UsageKey  *string         `json:"usageKey"`
	GroupID   json.RawMessage `json:"groupId"`
	Policy    json.RawMessage `json:"policy"`
	ExpiresAt *time.Time      `json:"expiresAt"`
	IssuedAt  *time.Time      `json:"issuedAt"`
	RevokedAt *time.Time      `json:"revokedAt"`
}

// isV3Message reports whether a delegations message is a v3 one.
func isV3Message(data []byte) bool {
	var e struct {
		Backend string `json:"backend"`
	}
	return json.Unmarshal(data, &e) == nil && e.Backend == delegationstore.BackendLitV3
}

// v3KeyHashShape is a precomputed account hash, which v1.2+ servers refuse
// as a key (docs/lit-v3.md §2.1).
var v3KeyHashShape = regexp.MustCompile(`^0x[0-9a-fA-F]{64}$`)

// checkV3UsageKey checks a usage key's shape: standard base64 with
// padding of 32 bytes (44 characters; docs/lit-v3.md §2.2). The error
// never contains the key.
func checkV3UsageKey(k string) error {
	if v3KeyHashShape.MatchString(k) {
		return errors.New("usageKey looks like a precomputed key hash (0x + 64 hex), not a key")
	}
	if len(k) != 44 {
		return fmt.Errorf("usageKey is %d characters; a usage key is 44 (base64 of 32 bytes)", len(k))
	}
	b, err := base64.StdEncoding.Strict().DecodeString(k)
	if err != nil || len(b) != 32 {
		return errors.New("usageKey is not base64 of 32 bytes")
	}
	return nil
}

// validGroupID: decimal, or 0x hex, as the service accepts (docs/lit-v3.md §5.2).
var validGroupID = regexp.MustCompile(`^([0-9]{1,78}|0x[0-9a-fA-F]{1,64})$`)

// openV3 decodes a v3 envelope and opens its payload.
func (in *Intake) openV3(data []byte) (addr string, p *v3Payload, err error) {
	if len(data) > MaxEnvelopeBytes {
		return "", nil, &rejection{reason: ReasonTooLarge, err: fmt.Errorf("message of %d bytes exceeds %d", len(data), MaxEnvelopeBytes)}
	}
	var e v3Envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.PKP == nil || e.SealedPayload == nil {
		return "", nil, &rejection{reason: ReasonMalformed, err: errors.New("a lit-v3 message is {backend, pkp, sealedPayload}")}
	}
	addr, err = delegationstore.NormalizeV3Address(*e.PKP)
	if err != nil {
		return "", nil, &rejection{reason: ReasonV3WrongIdentity, err: fmt.Errorf("pkp: %w", err)}
	}
	if in.Sealing == nil {
		return addr, nil, &rejection{reason: ReasonUnsealable, pkp: addr, err: errors.New("this daemon accepts no sealed hand-offs")}
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(*e.SealedPayload, "="))
	if err != nil {
		return addr, nil, &rejection{reason: ReasonMalformed, pkp: addr, err: errors.New("sealedPayload is not base64url")}
	}
	pt, err := in.Sealing.Open(raw)
	if err != nil {
		return addr, nil, &rejection{reason: ReasonUnsealable, pkp: addr, err: err}
	}
	defer clear(pt)
	p = &v3Payload{}
	pd := json.NewDecoder(bytes.NewReader(pt))
	pd.DisallowUnknownFields()
	if err := pd.Decode(p); err != nil {
		// The decoder's message may quote the payload: keep it out.
		return addr, nil, &rejection{reason: ReasonMalformed, pkp: addr, err: errors.New("sealed payload is not {usageKey, groupId, policy?, expiresAt?, issuedAt?}")}
	}
	if p.UsageKey == nil {
		return addr, nil, &rejection{reason: ReasonV3UsageKey, pkp: addr, err: errors.New("missing usageKey")}
	}
	if err := checkV3UsageKey(*p.UsageKey); err != nil {
		return addr, nil, &rejection{reason: ReasonV3UsageKey, pkp: addr, err: err}
	}
	return addr, p, nil
}

// intakeV3 verifies and stores a v3 hand-off. It checks everything that
// can be checked without spending credits: the key's shape, the group id,
// the policy, the expiry, and (free) that the key resolves to an account.
// Whether the group really holds the PKP and the signing action surfaces
// on the first job (scope_denied) or with `litsign v3 check`.
func (in *Intake) intakeV3(ctx context.Context, data []byte) error {
	if in.V3 == nil {
		return in.rejectV3(ctx, &rejection{reason: ReasonV3NoBackend, err: errors.New("this litsignd serves no Lit v3 backend (start it with --lit-v3-url)")})
	}
	addr, p, err := in.openV3(data)
	if err != nil {
		return in.rejectV3(ctx, asRejection(err, addr))
	}
	group := strings.Trim(string(bytes.TrimSpace(p.GroupID)), `"`)
	if !validGroupID.MatchString(group) {
		return in.rejectV3(ctx, &rejection{reason: ReasonV3Group, pkp: addr, err: errors.New("groupId must be a decimal or 0x-hex group id")})
	}
	var pol json.RawMessage
	if parsed, err := policy.Parse(p.Policy); err != nil {
		return in.rejectV3(ctx, &rejection{reason: ReasonV3Policy, pkp: addr, err: err})
	} else if parsed != nil {
		pol, _ = json.Marshal(parsed)
	}
	now := in.now()
	cred := &delegationstore.V3Credential{Address: addr, UsageKey: delegationstore.UsageKey(*p.UsageKey), GroupID: group, Policy: pol}
	if p.ExpiresAt != nil {
		if !now.Before(*p.ExpiresAt) {
			return in.rejectV3(ctx, &rejection{reason: ReasonExpired, pkp: addr, err: fmt.Errorf("expiresAt %s has passed", p.ExpiresAt.UTC().Format(time.RFC3339))})
		}
		cred.ExpiresAt = *p.ExpiresAt
	}
	var issued time.Time
	if p.IssuedAt != nil {
		if p.IssuedAt.After(now.Add(5 * time.Minute)) {
			return in.rejectV3(ctx, &rejection{reason: ReasonNotYetValid, pkp: addr, err: errors.New("issuedAt is in the future")})
		}
		issued = *p.IssuedAt
	}
	if in.V3.Checker != nil {
		ok, err := in.V3.Checker.AccountExists(ctx, cred.UsageKey.Reveal())
		if err != nil {
			return fmt.Errorf("lit v3 account_exists: %w", err) // retried
		}
		if !ok {
			return in.rejectV3(ctx, &rejection{reason: ReasonV3UnknownAcct, pkp: addr, err: errors.New("the service does not know this usage key (account_exists is false)")})
		}
	}
	res, err := in.V3.Store.Put(ctx, cred, issued)
	switch {
	case errors.Is(err, delegationstore.ErrStale):
		return in.rejectV3(ctx, &rejection{reason: ReasonSuperseded, pkp: addr, err: err})
	case errors.Is(err, delegationstore.ErrRevoked):
		return in.rejectV3(ctx, &rejection{reason: ReasonRevoked, pkp: addr, err: err})
	case errors.Is(err, delegationstore.ErrExpired):
		return in.rejectV3(ctx, &rejection{reason: ReasonExpired, pkp: addr, err: err})
	case err != nil:
		return fmt.Errorf("store v3 credential: %w", err)
	}
	ev := DelegationEvent{Type: EventStored, Backend: delegationstore.BackendLitV3, PKPPublicKey: addr, Revision: res.Revision}
	if !cred.ExpiresAt.IsZero() {
		e := cred.ExpiresAt.UTC()
		ev.Expiration = &e
	}
	if err := in.Events.Publish(ctx, ev, fmt.Sprintf("stored-%s-%d", addr, res.Revision)); err != nil {
		return err
	}
	in.logger().Info("v3 credential stored", "pkp", addr, "key_hash", delegationstore.V3KeyHash(cred.UsageKey.Reveal()), "group", group, "revision", res.Revision, "replaced", res.Replaced)
	return nil
}

// revokeV3 handles a v3 revocation: the sealed payload proves knowledge of
// the usage key ({"usageKey", "revokedAt"}); the stored credential is
// removed if it holds that key and was issued no later than revokedAt (a
// replayed revocation does not remove a credential handed off after it).
func (in *Intake) revokeV3(ctx context.Context, data []byte) error {
	if in.V3 == nil {
		return in.rejectV3(ctx, &rejection{reason: ReasonV3NoBackend, err: errors.New("this litsignd serves no Lit v3 backend")})
	}
	addr, p, err := in.openV3(data)
	if err != nil {
		rj := asRejection(err, addr)
		rj.reason = ReasonInvalidRevocation
		return in.rejectV3(ctx, rj)
	}
	if p.RevokedAt == nil {
		return in.rejectV3(ctx, &rejection{reason: ReasonInvalidRevocation, pkp: addr, err: errors.New("a v3 revocation needs revokedAt")})
	}
	hash := delegationstore.V3KeyHash(*p.UsageKey)
	deleted, err := in.V3.Store.Revoke(ctx, addr, hash, *p.RevokedAt)
	if err != nil {
		return fmt.Errorf("revoke v3 credential: %w", err)
	}
	if !deleted {
		in.logger().Info("v3 revocation matched no stored credential", "pkp", addr, "key_hash", hash)
		return nil
	}
	return in.Events.Publish(ctx, DelegationEvent{Type: EventRevoked, Backend: delegationstore.BackendLitV3, PKPPublicKey: addr, Reason: "client"},
		"revoked-"+addr+"-"+hash[2:18]+"-"+p.RevokedAt.UTC().Format("20060102T150405.000"))
}

// rejectV3 is reject for a v3 message: its event carries
// "backend":"lit-v3" (README "Lit v3").
func (in *Intake) rejectV3(ctx context.Context, rj *rejection) error {
	rj.backend = delegationstore.BackendLitV3
	return in.reject(ctx, rj)
}
