package devnet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/litsignd/litsignd/litnode"
)

func TestHandshake(t *testing.T) {
	n := startNet(t, Config{})
	url := n.Nodes()[1].URL()
	d := handshake(t, url)
	root := n.NetworkPublicKey().Hex()
	if d.ServerPublicKey != "" || d.SubnetPublicKey != root || d.NetworkPublicKey != root || d.NetworkPublicKeySet != root || len(root) != 96 {
		t.Fatalf("keys %+v", d)
	}
	key := n.Nodes()[1].IdentityKey()
	if d.NodeIdentityKey != hex.EncodeToString(key[:]) || d.Epoch != n.Epoch() || d.ClientSDKVersion != "8.0.0-naga-dev" ||
		d.Attestation != nil || d.NodeVersion == "" || d.GitCommitHash == "" || len(d.HDRootPubkeys) == 0 {
		t.Fatalf("fields %+v", d)
	}
	for _, k := range d.HDRootPubkeys {
		b, _ := hex.DecodeString(k)
		if _, err := crypto.DecompressPubkey(b); err != nil {
			t.Fatalf("hdRootPubkey %q: %v", k, err)
		}
	}
	h := common.HexToHash(d.LatestBlockhash)
	if _, _, ok := n.Chain().BlockByHash(h); !ok || !strings.HasPrefix(d.LatestBlockhash, "0x") {
		t.Fatalf("latestBlockhash %q is not a chain block", d.LatestBlockhash)
	}

	ctx := context.Background()
	body := []byte(`{"clientPublicKey":"test","challenge":"` + strings.Repeat("00", 32) + `"}`)
	plainErr := func(st int, b []byte) PublicError {
		var pe PublicError
		if err := json.Unmarshal(b, &pe); err != nil {
			t.Fatalf("%d %s: %v", st, b, err)
		}
		return pe
	}
	for _, tc := range []struct {
		name   string
		path   string
		hdr    map[string]string
		body   []byte
		status int
		code   string
	}{
		{"no request id", "/web/handshake", map[string]string{}, body, 400, CodeMissingRequestID},
		{"correlation id", "/web/handshake", map[string]string{"X-Correlation-Id": "c1"}, body, 200, ""},
		{"no slash", "/web/handshake", map[string]string{"X-Request-Id": "r"}, body, 200, ""},
		{"sdk version ok", "/web/handshake/", map[string]string{"X-Request-Id": "r", "X-Lit-SDK-Version": "8.0.0"}, body, 200, ""},
		{"sdk version not semver", "/web/handshake/", map[string]string{"X-Request-Id": "r", "X-Lit-SDK-Version": "8.0"}, body, 400, CodeInvalidSDKVersion},
		{"sdk version 0.0.0", "/web/handshake/", map[string]string{"X-Request-Id": "r", "X-Lit-SDK-Version": "0.0.0"}, body, 400, CodeInvalidSDKVersion},
		{"sdk version leading zero", "/web/handshake/", map[string]string{"X-Request-Id": "r", "X-Lit-SDK-Version": "08.0.0"}, body, 400, CodeInvalidSDKVersion},
		{"body not JSON", "/web/handshake/", map[string]string{"X-Request-Id": "r"}, []byte("x"), 422, CodeBadInput},
		{"no clientPublicKey", "/web/handshake/", map[string]string{"X-Request-Id": "r"}, []byte(`{"challenge":"aa"}`), 422, CodeBadInput},
		{"wrong content type", "/web/handshake/", map[string]string{"X-Request-Id": "r", "Content-Type": "text/plain"}, body, 404, ""},
		{"legacy route", "/web/pkp/sign", map[string]string{"X-Request-Id": "r"}, body, 410, CodeOldEndpointVersion},
		{"legacy v1 route", "/web/sign_session_key/v1", map[string]string{"X-Request-Id": "r"}, body, 410, CodeOldEndpointVersion},
		{"execute without an envelope", "/web/execute/v2", map[string]string{"X-Request-Id": "r"}, body, 422, CodeBadInput},
		{"encryption sign not yet", "/web/encryption/sign/v2", map[string]string{"X-Request-Id": "r"}, body, 501, ""},
		{"unknown route", "/web/nope", map[string]string{"X-Request-Id": "r"}, body, 404, ""},
	} {
		st, b, err := httpDo(ctx, url+tc.path, tc.body, tc.hdr)
		if err != nil {
			t.Fatal(err)
		}
		if st != tc.status {
			t.Errorf("%s: status %d %s, want %d", tc.name, st, b, tc.status)
			continue
		}
		if st != 200 {
			if pe := plainErr(st, b); pe.ErrorCode != tc.code || pe.Status != st {
				t.Errorf("%s: %s, want code %q", tc.name, b, tc.code)
			}
		}
	}
	// No challenge: 400 ok:false, error "", errorObject with "ERR" fields.
	st, b, _ := httpDo(ctx, url+"/web/handshake/", []byte(`{"clientPublicKey":"test"}`), map[string]string{"X-Request-Id": "r"})
	var g genericResp
	json.Unmarshal(b, &g)
	if st != 400 || g.OK || g.Error == nil || *g.Error != "" || g.ErrorObject == nil || !strings.Contains(*g.ErrorObject, `"networkPublicKey":"ERR"`) {
		t.Fatalf("no challenge: %d %s", st, b)
	}
	// The correlation id is echoed in errors.
	_, b, _ = httpDo(ctx, url+"/web/pkp/sign", body, map[string]string{"X-Request-Id": "abc", "X-Correlation-Id": "wins"})
	if pe := plainErr(410, b); pe.CorrelationID != "wins" {
		t.Fatalf("correlationId %q", pe.CorrelationID)
	}
}

