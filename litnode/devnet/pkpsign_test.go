package devnet

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/litsignd/litsignd/litnode"
)

func TestPKPSignCombines(t *testing.T) {
	s := newSetup(t, Config{})
	digest := [32]byte(crypto.Keccak256([]byte("hello devnet")))
	all := s.n.NodeURLs()
	for _, urls := range [][]string{s.urls, all[1:], all} {
		shares := ecdsaShares(t, s.sign(t, digest, urls))
		sig, err := litnode.CombineECDSAShares(shares)
		if err != nil {
			t.Fatalf("combine over %v: %v", urls, err)
		}
		if got := recoverAddr(t, sig, digest); got != s.pkp.EthAddress {
			t.Fatalf("signature recovers to %s, want %s", got, s.pkp.EthAddress)
		}
		rs := sig.RS()
		if !crypto.VerifySignature(s.pkp.PublicKey[:], digest[:], rs[:]) {
			t.Fatal("signature does not verify")
		}
	}
	// Every node logged the decrypted request with its X-Request-Id.
	reqs := s.n.Nodes()[0].Requests()
	last := reqs[len(reqs)-1]
	if last.Path != "/web/pkp/sign/v2" || last.Status != 200 || last.RequestID == "" || !strings.Contains(string(last.Body), `"signingScheme":"EcdsaK256Sha256"`) {
		t.Fatalf("request log entry %+v", last)
	}
	s.n.Nodes()[0].ResetRequests()
	if len(s.n.Nodes()[0].Requests()) != 0 {
		t.Fatal("ResetRequests")
	}
}

