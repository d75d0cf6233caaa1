package litnode

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Every resourceShorthand case from the SDK maps to the same prefix, id, key
// and recap ability.
func TestResourceShorthandVectors(t *testing.T) {
	v := authVectors(t)
	cases, ok := vget(t, v, "resourceShorthand", "cases").([]any)
	if !ok || len(cases) == 0 {
		t.Fatal("no resourceShorthand cases")
	}
	for i := range cases {
		ability := vstr(t, v, "resourceShorthand", "cases", i, "ability")
		resource := vstr(t, v, "resourceShorthand", "cases", i, "resource")
		in := ability + ":" + resource
		got, err := ParseResourceShorthand(in)
		if err != nil || len(got) != 1 {
			t.Errorf("ParseResourceShorthand(%q) = %v, %v; want one request", in, got, err)
			continue
		}
		want := ResourceAbilityRequest{
			Resource: LitResource{ResourcePrefix: vstr(t, v, "resourceShorthand", "cases", i, "resourcePrefix"), Resource: resource},
			Ability:  Ability(ability),
		}
		if !reflect.DeepEqual(got[0], want) {
			t.Errorf("ParseResourceShorthand(%q) = %+v, want %+v", in, got[0], want)
		}
		if key, want := got[0].Resource.Key(), vstr(t, v, "resourceShorthand", "cases", i, "resourceKey"); key != want {
			t.Errorf("ParseResourceShorthand(%q).Resource.Key() = %q, want %q", in, key, want)
		}
		ns, name := got[0].Ability.RecapAbility()
		if wantNS, wantName := vstr(t, v, "resourceShorthand", "cases", i, "recap", "recapNamespace"),
			vstr(t, v, "resourceShorthand", "cases", i, "recap", "recapAbility"); ns != wantNS || name != wantName {
			t.Errorf("Ability(%q).RecapAbility() = %q, %q; want %q, %q", ability, ns, name, wantNS, wantName)
		}
		if p := got[0].Ability.ResourcePrefix(); p != want.Resource.ResourcePrefix {
			t.Errorf("Ability(%q).ResourcePrefix() = %q, want %q", ability, p, want.Resource.ResourcePrefix)
		}
	}

	// The vector PKP's token id, written with 0x as the SDK's
	// identities.pkpTokenIdHex, formats to the case's resource id.
	tokenID := vstr(t, v, "identities", "pkpTokenIdHex")
	if got, err := FormatPKPResource(tokenID); err != nil || got != vstr(t, v, "resourceShorthand", "cases", 3, "resource") {
		t.Errorf("FormatPKPResource(%q) = %q, %v", tokenID, got, err)
	}
}

