package litnode

import (
	"fmt"
	"maps"
	"strings"
	"unicode/utf16"
)

// Ability is a Lit resource ability, as written in shorthand resources and in
// a session sig's resourceAbilityRequests (docs/naga-auth.md §3.1).
type Ability string

// The Lit abilities a client may request (docs/naga-auth.md §3.1).
const (
	AbilityPKPSigning         Ability = "pkp-signing"
	AbilityLitActionExecution Ability = "lit-action-execution"
	AbilityACCDecryption      Ability = "access-control-condition-decryption"
	AbilityACCSigning         Ability = "access-control-condition-signing"
	AbilityPaymentDelegation  Ability = "lit-payment-delegation"
)

// Lit resource prefixes (docs/naga-auth.md §3.1).
const (
	litPrefixPKP                 = "lit-pkp"
	litPrefixLitAction           = "lit-litaction"
	litPrefixACC                 = "lit-accesscontrolcondition"
	litPrefixPaymentDelegation   = "lit-paymentdelegation"
	litPrefixResolvedAuthContext = "lit-resolvedauthcontext"
)

// ResourcePrefix returns the resource prefix the ability applies to:
// lit-pkp, lit-litaction, lit-accesscontrolcondition or
// lit-paymentdelegation; "" for an unknown ability.
func (a Ability) ResourcePrefix() string {
	switch a {
	case AbilityPKPSigning:
		return litPrefixPKP
	case AbilityLitActionExecution:
		return litPrefixLitAction
	case AbilityACCDecryption, AbilityACCSigning:
		return litPrefixACC
	case AbilityPaymentDelegation:
		return litPrefixPaymentDelegation
	default:
		return ""
	}
}

// RecapAbility returns the ReCap namespace and name that grant the ability
// (docs/naga-auth.md §3.1, §6 step 6c); "", "" for an unknown ability.
func (a Ability) RecapAbility() (namespace, name string) {
	switch a {
	case AbilityPKPSigning, AbilityACCSigning:
		return "Threshold", "Signing"
	case AbilityLitActionExecution:
		return "Threshold", "Execution"
	case AbilityACCDecryption:
		return "Threshold", "Decryption"
	case AbilityPaymentDelegation:
		return "Auth", "Auth"
	default:
		return "", ""
	}
}

// LitResource is a Lit resource: a prefix and an id ("*" for all). The field
// order is the SDK's, which JSON.stringify keeps in a session sig's
// signedMessage (docs/naga-auth.md §5.1).
type LitResource struct {
	ResourcePrefix string `json:"resourcePrefix"`
	Resource       string `json:"resource"`
}

// Key returns the ReCap resource key "<prefix>://<resource>".
func (r LitResource) Key() string { return r.ResourcePrefix + "://" + r.Resource }

// ResourceAbilityRequest is one entry of a session sig's
// resourceAbilityRequests (docs/naga-auth.md §5.1).
type ResourceAbilityRequest struct {
	Resource LitResource    `json:"resource"`
	Ability  Ability        `json:"ability"`
	Data     map[string]any `json:"data,omitempty"`
}

// ParseResourceShorthand parses a comma-separated list of "ability[:id]"
// entries, e.g. "pkp-signing:*,lit-action-execution:QmCID", into requests in
// the same order, as the SDK's transformShorthandResources maps its tuples
// (docs/naga-auth.md §3.1). A missing id means "*"; PKP ids go through
// FormatPKPResource. Unknown abilities, the node-only
// lit-resolvedauthcontext and empty entries are rejected with ErrMalformed.
func ParseResourceShorthand(s string) ([]ResourceAbilityRequest, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%w: resource shorthand is empty", ErrMalformed)
	}
	var out []ResourceAbilityRequest
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("%w: resource shorthand %q has an empty entry", ErrMalformed, s)
		}
		name, id, hasID := strings.Cut(item, ":")
		name, id = strings.TrimSpace(name), strings.TrimSpace(id)
		if !hasID {
			id = "*"
		}
		if id == "" {
			return nil, fmt.Errorf("%w: resource shorthand %q has an empty id", ErrMalformed, item)
		}
		a := Ability(name)
		prefix := a.ResourcePrefix()
		if prefix == "" {
			return nil, fmt.Errorf("%w: unknown ability %q in resource shorthand (want one of %s, %s, %s, %s, %s)",
				ErrMalformed, name, AbilityPKPSigning, AbilityLitActionExecution, AbilityACCDecryption, AbilityACCSigning, AbilityPaymentDelegation)
		}
		// A node rejects a sign_session_key request whose statement names
		// lit-resolvedauthcontext (docs/naga-auth.md §3.4 step 2).
		if strings.Contains(id, litPrefixResolvedAuthContext) {
			return nil, fmt.Errorf("%w: resource id %q names the node-only %s", ErrMalformed, id, litPrefixResolvedAuthContext)
		}
		if a == AbilityPKPSigning {
			var err error
			if id, err = FormatPKPResource(id); err != nil {
				return nil, err
			}
		}
		out = append(out, ResourceAbilityRequest{Resource: LitResource{ResourcePrefix: prefix, Resource: id}, Ability: a})
	}
	return out, nil
}