func TestPKPSignConcurrent(t *testing.T) {
	s := newSetup(t, Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			digest := [32]byte(crypto.Keccak256([]byte{byte(i)}))
			shares := ecdsaShares(t, s.sign(t, digest, s.urls))
			sig, err := litnode.CombineECDSAShares(shares)
			if err != nil {
				errs <- err
				return
			}
			if recoverAddr(t, sig, digest) != s.pkp.EthAddress {
				errs <- errors.New("wrong signer")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPKPSignRejections(t *testing.T) {
	s := newSetup(t, Config{})
	digest := [32]byte(crypto.Keccak256([]byte("x")))
	now := time.Now()
	ctx := context.Background()
	send := func(sigs litnode.SessionSigs, pkp litnode.PKPPublicKey) []reply {
		return s.c.pkpSignReplies(ctx, pkp, digest, s.urls, sigs, newRequestID())
	}
	caps := []litnode.AuthSig{s.del}

	t.Run("expired session sig", func(t *testing.T) {
		sigs := sessionSigs(t, s.sk, caps, s.urls, now.Add(-time.Hour), now.Add(-2*time.Minute), nil, nil)
		wantErr(t, send(sigs, s.pkp.PublicKey), 403, CodeExpWrongOrTooLarge)
	})
	t.Run("issuedAt in the future", func(t *testing.T) {
		sigs := sessionSigs(t, s.sk, caps, s.urls, now.Add(5*time.Minute), now.Add(10*time.Minute), nil, nil)
		wantErr(t, send(sigs, s.pkp.PublicKey), 403, CodeIatOutsideGracePeriod)
	})
	t.Run("nodeAddress of another node", func(t *testing.T) {
		sigs := sessionSigs(t, s.sk, caps, s.urls, now, now.Add(time.Hour), nil, nil)
		sigs[s.urls[0]], sigs[s.urls[1]] = sigs[s.urls[1]], sigs[s.urls[0]]
		r := send(sigs, s.pkp.PublicKey)
		wantErr(t, r[:2], 403, CodeNotAuthorized)
		if pe := r[0].gen.publicErr(t); *r[0].gen.Error != "invalid user address" || pe.Details[0] != "Invalid AuthSig" || pe.CorrelationID == "" {
			t.Fatalf("error %q %+v", *r[0].gen.Error, pe)
		}
	})
	t.Run("localhost nodeAddress is accepted", func(t *testing.T) {
		var urls []string
		for _, u := range s.urls {
			urls = append(urls, strings.Replace(u, "127.0.0.1", "localhost", 1))
		}
		sigs := sessionSigs(t, s.sk, caps, urls, now, now.Add(time.Hour), nil, nil)
		for i, u := range urls {
			sigs[s.urls[i]] = sigs[u]
		}
		ecdsaShares(t, send(sigs, s.pkp.PublicKey))
	})
	t.Run("altered signed bytes", func(t *testing.T) {
		sigs := sessionSigs(t, s.sk, caps, s.urls, now, now.Add(time.Hour), nil, nil)
		for u, a := range sigs {
			a.SignedMessage = strings.Replace(a.SignedMessage, `"maxPrice":"0x`, `"maxPrice":"0x1`, 1)
			sigs[u] = a
		}
		wantErr(t, send(sigs, s.pkp.PublicKey), 400, CodeInvalidAuthSigSessionKeySignature)
	})
	t.Run("delegation for another session key", func(t *testing.T) {
		other, _ := litnode.GenerateSessionKey(nil)
		sigs := sessionSigs(t, other, caps, s.urls, now, now.Add(time.Hour), nil, nil)
		wantErr(t, send(sigs, s.pkp.PublicKey), 400, CodeSIWECapabilityInvalid)
	})
	t.Run("delegation without Threshold/Signing", func(t *testing.T) {
		la := []litnode.ResourceAbilityRequest{{Resource: litnode.LitResource{ResourcePrefix: "lit-litaction", Resource: "*"}, Ability: litnode.AbilityLitActionExecution}}
		del := s.c.delegate(ssk{pkp: s.pkp, eoa: s.pkp.OwnerKey, sk: s.sk, reqs: la})
		sigs := sessionSigs(t, s.sk, []litnode.AuthSig{del}, s.urls, now, now.Add(time.Hour), nil, nil)
		r := send(sigs, s.pkp.PublicKey)
		wantErr(t, r, 400, CodeSIWECapabilityInvalid)
		if pe := r[0].gen.publicErr(t); !strings.Contains(strings.Join(pe.Details, "|"), "Unable to verify any of the SIWE capability objects") {
			t.Fatalf("details %v", pe.Details)
		}
	})
	t.Run("delegation for another PKP only", func(t *testing.T) {
		other := s.n.PKPs()[1]
		only := []litnode.ResourceAbilityRequest{{Resource: litnode.LitResource{ResourcePrefix: "lit-pkp", Resource: other.PublicKey.TokenID()}, Ability: litnode.AbilityPKPSigning}}
		del := s.c.delegate(ssk{pkp: s.pkp, eoa: s.pkp.OwnerKey, sk: s.sk, reqs: only})
		sigs := sessionSigs(t, s.sk, []litnode.AuthSig{del}, s.urls, now, now.Add(time.Hour), nil, nil)
		wantErr(t, send(sigs, s.pkp.PublicKey), 400, CodeSIWECapabilityInvalid)
	})
	t.Run("session resource for another PKP", func(t *testing.T) {
		other := s.n.PKPs()[1]
		reqs := []litnode.ResourceAbilityRequest{{Resource: litnode.LitResource{ResourcePrefix: "lit-pkp", Resource: other.PublicKey.TokenID()}, Ability: litnode.AbilityPKPSigning}}
		sigs := sessionSigs(t, s.sk, caps, s.urls, now, now.Add(time.Hour), nil, reqs)
		wantErr(t, send(sigs, s.pkp.PublicKey), 404, CodeResourceIDNotFound)
	})
	t.Run("PKP not owned by the delegating EOA", func(t *testing.T) {
		// The delegation's auth context names PKP 0's owner; signing with
		// PKP 1 (lit-pkp://* grants it) fails check_pkp_auth.
		wantErr(t, send(sessionSigs(t, s.sk, caps, s.urls, now, now.Add(time.Hour), nil, nil), s.n.PKPs()[1].PublicKey), 401, CodePKPNotAuthorized)
	})
	t.Run("max price below the price", func(t *testing.T) {
		s.n.SetPrice(litnode.ProductSign, big.NewInt(1000))
		defer s.n.SetPrice(litnode.ProductSign, defaultPrice)
		sigs := sessionSigs(t, s.sk, caps, s.urls, now, now.Add(time.Hour), big.NewInt(999), nil)
		r := send(sigs, s.pkp.PublicKey)
		wantErr(t, r, 402, CodePaymentFailed)
		if *r[0].gen.Error != "can't get payment method" {
			t.Fatalf("error %q", *r[0].gen.Error)
		}
		sigs = sessionSigs(t, s.sk, caps, s.urls, now, now.Add(time.Hour), big.NewInt(1000), nil)
		ecdsaShares(t, send(sigs, s.pkp.PublicKey))
	})
	t.Run("payment none", func(t *testing.T) {
		defer s.n.SetPayment(s.pkp.EthAddress, PaymentUnlimited)
		defer s.n.SetPayment(s.pkp.OwnerAddress, PaymentUnlimited)
		sigs := func() litnode.SessionSigs {
			return sessionSigs(t, s.sk, caps, s.urls, now, now.Add(time.Hour), nil, nil)
		}
		s.n.SetPayment(s.pkp.EthAddress, PaymentNone)
		ecdsaShares(t, send(sigs(), s.pkp.PublicKey)) // the PKP owner pays (docs/naga-wire.md §10.2)
		s.n.SetPayment(s.pkp.OwnerAddress, PaymentNone)
		r := send(sigs(), s.pkp.PublicKey)
		wantErr(t, r, 402, CodePaymentFailed)
		if pe := r[0].gen.publicErr(t); pe.Message != "Payment failed" || !strings.Contains(pe.Details[0], "Self failed to pay") {
			t.Fatalf("payment error %+v", pe)
		}
	})
	t.Run("payment balance", func(t *testing.T) {
		defer s.n.SetPayment(s.pkp.EthAddress, PaymentUnlimited)
		defer s.n.SetPayment(s.pkp.OwnerAddress, PaymentUnlimited)
		price := s.n.Price(litnode.ProductSign)
		s.n.SetPayment(s.pkp.OwnerAddress, PaymentNone)
		// Each node needs threshold × price and charges its price: 5 prices
		// pay one request (3 charged), not a second (2 left < 3 needed).
		s.n.SetPayment(s.pkp.EthAddress, PaymentBalance(new(big.Int).Mul(price, big.NewInt(5))))
		ecdsaShares(t, send(sessionSigs(t, s.sk, caps, s.urls, now, now.Add(time.Hour), nil, nil), s.pkp.PublicKey))
		if left := s.n.Payment(s.pkp.EthAddress); left.String() != PaymentBalance(new(big.Int).Mul(price, big.NewInt(2))).String() {
			t.Fatalf("balance after 3 nodes charged: %s", left)
		}
		wantErr(t, send(sessionSigs(t, s.sk, caps, s.urls, now, now.Add(time.Hour), nil, nil), s.pkp.PublicKey), 402, CodePaymentFailed)
	})
	t.Run("EOA capability", func(t *testing.T) {
		// An EOA SIWE with a ReCap, signed by the owner, is a capability too;
		// the EOA must own the PKP.
		owner := s.pkp.OwnerKey
		m := &litnode.SIWEMessage{Domain: "localhost", Address: s.pkp.OwnerAddress.Hex(), Statement: "EOA session.", URI: s.sk.URI(),
			Version: "1", ChainID: 1, Nonce: "0123456789abcdef", IssuedAt: litnode.FormatJSTime(now), ExpirationTime: litnode.FormatJSTime(now.Add(time.Hour))}
		litnode.AddRecapToSIWE(m, litnode.RecapFromRequests(pkpSigningAll))
		eoa := eoaAuthSig(t, owner, m.String())
		ecdsaShares(t, send(sessionSigs(t, s.sk, []litnode.AuthSig{eoa}, s.urls, now, now.Add(time.Hour), nil, nil), s.pkp.PublicKey))
		wantErr(t, send(sessionSigs(t, s.sk, []litnode.AuthSig{eoa}, s.urls, now, now.Add(time.Hour), nil, nil), s.n.PKPs()[1].PublicKey), 401, CodePKPNotAuthorized)
	})
	t.Run("bad input", func(t *testing.T) {
		sigs := sessionSigs(t, s.sk, caps, s.urls, now, now.Add(time.Hour), nil, nil)
		r := s.c.post(ctx, s.urls[0], "/web/pkp/sign/v2", newRequestID(), map[string]any{"toSign": []int{1, 999}, "signingScheme": "EcdsaK256Sha256",
			"pubkey": s.pkp.PublicKey.Hex(), "authSig": sigs[s.urls[0]], "nodeSet": nodeSet(s.urls)})
		wantErr(t, []reply{r}, 422, CodeBadInput)
		r = s.c.post(ctx, s.urls[0], "/web/pkp/sign/v2", newRequestID(), map[string]any{"toSign": []int{1, 2}, "signingScheme": "EcdsaK256Sha256",
			"pubkey": s.pkp.PublicKey.Hex(), "authSig": sigs[s.urls[0]], "nodeSet": nodeSet(s.urls)})
		if r.status != 500 || !strings.Contains(*r.gen.Error, "not 32 bytes") {
			t.Fatalf("short toSign: %d %s", r.status, r.plain)
		}
		r = s.c.post(ctx, s.urls[0], "/web/pkp/sign/v2", newRequestID(), map[string]any{"toSign": make([]int, 32), "signingScheme": "EcdsaK256Sha256",
			"pubkey": s.pkp.PublicKey.Hex(), "authSig": sigs[s.urls[0]], "nodeSet": nodeSet(s.urls[:2])})
		if r.status != 400 || !strings.Contains(*r.gen.ErrorObject, "key threshold") {
			t.Fatalf("small node set: %d %s", r.status, r.plain)
		}
		r = s.c.post(ctx, s.urls[0], "/web/pkp/sign/v2", newRequestID(), map[string]any{"toSign": make([]int, 32), "signingScheme": "SchnorrEd25519Sha512",
			"pubkey": s.pkp.PublicKey.Hex(), "authSig": sigs[s.urls[0]], "nodeSet": nodeSet(s.urls)})
		if r.status != 400 || !strings.Contains(*r.gen.ErrorObject, "not supported by the devnet") {
			t.Fatalf("scheme: %d %s", r.status, r.plain)
		}
		r = s.c.post(ctx, s.urls[0], "/web/pkp/sign/v2", newRequestID(), map[string]any{"toSign": make([]int, 32), "signingScheme": "EcdsaK256Sha256",
			"pubkey": "0x0412", "authSig": sigs[s.urls[0]], "nodeSet": nodeSet(s.urls)})
		if r.status != 400 || *r.gen.Error != "Invalid pubkey length. Expected 65 bytes" {
			t.Fatalf("pubkey: %d %s", r.status, r.plain)
		}
	})
}

// TestSessionSigEd25519Strict covers docs/naga-auth.md §6 step 1: address and sig
// conversions, and verify_strict's small-order rejection.
func TestSessionSigEd25519Strict(t *testing.T) {
	s := newSetup(t, Config{})
	now := time.Now()
	sigs := sessionSigs(t, s.sk, []litnode.AuthSig{s.del}, s.urls, now, now.Add(time.Hour), nil, nil)
	nd := s.n.Nodes()[0]
	req := authRequest{prefix: "lit-pkp", id: s.pkp.PublicKey.TokenID(), ability: "Threshold/Signing"}
	good := sigs[nd.URL()]
	if _, err := nd.verifySessionSig(good, req, now); err != nil {
		t.Fatalf("good sig: %+v", err)
	}
	mut := func(f func(a *litnode.AuthSig)) *apiError {
		a := good
		f(&a)
		_, err := nd.verifySessionSig(a, req, now)
		return err
	}
	cases := []struct {
		name string
		f    func(a *litnode.AuthSig)
		code string
	}{
		{"address not hex", func(a *litnode.AuthSig) { a.Address = "zz" }, CodeAuthSigAddressConversionError},
		// 0x is accepted for the key, but then the capability's URI no
		// longer equals "lit:session:" + address (docs/naga-auth.md §6 step 6b).
		{"address with 0x", func(a *litnode.AuthSig) { a.Address = "0x" + a.Address }, CodeSIWECapabilityInvalid},
		{"address not a point", func(a *litnode.AuthSig) { a.Address = notAPoint(t) }, CodeAuthSigSessionKeyConversionError},
		{"sig short", func(a *litnode.AuthSig) { a.Sig = a.Sig[:126] }, CodeAuthSigSignatureConversionError},
		{"small-order key", func(a *litnode.AuthSig) {
			a.Address = "01" + strings.Repeat("00", 31)                        // the identity point
			a.Sig = "01" + strings.Repeat("00", 31) + strings.Repeat("00", 32) // R = identity, S = 0
		}, CodeInvalidAuthSigSessionKeySignature},
		{"non-canonical S", func(a *litnode.AuthSig) {
			sig, _ := hex.DecodeString(a.Sig)
			// S + L: same point equation, non-canonical scalar.
			sv := new(big.Int).SetBytes(reverse(sig[32:]))
			l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
			sv.Add(sv, l)
			b := sv.FillBytes(make([]byte, 32))
			copy(sig[32:], reverse(b))
			a.Sig = hex.EncodeToString(sig)
		}, CodeInvalidAuthSigSessionKeySignature},
		{"wrong kind", func(a *litnode.AuthSig) { a.Algo = "" }, CodeInvalidAuthSig},
		{"signed message not JSON", func(a *litnode.AuthSig) {
			k, _ := litnode.GenerateSessionKey(nil)
			a.SignedMessage = "not json"
			a.Address = k.PublicKey().Hex()
			a.Sig = hex.EncodeToString(k.Sign([]byte(a.SignedMessage)))
		}, CodeAuthSigSignedMessageConversion},
	}
	for _, tc := range cases {
		err := mut(tc.f)
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("%s: %+v", tc.name, err)
		case tc.code != "" && (err == nil || err.code != tc.code):
			t.Errorf("%s: got %+v, want %s", tc.name, err, tc.code)
		}
	}
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}

// notAPoint returns the hex of a 32-byte string that is no edwards25519 point.
func notAPoint(t *testing.T) string {
	t.Helper()
	for y := byte(2); y < 255; y++ {
		enc := make([]byte, 32)
		enc[0] = y
		if !edDecompresses(enc) {
			return hex.EncodeToString(enc)
		}
	}
	t.Fatal("no invalid encoding found")
	return ""
}

func TestEdSmallOrder(t *testing.T) {
	// libsodium's blocklist of small-order encodings (canonical forms plus
	// y = p, p+1), each with either sign bit.
	list := []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	}
	for _, h := range list {
		b, _ := hex.DecodeString(h)
		for _, sign := range []byte{0, 0x80} {
			c := append([]byte(nil), b...)
			c[31] |= sign
			if !edSmallOrder(c) {
				t.Errorf("%x not flagged small-order", c)
			}
			if !edDecompresses(c) {
				t.Errorf("%x does not decompress", c)
			}
		}
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	if edSmallOrder(pub) || !edDecompresses(pub) {
		t.Error("a random key is flagged")
	}
}

func TestNodeSetAndValidators(t *testing.T) {
	s := newSetup(t, Config{})
	digest := [32]byte(crypto.Keccak256([]byte("set")))
	all := s.n.NodeURLs()
	s.n.RemoveValidator(3)
	if got := s.n.NodeURLs(); len(got) != 3 {
		t.Fatalf("NodeURLs after removal: %v", got)
	}
	// The chain lists 3 validators.
	cr, closeFn, err := litnode.DialChain(context.Background(), s.n.NetworkConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	vs, err := cr.ValidatorSet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if urls := vs.URLs(); len(urls) != 3 || vs.MinNodeCount != 3 {
		t.Fatalf("validator set %v (minNodeCount %d)", urls, vs.MinNodeCount)
	}
	// A nodeSet naming the removed node is refused, and the removed node
	// refuses to sign; the handshake still works.
	r := s.sign(t, digest, []string{all[0], all[1], all[3]})
	if r[0].status != 400 || r[2].status != 500 {
		t.Fatalf("removed node in set: %d %s / %d %s", r[0].status, r[0].plain, r[2].status, r[2].plain)
	}
	handshake(t, all[3])
	s.n.AddValidator(3)
	sig, err := litnode.CombineECDSAShares(ecdsaShares(t, s.sign(t, digest, []string{all[0], all[1], all[3]})))
	if err != nil || recoverAddr(t, sig, digest) != s.pkp.EthAddress {
		t.Fatalf("after AddValidator: %v", err)
	}
}

func TestMintAndPermit(t *testing.T) {
	s := newSetup(t, Config{PKPs: 1})
	owner := s.n.PKPs()[0].OwnerAddress
	p, err := s.n.MintPKP(owner)
	if err != nil || p.OwnerKey != nil || p.OwnerAddress != owner {
		t.Fatalf("MintPKP: %+v %v", p, err)
	}
	digest := [32]byte(crypto.Keccak256([]byte("minted")))
	now := time.Now()
	sigs := sessionSigs(t, s.sk, []litnode.AuthSig{s.del}, s.urls, now, now.Add(time.Hour), nil, nil)
	// The delegation's auth context names owner, who owns the new PKP too.
	sig, err := litnode.CombineECDSAShares(ecdsaShares(t, s.c.pkpSignReplies(context.Background(), p.PublicKey, digest, s.urls, sigs, newRequestID())))
	if err != nil || recoverAddr(t, sig, digest) != p.EthAddress {
		t.Fatalf("sign with minted PKP: %v", err)
	}
	if err := s.n.PermitAddress(litnode.PKPPublicKey{}, owner); err == nil {
		t.Fatal("PermitAddress on an unknown PKP")
	}
	var d Description
	if err := json.Unmarshal(mustMarshal(s.n.Description()), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.PKPs) != 2 || d.PKPs[1].OwnerPrivateKey != "" || len(d.PKPs[0].OwnerPrivateKey) != 66 ||
		len(d.Network.NetworkPublicKey) != 96 || d.Network.Threshold != 3 || len(d.Network.Nodes) != 4 || d.Network.RPCURL != s.n.RPCURL() {
		t.Fatalf("description %s", mustMarshal(d))
	}
}
