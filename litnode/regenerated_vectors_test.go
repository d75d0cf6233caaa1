package litnode

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"
)

// regenVectorsEnv names a lit-auth-vectors.json regenerated from the
// installed npm SDK (interop/ `npm test` sets it). The other vector tests
// read the checked-in copy in testdata/; this one checks the Go code against
// whatever the SDK produces today, so an SDK upgrade that changes the wire
// format is caught.
const regenVectorsEnv = "LITSIGND_REGENERATED_VECTORS"

// regenVectors is the part of the vector file these checks use.
type regenVectors struct {
	FrozenNow  string `json:"frozenNow"`
	Identities struct {
		PKPPublicKey             string `json:"pkpPublicKey"`
		PKPTokenIDHex            string `json:"pkpTokenIdHex"`
		BLSNetworkPublicKeyG1Hex string `json:"blsNetworkPublicKeyG1Hex"`
	} `json:"identities"`
	SessionKeyPairShape struct {
		Sample struct {
			PublicKey string `json:"publicKey"`
			SecretKey string `json:"secretKey"`
		} `json:"sample"`
		SecretKeyIsSeed bool `json:"secretKeyIsSeed"`
	} `json:"sessionKeyPairShape"`
	SessionKeyPair struct {
		PublicKey string `json:"publicKey"`
		SecretKey string `json:"secretKey"`
	} `json:"sessionKeyPair"`
	ResourceShorthand struct {
		Cases []struct {
			Ability        string `json:"ability"`
			ResourcePrefix string `json:"resourcePrefix"`
			Resource       string `json:"resource"`
			ResourceKey    string `json:"resourceKey"`
			Recap          struct {
				Namespace string `json:"recapNamespace"`
				Ability   string `json:"recapAbility"`
			} `json:"recap"`
		} `json:"cases"`
	} `json:"resourceShorthand"`
	SignSessionKeyRequest struct {
		Inputs struct {
			Shorthand  [][2]string `json:"shorthand"`
			Expiration string      `json:"expiration"`
			Nonce      string      `json:"nonce"`
			Threshold  int         `json:"threshold"`
			NodePrices []struct {
				URL    string   `json:"url"`
				Prices []string `json:"prices"`
			} `json:"nodePrices"`
		} `json:"inputs"`
		ClientSIWEMessage string `json:"clientSiweMessage"`
	} `json:"signSessionKeyRequest"`
	DelegationAuthSig struct {
		AuthSig AuthSig `json:"authSig"`
	} `json:"delegationAuthSig"`
	ValidateDelegationAuthSig struct {
		Cases []struct {
			Label string `json:"label"`
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		} `json:"cases"`
	} `json:"validateDelegationAuthSig"`
	AuthContextFromPreGenerated struct {
		AuthConfig struct {
			Expiration string                   `json:"expiration"`
			Resources  []ResourceAbilityRequest `json:"resources"`
		} `json:"authConfig"`
		ErrorWhenNoResolvedAuthContext string `json:"errorWhenNoResolvedAuthContext"`
	} `json:"authContextFromPreGenerated"`
	PKPSessionSigs struct {
		SessionSigs map[string]AuthSig `json:"sessionSigs"`
	} `json:"pkpSessionSigs"`
	PKPSessionSigsPriced struct {
		MaxPrices map[string]string `json:"maxPrices"`
	} `json:"pkpSessionSigsPriced"`
}

