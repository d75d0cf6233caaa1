package devnet

// A minimal Lit client for the node-side tests: handshake, E2EE requests,
// EOA auth sigs, sign_session_key and pkpSign, built from litnode
// primitives. The real client lives in package litnode.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/litsignd/litsignd/litnode"
)

func startNet(t *testing.T, cfg Config) *Network {
	t.Helper()
	n, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(n.Close)
	return n
}

var reqCounter atomic.Int64

func newRequestID() string {
	return fmt.Sprintf("lit_%d_%d", time.Now().UnixMilli(), reqCounter.Add(1))
}

// httpDo posts body to url with the client's headers.
func httpDo(ctx context.Context, url string, body []byte, hdr map[string]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	for k, v := range hdr {
		if v == "-" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// genericResp is a decoded GenericResponse.
type genericResp struct {
	OK          bool            `json:"ok"`
	Error       *string         `json:"error"`
	ErrorObject *string         `json:"errorObject"`
	Data        json.RawMessage `json:"data"`
}

// publicErr decodes the PublicError inside errorObject.
func (g genericResp) publicErr(t *testing.T) PublicError {
	t.Helper()
	if g.ErrorObject == nil {
		t.Fatalf("no errorObject in %+v", g)
	}
	var pe PublicError
	if err := json.Unmarshal([]byte(*g.ErrorObject), &pe); err != nil {
		t.Fatalf("errorObject %q is not a PublicError: %v", *g.ErrorObject, err)
	}
	return pe
}

// handshake runs the handshake against a node and returns its data.
func handshake(t *testing.T, url string) handshakeData {
	t.Helper()
	body := []byte(`{"clientPublicKey":"test","challenge":"` + strings.Repeat("ab", 32) + `","epoch":0}`)
	st, b, err := httpDo(context.Background(), url+"/web/handshake/", body, map[string]string{
		"X-Request-Id": newRequestID(), "X-Lit-SDK-Version": "8.0.0-naga-dev", "X-Lit-SDK-Type": "Typescript"})
	if err != nil || st != 200 {
		t.Fatalf("handshake %s: %d %s %v", url, st, b, err)
	}
	var g struct {
		OK   bool          `json:"ok"`
		Data handshakeData `json:"data"`
	}
	if err := json.Unmarshal(b, &g); err != nil || !g.OK {
		t.Fatalf("handshake %s: %s %v", url, b, err)
	}
	return g.Data
}

// client holds handshake results per node URL.
type client struct {
	t    *testing.T
	n    *Network
	keys map[string][32]byte // node URL → identity key
	hash string              // latestBlockhash
}

func newClient(t *testing.T, n *Network) *client {
	c := &client{t: t, n: n}
	c.refresh()
	return c
}

func (c *client) refresh() {
	c.keys = map[string][32]byte{}
	for _, nd := range c.n.Nodes() {
		d := handshake(c.t, nd.URL())
		kb, err := hex.DecodeString(d.NodeIdentityKey)
		if err != nil || len(kb) != 32 {
			c.t.Fatalf("identity key %q", d.NodeIdentityKey)
		}
		c.keys[nd.URL()] = [32]byte(kb)
		c.hash = d.LatestBlockhash
	}
}

// reply is a node's answer: decrypted when it was an envelope.
type reply struct {
	status    int
	encrypted bool
	plain     []byte // the plaintext (decrypted or as sent)
	gen       genericResp
	err       error // transport error
}

// post sends payload to url+path encrypted to the node's identity key.
func (c *client) post(ctx context.Context, url, path, reqID string, payload any) reply {
	c.t.Helper()
	pt, err := json.Marshal(payload)
	if err != nil {
		c.t.Fatal(err)
	}
	jit, err := litnode.NewX25519KeyPair(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	env, err := litnode.E2EESeal(jit, c.keys[url], pt)
	if err != nil {
		c.t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"version": env.Version, "payload": env.Payload, "epoch": c.n.Epoch()})
	st, b, err := httpDo(ctx, url+path, body, map[string]string{"X-Request-Id": reqID})
	if err != nil {
		return reply{err: err}
	}
	r := reply{status: st, plain: b}
	var renv litnode.E2EEEnvelope
	if json.Unmarshal(b, &renv) == nil && renv.Version == "1" {
		p, sender, err := litnode.E2EEDecrypt(jit, renv)
		if err != nil {
			c.t.Fatalf("decrypt the response of %s: %v", url, err)
		}
		if len(p) < minResponsePlaintext {
			c.t.Errorf("response plaintext of %d bytes (< 51)", len(p))
		}
		if want, ok := c.keys[url]; ok && sender != want {
			// Allowed only after a rotation: then the previous key answers.
			c.t.Logf("response from %s encrypted with a key other than the handshake's", url)
		}
		r.encrypted, r.plain = true, p
	}
	if err := json.Unmarshal(r.plain, &r.gen); err != nil {
		c.t.Fatalf("reply of %s is not a GenericResponse: %s", url, r.plain)
	}
	return r
}

// fanOut posts one payload per node in parallel and returns the replies in
// order.
func (c *client) fanOut(ctx context.Context, urls []string, path, reqID string, payload func(url string) any) []reply {
	out := make([]reply, len(urls))
	done := make(chan struct{})
	for i, u := range urls {
		go func() {
			defer func() { done <- struct{}{} }()
			out[i] = c.post(ctx, u, path, reqID, payload(u))
		}()
	}
	for range urls {
		<-done
	}
	return out
}

func nodeSet(urls []string) []nodeSetEntry {
	var out []nodeSetEntry
	for _, u := range urls {
		out = append(out, nodeSetEntry{SocketAddress: strings.TrimPrefix(u, "http://"), Value: 1})
	}
	return out
}

// eoaAuthSig signs a SIWE message with an EOA key (EIP-191 personal_sign).
func eoaAuthSig(t *testing.T, key *ecdsa.PrivateKey, siwe string) litnode.AuthSig {
	t.Helper()
	h := litnode.EIP191Hash(siwe)
	sig, err := crypto.Sign(h[:], key)
	if err != nil {
		t.Fatal(err)
	}
	sig[64] += 27
	return litnode.AuthSig{Sig: "0x" + hex.EncodeToString(sig), DerivedVia: litnode.DerivedViaWallet,
		SignedMessage: siwe, Address: crypto.PubkeyToAddress(key.PublicKey).Hex()}
}

// ethWalletAuthMethod makes the EthWallet auth method of an EOA.
func ethWalletAuthMethod(t *testing.T, key *ecdsa.PrivateKey, now time.Time) authMethodWire {
	t.Helper()
	m := &litnode.SIWEMessage{Domain: "localhost", Address: crypto.PubkeyToAddress(key.PublicKey).Hex(),
		Statement: "Sign in to the devnet.", URI: "https://localhost/login", Version: "1", ChainID: 1,
		Nonce: "abcdef0123456789", IssuedAt: litnode.FormatJSTime(now), ExpirationTime: litnode.FormatJSTime(now.Add(10 * time.Minute))}
	a := eoaAuthSig(t, key, m.String())
	tok, _ := json.Marshal(a)
	return authMethodWire{AuthMethodType: 1, AccessToken: string(tok)}
}

// clientSIWE builds the SIWE a client sends to sign_session_key (docs/naga-auth.md §3.3).
func clientSIWE(pkp DevPKP, sk *litnode.SessionKey, nonce string, now, exp time.Time, reqs []litnode.ResourceAbilityRequest) string {
	m := &litnode.SIWEMessage{Domain: "localhost", Address: pkp.EthAddress.Hex(), Statement: "Lit Protocol PKP session signature",
		URI: sk.URI(), Version: "1", ChainID: 1, Nonce: nonce, IssuedAt: litnode.FormatJSTime(now),
		ExpirationTime: litnode.FormatJSTime(exp)}
	litnode.AddRecapToSIWE(m, litnode.RecapFromRequests(reqs))
	return m.String()
}

var pkpSigningAll = []litnode.ResourceAbilityRequest{{Resource: litnode.LitResource{ResourcePrefix: "lit-pkp", Resource: "*"}, Ability: litnode.AbilityPKPSigning}}

// ssk is one sign_session_key call.
type ssk struct {
	pkp      DevPKP
	eoa      *ecdsa.PrivateKey
	sk       *litnode.SessionKey
	reqs     []litnode.ResourceAbilityRequest
	exp      time.Time
	maxPrice string
	urls     []string
	siwe     string // overrides the built SIWE
}

func (c *client) signSessionKeyReplies(s ssk) []reply {
	c.t.Helper()
	now := time.Now()
	if s.reqs == nil {
		s.reqs = pkpSigningAll
	}
	if s.exp.IsZero() {
		s.exp = now.Add(time.Hour)
	}
	if s.maxPrice == "" {
		s.maxPrice = "340282366920938463463374607431768211455" // the SDK's decimal 2^128−1
	}
	if s.urls == nil {
		s.urls = c.n.NodeURLs()[:c.n.Threshold()]
	}
	if s.siwe == "" {
		s.siwe = clientSIWE(s.pkp, s.sk, c.hash, now, s.exp, s.reqs)
	}
	am := ethWalletAuthMethod(c.t, s.eoa, now)
	req := map[string]any{
		"sessionKey": s.sk.URI(), "authMethods": []authMethodWire{am}, "pkpPublicKey": s.pkp.PublicKey.Hex(),
		"siweMessage": s.siwe, "curveType": "BLS", "signingScheme": "BLS", "epoch": c.n.Epoch(), "nodeSet": nodeSet(s.urls),
		"maxPrice": s.maxPrice, "pkpKeySetId": "naga-keyset1",
	}
	return c.fanOut(context.Background(), s.urls, "/web/sign_session_key/v2", newRequestID(), func(string) any { return req })
}

// delegate runs sign_session_key and combines the BLS shares into the
// lit.bls delegation AuthSig, verified against the network key.
func (c *client) delegate(s ssk) litnode.AuthSig {
	c.t.Helper()
	replies := c.signSessionKeyReplies(s)
	var shares []litnode.BLSShare
	var text, dataSigned string
	for i, r := range replies {
		if r.err != nil || r.status != 200 || !r.gen.OK {
			c.t.Fatalf("sign_session_key node %d: %d %s %v", i, r.status, r.plain, r.err)
		}
		var d signSessionKeyResponse
		if err := json.Unmarshal(r.gen.Data, &d); err != nil {
			c.t.Fatal(err)
		}
		sh, err := litnode.ParseBLSShareJSON(d.SignatureShare)
		if err != nil {
			c.t.Fatalf("share %d: %v", i, err)
		}
		if text != "" && d.SIWEMessage != text {
			c.t.Fatalf("nodes rebuilt different SIWE messages:\n%s\n%s", text, d.SIWEMessage)
		}
		text, dataSigned = d.SIWEMessage, d.DataSigned
		if d.BLSRootPubkey != c.n.NetworkPublicKey().Hex() || d.CurveType != "BLS" || d.Result != "success" {
			c.t.Fatalf("response fields %+v", d)
		}
		shares = append(shares, sh)
	}
	sig, err := litnode.CombineBLSShares(shares)
	if err != nil {
		c.t.Fatal(err)
	}
	m := litnode.BLSSessionMessage(text)
	if hex.EncodeToString(m[:]) != dataSigned {
		c.t.Fatalf("dataSigned %s is not the session hash of the SIWE", dataSigned)
	}
	if err := litnode.VerifyBLS(c.n.NetworkPublicKey(), m[:], sig); err != nil {
		c.t.Fatalf("combined BLS signature does not verify: %v", err)
	}
	return litnode.AuthSig{Sig: litnode.FormatBLSSigJSON(sig), Algo: litnode.AlgoLitBLS, DerivedVia: litnode.DerivedViaBLS,
		SignedMessage: text, Address: s.pkp.EthAddress.Hex()}
}

// sessionSigs mints per-node session sigs with the given capabilities.
func sessionSigs(t *testing.T, sk *litnode.SessionKey, caps []litnode.AuthSig, urls []string, iat, exp time.Time, maxPrice *big.Int, reqs []litnode.ResourceAbilityRequest) litnode.SessionSigs {
	t.Helper()
	if reqs == nil {
		reqs = pkpSigningAll
	}
	if maxPrice == nil {
		maxPrice = litnode.UnlimitedMaxPrice
	}
	var targets []litnode.Target
	for _, u := range urls {
		targets = append(targets, litnode.Target{URL: u, MaxPrice: maxPrice})
	}
	sigs, err := litnode.MintSessionSigs(litnode.SessionSigRequest{Key: sk, Resources: reqs, Capabilities: caps,
		IssuedAt: iat, Expiration: exp, Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	return sigs
}

// pkpSignReplies sends pkpSign for digest to urls with the given sigs.
func (c *client) pkpSignReplies(ctx context.Context, pkp litnode.PKPPublicKey, digest [32]byte, urls []string, sigs litnode.SessionSigs, reqID string) []reply {
	toSign := make([]int, 32)
	for i, b := range digest {
		toSign[i] = int(b)
	}
	return c.fanOut(ctx, urls, "/web/pkp/sign/v2", reqID, func(u string) any {
		return map[string]any{"toSign": toSign, "signingScheme": "EcdsaK256Sha256", "pubkey": pkp.Hex(),
			"authSig": sigs[u], "nodeSet": nodeSet(urls), "epoch": c.n.Epoch(), "authMethods": []any{}, "keySetId": "naga-keyset1"}
	})
}

// ecdsaShares extracts the shares of successful pkpSign replies.
func ecdsaShares(t *testing.T, replies []reply) []litnode.ECDSAShare {
	t.Helper()
	var out []litnode.ECDSAShare
	for i, r := range replies {
		if r.err != nil || r.status != 200 || !r.gen.OK {
			t.Fatalf("pkpSign node %d: %d %s %v", i, r.status, r.plain, r.err)
		}
		var d pkpSignResponse
		if err := json.Unmarshal(r.gen.Data, &d); err != nil {
			t.Fatal(err)
		}
		if !d.Success || len(d.SignedData) != 32 {
			t.Fatalf("pkpSign data %s", r.gen.Data)
		}
		sh, err := litnode.ParseECDSAShare(d.SignatureShare)
		if err != nil {
			t.Fatalf("share %d: %v (%s)", i, err, d.SignatureShare)
		}
		out = append(out, sh)
	}
	return out
}

// recoverAddr returns the address that signed digest.
func recoverAddr(t *testing.T, sig litnode.ECDSASignature, digest [32]byte) common.Address {
	t.Helper()
	eth := sig.Ethereum()
	eth[64] -= 27
	pub, err := crypto.SigToPub(digest[:], eth[:])
	if err != nil {
		t.Fatal(err)
	}
	return crypto.PubkeyToAddress(*pub)
}

// wantErr checks that every reply is an encrypted error with code/status.
func wantErr(t *testing.T, replies []reply, status int, code string) {
	t.Helper()
	for i, r := range replies {
		if r.err != nil {
			t.Fatalf("node %d: %v", i, r.err)
		}
		if !r.encrypted {
			t.Fatalf("node %d: plain reply %d %s, want an encrypted error", i, r.status, r.plain)
		}
		if r.status != status || r.gen.OK {
			t.Fatalf("node %d: status %d %s, want %d %s", i, r.status, r.plain, status, code)
		}
		pe := r.gen.publicErr(t)
		if pe.ErrorCode != code || pe.Status != status {
			t.Fatalf("node %d: errorCode %q status %d (%s), want %s %d", i, pe.ErrorCode, pe.Status, *r.gen.ErrorObject, code, status)
		}
	}
}

// setup is a network, a client, a PKP, its owner's delegation to a session
// key and the cheapest t nodes.
type setup struct {
	n    *Network
	c    *client
	pkp  DevPKP
	sk   *litnode.SessionKey
	del  litnode.AuthSig
	urls []string
}

func newSetup(t *testing.T, cfg Config) *setup {
	t.Helper()
	n := startNet(t, cfg)
	c := newClient(t, n)
	pkp := n.PKPs()[0]
	sk, err := litnode.GenerateSessionKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	del := c.delegate(ssk{pkp: pkp, eoa: pkp.OwnerKey, sk: sk})
	return &setup{n: n, c: c, pkp: pkp, sk: sk, del: del, urls: n.NodeURLs()[:n.Threshold()]}
}

// sign runs one pkpSign with fresh session sigs from the delegation.
func (s *setup) sign(t *testing.T, digest [32]byte, urls []string) []reply {
	t.Helper()
	now := time.Now()
	sigs := sessionSigs(t, s.sk, []litnode.AuthSig{s.del}, urls, now, now.Add(30*time.Minute), nil, nil)
	return s.c.pkpSignReplies(context.Background(), s.pkp.PublicKey, digest, urls, sigs, newRequestID())
}
