package litnode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// derivedVia and algo tags (docs/naga-auth.md §2).
const (
	DerivedViaSession       = "litSessionSignViaNacl"
	DerivedViaBLS           = "lit.bls"
	DerivedViaWallet        = "web3.eth.personal.sign"
	DerivedViaEIP1271       = "EIP1271"
	DerivedViaEIP1271SHA256 = "EIP1271_SHA256"
	AlgoEd25519             = "ed25519"
	AlgoLitBLS              = "LIT_BLS"
)

// AuthSig is Lit's five-field signed-message object (docs/naga-auth.md §2). Field order
// is the SDK's own (sig, algo, derivedVia, signedMessage, address), so an
// AuthSig marshals as the SDK writes a PKP delegation.
type AuthSig struct {
	Sig           string `json:"sig"`
	Algo          string `json:"algo,omitempty"`
	DerivedVia    string `json:"derivedVia"`
	SignedMessage string `json:"signedMessage"`
	Address       string `json:"address"`
}

// AuthSigKind is how a Lit node classifies an AuthSig.
type AuthSigKind int

// AuthSig kinds (docs/naga-auth.md §2, node determine_auth_material_type).
const (
	KindWallet     AuthSigKind = iota // everything else, including web3.eth.personal.sign
	KindSession                       // litSessionSignViaNacl + ed25519
	KindBLSNetwork                    // lit.bls + LIT_BLS
	KindContract                      // EIP1271 / EIP1271_SHA256
)

func (k AuthSigKind) String() string {
	switch k {
	case KindSession:
		return "session"
	case KindBLSNetwork:
		return "bls-network"
	case KindContract:
		return "contract"
	default:
		return "wallet"
	}
}

// Kind classifies the AuthSig by derivedVia and algo as a node does: a
// lit.bls sig without algo LIT_BLS is a wallet sig (and fails as one).
func (a AuthSig) Kind() AuthSigKind {
	switch {
	case a.DerivedVia == DerivedViaSession && a.Algo == AlgoEd25519:
		return KindSession
	case a.DerivedVia == DerivedViaEIP1271 || a.DerivedVia == DerivedViaEIP1271SHA256:
		return KindContract
	case a.DerivedVia == DerivedViaBLS && a.Algo == AlgoLitBLS:
		return KindBLSNetwork
	default:
		return KindWallet
	}
}

// authSigWire accepts algo as absent, null or a string.
type authSigWire struct {
	Sig           *string `json:"sig"`
	Algo          *string `json:"algo"`
	DerivedVia    *string `json:"derivedVia"`
	SignedMessage *string `json:"signedMessage"`
	Address       *string `json:"address"`
}

// ParseAuthSig decodes an AuthSig strictly, as the node's deserializer does:
// unknown keys are rejected, the four required fields must be strings, algo
// may be absent or null, and nothing may follow the object (docs/naga-auth.md §2).
func ParseAuthSig(data []byte) (AuthSig, error) {
	var a AuthSig
	if err := a.UnmarshalJSON(data); err != nil {
		return AuthSig{}, err
	}
	return a, nil
}

// UnmarshalJSON implements strict decoding (see ParseAuthSig).
func (a *AuthSig) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var w authSigWire
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("%w: auth sig: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: auth sig: trailing data after the object", ErrMalformed)
	}
	for name, p := range map[string]*string{"sig": w.Sig, "derivedVia": w.DerivedVia, "signedMessage": w.SignedMessage, "address": w.Address} {
		if p == nil {
			return fmt.Errorf("%w: auth sig: missing field %q", ErrMalformed, name)
		}
	}
	*a = AuthSig{Sig: *w.Sig, DerivedVia: *w.DerivedVia, SignedMessage: *w.SignedMessage, Address: *w.Address}
	if w.Algo != nil {
		a.Algo = *w.Algo
	}
	return nil
}

// MarshalJSON writes the AuthSig compactly with JavaScript's escaping (no
// HTML escaping), in the SDK's key order.
func (a AuthSig) MarshalJSON() ([]byte, error) {
	return a.appendJS(nil), nil
}

// appendJS appends the AuthSig as JSON.stringify would write the SDK's object.
func (a AuthSig) appendJS(b []byte) []byte {
	b = append(b, `{"sig":`...)
	b = appendJSString(b, a.Sig)
	if a.Algo != "" {
		b = append(b, `,"algo":`...)
		b = appendJSString(b, a.Algo)
	}
	b = append(b, `,"derivedVia":`...)
	b = appendJSString(b, a.DerivedVia)
	b = append(b, `,"signedMessage":`...)
	b = appendJSString(b, a.SignedMessage)
	b = append(b, `,"address":`...)
	b = appendJSString(b, a.Address)
	return append(b, '}')
}