func TestE2EEWrapper(t *testing.T) {
	n := startNet(t, Config{})
	c := newClient(t, n)
	url := n.Nodes()[0].URL()
	ctx := context.Background()
	// Not an envelope: plain 422 NodeBadInput.
	for _, body := range []string{`{}`, `[1]`, `{"version":"2","payload":{"verification_key":"","random":"","created_at":"","ciphertext_and_tag":""}}`} {
		st, b, _ := httpDo(ctx, url+"/web/pkp/sign/v2", []byte(body), map[string]string{"X-Request-Id": "r"})
		var pe PublicError
		if json.Unmarshal(b, &pe); st != 422 || pe.ErrorCode != CodeBadInput {
			t.Fatalf("%s: %d %s", body, st, b)
		}
	}
	// An envelope that is garbage inside: plain can't decrypt.
	st, b, _ := httpDo(ctx, url+"/web/pkp/sign/v2", []byte(`{"version":"1","payload":{"verification_key":"00","random":"00","created_at":"x","ciphertext_and_tag":"00"},"epoch":1}`), map[string]string{"X-Request-Id": "r"})
	assertCantDecrypt(t, st, b)
	// A decryptable request whose JSON does not fit: encrypted 422, from the
	// identity key the handshake announced, padded to ≥ 51 bytes.
	r := c.post(ctx, url, "/web/sign_session_key/v2", "rid-1", map[string]any{"curveType": 7})
	wantErr(t, []reply{r}, 422, CodeBadInput)
	if pe := r.gen.publicErr(t); pe.CorrelationID != "rid-1" {
		t.Fatalf("correlationId %q", pe.CorrelationID)
	}
	reqs := n.Nodes()[0].Requests()
	if last := reqs[len(reqs)-1]; last.Status != 422 || last.ErrorCode != CodeBadInput || string(last.Body) != `{"curveType":7}` {
		t.Fatalf("log %+v", last)
	}
}

func assertCantDecrypt(t *testing.T, st int, b []byte) {
	t.Helper()
	var g genericResp
	if err := json.Unmarshal(b, &g); err != nil || st != 500 || g.OK || g.Error == nil || *g.Error != "can't decrypt" || g.Data != nil && string(g.Data) != "null" {
		t.Fatalf("want plain can't decrypt 500, got %d %s", st, b)
	}
	g.publicErr(t)
}

func TestEpochRotation(t *testing.T) {
	s := newSetup(t, Config{})
	digest := [32]byte(crypto.Keccak256([]byte("epoch")))
	e0 := s.n.Epoch()
	s.n.AdvanceEpoch()
	if s.n.Epoch() != e0+1 {
		t.Fatal("epoch did not advance")
	}
	// One rotation: the previous key still decrypts, and answers.
	if _, err := litnode.CombineECDSAShares(ecdsaShares(t, s.sign(t, digest, s.urls))); err != nil {
		t.Fatal(err)
	}
	s.n.AdvanceEpoch()
	for _, r := range s.sign(t, digest, s.urls) {
		if r.encrypted {
			t.Fatalf("stale keys after two rotations: got an encrypted answer %s", r.plain)
		}
		assertCantDecrypt(t, r.status, r.plain)
	}
	// Re-handshake and all is well.
	s.c.refresh()
	if _, err := litnode.CombineECDSAShares(ecdsaShares(t, s.sign(t, digest, s.urls))); err != nil {
		t.Fatal(err)
	}
	if d := handshake(t, s.urls[0]); d.Epoch != e0+2 {
		t.Fatalf("handshake epoch %d", d.Epoch)
	}
}

