package v3fake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/litsignd/litsignd/litv3"
	"github.com/litsignd/litsignd/litv3/v3fake"
)

// call sends a management request and decodes the answer.
func call(t *testing.T, f *v3fake.Server, method, path, key string, body any) (int, json.RawMessage) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.URL()+"/core/v1/"+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// An operator's set-up over HTTP, as api_direct.mdx describes it: account,
// wallet, group with the action's CID and the wallet, usage key; then the
// key runs the action. Writes cost 1 cent each, on success only (v1.2).
func TestManagementOverHTTP(t *testing.T) {
	f, err := v3fake.Start(v3fake.Config{StarterCredits: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, body := call(t, f, "POST", "new_account", "", map[string]string{"account_name": "a", "account_description": "d"})
	var acct struct {
		APIKey        string `json:"api_key"`
		WalletAddress string `json:"wallet_address"`
	}
	if st != 200 || json.Unmarshal(body, &acct) != nil {
		t.Fatalf("new_account %d %s", st, body)
	}
	if _, err := litv3.ParseUsageKey(acct.APIKey); err != nil || acct.WalletAddress != strings.ToLower(acct.WalletAddress) {
		t.Fatalf("new_account answer %s: %v", body, err)
	}
	st, body = call(t, f, "POST", "create_wallet", acct.APIKey, map[string]any{})
	var wallet struct {
		WalletAddress string `json:"wallet_address"`
	}
	if st != 200 || json.Unmarshal(body, &wallet) != nil {
		t.Fatalf("create_wallet %d %s", st, body)
	}
	code := v3fake.ExampleSignMessage
	id, _ := litv3.CID(code)
	h := litv3.CIDHash(id)
	st, body = call(t, f, "POST", "add_group", acct.APIKey, map[string]any{"group_name": "g", "group_description": "",
		"pkp_ids_permitted": []string{wallet.WalletAddress}, "cid_hashes_permitted": []string{"0x" + hexOf(h[:])}})
	var grp struct {
		Success bool
		GroupID string `json:"group_id"`
	}
	if st != 200 || json.Unmarshal(body, &grp) != nil || !grp.Success || grp.GroupID != "1" {
		t.Fatalf("add_group %d %s", st, body)
	}
	st, body = call(t, f, "POST", "add_usage_api_key", acct.APIKey, map[string]any{"name": "daemon", "description": "",
		"can_create_groups": false, "can_delete_groups": false, "can_create_pkps": false, "manage_ipfs_ids_in_groups": []int{},
		"add_pkp_to_groups": []int{}, "remove_pkp_from_groups": []int{}, "execute_in_groups": []int{1}})
	var uk struct {
		Success bool
		Key     string `json:"usage_api_key"`
	}
	if st != 200 || json.Unmarshal(body, &uk) != nil || !uk.Success {
		t.Fatalf("add_usage_api_key %d %s", st, body)
	}
	key, err := litv3.ParseUsageKey(uk.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := litv3.New(f.URL(), litv3.Options{})
	// Three writes, a cent each.
	if b, err := c.Balance(context.Background(), key); err != nil || b.CreditCents() != 97 {
		t.Fatalf("balance after three writes %+v %v", b, err)
	}
	res, err := c.LitAction(context.Background(), key, litv3.ActionRequest{Code: code, JSParams: map[string]string{"pkpId": wallet.WalletAddress, "message": "m"}})
	if err != nil || !strings.Contains(string(res.Response), `"signature":"0x`) {
		t.Fatalf("lit_action: %v", err)
	}
	// The run costs a cent per whole second, at least one.
	b, err := c.Balance(context.Background(), key)
	if err != nil || b.CreditCents() > 96 {
		t.Fatalf("balance after the run %+v %v", b, err)
	}
	// The usage key may not make groups: 403 "Permission denied", not
	// charged on v1.2.
	st, body = call(t, f, "POST", "add_group", uk.Key, map[string]any{"group_name": "x", "group_description": "",
		"pkp_ids_permitted": []string{}, "cid_hashes_permitted": []string{}})
	if st != 403 || string(body) != `"Permission denied"` {
		t.Fatalf("add_group by a usage key %d %s", st, body)
	}
	if after, _ := c.Balance(context.Background(), key); after != b {
		t.Fatalf("a failed write was charged: %+v, before %+v", after, b)
	}
	// Schema and shape errors.
	if st, _ := call(t, f, "POST", "add_usage_api_key", acct.APIKey, map[string]any{"name": "x"}); st != 422 {
		t.Fatalf("missing fields: %d", st)
	}
	if st, body := call(t, f, "POST", "add_pkp_to_group", acct.APIKey, map[string]any{"group_id": 1, "pkp_id": "0x1234"}); st != 400 || !strings.Contains(string(body), "Invalid PKP ID") {
		t.Fatalf("short pkp id: %d %s", st, body)
	}
	// list_api_keys shows the key's record.
	st, body = call(t, f, "GET", "list_api_keys?page_number=0&page_size=10", acct.APIKey, nil)
	if st != 200 || !strings.Contains(string(body), `"api_key_hash":"`+key.HashHex()+`"`) || !strings.Contains(string(body), `"can_execute_in_groups":[1]`) {
		t.Fatalf("list_api_keys %d %s", st, body)
	}
	// list_actions shows the CID hash in the group.
	st, body = call(t, f, "GET", "list_actions?group_id=1&page_number=0&page_size=10", acct.APIKey, nil)
	if st != 200 || string(body) != `[{"id":"0x`+hexOf(h[:])+`","name":"","description":""}]` {
		t.Fatalf("list_actions %d %s", st, body)
	}
	// Removing the key: the next action gets 401.
	if st, body := call(t, f, "POST", "remove_usage_api_key", acct.APIKey, map[string]string{"usage_api_key": uk.Key}); st != 200 {
		t.Fatalf("remove_usage_api_key %d %s", st, body)
	}
	_, err = c.LitAction(context.Background(), key, litv3.ActionRequest{Code: code})
	if e, ok := err.(*litv3.Error); !ok || e.Status != 401 {
		t.Fatalf("removed key: %v", err)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, x := range b {
		out[2*i], out[2*i+1] = digits[x>>4], digits[x&15]
	}
	return string(out)
}

// April charges a write in the guard, so a refused write still costs a
// cent; v1.2 does not. new_account is rate limited per IP on v1.2.
func TestWriteBillingAndRateLimit(t *testing.T) {
	for _, v := range []v3fake.Version{v3fake.V12, v3fake.April} {
		f, _ := v3fake.Start(v3fake.Config{Version: v})
		acct, _ := f.NewAccount(10)
		k, _ := f.AddUsageKey(acct.APIKey, "k", v3fake.Scopes{})
		st, _ := call(t, f, "POST", "create_wallet", k.Reveal(), map[string]any{})
		credits, _ := f.Credits(acct.APIKey)
		want := int64(10)
		if v == v3fake.April {
			want = 9
		}
		if st != 403 || credits != want {
			t.Fatalf("%s: refused create_wallet: %d, credits %d want %d", v, st, credits, want)
		}
		f.Close()
	}
	f, _ := v3fake.Start(v3fake.Config{})
	defer f.Close()
	for i := range 31 {
		st, body := call(t, f, "POST", "new_account", "", map[string]string{"account_name": "a", "account_description": "d"})
		if i < 30 && st != 200 || i == 30 && (st != 429 || !strings.Contains(string(body), "Too many account creation requests from your IP.")) {
			t.Fatalf("new_account #%d: %d %s", i+1, st, body)
		}
	}
}
