package litnode

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
)

// SigningChain says how PKPSign turns a message into the 32-byte digest the
// nodes sign (docs/naga-wire.md §7.2).
type SigningChain string

// Signing chains.
const (
	ChainEthereum SigningChain = "ethereum" // keccak256 of the bytes (no EIP-191 prefix), as chain.ethereum.pkpSign
	ChainBitcoin  SigningChain = "bitcoin"  // sha256 of the bytes
	ChainRaw      SigningChain = "raw"      // the bytes are the 32-byte digest
)

// Digest hashes msg for chain.
func Digest(chain SigningChain, msg []byte) ([32]byte, error) {
	var d [32]byte
	switch chain {
	case ChainEthereum, "":
		copy(d[:], crypto.Keccak256(msg))
	case ChainBitcoin:
		d = sha256.Sum256(msg)
	case ChainRaw:
		if len(msg) != 32 {
			return d, fmt.Errorf("%w: a raw digest must be 32 bytes, got %d", ErrMalformed, len(msg))
		}
		copy(d[:], msg)
	default:
		return d, fmt.Errorf("%w: unknown chain %q (want ethereum, bitcoin or raw)", ErrMalformed, chain)
	}
	return d, nil
}

// SessionAuth is what session signatures are minted from, just in time,
// for every request: the session key and the delegation it holds.
type SessionAuth struct {
	Key *SessionKey
	// Delegation is the PKP delegation AuthSig; it goes last among the
	// capabilities (docs/naga-auth.md §5.1 step 1).
	Delegation AuthSig
	// Expiration is the delegation's expiry: session signatures never
	// outlive it.
	Expiration time.Time
	// Capabilities are extra capability AuthSigs put before the delegation
	// (payment delegations).
	Capabilities []AuthSig
	// TTL is the session signatures' lifetime (default 2 minutes).
	TTL time.Duration
	// Valid, when set, is called before every minting of session
	// signatures (every attempt); an error stops the request before any
	// node is asked. The caller uses it to stop minting for a delegation
	// revoked while the request was in flight.
	Valid func() error
}

// sessionSigs mints one session signature per target for resources.
func (c *Client) sessionSigs(a SessionAuth, resources []ResourceAbilityRequest, targets []Target) (SessionSigs, error) {
	if a.Valid != nil {
		if err := a.Valid(); err != nil {
			return nil, err
		}
	}
	now := c.now()
	exp := now.Add(durationOr(a.TTL, 2*time.Minute))
	if !a.Expiration.IsZero() && a.Expiration.Before(exp) {
		exp = a.Expiration
	}
	if !exp.After(now) {
		return nil, fmt.Errorf("%w: the delegation expired at %s", ErrExpired, FormatJSTime(a.Expiration))
	}
	return MintSessionSigs(SessionSigRequest{
		Key:          a.Key,
		Resources:    resources,
		Capabilities: append(append([]AuthSig(nil), a.Capabilities...), a.Delegation),
		IssuedAt:     now,
		Expiration:   exp,
		Targets:      targets,
	})
}

// PKPSignRequest asks the network to sign with a PKP.
type PKPSignRequest struct {
	PKP     PKPPublicKey
	Message []byte
	Chain   SigningChain
	Auth    SessionAuth
	// UserMaxPrice is the budget over all nodes; nil means unlimited.
	UserMaxPrice *big.Int
}

type nodeSetEntry struct {
	SocketAddress string `json:"socketAddress"`
	Value         int    `json:"value"`
}

func nodeSet(targets []Target) []nodeSetEntry {
	out := make([]nodeSetEntry, len(targets))
	for i, t := range targets {
		addr := strings.TrimPrefix(strings.TrimPrefix(t.URL, "https://"), "http://")
		out[i] = nodeSetEntry{SocketAddress: strings.TrimRight(addr, "/"), Value: 1}
	}
	return out
}

// pkpSignBody is the plaintext of /web/pkp/sign/v2 (docs/naga-wire.md §7.1).
type pkpSignBody struct {
	ToSign        []int          `json:"toSign"`
	SigningScheme string         `json:"signingScheme"`
	Pubkey        string         `json:"pubkey"`
	AuthSig       AuthSig        `json:"authSig"`
	NodeSet       []nodeSetEntry `json:"nodeSet"`
	Epoch         uint64         `json:"epoch"`
	AuthMethods   []any          `json:"authMethods"`
	KeySetID      string         `json:"keySetId"`
}

