package devnet

import (
	"context"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/litsignd/litsignd/litnode"
)

// TestLitnodeClient drives the devnet with package litnode's own client:
// discovery on the chain, handshake, sign_session_key and pkpSign.
func TestLitnodeClient(t *testing.T) {
	n := startNet(t, Config{})
	c := &litnode.Client{Network: n.NetworkConfig(), Attestation: litnode.AttestationSkip}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	pkp := n.PKPs()[0]
	sk, _ := litnode.GenerateSessionKey(nil)
	exp := time.Now().Add(time.Hour)
	del, err := c.SignSessionKey(ctx, litnode.SignSessionKeyRequest{PKP: pkp.PublicKey, SessionKey: sk.PublicKey(), Owner: pkp.OwnerKey,
		Resources: pkpSigningAll, Expiration: exp})
	if err != nil {
		t.Fatalf("SignSessionKey: %v", err)
	}
	msg := []byte("interop")
	sig, err := c.PKPSign(ctx, litnode.PKPSignRequest{PKP: pkp.PublicKey, Message: msg, Chain: litnode.ChainEthereum,
		Auth: litnode.SessionAuth{Key: sk, Delegation: del, Expiration: exp}})
	if err != nil {
		t.Fatalf("PKPSign: %v", err)
	}
	if got := recoverAddr(t, sig, [32]byte(crypto.Keccak256(msg))); got != pkp.EthAddress {
		t.Fatalf("signer %s", got)
	}
}
