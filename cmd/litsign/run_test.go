package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/internal/natstest"
	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/litnode/devnet"
)

// litsign runs one command in-process and returns its stdout.
func litsign(t *testing.T, stdin string, args ...string) (string, int, error) {
	t.Helper()
	var out, errb bytes.Buffer
	code, err := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(stdin), &out, &errb)
	return out.String(), code, err
}

// devInfo writes a dev-info file for a devnet and a NATS URL, as litsignd dev does.
func writeDevInfo(t *testing.T, n *devnet.Network, natsURL, sealing string) string {
	t.Helper()
	b, _ := json.Marshal(n.Description())
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["natsUrl"] = natsURL
	m["sealingPublicKey"] = sealing
	b, _ = json.Marshal(m)
	path := filepath.Join(t.TempDir(), "dev-info.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLitsignCommands(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	ctx := context.Background()
	topo := consumer.DefaultTopology()
	if err := topo.Ensure(ctx, js); err != nil {
		t.Fatal(err)
	}
	n, err := devnet.Start(devnet.Config{PKPs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	sealing, _ := consumer.DeriveSealingKey(bytes.Repeat([]byte{7}, 32))
	kv, _ := js.KeyValue(ctx, topo.DaemonBucket)
	if _, err := kv.PutString(ctx, consumer.SealingKeyKV, sealing.PublicKeyHex()); err != nil {
		t.Fatal(err)
	}
	info := writeDevInfo(t, n, url, sealing.PublicKeyHex())
	pkp := n.PKPs()[0].PublicKey

	// keygen: a session key pair, 32-byte seed secret.
	out, _, err := litsign(t, "", "keygen")
	if err != nil {
		t.Fatal(err)
	}
	var pair map[string]string
	if json.Unmarshal([]byte(out), &pair) != nil {
		t.Fatalf("keygen output %q", out)
	}
	if _, err := litnode.ParseSessionKeyPair(pair["publicKey"], pair["secretKey"]); err != nil {
		t.Fatalf("keygen pair: %v", err)
	}

	// delegate: the envelope, and nothing else, on stdout.
	env, _, err := litsign(t, "", "delegate", "--dev-info", info, "--pkp", pkp.Hex(), "--ttl", "10m")
	if err != nil {
		t.Fatalf("delegate: %v", err)
	}
	h, err := litnode.DecodeEnvelope([]byte(strings.TrimSpace(env)))
	if err != nil {
		t.Fatalf("delegate printed a bad envelope: %v\n%s", err, env)
	}
	d, err := litnode.Verify(h.Delegation, litnode.VerifyOptions{NetworkKey: n.NetworkPublicKey(), SessionKey: h.SessionKey.PublicKey(), PKP: pkp})
	if err != nil {
		t.Fatalf("the delegation litsign obtained does not verify: %v", err)
	}
	// Default: pkp-signing on that PKP only; no Lit Actions, no other PKP.
	if !d.Grants(pkp.ResourceKey(), litnode.AbilityPKPSigning) {
		t.Error("default resources do not grant pkp-signing on the PKP")
	}
	if d.Grants("lit-litaction://Qm", litnode.AbilityLitActionExecution) || d.Grants("lit-pkp://"+strings.Repeat("ab", 32), litnode.AbilityPKPSigning) {
		t.Error("default resources grant Lit Actions or other PKPs")
	}

	// publish-delegation --seal: the stream holds a sealed envelope only.
	if _, _, err := litsign(t, env, "publish-delegation", "--dev-info", info, "--seal", "--wait=false", "-"); err != nil {
		t.Fatalf("publish-delegation: %v", err)
	}
	s, _ := js.Stream(ctx, topo.DelegationsStream)
	msg, err := s.GetLastMsgForSubject(ctx, topo.DelegationsSubject())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(msg.Data, []byte(h.SessionKey.RevealSecretHex())) {
		t.Fatal("the sealed envelope carries the secret in plaintext")
	}
	var sealedEnv map[string]string
	_ = json.Unmarshal(msg.Data, &sealedEnv)
	raw, _ := base64.RawURLEncoding.DecodeString(sealedEnv["sealedPayload"])
	payload, err := sealing.Open(raw)
	if err != nil || !bytes.Equal(payload, h.PayloadJSON()) {
		t.Fatalf("sealed payload does not open to the hand-off payload: %v", err)
	}

	// delegations and revoke, on a bucket the store wrote.
	kek, _ := delegationstore.GenerateKEK("t")
	ring, _ := delegationstore.NewKeyring(kek)
	store, err := delegationstore.Open(ctx, js, delegationstore.Config{Bucket: topo.DelegationsBucket, KEK: ring})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, h); err != nil {
		t.Fatal(err)
	}
	// A duplicate publish is reported at once (the --timeout of an hour
	// would otherwise hold the test): success when litsignd stored that
	// session key, a clear error when it did not.
	if _, _, err := litsign(t, env, "publish-delegation", "--dev-info", info, "--wait=false", "-"); err != nil {
		t.Fatalf("publish-delegation (plain): %v", err)
	}
	out, code, err := litsign(t, env, "publish-delegation", "--dev-info", info, "--timeout", "1h", "-")
	if code != 0 || err != nil || !strings.Contains(out, h.SessionKey.PublicKey().Hex()) {
		t.Fatalf("duplicate publish of a stored delegation: code %d, %v, out %q", code, err, out)
	}
	other, _, err := litsign(t, "", "delegate", "--dev-info", info, "--pkp", pkp.Hex(), "--ttl", "10m")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := litsign(t, other, "publish-delegation", "--dev-info", info, "--wait=false", "-"); err != nil {
		t.Fatal(err)
	}
	_, code, err = litsign(t, other, "publish-delegation", "--dev-info", info, "--timeout", "1h", "-")
	if code != 1 || err == nil || !strings.Contains(err.Error(), "already published") || !strings.Contains(err.Error(), "has not stored it") {
		t.Fatalf("duplicate publish of a delegation litsignd did not store: code %d, %v", code, err)
	}

	out, _, err = litsign(t, "", "delegations", "--dev-info", info)
	if err != nil || !strings.Contains(out, shorten(pkp.Hex(), 10)) || !strings.Contains(out, shorten(h.SessionKey.PublicKey().Hex(), 10)) {
		t.Fatalf("delegations = %q, %v", out, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if len(line) > 100 {
			t.Errorf("delegations line is %d columns, want at most 100: %q", len(line), line)
		}
	}
	jsonOut, _, err := litsign(t, "", "delegations", "--dev-info", info, "--json")
	var listed []delegationstore.Summary
	if err != nil || json.Unmarshal([]byte(jsonOut), &listed) != nil || len(listed) != 1 ||
		listed[0].PKP != pkp.Hex() || listed[0].SessionPublicKey != h.SessionKey.PublicKey().Hex() {
		t.Fatalf("delegations --json = %q, %v", jsonOut, err)
	}
	if strings.Contains(out+jsonOut, h.SessionKey.RevealSecretHex()) {
		t.Fatal("delegations printed a secret")
	}
	if _, _, err := litsign(t, "", "revoke", "--dev-info", info, "--pkp", pkp.Hex()); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	dkv, _ := js.KeyValue(ctx, topo.DelegationsBucket)
	if _, err := dkv.Get(ctx, pkp.Hex()); err == nil {
		t.Fatal("revoke left the delegation in KV")
	} else if !errorsIsAny(err, jetstream.ErrKeyNotFound, jetstream.ErrKeyDeleted) {
		t.Fatalf("after revoke: %v", err)
	}
	if _, code, _ := litsign(t, "", "revoke", "--dev-info", info, "--pkp", pkp.Hex()); code == 0 {
		t.Error("revoking twice succeeded")
	}

	// An operator revokes a Lit v3 credential by its wallet address: it is
	// gone, and a replay of its hand-off is refused.
	v3 := store.V3()
	addr := "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"
	cred := func() *delegationstore.V3Credential {
		return &delegationstore.V3Credential{Address: addr, UsageKey: "dXNhZ2VrZXl1c2FnZWtleXVzYWdla2V5dXNhZ2VrZXk=", GroupID: "1"}
	}
	issued := time.Now().Add(-time.Minute)
	if _, err := v3.Put(ctx, cred(), issued); err != nil {
		t.Fatal(err)
	}
	out, _, err = litsign(t, "", "revoke", "--dev-info", info, "--pkp", "0x"+strings.ToUpper(addr[2:]))
	if err != nil || !strings.Contains(out, "Lit v3 credential of "+addr) {
		t.Fatalf("revoke of a v3 credential = %q, %v", out, err)
	}
	if _, err := v3.Get(ctx, addr); !errors.Is(err, delegationstore.ErrNotFound) {
		t.Fatalf("after the v3 revoke: %v", err)
	}
	if _, err := v3.Put(ctx, cred(), issued); !errors.Is(err, delegationstore.ErrRevoked) {
		t.Fatalf("replayed v3 hand-off after the operator's revoke: %v, want ErrRevoked", err)
	}
	if _, code, _ := litsign(t, "", "revoke", "--dev-info", info, "--pkp", addr); code == 0 {
		t.Error("revoking a v3 credential twice succeeded")
	}
}

func TestLitsignUsageErrors(t *testing.T) {
	if _, code, err := litsign(t, ""); code != 2 || err == nil {
		t.Errorf("no command: code %d err %v", code, err)
	}
	if _, code, _ := litsign(t, "", "frobnicate"); code != 2 {
		t.Errorf("unknown command: code %d", code)
	}
	if _, code, _ := litsign(t, "", "delegate", "--pkp", "0x04zz"); code != 2 {
		t.Errorf("bad --pkp: code %d", code)
	}
	if _, _, err := litsign(t, "", "publish-delegation", "--wait=false", "-"); err == nil {
		t.Error("publish-delegation without NATS URL or envelope succeeded")
	}
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errorsIs(err, t) {
			return true
		}
	}
	return false
}

var errorsIs = errors.Is

// litsign delegations lists v3 credentials beside Naga delegations, by
// their public parts, within 100 columns.
func TestPrintDelegationsV3(t *testing.T) {
	now := time.Now()
	var b strings.Builder
	printDelegations(&b, []delegationstore.Summary{
		{Backend: delegationstore.BackendNaga, PKP: "0x04" + strings.Repeat("ab", 64), SessionPublicKey: strings.Repeat("cd", 32), Expiration: now.Add(time.Hour)},
		{Backend: delegationstore.BackendLitV3, PKP: "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23", KeyHash: "0x" + strings.Repeat("ef", 32)},
	}, now)
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines:\n%s", len(lines), b.String())
	}
	if !strings.HasPrefix(lines[1], "naga ") || !strings.HasPrefix(lines[2], "v3 ") || !strings.Contains(lines[2], "0xefefefefef") || !strings.Contains(lines[2], "never") {
		t.Errorf("table:\n%s", b.String())
	}
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > 100 {
			t.Errorf("line of %d columns: %q", n, l)
		}
	}
}