func TestFaults(t *testing.T) {
	s := newSetup(t, Config{NodeTimeout: 300 * time.Millisecond})
	digest := [32]byte(crypto.Keccak256([]byte("faults")))
	nd := s.n.Nodes()[0]
	ctx := context.Background()
	one := func(ctx context.Context) reply {
		now := time.Now()
		sigs := sessionSigs(t, s.sk, []litnode.AuthSig{s.del}, s.urls, now, now.Add(time.Hour), nil, nil)
		return s.c.pkpSignReplies(ctx, s.pkp.PublicKey, digest, s.urls, sigs, newRequestID())[0]
	}
	defer nd.SetFault(Fault{})

	t.Run("Down", func(t *testing.T) {
		nd.SetFault(Fault{Down: true})
		if r := one(ctx); r.err == nil {
			t.Fatalf("down node answered %d %s", r.status, r.plain)
		}
		if _, _, err := httpDo(ctx, nd.URL()+"/web/handshake/", []byte(`{}`), map[string]string{"X-Request-Id": "r"}); err == nil {
			t.Fatal("down node answered the handshake")
		}
	})
	t.Run("Delay", func(t *testing.T) {
		nd.SetFault(Fault{Delay: 100 * time.Millisecond})
		start := time.Now()
		ecdsaShares(t, s.sign(t, digest, s.urls))
		if time.Since(start) < 100*time.Millisecond {
			t.Fatal("no delay")
		}
	})
	t.Run("Delay past the node timeout", func(t *testing.T) {
		nd.SetFault(Fault{Delay: 5 * time.Second})
		r := one(ctx) // a 408 (not the delayed answer) shows the node timeout won
		if r.status != 408 || !r.encrypted || *r.gen.Error != "Request timed out" || *r.gen.ErrorObject != CodeRequestTimeout {
			t.Fatalf("got %d %s", r.status, r.plain)
		}
	})
	t.Run("Hang", func(t *testing.T) {
		nd.SetFault(Fault{Hang: true})
		ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		if r := one(ctx); r.err == nil || !errors.Is(r.err, context.DeadlineExceeded) {
			t.Fatalf("hung node: %v %d", r.err, r.status)
		}
	})
	t.Run("Timeout408", func(t *testing.T) {
		nd.SetFault(Fault{Timeout408: true})
		if r := one(ctx); r.status != 408 || !r.encrypted || *r.gen.ErrorObject != CodeRequestTimeout {
			t.Fatalf("got %d %s", r.status, r.plain)
		}
		st, b, _ := httpDo(ctx, nd.URL()+"/web/handshake", []byte(`{"clientPublicKey":"test","challenge":"aa"}`), map[string]string{"X-Request-Id": "r"})
		if st != 408 || !strings.Contains(string(b), `"errorCode":"request_timeout"`) {
			t.Fatalf("handshake: %d %s", st, b)
		}
	})
	t.Run("CantDecrypt", func(t *testing.T) {
		nd.SetFault(Fault{CantDecrypt: true})
		r := one(ctx)
		assertCantDecrypt(t, r.status, r.plain)
	})
	for _, f := range []Fault{{BadShare: true}, {WrongR: true}} {
		nd.SetFault(f)
		shares := ecdsaShares(t, s.sign(t, digest, s.urls))
		if _, err := litnode.CombineECDSAShares(shares); err == nil {
			t.Fatalf("fault %+v: shares combined", f)
		}
	}
	nd.SetFault(Fault{})
	if _, err := litnode.CombineECDSAShares(ecdsaShares(t, s.sign(t, digest, s.urls))); err != nil {
		t.Fatalf("healed: %v", err)
	}
}

func TestStartConfig(t *testing.T) {
	if _, err := Start(Config{Nodes: 3, Threshold: 4}); err == nil {
		t.Fatal("threshold above nodes accepted")
	}
	a := startNet(t, Config{Nodes: 3, Threshold: 2, Seed: "s1", PKPs: 1})
	b := startNet(t, Config{Nodes: 3, Threshold: 2, Seed: "s1", PKPs: 1})
	if !a.NetworkPublicKey().Equal(b.NetworkPublicKey()) || a.PKPs()[0].PublicKey != b.PKPs()[0].PublicKey {
		t.Fatal("same seed, different keys")
	}
	c := startNet(t, Config{Nodes: 3, Threshold: 2, Seed: "s2", PKPs: -1})
	if c.NetworkPublicKey().Equal(a.NetworkPublicKey()) || len(c.PKPs()) != 0 {
		t.Fatal("seeds do not separate networks")
	}
	// A 2-of-3 network signs with any 2 nodes.
	s := &setup{n: a, c: newClient(t, a), pkp: a.PKPs()[0]}
	s.sk, _ = litnode.GenerateSessionKey(nil)
	urls := a.NodeURLs()
	s.del = s.c.delegate(ssk{pkp: s.pkp, eoa: s.pkp.OwnerKey, sk: s.sk, urls: urls[1:]})
	digest := [32]byte(crypto.Keccak256([]byte("2of3")))
	sig, err := litnode.CombineECDSAShares(ecdsaShares(t, s.sign(t, digest, []string{urls[0], urls[2]})))
	if err != nil || recoverAddr(t, sig, digest) != s.pkp.EthAddress {
		t.Fatalf("2-of-3: %v", err)
	}
}
