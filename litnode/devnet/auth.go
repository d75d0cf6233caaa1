package devnet

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/litsignd/litsignd/litnode"
)

// Time limits of session sigs and delegations (docs/naga-auth.md §3.4 step 6, §6 step 4).
const (
	gracePeriod = 60 * time.Second
	maxLifetime = 30 * 24 * time.Hour
)

// resolvedAuthContextKey is the node-only ReCap resource that carries the
// auth context (docs/naga-auth.md §3.1, §3.4 step 8).
const resolvedAuthContextKey = "lit-resolvedauthcontext://*"

// authRequest is the resource an endpoint asks the session sig for
// (docs/naga-auth.md §6 "Which resource is requested").
type authRequest struct {
	prefix  string // "lit-pkp"
	id      string // keccak256(pubkey) lowercase hex
	ability string // ReCap "Namespace/Name", e.g. "Threshold/Signing"
}

// session is a verified session sig and the capability that passed.
type session struct {
	msg     litnode.SessionSigMessage
	cap     litnode.AuthSig
	capKind litnode.AuthSigKind
	siwe    *litnode.SIWEMessage
	recaps  []*litnode.Recap
	// user is the capability's SIWE address: the PKP for a lit.bls
	// delegation, the EOA for an EOA capability (docs/naga-wire.md §10.2).
	user common.Address
}

// verifySessionSig checks a per-node session sig as validate_session_sig
// does (docs/naga-auth.md §6 steps 1–6, in order). Errors carry the innermost code
// under the outer NodeInvalidAuthSig wrap (docs/naga-wire.md §11.1).
func (nd *Node) verifySessionSig(a litnode.AuthSig, req authRequest, now time.Time) (*session, *apiError) {
	s, err := nd.verifySessionSigInner(a, req, now)
	if err != nil {
		return nil, err.wrap("Invalid AuthSig")
	}
	return s, nil
}

func (nd *Node) verifySessionSigInner(a litnode.AuthSig, req authRequest, now time.Time) (*session, *apiError) {
	if a.Kind() != litnode.KindSession {
		// The devnet serves session-sig requests only; a node accepts some
		// other auth material on some endpoints, which is not modelled.
		return nil, codedErr(CodeInvalidAuthSig, fmt.Sprintf("auth sig with derivedVia %q and algo %q is not a session sig (the devnet accepts session sigs only)", a.DerivedVia, a.Algo))
	}
	// Step 1: ed25519 verify_strict.
	pubHex := strings.TrimPrefix(a.Address, "0x")
	pub, err := hex.DecodeString(pubHex)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, codedErr(CodeAuthSigAddressConversionError, "auth sig address must be 32 bytes of hex")
	}
	if !edDecompresses(pub) {
		return nil, codedErr(CodeAuthSigSessionKeyConversionError, "auth sig address is not an ed25519 point")
	}
	sig, err := hex.DecodeString(a.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, codedErr(CodeAuthSigSignatureConversionError, "auth sig sig must be 64 bytes of hex")
	}
	// crypto/ed25519 already rejects S ≥ L and non-canonical R; verify_strict
	// also rejects a small-order public key or R.
	if edSmallOrder(pub) || edSmallOrder(sig[:32]) || !ed25519.Verify(pub, []byte(a.SignedMessage), sig) {
		return nil, codedErr(CodeInvalidAuthSigSessionKeySignature, "Session key signature is not valid")
	}
	// Step 2: the seven-field JSON.
	msg, err := litnode.ParseSessionSigMessage(a.SignedMessage)
	if err != nil {
		return nil, codedErr(CodeAuthSigSignedMessageConversion, "could not parse the session sig's signedMessage: "+err.Error())
	}
	// Step 3: the requested resource, ability not checked.
	found := false
	for _, r := range msg.ResourceAbilityRequests {
		if r.Resource.ResourcePrefix == req.prefix && (r.Resource.Resource == "*" || r.Resource.Resource == req.id) {
			found = true
			break
		}
	}
	if !found {
		return nil, codedErr(CodeResourceIDNotFound, fmt.Sprintf("Could not find requested resource %s://%s in the resourceAbilityRequests", req.prefix, req.id))
	}
	// Step 4: times.
	iat, err := time.Parse(time.RFC3339Nano, msg.IssuedAt)
	if err != nil {
		return nil, codedErr(CodeParserError, fmt.Sprintf("issuedAt %q is not RFC 3339", msg.IssuedAt))
	}
	exp, err := time.Parse(time.RFC3339Nano, msg.Expiration)
	if err != nil {
		return nil, codedErr(CodeParserError, fmt.Sprintf("expiration %q is not RFC 3339", msg.Expiration))
	}
	if iat.After(now.Add(gracePeriod)) {
		return nil, codedErr(CodeIatOutsideGracePeriod, fmt.Sprintf("issuedAt %s is more than 60 s in the future", msg.IssuedAt))
	}
	if exp.Before(iat) {
		return nil, codedErr(CodeExpWrongOrTooLarge, fmt.Sprintf("expiration %s is before issuedAt %s", msg.Expiration, msg.IssuedAt))
	}
	if exp.Before(now.Add(-gracePeriod)) {
		return nil, codedErr(CodeExpWrongOrTooLarge, fmt.Sprintf("session expired at %s", msg.Expiration))
	}
	if exp.Sub(iat) > maxLifetime {
		return nil, codedErr(CodeSIWEMessageError, "expiration is more than 30 days after issuedAt")
	}
	// Step 5: nodeAddress.
	addr := strings.TrimSpace(msg.NodeAddress)
	addr = strings.TrimPrefix(strings.TrimPrefix(addr, "https://"), "http://")
	addr = strings.ReplaceAll(addr, "localhost", "127.0.0.1")
	if addr != nd.socket {
		return nil, codedErr(CodeNotAuthorized, fmt.Sprintf("Session key node_address %s does not match our node address %s", msg.NodeAddress, nd.socket))
	}
	// Step 6: capabilities, first passing wins.
	if len(msg.Capabilities) == 0 {
		return nil, codedErr(CodeSIWECapabilityInvalid, "Empty capabilities array.")
	}
	var reasons []string
	for i, c := range msg.Capabilities {
		s, reason := nd.checkCapability(c, a.Address, req, now)
		if s != nil {
			s.msg = msg
			return s, nil
		}
		reasons = append(reasons, fmt.Sprintf("capability %d: %s", i, reason))
	}
	e := codedErr(CodeSIWECapabilityInvalid, append([]string{"Could not find valid capability."}, reasons...)...)
	return nil, e.wrap("Resource id not found in auth_sig capabilities")
}

