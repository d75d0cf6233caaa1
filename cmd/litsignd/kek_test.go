package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/delegationstore"
)

func sealingKeyOf(t *testing.T, kekFile string) string {
	t.Helper()
	r, err := delegationstore.LoadKEKFile(kekFile)
	if err != nil {
		t.Fatal(err)
	}
	k, err := consumer.DeriveSealingKey(r.SealingMaterial())
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKeyHex()
}

func runArgs(t *testing.T, stdout io.Writer, args ...string) error {
	t.Helper()
	return run(context.Background(), args, func(string) string { return "" }, stdout, io.Discard)
}

// `litsignd kek new --out FILE` writes a private key file once; every
// replica loading it derives the same sealing key; `kek rotate` adds a
// current key, keeps the old one, and so changes the sealing key.
func TestKEKNewAndRotate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek.txt")
	if err := runArgs(t, io.Discard, "kek", "new", "--out", path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("kek new --out wrote mode %v, want 0600", st.Mode().Perm())
	}
	if err := runArgs(t, io.Discard, "kek", "new", "--out", path); err == nil {
		t.Error("kek new --out overwrote an existing KEK file")
	}

	// Deterministic: two replicas (two loads) agree; another KEK differs.
	k1, k2 := sealingKeyOf(t, path), sealingKeyOf(t, path)
	if k1 != k2 {
		t.Fatalf("the same KEK file derived two sealing keys: %s, %s", k1, k2)
	}
	var out bytes.Buffer
	if err := runArgs(t, &out, "kek", "new"); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.txt")
	if err := os.WriteFile(other, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if k := sealingKeyOf(t, other); k == k1 {
		t.Error("two fresh KEKs derived the same sealing key")
	}

	before, _ := delegationstore.LoadKEKFile(path)
	out.Reset()
	if err := runArgs(t, &out, "kek", "rotate", path); err != nil {
		t.Fatal(err)
	}
	after, err := delegationstore.LoadKEKFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(out.String())
	if after.Current().ID() != id || len(after.IDs()) != 2 || !strings.Contains(strings.Join(after.IDs(), ","), before.Current().ID()) {
		t.Errorf("after rotate: current %s, ids %v; want current %s and the old %s kept", after.Current().ID(), after.IDs(), id, before.Current().ID())
	}
	if sealingKeyOf(t, path) == k1 {
		t.Error("rotating the KEK kept the sealing key (it derives from the current key)")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("kek rotate left mode %v, want 0600", st.Mode().Perm())
	}

	for _, bad := range [][]string{{"kek"}, {"kek", "rotate"}, {"kek", "rotate", path, "extra"}, {"kek", "new", "extra"}, {"kek", "frob"}} {
		if err := runArgs(t, io.Discard, bad...); err == nil {
			t.Errorf("litsignd %s: no error", strings.Join(bad, " "))
		}
	}
}
