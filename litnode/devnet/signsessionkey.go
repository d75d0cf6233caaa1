package devnet

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/litsignd/litsignd/litnode"
)

// authMethodEthWallet is the EthWallet auth method type (docs/naga-auth.md §3.4).
const authMethodEthWallet = 1

// signSessionKeyRequest is JsonSignSessionKeyRequestV2 (docs/naga-wire.md §9.1,
// docs/naga-auth.md §3.4).
type signSessionKeyRequest struct {
	SessionKey      string           `json:"sessionKey"`
	AuthMethods     []authMethodWire `json:"authMethods"`
	PKPPublicKey    string           `json:"pkpPublicKey"`
	SIWEMessage     string           `json:"siweMessage"`
	CurveType       string           `json:"curveType"`
	Epoch           uint64           `json:"epoch"`
	NodeSet         []nodeSetEntry   `json:"nodeSet"`
	MaxPrice        json.RawMessage  `json:"maxPrice"`
	PKPKeySetID     string           `json:"pkpKeySetId"`
	AuthSig         json.RawMessage  `json:"authSig"`
	Code            *string          `json:"code"`
	LitActionIPFSID *string          `json:"litActionIpfsId"`
	JSParams        json.RawMessage  `json:"jsParams"`
}

type authMethodWire struct {
	AuthMethodType int    `json:"authMethodType"`
	AccessToken    string `json:"accessToken"`
}

// signSessionKeyResponse is JsonSignSessionKeyResponseV2 (docs/naga-wire.md §9.3).
type signSessionKeyResponse struct {
	Result         string          `json:"result"`
	SignatureShare json.RawMessage `json:"signatureShare"`
	ShareID        string          `json:"shareId"`
	CurveType      string          `json:"curveType"`
	SIWEMessage    string          `json:"siweMessage"`
	DataSigned     string          `json:"dataSigned"`
	BLSRootPubkey  string          `json:"blsRootPubkey"`
}

// parseU256Field reads a U256 request field as the node's serde does: a
// JSON number is decimal, a string is hex with or without 0x — so the SDK's
// decimal 2¹²⁸−1 reads as a (larger) hex number (docs/naga-wire.md §9.1, §14 q9).
func parseU256Field(raw json.RawMessage) (*big.Int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, fmt.Errorf("missing maxPrice")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
		n, ok := new(big.Int).SetString(h, 16)
		if !ok || h == "" || n.BitLen() > 256 {
			return nil, fmt.Errorf("maxPrice %q is not a hex U256", s)
		}
		return n, nil
	}
	n, ok := new(big.Int).SetString(string(raw), 10)
	if !ok || n.Sign() < 0 || n.BitLen() > 256 {
		return nil, fmt.Errorf("maxPrice %s is not a U256", raw)
	}
	return n, nil
}