// checkCapability verifies one capability (docs/naga-auth.md §6 step 6a–c). It returns
// the session on success, else the reason, prefixed with the code the node
// would attach to it.
func (nd *Node) checkCapability(c litnode.AuthSig, sessionAddr string, req authRequest, now time.Time) (*session, string) {
	// a. siwe-rs parse.
	m, err := litnode.ParseSIWE(c.SignedMessage)
	if err != nil {
		return nil, CodeSIWECapabilityInvalid + ": Error parsing SIWE message on capability sig: " + err.Error()
	}
	kind := c.Kind()
	switch kind {
	case litnode.KindBLSNetwork:
		// b. valid_now, BLS over the re-rendered SIWE, URI.
		if why := validNow(m, now); why != "" {
			return nil, CodeSIWEMessageError + ": The SIWE message is not valid now: " + why
		}
		sig, err := litnode.ParseBLSSigJSON(c.Sig)
		if err != nil {
			return nil, CodeSIWESigConversionError + ": " + err.Error()
		}
		h := litnode.BLSSessionMessage(m.String())
		if err := litnode.VerifyBLS(nd.net.blsKey, h[:], sig); err != nil {
			return nil, CodeSIWEMessageError + ": BLS signature of session key via SIWE is not valid"
		}
	case litnode.KindWallet:
		// b'. siwe-rs verify: EIP-191 signature by the SIWE address and the
		// time window.
		if err := verifyEIP191(m.String(), c.Sig, m.Address); err != nil {
			return nil, CodeSIWEMessageError + ": Wallet signature of session key via SIWE is not valid: " + err.Error()
		}
		if why := validNow(m, now); why != "" {
			return nil, CodeSIWEMessageError + ": Wallet signature of session key via SIWE is not valid: " + why
		}
	default:
		// b''. session and contract sigs are not capabilities.
		return nil, CodeSIWEMessageError + ": a " + kind.String() + " sig cannot be a capability"
	}
	if m.URI != litnode.SessionKeyURIPrefix+sessionAddr {
		return nil, CodeSIWEMessageError + fmt.Sprintf(": SIWE URI %s does not name the session key %s", m.URI, sessionAddr)
	}
	// c. ReCaps: every statement suffix, then some recap grants.
	var recaps []*litnode.Recap
	for _, urn := range m.RecapURNs() {
		r, err := litnode.DecodeRecapURN(urn)
		if err != nil {
			continue // the node skips a ReCap that does not decode
		}
		if m.Statement != "" && !strings.HasSuffix(m.Statement, r.Statement()) {
			return nil, CodeSIWECapabilityInvalid + ": Incorrect statement for capability object"
		}
		recaps = append(recaps, r)
	}
	granted := false
	for _, r := range recaps {
		if r.Grants(req.prefix+"://"+req.id, req.ability) {
			granted = true
			break
		}
	}
	if !granted {
		return nil, CodeSIWECapabilityInvalid + fmt.Sprintf(": Unable to verify any of the SIWE capability objects (none grants %s on %s://%s)", req.ability, req.prefix, req.id)
	}
	return &session{cap: c, capKind: kind, siwe: m, recaps: recaps, user: common.HexToAddress(m.Address)}, ""
}

