package litnode

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// SignSessionKeyRequest asks the network for a PKP delegation to a session
// key, authenticated by an EOA that owns (or is permitted on) the PKP: the
// EthWallet auth method (docs/naga-auth.md §3, docs/naga-wire.md §9).
type SignSessionKeyRequest struct {
	PKP        PKPPublicKey
	SessionKey SessionPublicKey
	// Owner is the EOA private key. It signs one EIP-191 auth sig here and
	// is never sent or logged.
	Owner      *ecdsa.PrivateKey
	Resources  []ResourceAbilityRequest
	Expiration time.Time
	// Domain is the SIWE domain (default "localhost", as the SDK's AuthConfig).
	Domain string
	// Statement is appended to "Lit Protocol PKP session signature".
	Statement string
	// UserMaxPrice is the budget over all nodes; nil means unlimited.
	UserMaxPrice *big.Int
}

// signSessionKeyBody is the plaintext of /web/sign_session_key/v2
// (docs/naga-wire.md §9.1). authSig is never sent.
type signSessionKeyBody struct {
	SessionKey   string         `json:"sessionKey"`
	AuthMethods  []authMethod   `json:"authMethods"`
	PKPPublicKey string         `json:"pkpPublicKey"`
	SIWEMessage  string         `json:"siweMessage"`
	CurveType    string         `json:"curveType"`
	Epoch        uint64         `json:"epoch"`
	NodeSet      []nodeSetEntry `json:"nodeSet"`
	MaxPrice     string         `json:"maxPrice"`
	PKPKeySetID  string         `json:"pkpKeySetId"`
}

type authMethod struct {
	AuthMethodType int    `json:"authMethodType"`
	AccessToken    string `json:"accessToken"`
}

type signSessionKeyData struct {
	Result         string          `json:"result"`
	SignatureShare json.RawMessage `json:"signatureShare"`
	SIWEMessage    string          `json:"siweMessage"`
	DataSigned     string          `json:"dataSigned"`
	BLSRootPubkey  string          `json:"blsRootPubkey"`
}

// ClientSIWE builds the SIWE message a client sends to sign_session_key
// (docs/naga-auth.md §3.3): the PKP's address, the session key URI, the handshake
// blockhash as nonce, and the ReCap of resources.
func ClientSIWE(pkp PKPPublicKey, session SessionPublicKey, resources []ResourceAbilityRequest, domain, statement, nonce string, issuedAt, expiration time.Time) *SIWEMessage {
	if domain == "" {
		domain = "localhost"
	}
	st := "Lit Protocol PKP session signature"
	if statement != "" {
		st += " " + statement
	}
	m := &SIWEMessage{
		Domain:         domain,
		Address:        pkp.Address().Hex(),
		Statement:      st,
		URI:            session.URI(),
		Version:        "1",
		ChainID:        1,
		Nonce:          nonce,
		IssuedAt:       FormatJSTime(issuedAt),
		ExpirationTime: FormatJSTime(expiration),
	}
	AddRecapToSIWE(m, RecapFromRequests(resources))
	return m
}

// EthWalletAuthMethodID is the SDK's authMethodId of an EthWallet auth
// method: keccak256("<EIP-55 address>:lit") (docs/naga-auth.md §3.4). Only the SDK's
// authData carries it; it is not sent to the nodes.
func EthWalletAuthMethodID(addr common.Address) string {
	return "0x" + hex.EncodeToString(crypto.Keccak256([]byte(addr.Hex()+":lit")))
}

// WalletAuthSig signs msg with an EOA key as web3.eth.personal.sign does
// (EIP-191), giving a wallet AuthSig.
func WalletAuthSig(key *ecdsa.PrivateKey, msg string) (AuthSig, error) {
	h := EIP191Hash(msg)
	sig, err := crypto.Sign(h[:], key)
	if err != nil {
		return AuthSig{}, err
	}
	sig[64] += 27
	return AuthSig{
		Sig:           "0x" + hex.EncodeToString(sig),
		DerivedVia:    DerivedViaWallet,
		SignedMessage: msg,
		Address:       crypto.PubkeyToAddress(key.PublicKey).Hex(),
	}, nil
}