// signSessionKey is POST /web/sign_session_key/v2 (docs/naga-auth.md §3.4 steps 1–12,
// docs/naga-wire.md §9, §13.4 "sign_session_key fake").
func (nd *Node) signSessionKey(c *call, pt []byte) (any, *apiError) {
	var req signSessionKeyRequest
	if err := decodeStrict(pt, &req); err != nil {
		return nil, codedErr(CodeBadInput, "sign session key request: "+err.Error())
	}
	maxPrice, err := parseU256Field(req.MaxPrice)
	if err != nil {
		return nil, codedErr(CodeBadInput, "sign session key request: "+err.Error())
	}
	// Step 1: curve type, no authSig (docs/naga-wire.md §9.1), then the SIWE.
	if req.CurveType != "BLS" {
		return nil, codedErr(CodeInvalidCurveType, fmt.Sprintf("curveType %q; only BLS is supported", req.CurveType))
	}
	if len(req.AuthSig) > 0 && string(req.AuthSig) != "null" {
		return nil, codedErr(CodeInvalidAuthSigForSessionKey, "do not send authSig to sign_session_key")
	}
	if req.Code != nil || req.LitActionIPFSID != nil {
		return nil, plainErr("Unexpected", http.StatusNotImplemented, "not implemented by the devnet",
			"custom auth (a Lit Action) in sign_session_key is not implemented by the devnet")
	}
	m, err := litnode.ParseSIWE(req.SIWEMessage)
	if err != nil {
		return nil, codedErr(CodeSIWEMessageError, "could not parse the SIWE message: "+err.Error())
	}
	// Step 2: the node-only resource may not appear in the statement.
	if strings.Contains(m.Statement, "lit-resolvedauthcontext") {
		return nil, codedErr(CodeInvalidAuthContextResource, "the statement names lit-resolvedauthcontext, which only nodes may add")
	}
	// Step 3: the auth context from the auth methods.
	var users []string
	for i, am := range req.AuthMethods {
		uid, aerr := verifyAuthMethod(am, c.now)
		if aerr != nil {
			return nil, aerr.wrap(fmt.Sprintf("auth method %d could not be verified", i))
		}
		users = append(users, uid)
	}
	// Step 4: the SIWE names the PKP.
	pk, err := litnode.ParsePKPPublicKey(req.PKPPublicKey)
	if err != nil {
		return nil, plainErr("Conversion", http.StatusBadRequest, "Invalid pubkey length. Expected 65 bytes", err.Error())
	}
	if common.HexToAddress(m.Address) != pk.Address() {
		return nil, codedErr(CodeSIWEMessageError, fmt.Sprintf("SIWE address %s is not the PKP's address %s", m.Address, pk.Address().Hex()))
	}
	// Step 5: payment; the user is the PKP (docs/naga-wire.md §10.2).
	pay, aerr := nd.net.selectPayer(litnode.ProductSignSessionKey, pk.Address(), maxPrice)
	if aerr != nil {
		return nil, aerr.withShort("unable to get payment method")
	}
	// Step 6: URI and times of the client SIWE.
	if m.URI != req.SessionKey {
		return nil, codedErr(CodeSIWEMessageError, fmt.Sprintf("SIWE URI %s is not the sessionKey %s", m.URI, req.SessionKey))
	}
	if aerr := checkSIWETimes(m, c.now); aerr != nil {
		return nil, aerr
	}
	// Step 7: the nonce must be a block hash; its time becomes Issued At.
	blockHash, blockTime, aerr := nd.lookupNonceBlock(m.Nonce)
	if aerr != nil {
		return nil, aerr
	}
	if !nd.net.isActive(nd.index) {
		return nil, plainErr("Unexpected", http.StatusInternalServerError, "node is not in the current validator set",
			nd.socket+" was removed from the validator set")
	}
	// Steps 8–9: the auth context capability, merged, and the rebuilt SIWE.
	rebuilt, aerr := rebuildSessionSIWE(m, pk.Address(), blockHash, blockTime, ethWalletAuthContext(users))
	if aerr != nil {
		return nil, aerr
	}
	// Step 10: check_pkp_auth against the auth context.
	s := &session{capKind: litnode.KindBLSNetwork, user: pk.Address()}
	if r, err := litnode.DecodeRecapURN(rebuilt.Resources[0]); err == nil {
		s.recaps = []*litnode.Recap{r}
	}
	if aerr := nd.checkPKPAuth(pk.TokenID(), s); aerr != nil {
		return nil, aerr.wrap("PKP auth check failed")
	}
	// Steps 11–12: the BLS share over the session hash.
	text := rebuilt.String()
	toSign := litnode.BLSSessionMessage(text)
	share := nd.blsShare.SignShare(toSign[:])
	nd.net.charge(pay)
	return signSessionKeyResponse{
		Result:         "success",
		SignatureShare: litnode.FormatBLSShareJSON(share),
		ShareID:        nd.peerID,
		CurveType:      "BLS",
		SIWEMessage:    text,
		DataSigned:     hex.EncodeToString(toSign[:]),
		BLSRootPubkey:  nd.net.blsKey.Hex(),
	}, nil
}

// checkSIWETimes is the node's SIWE validation of sign_session_key (docs/naga-auth.md
// §3.4 step 6): issuedAt ≤ now + 60 s, an expiration ≥ issuedAt and
// ≥ now − 60 s, at most 30 days after issuedAt.
func checkSIWETimes(m *litnode.SIWEMessage, now time.Time) *apiError {
	iat, err := m.IssuedAtTime()
	if err != nil {
		return codedErr(CodeParserError, "Issued At does not parse: "+err.Error())
	}
	if iat.After(now.Add(gracePeriod)) {
		return codedErr(CodeIatOutsideGracePeriod, fmt.Sprintf("Issued At %s is more than 60 s in the future", m.IssuedAt))
	}
	exp, ok, err := m.ExpirationTimeValue()
	if err != nil {
		return codedErr(CodeParserError, "Expiration Time does not parse: "+err.Error())
	}
	if !ok {
		return codedErr(CodeExpWrongOrTooLarge, "the SIWE message has no Expiration Time")
	}
	if exp.Before(iat) {
		return codedErr(CodeExpWrongOrTooLarge, fmt.Sprintf("Expiration Time %s is before Issued At %s", m.ExpirationTime, m.IssuedAt))
	}
	if exp.Before(now.Add(-gracePeriod)) {
		return codedErr(CodeExpWrongOrTooLarge, fmt.Sprintf("Expiration Time %s has passed", m.ExpirationTime))
	}
	if exp.Sub(iat) > maxLifetime {
		return codedErr(CodeSIWEMessageError, "Expiration Time is more than 30 days after Issued At")
	}
	return nil
}

// lookupNonceBlock resolves the SIWE nonce to a block of the chain (docs/naga-auth.md
// §3.4 step 7, node siwe_db).
func (nd *Node) lookupNonceBlock(nonce string) (common.Hash, time.Time, *apiError) {
	h := strings.TrimPrefix(nonce, "0x")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != common.HashLength || !strings.HasPrefix(nonce, "0x") {
		return common.Hash{}, time.Time{}, codedErr(CodeSIWEMessageError,
			fmt.Sprintf("nonce %q is not a block hash (0x + 64 hex); use the handshake's latestBlockhash", nonce))
	}
	hash := common.BytesToHash(b)
	_, ts, ok := nd.net.chain.BlockByHash(hash)
	if !ok {
		return common.Hash{}, time.Time{}, codedErr(CodeSIWEMessageError,
			fmt.Sprintf("nonce %s is not the hash of a block the chain knows; use the handshake's latestBlockhash", nonce))
	}
	return hash, ts, nil
}

