package devnet

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/litsignd/litsignd/litnode"
)

// TestRebuildSessionSIWEVector rebuilds the SDK's client SIWE with the
// vector's block time and EOA and must give nodeSignSessionKey.nodeSiweMessage
// byte for byte (docs/naga-auth.md §3.4 steps 8–9, §8).
func TestRebuildSessionSIWEVector(t *testing.T) {
	raw, err := os.ReadFile("../testdata/lit-auth-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Identities struct {
			PKPPublicKey    string `json:"pkpPublicKey"`
			EOAAddress      string `json:"eoaAddress"`
			BlockhashNonce  string `json:"blockhashNonce"`
			BlockTimestamp  string `json:"blockTimestamp"`
			BLSSecretKeyHex string `json:"blsNetworkSecretKeyHex"`
		} `json:"identities"`
		Request struct {
			ClientSIWE string `json:"clientSiweMessage"`
		} `json:"signSessionKeyRequest"`
		Node struct {
			NodeSIWE   string `json:"nodeSiweMessage"`
			SignedData string `json:"blsSignedDataHex"`
			Signature  string `json:"blsSignatureG2Hex"`
		} `json:"nodeSignSessionKey"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	pk, err := litnode.ParsePKPPublicKey(v.Identities.PKPPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	bt, err := time.Parse(time.RFC3339, v.Identities.BlockTimestamp)
	if err != nil {
		t.Fatal(err)
	}
	client, err := litnode.ParseSIWE(v.Request.ClientSIWE)
	if err != nil {
		t.Fatal(err)
	}
	got, aerr := rebuildSessionSIWE(client, pk.Address(), common.HexToHash(v.Identities.BlockhashNonce), bt,
		ethWalletAuthContext([]string{v.Identities.EOAAddress}))
	if aerr != nil {
		t.Fatalf("rebuild: %+v", aerr)
	}
	if got.String() != v.Node.NodeSIWE {
		t.Fatalf("rebuilt SIWE differs:\n got %q\nwant %q", got.String(), v.Node.NodeSIWE)
	}
	m := litnode.BLSSessionMessage(got.String())
	if hex.EncodeToString(m[:]) != v.Node.SignedData {
		t.Fatalf("session hash %x, want %s", m, v.Node.SignedData)
	}
	sk, err := litnode.ParseBLSSecretKey(v.Identities.BLSSecretKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	if sig := hex.EncodeToString(sk.Sign(m[:])); sig != v.Node.Signature {
		t.Fatalf("signature %s, want %s", sig, v.Node.Signature)
	}
}

func TestSignSessionKeyCombines(t *testing.T) {
	s := newSetup(t, Config{})
	// The delegation from newSetup verified against the network key; it
	// names the PKP, carries the auth context and a block-time Issued At.
	m, err := litnode.ParseSIWE(s.del.SignedMessage)
	if err != nil {
		t.Fatal(err)
	}
	if m.Address != s.pkp.EthAddress.Hex() || m.URI != s.sk.URI() {
		t.Fatalf("delegation SIWE %q", s.del.SignedMessage)
	}
	if !strings.HasSuffix(m.IssuedAt, "Z") || strings.Contains(m.IssuedAt, ".") {
		t.Fatalf("Issued At %q is not a whole-second block time", m.IssuedAt)
	}
	users := authContextUsers(mustRecaps(t, m))
	if len(users) != 1 || users[0] != s.pkp.OwnerAddress.Hex() {
		t.Fatalf("auth context users %v", users)
	}
	// Any t shares combine: use the last t nodes this time.
	urls := s.n.NodeURLs()
	other := s.c.delegate(ssk{pkp: s.pkp, eoa: s.pkp.OwnerKey, sk: s.sk, urls: urls[len(urls)-s.n.Threshold():]})
	if other.Sig == "" {
		t.Fatal("no delegation")
	}
}

func mustRecaps(t *testing.T, m *litnode.SIWEMessage) []*litnode.Recap {
	t.Helper()
	rs, err := litnode.VerifyRecapStatements(m)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestSignSessionKeyRejections(t *testing.T) {
	n := startNet(t, Config{})
	c := newClient(t, n)
	pkps := n.PKPs()
	pkp, stranger := pkps[0], pkps[1]
	sk, _ := litnode.GenerateSessionKey(nil)
	other, _ := litnode.GenerateSessionKey(nil)
	now := time.Now()

	t.Run("EOA not owner", func(t *testing.T) {
		wantErr(t, c.signSessionKeyReplies(ssk{pkp: pkp, eoa: stranger.OwnerKey, sk: sk}), 401, CodePKPNotAuthorized)
	})
	t.Run("EOA permitted", func(t *testing.T) {
		if err := n.PermitAddress(pkp.PublicKey, stranger.OwnerAddress); err != nil {
			t.Fatal(err)
		}
		defer n.RevokeAddress(pkp.PublicKey, stranger.OwnerAddress)
		c.delegate(ssk{pkp: pkp, eoa: stranger.OwnerKey, sk: sk})
	})
	t.Run("URI not the session key", func(t *testing.T) {
		siwe := clientSIWE(pkp, other, c.hash, now, now.Add(time.Hour), pkpSigningAll)
		wantErr(t, c.signSessionKeyReplies(ssk{pkp: pkp, eoa: pkp.OwnerKey, sk: sk, siwe: siwe}), 400, CodeSIWEMessageError)
	})
	t.Run("SIWE address not the PKP", func(t *testing.T) {
		siwe := clientSIWE(stranger, sk, c.hash, now, now.Add(time.Hour), pkpSigningAll)
		wantErr(t, c.signSessionKeyReplies(ssk{pkp: pkp, eoa: pkp.OwnerKey, sk: sk, siwe: siwe}), 400, CodeSIWEMessageError)
	})
	t.Run("expiration beyond 30 days", func(t *testing.T) {
		wantErr(t, c.signSessionKeyReplies(ssk{pkp: pkp, eoa: pkp.OwnerKey, sk: sk, exp: now.Add(31 * 24 * time.Hour)}), 400, CodeSIWEMessageError)
	})
	t.Run("expired", func(t *testing.T) {
		siwe := clientSIWE(pkp, sk, c.hash, now.Add(-2*time.Hour), now.Add(-time.Hour), pkpSigningAll)
		wantErr(t, c.signSessionKeyReplies(ssk{pkp: pkp, eoa: pkp.OwnerKey, sk: sk, siwe: siwe}), 403, CodeExpWrongOrTooLarge)
	})
	t.Run("nonce not a block", func(t *testing.T) {
		siwe := clientSIWE(pkp, sk, "0x"+strings.Repeat("ab", 32), now, now.Add(time.Hour), pkpSigningAll)
		wantErr(t, c.signSessionKeyReplies(ssk{pkp: pkp, eoa: pkp.OwnerKey, sk: sk, siwe: siwe}), 400, CodeSIWEMessageError)
	})
	t.Run("resolvedauthcontext in statement", func(t *testing.T) {
		m, _ := litnode.ParseSIWE(clientSIWE(pkp, sk, c.hash, now, now.Add(time.Hour), pkpSigningAll))
		m.Statement = "I am lit-resolvedauthcontext " + m.Statement
		wantErr(t, c.signSessionKeyReplies(ssk{pkp: pkp, eoa: pkp.OwnerKey, sk: sk, siwe: m.String()}), 401, CodeInvalidAuthContextResource)
	})
	t.Run("max price too low", func(t *testing.T) {
		wantErr(t, c.signSessionKeyReplies(ssk{pkp: pkp, eoa: pkp.OwnerKey, sk: sk, maxPrice: "0x1"}), 402, CodePaymentFailed)
	})
	t.Run("authSig sent", func(t *testing.T) {
		urls := n.NodeURLs()[:3]
		r := c.post(t.Context(), urls[0], "/web/sign_session_key/v2", newRequestID(), map[string]any{
			"sessionKey": sk.URI(), "authMethods": []any{}, "pkpPublicKey": pkp.PublicKey.Hex(), "siweMessage": "x",
			"curveType": "BLS", "nodeSet": nodeSet(urls), "maxPrice": "0x1", "authSig": map[string]string{"sig": "x"}})
		wantErr(t, []reply{r}, 400, CodeInvalidAuthSigForSessionKey)
	})
	t.Run("curve type", func(t *testing.T) {
		urls := n.NodeURLs()[:3]
		r := c.post(t.Context(), urls[0], "/web/sign_session_key/v2", newRequestID(), map[string]any{
			"sessionKey": sk.URI(), "authMethods": []any{}, "pkpPublicKey": pkp.PublicKey.Hex(), "siweMessage": "x",
			"curveType": "K256", "nodeSet": nodeSet(urls), "maxPrice": "0x1"})
		wantErr(t, []reply{r}, 400, CodeInvalidCurveType)
	})
}