// SignSessionKey obtains a PKP delegation for a session key: the nodes check
// the EOA auth method and the PKP's permissions, rebuild the SIWE message
// with the resolved auth context, and BLS-sign it; the shares are combined
// and verified against the network key here (the SDK skips that check).
func (c *Client) SignSessionKey(ctx context.Context, req SignSessionKeyRequest) (AuthSig, error) {
	if req.Owner == nil {
		return AuthSig{}, fmt.Errorf("%w: no owner key", ErrMalformed)
	}
	if len(req.Resources) == 0 {
		return AuthSig{}, fmt.Errorf("%w: no resources to delegate", ErrMalformed)
	}
	var out AuthSig
	suspected := suspects{}
	err := c.withRetry(ctx, "sign_session_key", func(ctx context.Context, s *connState, requestID string) error {
		now := c.now()
		if req.Expiration.Sub(now) > MaxDelegationLifetime || !req.Expiration.After(now) {
			return fmt.Errorf("%w: expiration must be in the next 30 days", ErrLifetimeTooLong)
		}
		// generatePkpDelegationAuthSig picks nodes by the LIT_ACTION column
		// (docs/naga-auth.md §3 step 3; the sdk vector signSessionKeyRequest's nodeSet).
		targets, err := c.selectTargets(ctx, s, ProductLitAction, req.UserMaxPrice, suspected.top())
		if err != nil {
			return err
		}
		siwe := ClientSIWE(req.PKP, req.SessionKey, req.Resources, req.Domain, req.Statement, s.LatestBlockhash, now, req.Expiration)
		eoaMsg := (&SIWEMessage{
			Domain: siwe.Domain, Address: crypto.PubkeyToAddress(req.Owner.PublicKey).Hex(),
			Statement: "Authenticate as the owner of the PKP to delegate it to a session key.",
			URI:       req.SessionKey.URI(), Version: "1", ChainID: 1, Nonce: s.LatestBlockhash,
			IssuedAt: FormatJSTime(now), ExpirationTime: FormatJSTime(now.Add(10 * time.Minute)),
		}).String()
		eoa, err := WalletAuthSig(req.Owner, eoaMsg)
		if err != nil {
			return err
		}
		token, err := eoa.MarshalJSON()
		if err != nil {
			return err
		}
		set := nodeSet(targets)
		calls := make([]nodeCall, len(targets))
		for i, t := range targets {
			calls[i] = nodeCall{node: s.nodes[t.URL], body: signSessionKeyBody{
				SessionKey: req.SessionKey.URI(), AuthMethods: []authMethod{{AuthMethodType: 1, AccessToken: string(token)}},
				PKPPublicKey: req.PKP.Hex(), SIWEMessage: siwe.String(), CurveType: "BLS", Epoch: s.Epoch,
				NodeSet: set, MaxPrice: "0x" + t.MaxPrice.Text(16), PKPKeySetID: "naga-keyset1",
			}}
		}
		replies := c.fanOut(ctx, "sign_session_key", pathSignSessionKey, requestID, s.Epoch, calls)
		var errs []error
		var shares []BLSShare
		var msgs []string
		for _, r := range replies {
			if r.err != nil {
				if Retryable(r.err) {
					c.penalise(r.node, 3)
				}
				errs = append(errs, r.err)
				continue
			}
			var d signSessionKeyData
			if err := json.Unmarshal(r.data, &d); err != nil || d.Result != "success" {
				c.penalise(r.node, 3)
				errs = append(errs, &NodeError{Op: "sign_session_key", Node: r.node, Err: fmt.Errorf("bad sign_session_key response"), class: ErrNoValidShares})
				continue
			}
			sh, err := ParseBLSShareJSON(d.SignatureShare)
			if err != nil {
				c.penalise(r.node, 3)
				errs = append(errs, &NodeError{Op: "sign_session_key", Node: r.node, Err: err, class: ErrNoValidShares})
				continue
			}
			shares = append(shares, sh)
			msgs = append(msgs, d.SIWEMessage)
		}
		if len(errs) > 0 {
			err := &OpError{Op: "sign_session_key", Attempts: 1, Errs: errs}
			suspected.blame(err, targets)
			return err
		}
		// signedMessage is the most common rebuilt SIWE (docs/naga-auth.md §3.5 step 2).
		signed := mostCommon(msgs, func(s string) string { return s })
		sig, err := CombineBLSShares(shares)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNoValidShares, err)
		}
		m := BLSSessionMessage(signed)
		if err := VerifyBLS(s.NetworkPublicKey, m[:], sig); err != nil {
			suspected.add(targets)
			for _, r := range replies {
				c.penalise(r.node, 1)
			}
			return fmt.Errorf("%w: combined delegation signature does not verify: %v", ErrNoValidShares, err)
		}
		a := AuthSig{Sig: FormatBLSSigJSON(sig), Algo: AlgoLitBLS, DerivedVia: DerivedViaBLS, SignedMessage: signed, Address: req.PKP.Address().Hex()}
		// Check it as a node and as litsignd will, before handing it out.
		if _, err := Verify(a, VerifyOptions{NetworkKey: s.NetworkPublicKey, SessionKey: req.SessionKey, PKP: req.PKP, Now: c.now()}); err != nil {
			return fmt.Errorf("the network's delegation does not verify: %w", err)
		}
		out = a
		return nil
	})
	return out, err
}
