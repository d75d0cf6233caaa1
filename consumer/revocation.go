package consumer

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/litsignd/litsignd/litnode"
)

// Revocation is a client's request to delete its stored delegation, signed
// by the session key it delegated to. Body on <prefix>.revocations:
//
//	{"pkpPublicKey":"0x04…","sessionPublicKey":"<64 hex>","issuedAt":"<RFC 3339>","signature":"<128 hex>"}
//
// signature is the ed25519 signature by the session key over the UTF-8
// bytes of RevocationMessage(pkpPublicKey, sessionPublicKey, issuedAt).
type Revocation struct {
	PKPPublicKey     string `json:"pkpPublicKey"`
	SessionPublicKey string `json:"sessionPublicKey"`
	IssuedAt         string `json:"issuedAt"`
	Signature        string `json:"signature"`
}

// RevocationMaxSkew is how far a revocation's issuedAt may be from now.
const RevocationMaxSkew = 5 * time.Minute

// RevocationMessage is the canonical string a revocation signs: four lines,
// "litsignd-revocation:v1", the PKP key (0x04 + lowercase hex), the session
// public key (lowercase hex), and issuedAt exactly as sent.
func RevocationMessage(pkp litnode.PKPPublicKey, session litnode.SessionPublicKey, issuedAt string) string {
	return "litsignd-revocation:v1\n" + pkp.Hex() + "\n" + session.Hex() + "\n" + issuedAt
}

// SignRevocation makes a revocation with the session key (what a client does).
func SignRevocation(pkp litnode.PKPPublicKey, key *litnode.SessionKey, at time.Time) Revocation {
	issued := at.UTC().Format(time.RFC3339)
	return Revocation{
		PKPPublicKey:     pkp.Hex(),
		SessionPublicKey: key.PublicKey().Hex(),
		IssuedAt:         issued,
		Signature:        hex.EncodeToString(key.Sign([]byte(RevocationMessage(pkp, key.PublicKey(), issued)))),
	}
}

// verify checks the revocation's shape, freshness and signature.
func (r Revocation) verify(now time.Time) (litnode.PKPPublicKey, litnode.SessionPublicKey, time.Time, error) {
	var zero litnode.SessionPublicKey
	pkp, err := litnode.ParsePKPPublicKey(r.PKPPublicKey)
	if err != nil {
		return pkp, zero, time.Time{}, err
	}
	session, err := litnode.ParseSessionPublicKey(r.SessionPublicKey)
	if err != nil {
		return pkp, zero, time.Time{}, err
	}
	at, err := time.Parse(time.RFC3339Nano, r.IssuedAt)
	if err != nil {
		return pkp, zero, time.Time{}, fmt.Errorf("%w: issuedAt is not RFC 3339", litnode.ErrMalformed)
	}
	if d := now.Sub(at); d > RevocationMaxSkew || d < -RevocationMaxSkew {
		return pkp, zero, time.Time{}, fmt.Errorf("%w: issuedAt %s is more than %s from now", litnode.ErrExpired, r.IssuedAt, RevocationMaxSkew)
	}
	sig, err := hex.DecodeString(r.Signature)
	if err != nil || !session.Verify([]byte(RevocationMessage(pkp, session, r.IssuedAt)), sig) {
		return pkp, zero, time.Time{}, fmt.Errorf("%w: revocation signature", litnode.ErrBadSignature)
	}
	return pkp, session, at, nil
}