// validNow is siwe's valid_now: notBefore < now ≤ expiration, no grace
// (docs/naga-auth.md §5.4). It returns "" when valid.
func validNow(m *litnode.SIWEMessage, now time.Time) string {
	if nbf, ok, err := m.NotBeforeValue(); err != nil {
		return "Not Before does not parse"
	} else if ok && !now.After(nbf) {
		return "not before " + m.NotBefore
	}
	if exp, ok, err := m.ExpirationTimeValue(); err != nil {
		return "Expiration Time does not parse"
	} else if ok && now.After(exp) {
		return "expired at " + m.ExpirationTime
	}
	return ""
}

// verifyEIP191 checks that sigHex (65 bytes r‖s‖v, v 27/28 or 0/1, 0x
// optional) is a personal_sign signature of msg by addr. It never panics on
// short or malformed input.
func verifyEIP191(msg, sigHex, addr string) error {
	if !common.IsHexAddress(addr) {
		return fmt.Errorf("address %q is not an Ethereum address", addr)
	}
	sig, err := hex.DecodeString(strings.TrimPrefix(sigHex, "0x"))
	if err != nil || len(sig) != 65 {
		return fmt.Errorf("signature must be 65 bytes of hex")
	}
	if sig[64] >= 27 {
		sig[64] -= 27
	}
	if sig[64] > 1 {
		return fmt.Errorf("bad recovery id")
	}
	h := litnode.EIP191Hash(msg)
	pub, err := crypto.SigToPub(h[:], sig)
	if err != nil {
		return fmt.Errorf("signature does not recover: %v", err)
	}
	if crypto.PubkeyToAddress(*pub) != common.HexToAddress(addr) {
		return fmt.Errorf("signer is not %s", addr)
	}
	return nil
}

// authContextUsers returns the EthWallet userIds of the auth context a
// lit.bls delegation carries in its lit-resolvedauthcontext://* nota-bene
// (docs/naga-auth.md §6 step 7, node get_auth_context_from_session_sigs).
func authContextUsers(recaps []*litnode.Recap) []string {
	var out []string
	for _, r := range recaps {
		for _, nb := range r.Att[resolvedAuthContextKey]["Auth/Auth"] {
			ctx, ok := nb["auth_context"].(map[string]any)
			if !ok {
				continue
			}
			methods, _ := ctx["authMethodContexts"].([]any)
			for _, m := range methods {
				mc, ok := m.(map[string]any)
				if !ok {
					continue
				}
				if !isNumberOne(mc["authMethodType"]) {
					continue
				}
				if uid, ok := mc["userId"].(string); ok {
					out = append(out, uid)
				}
			}
		}
	}
	return out
}

// isNumberOne reports whether a decoded JSON value is the number 1
// (authMethodType EthWallet).
func isNumberOne(v any) bool {
	switch x := v.(type) {
	case json.Number:
		return x.String() == "1"
	case float64:
		return x == 1
	case int:
		return x == 1
	}
	return false
}

// checkPKPAuth is check_pkp_auth for the requested PKP (docs/naga-auth.md §6 step 7):
// for a lit.bls delegation, an EthWallet userId of its auth context must be
// the PKP's owner or a permitted address; for an EOA capability, the EOA
// itself must be.
func (nd *Node) checkPKPAuth(tok string, s *session) *apiError {
	var candidates []string
	if s.capKind == litnode.KindBLSNetwork {
		candidates = authContextUsers(s.recaps)
	} else {
		candidates = []string{s.user.Hex()}
	}
	for _, c := range candidates {
		if !common.IsHexAddress(c) {
			continue
		}
		allowed, exists := nd.net.pkpAuthorizes(tok, common.HexToAddress(c))
		if !exists {
			return codedErr(CodePKPNotAuthorized, "PKP with token id "+tok+" not found")
		}
		if allowed {
			return nil
		}
	}
	if _, exists := nd.net.pkpAuthorizes(tok, common.Address{}); !exists {
		return codedErr(CodePKPNotAuthorized, "PKP with token id "+tok+" not found")
	}
	return codedErr(CodePKPNotAuthorized, fmt.Sprintf("none of the auth methods %v is the owner of or permitted on PKP %s", candidates, tok))
}
