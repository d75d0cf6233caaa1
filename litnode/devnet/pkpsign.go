package devnet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/litsignd/litsignd/litnode"
)

// nodeSetEntry is one {"socketAddress","value"} of a request's nodeSet
// (docs/naga-wire.md §7.1).
type nodeSetEntry struct {
	SocketAddress string `json:"socketAddress"`
	Value         int    `json:"value"`
}

// pkpSignRequest is JsonPKPSigningRequest (docs/naga-wire.md §7.1).
type pkpSignRequest struct {
	ToSign        []int            `json:"toSign"`
	SigningScheme string           `json:"signingScheme"`
	Pubkey        string           `json:"pubkey"`
	AuthSig       *litnode.AuthSig `json:"authSig"`
	NodeSet       []nodeSetEntry   `json:"nodeSet"`
	Epoch         uint64           `json:"epoch"`
	AuthMethods   json.RawMessage  `json:"authMethods"`
	KeySetID      string           `json:"keySetId"`
}

// signingSchemes are the schemes a node knows (docs/naga-wire.md §7.1); the devnet
// signs EcdsaK256Sha256 only.
var signingSchemes = []string{"EcdsaK256Sha256", "EcdsaP256Sha256", "EcdsaP384Sha384", "SchnorrEd25519Sha512",
	"SchnorrK256Sha256", "SchnorrP256Sha256", "SchnorrP384Sha384", "SchnorrRistretto25519Sha512",
	"SchnorrEd448Shake256", "SchnorrRedJubjubBlake2b512", "SchnorrK256Taproot", "SchnorrRedDecaf377Blake2b512",
	"SchnorrkelSubstrate", "Bls12381", "Bls12381G1ProofOfPossession"}

// pkpSignResponse is JsonPKPSigningResponse (docs/naga-wire.md §7.4).
type pkpSignResponse struct {
	Success        bool            `json:"success"`
	SignedData     []int           `json:"signedData"`
	SignatureShare json.RawMessage `json:"signatureShare"`
}

// decodeStrict decodes a JSON object into v. Unknown keys are allowed (no
// node struct denies them, docs/naga-wire.md §3), trailing data is not.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON object")
	}
	return nil
}

