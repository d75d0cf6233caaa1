package v3fake_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/litsignd/litsignd/litv3"
	"github.com/litsignd/litsignd/litv3/v3fake"
)

// The docs' example actions run unmodified; with the §4.4 test key their
// signatures are byte-identical to go-ethereum's (docs/lit-v3.md §4.4).
func TestDocExamplesVectors(t *testing.T) {
	codes := []string{v3fake.ExampleSignMessage, v3fake.ExampleSignDigest, v3fake.ExampleEncryptDecrypt, v3fake.ExampleEthersUtils}
	var cids []string
	for _, c := range codes {
		cids = append(cids, mustCID(t, c))
	}
	f, err := v3fake.Start(v3fake.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	acct, _ := f.NewAccount(500)
	pk, _ := crypto.HexToECDSA("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	w, _ := f.ImportWallet(acct.APIKey, pk)
	g, _ := f.AddGroup(acct.APIKey, "g", []common.Address{w}, cids)
	key, _ := f.AddUsageKey(acct.APIKey, "k", v3fake.Scopes{ExecuteInGroups: []uint64{g}})
	c, _ := litv3.New(f.URL(), litv3.Options{})
	run := func(code string, params map[string]any, out any) {
		t.Helper()
		res, err := c.LitAction(context.Background(), key, litv3.ActionRequest{Code: code, JSParams: params})
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(res.Response, out); err != nil {
			t.Fatalf("%v: %s", err, res.Response)
		}
	}
	var sm struct{ Signature, Address string }
	run(v3fake.ExampleSignMessage, map[string]any{"pkpId": w.Hex(), "message": "Hello from Lit Action"}, &sm)
	if sm.Signature != "0xa61f2f74506f599180965a92c861de8afe6604c7f7247ea8534d488697c7a3be4b09262659b03dfd328929b9bcc226e48d6d910400682aabe91714f26ccf83661c" ||
		sm.Address != "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23" {
		t.Fatalf("signMessage %+v", sm)
	}
	var sd struct {
		Signature, R, S  string
		V, RecoveryParam int
	}
	run(v3fake.ExampleSignDigest, map[string]any{"pkpId": strings.ToLower(w.Hex()),
		"digest": "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"}, &sd)
	if sd.Signature != "0x9b2b986d1267c9302412998c832ce751eb1ac159841830b84334e49c6993f4ee2aa312c1ada98dd37af52d5112c33ecc9d67f78c5ddf922fdacc3c44d29b5b6d1b" ||
		sd.V != 27 || sd.RecoveryParam != 0 {
		t.Fatalf("signDigest %+v", sd)
	}
	var ed struct{ Ciphertext, Plaintext string }
	run(v3fake.ExampleEncryptDecrypt, map[string]any{"pkpId": w.Hex(), "message": "m"}, &ed)
	if ed.Plaintext != "m" || len(ed.Ciphertext) != 2*(12+1+16) {
		t.Fatalf("encrypt/decrypt %+v", ed)
	}
	var eu struct {
		Keccak256, Checksummed, Version string
		DigestBytes                     int
	}
	run(v3fake.ExampleEthersUtils, map[string]any{"message": "abc", "address": strings.ToLower(w.Hex())}, &eu)
	if eu.Keccak256 != hexutil.Encode(crypto.Keccak256([]byte("abc"))) || eu.Checksummed != w.Hex() || eu.DigestBytes != 32 || eu.Version != "ethers/5.7.2" {
		t.Fatalf("ethers.utils %+v", eu)
	}
	// Decrypt of a tampered or short ciphertext fails with the runtime's
	// texts, and the action may catch them.
	dec := `async function main({pkpId, ciphertext}) { try { return await Lit.Actions.Decrypt({pkpId, ciphertext}); } catch (e) { return "caught: " + e.message; } }`
	if err := f.AddActionToGroup(acct.APIKey, g, mustCID(t, dec)); err != nil {
		t.Fatal(err)
	}
	for ct, want := range map[string]string{"00ff": "caught: Invalid ciphertext: too short", ed.Ciphertext[:len(ed.Ciphertext)-2] + "00": "caught: Decryption failed: aead::Error"} {
		var got string
		run(dec, map[string]any{"pkpId": w.Hex(), "ciphertext": ct}, &got)
		if got != want {
			t.Fatalf("decrypt(%s) = %q, want %q", ct, got, want)
		}
	}
}

// CIDv0 vectors of docs/lit-v3.md §3.2 and the on-chain ids.
func TestCIDVectors(t *testing.T) {
	for code, want := range map[string]string{
		"hello world\n": "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",
		`async function main() { return "hello"; }`:                "QmXoMqm4sckyYxbqarxfyfY36qj9bvmVFihXEYNqK4Uri6",
		"async function main() {\n  return \"Hello World!\";\n}":   "QmbD5ujQkXvNUNgCmvLcpSdwT1EKoABANRNV2ZxZxjZqXq",
		"async function main() {\n  return \"Hello World!\";\n}\n": "QmZr5qtNmcxBdpXF7K7hSkLbxK2wUVhMhZn29PKzhynvcR",
	} {
		if got := mustCID(t, code); got != want {
			t.Fatalf("CID(%q) = %s, want %s", code, got, want)
		}
	}
	h := litv3.CIDHash("QmXoMqm4sckyYxbqarxfyfY36qj9bvmVFihXEYNqK4Uri6")
	if hexutil.Encode(h[:]) != "0xea0e89b2f81df1edf516c4cbd31f7fdc9cdda78555712c879e4c06937ca7cc64" {
		t.Fatalf("cid hash %x", h)
	}
}