func TestParseResourceShorthand(t *testing.T) {
	pkp := func(id string) ResourceAbilityRequest {
		return ResourceAbilityRequest{Resource: LitResource{ResourcePrefix: "lit-pkp", Resource: id}, Ability: AbilityPKPSigning}
	}
	tests := []struct {
		in   string
		want []ResourceAbilityRequest
	}{
		{"pkp-signing", []ResourceAbilityRequest{pkp("*")}},
		{"pkp-signing:*", []ResourceAbilityRequest{pkp("*")}},
		{"pkp-signing:0xABC", []ResourceAbilityRequest{pkp(strings.Repeat("0", 61) + "abc")}},
		{" pkp-signing : * , lit-action-execution:QmCID ,access-control-condition-decryption:abcd/ef01,access-control-condition-signing,lit-payment-delegation:42", []ResourceAbilityRequest{
			pkp("*"),
			{Resource: LitResource{ResourcePrefix: "lit-litaction", Resource: "QmCID"}, Ability: AbilityLitActionExecution},
			{Resource: LitResource{ResourcePrefix: "lit-accesscontrolcondition", Resource: "abcd/ef01"}, Ability: AbilityACCDecryption},
			{Resource: LitResource{ResourcePrefix: "lit-accesscontrolcondition", Resource: "*"}, Ability: AbilityACCSigning},
			{Resource: LitResource{ResourcePrefix: "lit-paymentdelegation", Resource: "42"}, Ability: AbilityPaymentDelegation},
		}},
		{"lit-action-execution:ipfs:Qm", []ResourceAbilityRequest{
			{Resource: LitResource{ResourcePrefix: "lit-litaction", Resource: "ipfs:Qm"}, Ability: AbilityLitActionExecution},
		}},
	}
	for _, tc := range tests {
		got, err := ParseResourceShorthand(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseResourceShorthand(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseResourceShorthandErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"   ",
		",",
		"pkp-signing,",
		"pkp-signing,,lit-action-execution",
		"pkp-signing:",
		"bogus:*",
		"PKP-SIGNING:*",
		"lit-resolvedauthcontext:*",
		"lit-resolvedauthcontext",
		"lit-ratelimitincrease:*",
		"lit-action-execution:lit-resolvedauthcontext://*",
		"pkp-signing:" + strings.Repeat("a", 65),
		"pkp-signing:0x" + strings.Repeat("a", 65),
		"pkp-signing:0x",
	} {
		got, err := ParseResourceShorthand(in)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseResourceShorthand(%q) = %+v, %v; want ErrMalformed", in, got, err)
		}
	}
}

func TestResourceFormatPKP(t *testing.T) {
	full := "7b8c787b0e5055300f13733856377c0b855c204ae32ed48dffddc1e059076f04"
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"*", "*", false},
		{"0x*", "*", false},
		{full, full, false},
		{"0x" + full, full, false},
		{"0x" + strings.ToUpper(full), full, false},
		{"1", strings.Repeat("0", 63) + "1", false},
		{"0xAbC", strings.Repeat("0", 61) + "abc", false},
		{"test-pkp-id", "test-pkp-id", false}, // not hex: kept, as the SDK does
		{"0X12", "0X12", false},               // only a lowercase 0x is a prefix
		{strings.Repeat("f", 64), strings.Repeat("f", 64), false},
		{strings.Repeat("f", 65), "", true},
		{"0x" + full + "0", "", true},
		{strings.Repeat("é", 33), strings.Repeat("é", 33), false},
		{strings.Repeat("\U0001F600", 33), "", true}, // 66 UTF-16 units
		{"", "", true},
		{"0x", "", true},
	}
	for _, tc := range tests {
		got, err := FormatPKPResource(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("FormatPKPResource(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if tc.wantErr && !errors.Is(err, ErrMalformed) {
			t.Errorf("FormatPKPResource(%q) error = %v, want ErrMalformed", tc.in, err)
		}
	}
}

func TestResourceAbilityMapping(t *testing.T) {
	tests := []struct {
		a          Ability
		prefix     string
		namespace  string
		recapName  string
		roundTrips bool
	}{
		{AbilityPKPSigning, "lit-pkp", "Threshold", "Signing", true},
		{AbilityLitActionExecution, "lit-litaction", "Threshold", "Execution", true},
		{AbilityACCDecryption, "lit-accesscontrolcondition", "Threshold", "Decryption", true},
		{AbilityACCSigning, "lit-accesscontrolcondition", "Threshold", "Signing", true},
		{AbilityPaymentDelegation, "lit-paymentdelegation", "Auth", "Auth", true},
		{Ability("lit-resolvedauthcontext"), "", "", "", false},
		{Ability(""), "", "", "", false},
	}
	for _, tc := range tests {
		if got := tc.a.ResourcePrefix(); got != tc.prefix {
			t.Errorf("Ability(%q).ResourcePrefix() = %q, want %q", tc.a, got, tc.prefix)
		}
		ns, name := tc.a.RecapAbility()
		if ns != tc.namespace || name != tc.recapName {
			t.Errorf("Ability(%q).RecapAbility() = %q, %q; want %q, %q", tc.a, ns, name, tc.namespace, tc.recapName)
		}
		if !tc.roundTrips {
			continue
		}
		req := ResourceAbilityRequest{Resource: LitResource{ResourcePrefix: tc.prefix, Resource: "*"}, Ability: tc.a}
		if got := RequestsFromRecap(RecapFromRequests([]ResourceAbilityRequest{req})); !reflect.DeepEqual(got, []ResourceAbilityRequest{req}) {
			t.Errorf("RequestsFromRecap(RecapFromRequests(%+v)) = %+v", req, got)
		}
	}
}