// appendJSON appends the body as encoding/json writes it (same keys, same
// order; strings escaped as JSON.stringify does, which differs from
// encoding/json only in not escaping <, > and &, U+2028 and U+2029: the same
// JSON value). ok is false for a body it does not handle (auth methods).
func (p *pkpSignBody) appendJSON(b []byte) ([]byte, bool) {
	if len(p.AuthMethods) != 0 {
		return nil, false
	}
	b = append(b, `{"toSign":[`...)
	for i, v := range p.ToSign {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(v), 10)
	}
	b = append(b, `],"signingScheme":`...)
	b = appendJSString(b, p.SigningScheme)
	b = append(b, `,"pubkey":`...)
	b = appendJSString(b, p.Pubkey)
	b = append(b, `,"authSig":`...)
	b = p.AuthSig.appendJS(b)
	b = append(b, `,"nodeSet":[`...)
	for i, n := range p.NodeSet {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"socketAddress":`...)
		b = appendJSString(b, n.SocketAddress)
		b = append(b, `,"value":`...)
		b = strconv.AppendInt(b, int64(n.Value), 10)
		b = append(b, '}')
	}
	b = append(b, `],"epoch":`...)
	b = strconv.AppendUint(b, p.Epoch, 10)
	b = append(b, `,"authMethods":[],"keySetId":`...)
	b = appendJSString(b, p.KeySetID)
	return append(b, '}'), true
}

type pkpSignData struct {
	Success        bool            `json:"success"`
	SignatureShare json.RawMessage `json:"signatureShare"`
}

// PKPSign signs the message's digest with the PKP: it picks the threshold
// cheapest nodes, mints a fresh session signature per node, sends the
// encrypted requests, and combines and verifies the ECDSA shares
// (docs/naga-wire.md §7). Failures that a refresh may cure are retried on a
// refreshed connection.
func (c *Client) PKPSign(ctx context.Context, req PKPSignRequest) (ECDSASignature, error) {
	digest, err := Digest(req.Chain, req.Message)
	if err != nil {
		return ECDSASignature{}, err
	}
	if req.PKP.IsZero() {
		return ECDSASignature{}, fmt.Errorf("%w: no PKP public key", ErrMalformed)
	}
	toSign := make([]int, 32)
	for i, b := range digest {
		toSign[i] = int(b)
	}
	resources := []ResourceAbilityRequest{{Resource: LitResource{ResourcePrefix: "lit-pkp", Resource: req.PKP.TokenID()}, Ability: AbilityPKPSigning}}
	var out ECDSASignature
	suspected := suspects{}
	err = c.withRetry(ctx, "pkp_sign", func(ctx context.Context, s *connState, requestID string) error {
		targets, err := c.selectTargets(ctx, s, ProductSign, req.UserMaxPrice, suspected.top())
		if err != nil {
			return err
		}
		sigs, err := c.sessionSigs(req.Auth, resources, targets)
		if err != nil {
			return err
		}
		set := nodeSet(targets)
		calls := make([]nodeCall, len(targets))
		for i, t := range targets {
			calls[i] = nodeCall{node: s.nodes[t.URL], body: &pkpSignBody{
				ToSign: toSign, SigningScheme: "EcdsaK256Sha256", Pubkey: req.PKP.Hex(), AuthSig: sigs[t.URL],
				NodeSet: set, Epoch: s.Epoch, AuthMethods: []any{}, KeySetID: "naga-keyset1",
			}}
		}
		replies := c.fanOut(ctx, "pkp_sign", pathPKPSign, requestID, s.Epoch, calls)
		shares, err := c.collectECDSAShares(replies)
		if err == nil {
			var sig ECDSASignature
			if sig, err = c.combineECDSA(shares, replies, digest[:], req.PKP); err == nil {
				out = sig
				return nil
			}
		}
		suspected.blame(err, targets)
		return err
	})
	return out, err
}

// collectECDSAShares checks every node answered and parses its share. Node
// failures are returned as one OpError; the failing nodes are penalised so
// the next attempt avoids them.
func (c *Client) collectECDSAShares(replies []nodeReply) ([]ECDSAShare, error) {
	var errs []error
	shares := make([]ECDSAShare, 0, len(replies))
	for _, r := range replies {
		if r.err != nil {
			if Retryable(r.err) {
				c.penalise(r.node, 3)
			}
			errs = append(errs, r.err)
			continue
		}
		var sh ECDSAShare
		var err error
		if w, ok := scanPKPSignShare(r.data); ok {
			sh, err = shareFromWire(&w)
		} else {
			var d pkpSignData
			if err := json.Unmarshal(r.data, &d); err != nil || !d.Success {
				c.penalise(r.node, 3)
				errs = append(errs, &NodeError{Op: "pkp_sign", Node: r.node, Err: fmt.Errorf("bad pkpSign response"), class: ErrNoValidShares})
				continue
			}
			sh, err = ParseECDSAShare(d.SignatureShare)
		}
		if err == nil && sh.Result != "success" {
			err = fmt.Errorf("node returned a %q share", sh.Result)
		}
		if err != nil {
			c.penalise(r.node, 3)
			errs = append(errs, &NodeError{Op: "pkp_sign", Node: r.node, Err: err, class: ErrNoValidShares})
			continue
		}
		shares = append(shares, sh)
	}
	if len(errs) > 0 {
		return nil, &OpError{Op: "pkp_sign", Attempts: 1, Errs: errs}
	}
	return shares, nil
}

// combineECDSA combines the shares and checks the result is the PKP's
// signature over digest. A node whose R differs from the others' is named
// and penalised; otherwise every node of the set is suspect.
func (c *Client) combineECDSA(shares []ECDSAShare, replies []nodeReply, digest []byte, pkp PKPPublicKey) (ECDSASignature, error) {
	rs := make([]string, len(shares))
	for i, sh := range shares {
		rs[i] = string(sh.BigR)
	}
	majority := mostCommon(rs, func(s string) string { return s })
	var odd []error
	for i, sh := range shares {
		if string(sh.BigR) != majority || !bytes.Equal(sh.Digest, digest) {
			c.penalise(replies[i].node, 5)
			odd = append(odd, &NodeError{Op: "pkp_sign", Node: replies[i].node, Err: errors.New("share with a different R or digest"), class: ErrNoValidShares})
		}
	}
	if len(odd) > 0 {
		return ECDSASignature{}, &OpError{Op: "pkp_sign", Attempts: 1, Errs: odd}
	}
	sig, err := CombineECDSAShares(shares)
	if err == nil && !bytes.Equal(sig.PublicKey, pkp[:]) {
		err = fmt.Errorf("combined signature is for public key %x, not the PKP", sig.PublicKey)
	}
	if err != nil {
		for _, r := range replies {
			c.penalise(r.node, 1)
		}
		return ECDSASignature{}, fmt.Errorf("%w: %v", ErrNoValidShares, err)
	}
	return sig, nil
}
