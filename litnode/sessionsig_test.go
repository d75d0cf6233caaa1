package litnode

import (
	"encoding/hex"
	"testing"
	"time"
)

// vectorResources are the delegation's resources in the order the SDK's
// createPkpAuthContextFromPreGenerated derives them (sorted recap keys).
func vectorResources(t testing.TB) []ResourceAbilityRequest {
	t.Helper()
	var out []ResourceAbilityRequest
	for _, r := range vget(t, authVectors(t), "authContextFromPreGenerated", "authConfig", "resources").([]any) {
		m := r.(map[string]any)
		res := m["resource"].(map[string]any)
		out = append(out, ResourceAbilityRequest{
			Resource: LitResource{ResourcePrefix: res["resourcePrefix"].(string), Resource: res["resource"].(string)},
			Ability:  Ability(m["ability"].(string)),
		})
	}
	return out
}

// MintSessionSigs reproduces the SDK's createPkpSessionSigs output byte for
// byte: the signed messages and, ed25519 being deterministic, the signatures.
func TestMintSessionSigsMatchesSDK(t *testing.T) {
	v := authVectors(t)
	key, err := ParseSessionKeyPair(rfc8032Pub, rfc8032Seed)
	if err != nil {
		t.Fatal(err)
	}
	targets, err := SelectCheapest(vectorQuotes(t, int(ProductLitAction)), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The SDK derives resources from the delegation; ours must agree.
	d, err := ParseDelegation(delegationVector(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Resources(), vectorResources(t); len(got) != len(want) {
		t.Fatalf("Delegation.Resources() = %+v, want %+v", got, want)
	} else {
		for i := range got {
			if got[i].Resource != want[i].Resource || got[i].Ability != want[i].Ability {
				t.Errorf("Resources()[%d] = %+v, want %+v", i, got[i], want[i])
			}
		}
	}
	sigs, err := MintSessionSigs(SessionSigRequest{
		Key:          key,
		Resources:    vectorResources(t),
		Capabilities: []AuthSig{delegationVector(t)},
		IssuedAt:     vectorNow,
		Expiration:   d.Expiration,
		Targets:      targets,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := vget(t, v, "pkpSessionSigs", "sessionSigs").(map[string]any)
	if len(sigs) != len(want) {
		t.Fatalf("got %d session sigs, want %d", len(sigs), len(want))
	}
	for url, w := range want {
		wm := w.(map[string]any)
		got, ok := sigs[url]
		if !ok {
			t.Errorf("no session sig for %s", url)
			continue
		}
		for field, g := range map[string]string{"sig": got.Sig, "derivedVia": got.DerivedVia, "signedMessage": got.SignedMessage, "address": got.Address, "algo": got.Algo} {
			if g != wm[field].(string) {
				t.Errorf("%s %s =\n%s\nwant\n%s", url, field, g, wm[field])
			}
		}
	}
}

// A node parses our session sigs back, with the checks it makes.
func TestParseSessionSigMessage(t *testing.T) {
	v := authVectors(t)
	for url, w := range vget(t, v, "pkpSessionSigs", "sessionSigs").(map[string]any) {
		wm := w.(map[string]any)
		m, err := ParseSessionSigMessage(wm["signedMessage"].(string))
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if m.NodeAddress != url || m.SessionKey != rfc8032Pub || len(m.Capabilities) != 1 || len(m.ResourceAbilityRequests) != 3 {
			t.Errorf("%s: parsed %+v", url, m)
		}
		wantMax := vstr(t, v, "pkpSessionSigs", "checks", url, "maxPriceDecimal")
		if m.MaxPrice.String() != wantMax {
			t.Errorf("%s: maxPrice %s, want %s", url, m.MaxPrice, wantMax)
		}
		pub, _ := ParseSessionPublicKey(wm["address"].(string))
		sig, _ := hex.DecodeString(wm["sig"].(string))
		if !pub.Verify([]byte(wm["signedMessage"].(string)), sig) {
			t.Errorf("%s: SDK signature does not verify", url)
		}
	}
	for _, bad := range []string{
		`{}`,
		`{"sessionKey":"a","resourceAbilityRequests":[],"capabilities":[],"issuedAt":"x","expiration":"y","nodeAddress":"z"}`,
		`{"sessionKey":"a","resourceAbilityRequests":[],"capabilities":[],"issuedAt":"x","expiration":"y","nodeAddress":"z","maxPrice":"0xzz"}`,
		`not json`,
	} {
		if _, err := ParseSessionSigMessage(bad); err == nil {
			t.Errorf("ParseSessionSigMessage(%s) accepted", bad)
		}
	}
	// Decimal maxPrice is accepted as the node's U256 serde does.
	ok := `{"sessionKey":"a","resourceAbilityRequests":[],"capabilities":[],"issuedAt":"x","expiration":"y","nodeAddress":"z","maxPrice":"1000"}`
	if m, err := ParseSessionSigMessage(ok); err != nil || m.MaxPrice.Int64() != 1000 {
		t.Errorf("decimal maxPrice: %v, %v", m.MaxPrice, err)
	}
}

func TestMintSessionSigsErrors(t *testing.T) {
	key, _ := GenerateSessionKey(nil)
	base := SessionSigRequest{Key: key, Capabilities: []AuthSig{delegationVector(t)}, IssuedAt: vectorNow, Expiration: vectorNow.Add(time.Minute),
		Targets: []Target{{URL: "http://127.0.0.1:1", MaxPrice: UnlimitedMaxPrice}}}
	for name, mut := range map[string]func(r *SessionSigRequest){
		"no key":                     func(r *SessionSigRequest) { r.Key = nil },
		"no capabilities":            func(r *SessionSigRequest) { r.Capabilities = nil },
		"no targets":                 func(r *SessionSigRequest) { r.Targets = nil },
		"expiration before issuedAt": func(r *SessionSigRequest) { r.Expiration = vectorNow.Add(-time.Second) },
		"no max price":               func(r *SessionSigRequest) { r.Targets = []Target{{URL: "x"}} },
	} {
		r := base
		mut(&r)
		if _, err := MintSessionSigs(r); err == nil {
			t.Errorf("%s: MintSessionSigs accepted", name)
		}
	}
}

func BenchmarkMintSessionSigs3Nodes(b *testing.B) {
	key, _ := GenerateSessionKey(nil)
	req := SessionSigRequest{Key: key, Resources: vectorResources(b), Capabilities: []AuthSig{delegationVector(b)},
		IssuedAt: vectorNow, Expiration: vectorNow.Add(2 * time.Minute),
		Targets: []Target{{"https://1.2.3.4:443", UnlimitedMaxPrice}, {"https://1.2.3.5:443", UnlimitedMaxPrice}, {"https://1.2.3.6:443", UnlimitedMaxPrice}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MintSessionSigs(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyDelegation(b *testing.B) {
	a := delegationVector(b)
	opts := VerifyOptions{NetworkKey: vectorNetworkKey(b), SessionKey: vectorSessionPub(b), PKP: vectorPKP(b), Now: vectorNow}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(a, opts); err != nil {
			b.Fatal(err)
		}
	}
}
