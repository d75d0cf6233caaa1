package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/litv3/v3fake"
)

func runLitsign(t *testing.T, args ...string) (int, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	code, err := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
	return code, out.String(), err
}

func TestV3ActionCID(t *testing.T) {
	code, out, err := runLitsign(t, "v3", "action-cid")
	if code != 0 || err != nil || strings.TrimSpace(out) != consumer.V3SignActionCID() {
		t.Fatalf("v3 action-cid = %d %q %v", code, out, err)
	}
	if _, src, _ := runLitsign(t, "v3", "action-cid", "--source"); src != consumer.V3SignAction() {
		t.Fatal("v3 action-cid --source is not the embedded action")
	}
}

// litsign v3 check against the v3 fake: it passes for a PKP in the key's
// group with the signing action, and names the problem otherwise.
func TestV3Check(t *testing.T) {
	fake, err := v3fake.Start(v3fake.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	acct, _ := fake.NewAccount(1000)
	in, _ := fake.CreateWallet(acct.APIKey)
	out, _ := fake.CreateWallet(acct.APIKey)
	gid, _ := fake.AddGroup(acct.APIKey, "g", []common.Address{in}, []string{consumer.V3SignActionCID()})
	key, _ := fake.AddUsageKey(acct.APIKey, "k", v3fake.Scopes{ExecuteInGroups: []uint64{gid}})
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(key.Reveal()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, err := runLitsign(t, "v3", "check", "--timeout", "10m", "--url", fake.URL(), "--usage-key-file", keyFile, "--pkp", in.Hex()) // a hang guard: the fake signs in interpreted JS, slow under -race on a loaded machine
	var rep v3CheckReport
	if code != 0 || err != nil || json.Unmarshal([]byte(stdout), &rep) != nil || !rep.OK || !strings.EqualFold(rep.RecoveredAddr, in.Hex()) {
		t.Fatalf("check of a permitted PKP = %d %v\n%s", code, err, stdout)
	}
	if strings.Contains(stdout, key.Reveal()) {
		t.Fatal("check printed the usage key")
	}
	code, stdout, err = runLitsign(t, "v3", "check", "--timeout", "10m", "--url", fake.URL(), "--usage-key-file", keyFile, "--pkp", out.Hex())
	if code != 1 || err == nil || !strings.Contains(stdout, "does not hold PKP") {
		t.Fatalf("check of a PKP outside the group = %d %v\n%s", code, err, stdout)
	}
}
