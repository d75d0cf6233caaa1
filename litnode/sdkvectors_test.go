package litnode

import (
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// signSessionKeyRequest (source sdk): what generatePkpDelegationAuthSig
// hands the network. Our client builds the same SIWE, picks the same nodes
// in the same order (cheapest on LIT_ACTION), and names the same session key,
// PKP, curve and epoch.
func TestSignSessionKeyRequestMatchesSDK(t *testing.T) {
	v := authVectors(t)
	in := vget(t, v, "signSessionKeyRequest", "inputs").(map[string]any)
	body := vget(t, v, "signSessionKeyRequest", "captured", "requestBody").(map[string]any)
	var reqs []ResourceAbilityRequest
	for _, pair := range in["shorthand"].([]any) {
		p := pair.([]any)
		r, err := ParseResourceShorthand(p[0].(string) + ":" + p[1].(string))
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, r...)
	}
	exp, _ := time.Parse(time.RFC3339, in["expiration"].(string))
	siwe := ClientSIWE(vectorPKP(t), vectorSessionPub(t), reqs, "", "", in["nonce"].(string), vectorNow, exp)
	if got, want := siwe.String(), body["siweMessage"].(string); got != want {
		t.Errorf("client SIWE =\n%s\nwant\n%s", got, want)
	}
	var quotes []NodeQuote
	for _, n := range in["nodePrices"].([]any) {
		m := n.(map[string]any)
		p, _ := new(big.Int).SetString(m["prices"].([]any)[ProductLitAction].(string), 10)
		quotes = append(quotes, NodeQuote{URL: m["url"].(string), Price: p})
	}
	targets, err := SelectCheapest(quotes, int(in["threshold"].(float64)), nil)
	if err != nil {
		t.Fatal(err)
	}
	gotSet, _ := json.Marshal(nodeSet(targets))
	wantSet, _ := json.Marshal(body["nodeSet"])
	if string(gotSet) != string(wantSet) {
		t.Errorf("nodeSet = %s, want %s", gotSet, wantSet)
	}
	if got := vectorSessionPub(t).URI(); got != body["sessionKey"] {
		t.Errorf("sessionKey = %s, want %v", got, body["sessionKey"])
	}
	if got := vectorPKP(t).Hex(); got != body["pkpPublicKey"] {
		t.Errorf("pkpPublicKey = %s, want %v", got, body["pkpPublicKey"])
	}
	authData := body["authData"].(map[string]any)
	eoa := common.HexToAddress(vstr(t, v, "identities", "eoaAddress"))
	if got := EthWalletAuthMethodID(eoa); got != authData["authMethodId"] {
		t.Errorf("authMethodId = %s, want %v", got, authData["authMethodId"])
	}
	if body["curveType"] != "BLS" {
		t.Errorf("curveType %v", body["curveType"])
	}
}

// authContextFromPreGenerated (source sdk): what the SDK derives from a
// pre-generated delegation on the server side.
func TestAuthContextFromPreGeneratedMatchesSDK(t *testing.T) {
	v := authVectors(t)
	d, err := ParseDelegation(delegationVector(t))
	if err != nil {
		t.Fatal(err)
	}
	want := vget(t, v, "authContextFromPreGenerated", "authData").(map[string]any)
	got, err := d.DerivedAuthData()
	if err != nil {
		t.Fatal(err)
	}
	if got.AuthMethodID != want["authMethodId"] || got.AccessToken != want["accessToken"] || float64(got.AuthMethodType) != want["authMethodType"] {
		t.Errorf("DerivedAuthData = %+v, want %v", got, want)
	}
	wantCtx, _ := json.Marshal(vget(t, v, "authContextFromPreGenerated", "authData", "metadata", "authContext"))
	gotCtx, _ := json.Marshal(got.AuthContext)
	if string(gotCtx) != string(wantCtx) {
		t.Errorf("auth context = %s, want %s", gotCtx, wantCtx)
	}
	cfg := vget(t, v, "authContextFromPreGenerated", "authConfig").(map[string]any)
	if d.SIWE.Domain != cfg["domain"] || d.SIWE.Statement != cfg["statement"] || d.SIWE.ExpirationTime != cfg["expiration"] {
		t.Errorf("authConfig domain/statement/expiration differ from the SDK's")
	}
	keys := vget(t, v, "authContextFromPreGenerated", "authConfigResourceKeys").([]any)
	res := d.Resources()
	if len(res) != len(keys) {
		t.Fatalf("%d resources, want %d", len(res), len(keys))
	}
	for i, k := range keys {
		km := k.(map[string]any)
		if res[i].Resource.Key() != km["key"] || string(res[i].Ability) != km["ability"] {
			t.Errorf("resource %d = %s %s, want %v %v", i, res[i].Resource.Key(), res[i].Ability, km["key"], km["ability"])
		}
	}
	// A delegation without a resolved auth context: the SDK's error text.
	m := baseSIWE(t)
	r := NewRecap()
	r.AddAbility("lit-pkp://*", "Threshold", "Signing", nil)
	m.Statement = "Lit Protocol PKP session signature " + r.Statement()
	m.Resources = []string{r.EncodeURN()}
	d2, err := ParseDelegation(AuthSig{SignedMessage: m.String(), DerivedVia: DerivedViaBLS, Algo: AlgoLitBLS})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d2.DerivedAuthData(); !errors.Is(err, ErrNoAuthContext) || err.Error() != vstr(t, v, "authContextFromPreGenerated", "errorWhenNoResolvedAuthContext") {
		t.Errorf("DerivedAuthData without auth context = %v", err)
	}
}