// pkpSign is POST /web/pkp/sign/v2 (docs/naga-wire.md §7.3 steps 1–9, §13.4
// "pkpSign fake").
func (nd *Node) pkpSign(c *call, pt []byte) (any, *apiError) {
	var req pkpSignRequest
	if err := decodeStrict(pt, &req); err != nil {
		return nil, codedErr(CodeBadInput, "pkp sign request: "+err.Error())
	}
	for _, b := range req.ToSign {
		if b < 0 || b > 255 {
			return nil, codedErr(CodeBadInput, "pkp sign request: toSign must be an array of bytes 0..255")
		}
	}
	if req.AuthSig == nil {
		return nil, codedErr(CodeBadInput, "pkp sign request: missing authSig")
	}
	if !slices.Contains(signingSchemes, req.SigningScheme) {
		return nil, codedErr(CodeBadInput, fmt.Sprintf("pkp sign request: unknown signingScheme %q", req.SigningScheme))
	}
	// Step 1: token id = keccak256(65-byte pubkey).
	pk, err := litnode.ParsePKPPublicKey(req.Pubkey)
	if err != nil {
		return nil, plainErr("Conversion", http.StatusBadRequest, "Invalid pubkey length. Expected 65 bytes", err.Error())
	}
	tok := pk.TokenID()
	// Step 2: the session sig, for lit-pkp://<token id> with PKP signing.
	s, aerr := nd.verifySessionSig(*req.AuthSig, authRequest{prefix: "lit-pkp", id: tok, ability: "Threshold/Signing"}, c.now)
	if aerr != nil {
		return nil, aerr.withShort("invalid user address")
	}
	// Step 3: payment, maxPrice from the session sig (docs/naga-wire.md §10.2).
	pay, aerr := nd.net.selectPayer(litnode.ProductSign, s.user, s.msg.MaxPrice)
	if aerr != nil {
		return nil, aerr.withShort("can't get payment method")
	}
	// Steps 4–5: the auth context and check_pkp_auth.
	if aerr := nd.checkPKPAuth(tok, s); aerr != nil {
		return nil, aerr.wrap("PKP auth check failed")
	}
	// Step 7: the signing group is the nodeSet; this node must be in it and
	// the set must reach the key threshold.
	if !nd.net.isActive(nd.index) {
		return nil, plainErr("Unexpected", http.StatusInternalServerError, "node is not in the current validator set",
			nd.socket+" was removed from the validator set")
	}
	set := make([]string, 0, len(req.NodeSet))
	for _, e := range req.NodeSet {
		set = append(set, e.SocketAddress)
	}
	sorted := slices.Clone(set)
	slices.Sort(sorted)
	if len(slices.Compact(slices.Clone(sorted))) != len(sorted) {
		return nil, plainErr("Validation", http.StatusBadRequest, "invalid node set", "the nodeSet names a node twice")
	}
	ids := make([]secp256k1.ModNScalar, len(sorted))
	self := -1
	for i, sa := range sorted {
		peer, active := nd.net.nodeBySocket(sa)
		if peer == nil || !active {
			return nil, plainErr("Validation", http.StatusBadRequest, "invalid node set",
				fmt.Sprintf("nodeSet entry %q is not a node of the current validator set", sa))
		}
		ids[i] = peer.ecdsaID
		if peer == nd {
			self = i
		}
	}
	if self < 0 {
		return nil, plainErr("Validation", http.StatusBadRequest, "invalid node set",
			fmt.Sprintf("this node (%s) is not in the nodeSet %v", nd.socket, set))
	}
	if len(sorted) < nd.net.cfg.Threshold {
		return nil, plainErr("Validation", http.StatusBadRequest, "invalid node set",
			fmt.Sprintf("the nodeSet has %d nodes; the key threshold is %d", len(sorted), nd.net.cfg.Threshold))
	}
	// docs/naga-wire.md §7.1 epoch: 0 means current; the node reads the key shares
	// of the epoch asked for, and keeps the previous epoch's.
	if cur := nd.net.Epoch(); req.Epoch != 0 && req.Epoch != cur && req.Epoch+1 != cur {
		return nil, plainErr("Unexpected", http.StatusInternalServerError,
			fmt.Sprintf("could not read key share for epoch %d", req.Epoch), fmt.Sprintf("current epoch is %d", cur))
	}
	// Step 8: the signature share.
	if req.SigningScheme != litnode.ECDSASigTypeK256 {
		return nil, plainErr("Validation", http.StatusBadRequest, "unsupported signing scheme",
			fmt.Sprintf("signing scheme %s is not supported by the devnet (EcdsaK256Sha256 only)", req.SigningScheme))
	}
	if len(req.ToSign) != 32 {
		return nil, plainErr("Unexpected", http.StatusInternalServerError,
			fmt.Sprintf("Message length to be signed is not 32 bytes, got %d", len(req.ToSign)))
	}
	xi, ok := nd.keyShare(tok)
	if !ok {
		return nil, plainErr("Unexpected", http.StatusInternalServerError, "could not read key share",
			"no key share for PKP "+tok)
	}
	var digest [32]byte
	for i, b := range req.ToSign {
		digest[i] = byte(b)
	}
	f := nd.Fault()
	var variant byte
	if f.WrongR {
		variant = 1 // another nonce, hence another R, on this node only
	}
	k := deriveNonce(nd.net.nonceKey, c.requestID, digest[:], pk[:], sorted, variant)
	lambda := lagrangeAt0(ids, self)
	si, bigR, err := ecdsaSignShare(xi, lambda, k, digest)
	if err != nil {
		return nil, plainErr("Unexpected", http.StatusInternalServerError, "ecdsa signing failed", err.Error())
	}
	if f.BadShare {
		var s secp256k1.ModNScalar
		s.SetBytes(&si)
		var one secp256k1.ModNScalar
		one.SetInt(1)
		si = s.Add(&one).Bytes()
	}
	idBytes := nd.ecdsaID.Bytes()
	share := litnode.ECDSAShare{
		Digest:         digest[:],
		ShareID:        strings.ToUpper(fmt.Sprintf("%x", idBytes[:])),
		PeerID:         nd.peerID,
		SignatureShare: si,
		BigR:           bigR,
		PublicKey:      pk[:],
		SigType:        litnode.ECDSASigTypeK256,
		Result:         "success",
	}
	nd.net.charge(pay)
	return pkpSignResponse{Success: true, SignedData: req.ToSign, SignatureShare: litnode.FormatECDSAShareJSON(share)}, nil
}