// verifyAuthMethod verifies one auth method and returns its userId
// (docs/naga-auth.md §3.4 step 3; node pkp/auth/wallet.rs for EthWallet): the
// accessToken is an EOA AuthSig whose EIP-191 signature over its SIWE
// recovers to its address, and whose SIWE parses and is valid now. The
// userId is the address as given.
func verifyAuthMethod(am authMethodWire, now time.Time) (string, *apiError) {
	if am.AuthMethodType != authMethodEthWallet {
		return "", plainErr("Validation", http.StatusBadRequest, "unsupported auth method",
			fmt.Sprintf("auth method type %d is not supported by the devnet (EthWallet = 1 only)", am.AuthMethodType))
	}
	a, err := litnode.ParseAuthSig([]byte(am.AccessToken))
	if err != nil {
		return "", codedErr(CodeInvalidAuthSig, "EthWallet accessToken is not an AuthSig: "+err.Error())
	}
	if a.Kind() != litnode.KindWallet {
		return "", codedErr(CodeInvalidAuthSig, "EthWallet accessToken must be an EOA (web3.eth.personal.sign) auth sig")
	}
	m, err := litnode.ParseSIWE(a.SignedMessage)
	if err != nil {
		return "", codedErr(CodeSIWEMessageError, "EthWallet auth sig: "+err.Error())
	}
	if err := verifyEIP191(m.String(), a.Sig, a.Address); err != nil {
		return "", codedErr(CodeInvalidAuthSig, "EthWallet auth sig signature: "+err.Error())
	}
	if common.HexToAddress(m.Address) != common.HexToAddress(a.Address) {
		return "", codedErr(CodeInvalidAuthSig, fmt.Sprintf("EthWallet auth sig: SIWE address %s is not the auth sig address %s", m.Address, a.Address))
	}
	if why := validNow(m, now); why != "" {
		return "", codedErr(CodeSIWEMessageError, "EthWallet auth sig SIWE is not valid now: "+why)
	}
	return a.Address, nil
}

// ethWalletAuthContext is the node's AuthContext for EthWallet auth methods
// (docs/naga-auth.md §3.4 step 8), camelCase as it goes into the ReCap.
func ethWalletAuthContext(userIDs []string) map[string]any {
	methods := make([]any, 0, len(userIDs))
	for _, u := range userIDs {
		methods = append(methods, map[string]any{
			"userId":                       u,
			"appId":                        "lit",
			"authMethodType":               authMethodEthWallet,
			"usedForSignSessionKeyRequest": true,
		})
	}
	return map[string]any{
		"actionIpfsIdStack":  []any{},
		"authSigAddress":     nil,
		"authMethodContexts": methods,
		"resources":          []any{},
		"customAuthResource": "",
	}
}

// rebuildSessionSIWE rebuilds the client's SIWE as every node does, so the
// text is identical across nodes (docs/naga-auth.md §3.4 steps 8–9): the user's ReCap
// (the last resource) merged with lit-resolvedauthcontext://* → Auth/Auth →
// [{"auth_context": ctx}]; address = the PKP; nonce = the block hash;
// Issued At = the block time in whole seconds with Z; statement = the
// original statement + " " + the merged ReCap statement; resources = [the
// merged URN]. Domain, URI, version, chain id, expiration, not-before and
// request id are kept.
func rebuildSessionSIWE(client *litnode.SIWEMessage, pkp common.Address, blockHash common.Hash, blockTime time.Time, authCtx map[string]any) (*litnode.SIWEMessage, *apiError) {
	merged := litnode.NewRecap()
	if n := len(client.Resources); n > 0 && strings.HasPrefix(client.Resources[n-1], "urn:recap:") {
		user, err := litnode.DecodeRecapURN(client.Resources[n-1])
		if err != nil {
			return nil, codedErr(CodeSIWECapabilityInvalid, "the SIWE's ReCap does not decode: "+err.Error())
		}
		if !strings.HasSuffix(client.Statement, user.Statement()) {
			return nil, codedErr(CodeSIWECapabilityInvalid, "Incorrect statement for capability object")
		}
		merged = user
	}
	ctxCap := litnode.NewRecap()
	ctxCap.AddAbility(resolvedAuthContextKey, "Auth", "Auth", map[string]any{"auth_context": authCtx})
	merged.Merge(ctxCap)
	out := *client
	out.Address = pkp.Hex()
	out.Nonce = blockHash.Hex()
	out.IssuedAt = blockTime.UTC().Format("2006-01-02T15:04:05Z")
	if client.Statement == "" {
		out.Statement = merged.Statement()
	} else {
		out.Statement = client.Statement + " " + merged.Statement()
	}
	out.Resources = []string{merged.EncodeURN()}
	return &out, nil
}