// The SDK writes a request as {"resource":{"resourcePrefix":…,"resource":…},"ability":…},
// byte for byte as in the vector session sig.
func TestResourceAbilityRequestJSON(t *testing.T) {
	v := authVectors(t)
	msg := vstr(t, v, "pkpSessionSigs", "sessionSigs", "https://node-c.example.org:443", "signedMessage")
	reqs, err := ParseResourceShorthand("access-control-condition-decryption,lit-action-execution,pkp-signing")
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(reqs)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"resourceAbilityRequests":` + string(got) + `,`; !strings.Contains(msg, want) {
		t.Errorf("json.Marshal(%+v) = %s\nnot found in %s", reqs, got, msg)
	}
	var back []ResourceAbilityRequest
	if err := json.Unmarshal(got, &back); err != nil || !reflect.DeepEqual(back, reqs) {
		t.Errorf("json round trip = %+v, %v; want %+v", back, err, reqs)
	}
	withData, err := json.Marshal(ResourceAbilityRequest{Resource: LitResource{"lit-pkp", "*"}, Ability: AbilityPKPSigning, Data: map[string]any{"a": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"resource":{"resourcePrefix":"lit-pkp","resource":"*"},"ability":"pkp-signing","data":{"a":1}}`; string(withData) != want {
		t.Errorf("json.Marshal(with data) = %s, want %s", withData, want)
	}
}

