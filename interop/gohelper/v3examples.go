package main

// v3-examples: starts the Lit v3 fake (litv3/v3fake), runs the v3
// documentation's example actions through the litv3 client, and prints what
// they returned as JSON, for interop/test/v3-examples.test.js to verify with
// ethers.

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/litsignd/litsignd/litv3"
	"github.com/litsignd/litsignd/litv3/v3fake"
)

func v3Examples(stdout io.Writer) error {
	f, err := v3fake.Start(v3fake.Config{})
	if err != nil {
		return err
	}
	defer f.Close()
	acct, err := f.NewAccount(500)
	if err != nil {
		return err
	}
	w, err := f.CreateWallet(acct.APIKey)
	if err != nil {
		return err
	}
	codes := []string{v3fake.ExampleSignMessage, v3fake.ExampleSignDigest, v3fake.ExampleEncryptDecrypt,
		v3fake.ExampleEthersUtils, v3fake.ExampleActionKey}
	var cids []string
	for _, c := range codes {
		id, err := litv3.CID(c)
		if err != nil {
			return err
		}
		cids = append(cids, id)
	}
	g, err := f.AddGroup(acct.APIKey, "examples", []common.Address{w}, cids)
	if err != nil {
		return err
	}
	key, err := f.AddUsageKey(acct.APIKey, "interop", v3fake.Scopes{ExecuteInGroups: []uint64{g}})
	if err != nil {
		return err
	}
	c, err := litv3.New(f.URL(), litv3.Options{})
	if err != nil {
		return err
	}
	ctx := context.Background()
	digest := crypto.Keccak256([]byte("abc"))
	const message = "Hello from Lit Action"
	params := []map[string]any{
		{"pkpId": w.Hex(), "message": message},
		{"pkpId": strings.ToLower(w.Hex()), "digest": "0x" + hex.EncodeToString(digest)},
		{"pkpId": w.Hex(), "message": "secret ✓ message"},
		{"message": message, "address": strings.ToLower(w.Hex())},
		{"message": message, "ipfsId": cids[4]},
	}
	names := []string{"signMessage", "signDigest", "encryptDecrypt", "ethersUtils", "actionKey"}
	out := map[string]any{"wallet": w.Hex(), "message": message, "digest": "0x" + hex.EncodeToString(digest), "cids": cids}
	for i, code := range codes {
		res, err := c.LitAction(ctx, key, litv3.ActionRequest{Code: code, JSParams: params[i]})
		if err != nil {
			return fmt.Errorf("%s: %w", names[i], err)
		}
		out[names[i]] = json.RawMessage(res.Response)
	}
	// The ciphertext decrypts in Go with AES-256-GCM under the wallet key
	// (docs/lit-v3.md §4.3's format), so it is interchangeable.
	var ed struct{ Ciphertext string }
	if err := json.Unmarshal(out["encryptDecrypt"].(json.RawMessage), &ed); err != nil {
		return err
	}
	pk, _ := f.WalletKey(w)
	raw, err := hex.DecodeString(ed.Ciphertext)
	if err != nil || len(raw) < 28 {
		return fmt.Errorf("ciphertext %q", ed.Ciphertext)
	}
	block, _ := aes.NewCipher(crypto.FromECDSA(pk))
	gcm, _ := cipher.NewGCM(block)
	pt, err := gcm.Open(nil, raw[:12], raw[12:], nil)
	if err != nil {
		return fmt.Errorf("go decrypt: %w", err)
	}
	out["goDecrypted"] = string(pt)
	out["runs"] = f.TotalRuns()
	return json.NewEncoder(stdout).Encode(out)
}