func loadRegenVectors(t *testing.T) (*regenVectors, time.Time) {
	t.Helper()
	path := os.Getenv(regenVectorsEnv)
	if path == "" {
		t.Skipf("%s is not set: interop/ `npm test` regenerates the vectors from the npm SDK and runs this test on them", regenVectorsEnv)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v regenVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	now, err := time.Parse(time.RFC3339Nano, v.FrozenNow)
	if err != nil {
		t.Fatalf("frozenNow: %v", err)
	}
	return &v, now
}

// regenQuotes returns the vector nodes' prices for product.
func (v *regenVectors) quotes(t *testing.T, product Product) []NodeQuote {
	t.Helper()
	var qs []NodeQuote
	for _, n := range v.SignSessionKeyRequest.Inputs.NodePrices {
		p, ok := new(big.Int).SetString(n.Prices[product], 10)
		if !ok {
			t.Fatalf("price %q", n.Prices[product])
		}
		qs = append(qs, NodeQuote{URL: n.URL, Price: p})
	}
	return qs
}

func TestRegeneratedVectors(t *testing.T) {
	v, now := loadRegenVectors(t)

	t.Run("sessionKeyPairShape", func(t *testing.T) {
		// The SDK's random pair is a 32-byte seed and its public key.
		if !v.SessionKeyPairShape.SecretKeyIsSeed {
			t.Fatal("the SDK's secretKey is no longer the 32-byte seed")
		}
		s := v.SessionKeyPairShape.Sample
		if _, err := ParseSessionKeyPair(s.PublicKey, s.SecretKey); err != nil {
			t.Errorf("ParseSessionKeyPair(SDK sample) = %v", err)
		}
	})

	t.Run("resourceShorthand", func(t *testing.T) {
		if len(v.ResourceShorthand.Cases) == 0 {
			t.Fatal("no cases")
		}
		for _, c := range v.ResourceShorthand.Cases {
			in := c.Ability + ":" + c.Resource
			got, err := ParseResourceShorthand(in)
			if err != nil || len(got) != 1 {
				t.Errorf("ParseResourceShorthand(%q) = %v, %v", in, got, err)
				continue
			}
			r := got[0]
			if r.Resource.ResourcePrefix != c.ResourcePrefix || r.Resource.Resource != c.Resource || r.Resource.Key() != c.ResourceKey {
				t.Errorf("%q: got %+v (key %s), SDK %s %s %s", in, r.Resource, r.Resource.Key(), c.ResourcePrefix, c.Resource, c.ResourceKey)
			}
			if ns, name := r.Ability.RecapAbility(); ns != c.Recap.Namespace || name != c.Recap.Ability {
				t.Errorf("%q: recap %s/%s, SDK %s/%s", in, ns, name, c.Recap.Namespace, c.Recap.Ability)
			}
		}
	})

	pkp, err := ParsePKPPublicKey(v.Identities.PKPPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParseSessionKeyPair(v.SessionKeyPair.PublicKey, v.SessionKeyPair.SecretKey)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("clientSIWE", func(t *testing.T) {
		in := v.SignSessionKeyRequest.Inputs
		var parts []string
		for _, s := range in.Shorthand {
			parts = append(parts, s[0]+":"+s[1])
		}
		reqs, err := ParseResourceShorthand(strings.Join(parts, ","))
		if err != nil {
			t.Fatal(err)
		}
		exp, err := time.Parse(time.RFC3339Nano, in.Expiration)
		if err != nil {
			t.Fatal(err)
		}
		got := ClientSIWE(pkp, key.PublicKey(), reqs, "", "", in.Nonce, now, exp).String()
		if got != v.SignSessionKeyRequest.ClientSIWEMessage {
			t.Errorf("ClientSIWE =\n%s\nSDK\n%s", got, v.SignSessionKeyRequest.ClientSIWEMessage)
		}
	})

	a := v.DelegationAuthSig.AuthSig
	t.Run("delegationVerifies", func(t *testing.T) {
		nk, err := ParseBLSPublicKey(v.Identities.BLSNetworkPublicKeyG1Hex)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(a, VerifyOptions{NetworkKey: nk, SessionKey: key.PublicKey(), PKP: pkp, Now: now}); err != nil {
			t.Errorf("Verify = %v", err)
		}
	})

	t.Run("validateDelegationAuthSig", func(t *testing.T) {
		exp := lineWithPrefix(a.SignedMessage, "Expiration Time: ")
		seed := sha256.Sum256([]byte("other"))
		other, _ := SessionKeyFromSeed(seed[:])
		pub := key.PublicKey().Hex()
		with := func(msg string) AuthSig { b := a; b.SignedMessage = msg; return b }
		inputs := map[string]struct {
			a   AuthSig
			uri string
		}{
			"valid, uri given as bare pubkey":           {a, pub},
			"valid, uri given with lit:session: prefix": {a, SessionKeyURIPrefix + pub},
			"other session key":                         {a, other.PublicKey().Hex()},
			"expired":                                   {with(strings.Replace(a.SignedMessage, exp, "Expiration Time: 2025-06-01T11:00:00.000Z", 1)), pub},
			"unparseable expiration":                    {with(strings.Replace(a.SignedMessage, exp, "Expiration Time: not-a-date", 1)), pub},
			"URI line removed (falls back to substring search of the whole message)": {with(strings.Replace(a.SignedMessage, "URI: "+key.URI()+"\n", "", 1)), pub},
			"BLS sig garbage (not checked)":                                          {AuthSig{Sig: `{"ProofOfPossession":"00"}`, Algo: a.Algo, DerivedVia: a.DerivedVia, SignedMessage: a.SignedMessage, Address: a.Address}, pub},
		}
		if len(v.ValidateDelegationAuthSig.Cases) == 0 {
			t.Fatal("no cases")
		}
		for _, c := range v.ValidateDelegationAuthSig.Cases {
			in, ok := inputs[c.Label]
			if !ok {
				t.Errorf("new SDK case %q: teach this test its input", c.Label)
				continue
			}
			err := ValidateLikeSDK(in.a, in.uri, now)
			switch {
			case c.OK && err != nil:
				t.Errorf("%s: ValidateLikeSDK = %v, SDK accepts", c.Label, err)
			case !c.OK && (err == nil || err.Error() != c.Error):
				t.Errorf("%s: ValidateLikeSDK = %v, SDK %q", c.Label, err, c.Error)
			}
		}
	})

	d, err := ParseDelegation(a)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("authContextFromPreGenerated", func(t *testing.T) {
		want := v.AuthContextFromPreGenerated.AuthConfig
		got := d.Resources()
		if len(got) != len(want.Resources) {
			t.Fatalf("Resources() = %+v, SDK %+v", got, want.Resources)
		}
		for i := range got {
			if got[i].Resource != want.Resources[i].Resource || got[i].Ability != want.Resources[i].Ability {
				t.Errorf("Resources()[%d] = %+v, SDK %+v", i, got[i], want.Resources[i])
			}
		}
		if FormatJSTime(d.Expiration) != want.Expiration {
			t.Errorf("Expiration = %s, SDK %s", FormatJSTime(d.Expiration), want.Expiration)
		}
		if v.AuthContextFromPreGenerated.ErrorWhenNoResolvedAuthContext == "" {
			t.Error("the SDK now derives authData without lit-resolvedauthcontext: check docs/naga-auth.md §4.2")
		}
	})

	t.Run("pkpSessionSigs", func(t *testing.T) {
		targets, err := SelectCheapest(v.quotes(t, ProductLitAction), v.SignSessionKeyRequest.Inputs.Threshold, nil)
		if err != nil {
			t.Fatal(err)
		}
		sigs, err := MintSessionSigs(SessionSigRequest{Key: key, Resources: d.Resources(), Capabilities: []AuthSig{a},
			IssuedAt: now, Expiration: d.Expiration, Targets: targets})
		if err != nil {
			t.Fatal(err)
		}
		want := v.PKPSessionSigs.SessionSigs
		if len(sigs) != len(want) {
			t.Fatalf("minted for %d nodes, SDK for %d", len(sigs), len(want))
		}
		for url, w := range want {
			g, ok := sigs[url]
			switch {
			case !ok:
				t.Errorf("no session sig for %s", url)
			case g != w:
				t.Errorf("%s:\n got %+v\nSDK %+v", url, g, w)
			}
			if sig, err := hex.DecodeString(w.Sig); err != nil || !key.PublicKey().Verify([]byte(w.SignedMessage), sig) {
				t.Errorf("%s: the SDK's signature does not verify", url)
			}
		}
	})

	t.Run("pkpSessionSigsPriced", func(t *testing.T) {
		targets, err := SelectCheapest(v.quotes(t, ProductSign), v.SignSessionKeyRequest.Inputs.Threshold, big.NewInt(1000))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, tg := range targets {
			got[tg.URL] = "0x" + tg.MaxPrice.Text(16)
		}
		want := v.PKPSessionSigsPriced.MaxPrices
		if len(got) != len(want) {
			t.Fatalf("caps %v, SDK %v", got, want)
		}
		for u, p := range want {
			if got[u] != p {
				t.Errorf("%s: cap %s, SDK %s", u, got[u], p)
			}
		}
	})
}

// lineWithPrefix returns the whole line of msg that starts with prefix.
func lineWithPrefix(msg, prefix string) string {
	for _, l := range strings.Split(msg, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return prefix
}