func TestResourceRecapFromRequests(t *testing.T) {
	v := authVectors(t)
	reqs, err := ParseResourceShorthand("pkp-signing:*,lit-action-execution:*,access-control-condition-decryption:*")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ParseSIWE(vstr(t, v, "signSessionKeyRequest", "clientSiweMessage"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := RecapFromRequests(reqs).EncodeURN(), client.Resources[0]; got != want {
		t.Errorf("RecapFromRequests(vector shorthand).EncodeURN() = %q, want %q", got, want)
	}

	pkpReq := reqs[0]
	withData := pkpReq
	withData.Data = map[string]any{"k": "v"}
	tests := []struct {
		name string
		reqs []ResourceAbilityRequest
		want string
	}{
		{"none", nil, `{"att":{},"prf":[]}`},
		{"repeated without data", []ResourceAbilityRequest{pkpReq, pkpReq}, `{"att":{"lit-pkp://*":{"Threshold/Signing":[{}]}},"prf":[]}`},
		{"data", []ResourceAbilityRequest{withData}, `{"att":{"lit-pkp://*":{"Threshold/Signing":[{"k":"v"}]}},"prf":[]}`},
		{"data then none", []ResourceAbilityRequest{withData, pkpReq}, `{"att":{"lit-pkp://*":{"Threshold/Signing":[{"k":"v"},{}]}},"prf":[]}`},
		{"unknown ability skipped", []ResourceAbilityRequest{{Resource: LitResource{"lit-pkp", "*"}, Ability: "bogus"}}, `{"att":{},"prf":[]}`},
		{"ACC signing and decryption share a key", []ResourceAbilityRequest{
			{Resource: LitResource{"lit-accesscontrolcondition", "h/d"}, Ability: AbilityACCSigning},
			{Resource: LitResource{"lit-accesscontrolcondition", "h/d"}, Ability: AbilityACCDecryption},
		}, `{"att":{"lit-accesscontrolcondition://h/d":{"Threshold/Decryption":[{}],"Threshold/Signing":[{}]}},"prf":[]}`},
	}
	for _, tc := range tests {
		if got := recapTestJSON(t, RecapFromRequests(tc.reqs).EncodeURN()); got != tc.want {
			t.Errorf("RecapFromRequests(%s) = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestResourceRequestsFromRecap(t *testing.T) {
	v := authVectors(t)
	node, err := ParseSIWE(vstr(t, v, "delegationAuthSig", "authSig", "signedMessage"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := DecodeRecapURN(node.Resources[0])
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(vget(t, v, "authContextFromPreGenerated", "authConfig", "resources"))
	if err != nil {
		t.Fatal(err)
	}
	var want []ResourceAbilityRequest
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if got := RequestsFromRecap(r); !reflect.DeepEqual(got, want) {
		t.Errorf("RequestsFromRecap(node recap) = %+v, want %+v", got, want)
	}

	mk := func(jsonText string) *Recap {
		r, err := DecodeRecapURN(recapTestURN(jsonText))
		if err != nil {
			t.Fatalf("DecodeRecapURN(%s) = %v", jsonText, err)
		}
		return r
	}
	tests := []struct {
		name string
		r    *Recap
		want []ResourceAbilityRequest
	}{
		{"nil", nil, nil},
		{"wildcard ability dropped", mk(`{"att":{"lit-pkp://*":{"*/*":[{}]}},"prf":[]}`), nil},
		{"unknown prefix skipped", mk(`{"att":{"lit-pkpx://1":{"Threshold/Signing":[{}]},"lit-ratelimitincrease://1":{"Auth/Auth":[{}]}},"prf":[]}`), nil},
		{"resolved auth context skipped", mk(`{"att":{"lit-resolvedauthcontext://*":{"Auth/Auth":[{"auth_context":{}}]}},"prf":[]}`), nil},
		{"signing by prefix", mk(`{"att":{"lit-accesscontrolcondition://h/d":{"Threshold/Signing":[{}]},"lit-litaction://Qm":{"Threshold/Signing":[{}]},"lit-pkp://0xAB":{"Threshold/Signing":[{}]}},"prf":[]}`),
			[]ResourceAbilityRequest{
				{Resource: LitResource{"lit-accesscontrolcondition", "h/d"}, Ability: AbilityACCSigning},
				{Resource: LitResource{"lit-pkp", strings.Repeat("0", 62) + "ab"}, Ability: AbilityPKPSigning},
			}},
		{"auth only on payment delegation", mk(`{"att":{"lit-paymentdelegation://*":{"Auth/Auth":[{}]},"lit-pkp://*":{"Auth/Auth":[{}]}},"prf":[]}`),
			[]ResourceAbilityRequest{{Resource: LitResource{"lit-paymentdelegation", "*"}, Ability: AbilityPaymentDelegation}}},
		// getLitAbilityFromRecap maps Decryption and Execution whatever the prefix.
		{"decryption on a pkp key", mk(`{"att":{"lit-pkp://*":{"Threshold/Decryption":[{}],"Threshold/Execution":[{}]}},"prf":[]}`),
			[]ResourceAbilityRequest{
				{Resource: LitResource{"lit-pkp", "*"}, Ability: AbilityACCDecryption},
				{Resource: LitResource{"lit-pkp", "*"}, Ability: AbilityLitActionExecution},
			}},
		{"data from the first nota-bene", mk(`{"att":{"lit-litaction://Qm":{"Threshold/Execution":[{"a":1},{"b":2}]}},"prf":[]}`),
			[]ResourceAbilityRequest{{Resource: LitResource{"lit-litaction", "Qm"}, Ability: AbilityLitActionExecution, Data: map[string]any{"a": json.Number("1")}}}},
		{"no data from an empty first nota-bene", mk(`{"att":{"lit-litaction://Qm":{"Threshold/Execution":[{},{"b":2}]}},"prf":[]}`),
			[]ResourceAbilityRequest{{Resource: LitResource{"lit-litaction", "Qm"}, Ability: AbilityLitActionExecution}}},
		{"too long pkp id skipped", mk(`{"att":{"lit-pkp://` + strings.Repeat("a", 65) + `":{"Threshold/Signing":[{}]}},"prf":[]}`), nil},
	}
	for _, tc := range tests {
		if got := RequestsFromRecap(tc.r); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("RequestsFromRecap(%s) = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
