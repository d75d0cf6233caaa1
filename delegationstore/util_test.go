package delegationstore_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/litsignd/litsignd/litnode"
)

// loadVector returns the hand-off of litnode's test vectors: the real
// lit.bls delegation AuthSig (SIWE issued 2025-06-01T11:59:48Z, expiring
// 2025-06-02T12:00:00Z), its session key pair and its PKP.
func loadVector(t *testing.T) *litnode.HandOff {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "litnode", "testdata", "lit-auth-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Identities struct {
			PKPPublicKey string `json:"pkpPublicKey"`
		} `json:"identities"`
		SessionKeyPair struct {
			PublicKey string `json:"publicKey"`
			SecretKey string `json:"secretKey"`
		} `json:"sessionKeyPair"`
		DelegationAuthSig struct {
			AuthSig json.RawMessage `json:"authSig"`
		} `json:"delegationAuthSig"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	pkp, err := litnode.ParsePKPPublicKey(v.Identities.PKPPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := litnode.ParseSessionKeyPair(v.SessionKeyPair.PublicKey, v.SessionKeyPair.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	a, err := litnode.ParseAuthSig(v.DelegationAuthSig.AuthSig)
	if err != nil {
		t.Fatal(err)
	}
	return &litnode.HandOff{PKP: pkp, SessionKey: sk, Delegation: a}
}

// jsonB64 is how encoding/json writes bytes.
func jsonB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger
// shared by several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