// FormatPKPResource normalises a PKP resource id as the SDK's
// formatPKPResource does (docs/naga-auth.md §3.1): a "0x" prefix is stripped, "*" is
// kept, and a pure-hex id is left-padded with '0' to 64 digits. Unlike the
// SDK it also lowercases hex ids, since a node compares them with its
// lowercase token ids as strings. Ids that are not hex are returned as they
// are, like the SDK. More than 64 characters or an empty id is ErrMalformed.
func FormatPKPResource(id string) (string, error) {
	s := strings.TrimPrefix(id, "0x")
	n := 0
	for _, r := range s {
		n += max(utf16.RuneLen(r), 1) // JS string length
	}
	switch {
	case n > 64:
		return "", fmt.Errorf("%w: PKP resource id %q exceeds 64 characters (32 bytes)", ErrMalformed, id)
	case s == "":
		return "", fmt.Errorf("%w: PKP resource id %q is empty", ErrMalformed, id)
	case s == "*":
		return s, nil
	case isHexString(s):
		return strings.Repeat("0", 64-len(s)) + strings.ToLower(s), nil
	default:
		return s, nil
	}
}

func isHexString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}

// RecapFromRequests builds the ReCap the SDK builds for a list of requests
// (docs/naga-auth.md §3.2): each request adds its ability on its resource key with one
// nota-bene, the request's Data or {}. Requests are merged in turn as the
// SDK's add_to_siwe_message merges them, so a request repeated without data
// still yields a single {}. Requests with an unknown ability are skipped.
func RecapFromRequests(reqs []ResourceAbilityRequest) *Recap {
	r := NewRecap()
	for _, req := range reqs {
		ns, name := req.Ability.RecapAbility()
		if ns == "" {
			continue
		}
		one := NewRecap()
		one.AddAbility(req.Resource.Key(), ns, name, req.Data)
		r.mergeJS(one)
	}
	return r
}

// RequestsFromRecap maps a ReCap back to resource-ability requests as the
// SDK's createPkpAuthContextFromPreGenerated does (docs/naga-auth.md §4.2 step 1):
// resource keys in sorted order; lit-resolvedauthcontext and unknown
// prefixes skipped; PKP ids normalised with FormatPKPResource;
// Threshold/Decryption → ACC decryption, Threshold/Execution → Lit Action
// execution, Threshold/Signing → PKP signing on lit-pkp or ACC signing on
// lit-accesscontrolcondition, Auth/Auth → payment delegation on
// lit-paymentdelegation; every other ability, "*/*" included, dropped. The
// first nota-bene object becomes Data unless it is empty.
func RequestsFromRecap(r *Recap) []ResourceAbilityRequest {
	if r == nil {
		return nil
	}
	var out []ResourceAbilityRequest
	for _, key := range sortedKeysUTF16(r.Att) {
		prefix, id, ok := strings.Cut(key, "://")
		if !ok {
			continue
		}
		switch prefix {
		case litPrefixPKP:
			var err error
			if id, err = FormatPKPResource(id); err != nil {
				continue
			}
		case litPrefixLitAction, litPrefixACC, litPrefixPaymentDelegation:
		default:
			continue // includes lit-resolvedauthcontext
		}
		abs := r.Att[key]
		for _, ab := range sortedKeysUTF16(abs) {
			ns, name, _ := strings.Cut(ab, "/")
			a := abilityFromRecap(ns, name, prefix)
			if a == "" {
				continue
			}
			req := ResourceAbilityRequest{Resource: LitResource{ResourcePrefix: prefix, Resource: id}, Ability: a}
			if nbs := abs[ab]; len(nbs) > 0 && len(nbs[0]) > 0 {
				req.Data = maps.Clone(nbs[0])
			}
			out = append(out, req)
		}
	}
	return out
}

// abilityFromRecap is the SDK's getLitAbilityFromRecap (docs/naga-auth.md §4.2 step 1).
func abilityFromRecap(namespace, name, prefix string) Ability {
	switch {
	case namespace == "Threshold" && name == "Decryption":
		return AbilityACCDecryption
	case namespace == "Threshold" && name == "Execution":
		return AbilityLitActionExecution
	case namespace == "Threshold" && name == "Signing" && prefix == litPrefixPKP:
		return AbilityPKPSigning
	case namespace == "Threshold" && name == "Signing" && prefix == litPrefixACC:
		return AbilityACCSigning
	case namespace == "Auth" && name == "Auth" && prefix == litPrefixPaymentDelegation:
		return AbilityPaymentDelegation
	default:
		return ""
	}
}
