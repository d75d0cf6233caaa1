package delegationstore

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoadKEKFile(t *testing.T) {
	k1 := bytes.Repeat([]byte{0x11}, 32)
	k2 := bytes.Repeat([]byte{0x22}, 32)
	path := filepath.Join(t.TempDir(), "kek")
	content := "# litsignd KEKs\n\nnew:" + hex.EncodeToString(k2) + "\n  old : " + strings.ToUpper(hex.EncodeToString(k1)) + "  \n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := LoadKEKFile(path)
	if err != nil {
		t.Fatalf("LoadKEKFile: %v", err)
	}
	if r.Current().ID() != "new" {
		t.Errorf("current = %s, want new", r.Current().ID())
	}
	if got := r.IDs(); !slices.Equal(got, []string{"new", "old"}) {
		t.Errorf("IDs = %q", got)
	}
	if k, ok := r.key("old"); !ok || !bytes.Equal(k.key[:], k1) {
		t.Error("old key not loaded")
	}
}

func TestLoadKEKFile_Errors(t *testing.T) {
	secretish := strings.Repeat("ab", 31) // 62 hex digits: wrong length
	cases := map[string]string{
		"empty":        "# nothing\n",
		"no colon":     "abc\n",
		"short key":    "k:" + secretish + "\n",
		"not hex":      "k:" + strings.Repeat("zz", 32) + "\n",
		"bad id":       "bad id:" + strings.Repeat("00", 32) + "\n",
		"duplicate id": "k:" + strings.Repeat("00", 32) + "\nk:" + strings.Repeat("11", 32) + "\n",
	}
	for name, content := range cases {
		path := filepath.Join(t.TempDir(), "kek")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKEKFile(path)
		if err == nil {
			t.Errorf("%s: LoadKEKFile succeeded", name)
			continue
		}
		if strings.Contains(err.Error(), secretish) || strings.Contains(err.Error(), strings.Repeat("11", 32)) {
			t.Errorf("%s: error repeats key material: %v", name, err)
		}
	}
	if _, err := LoadKEKFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
}

func TestGenerateAndRotateKEKFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	if err := GenerateKEKFile(path); err != nil {
		t.Fatalf("GenerateKEKFile: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	if err := GenerateKEKFile(path); !errors.Is(err, os.ErrExist) {
		t.Errorf("second GenerateKEKFile = %v, want ErrExist", err)
	}
	r1, err := LoadKEKFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first := r1.Current().ID()

	id, err := RotateKEKFile(path)
	if err != nil {
		t.Fatalf("RotateKEKFile: %v", err)
	}
	r2, err := LoadKEKFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := r2.IDs(); !slices.Equal(got, []string{id, first}) {
		t.Errorf("after rotation IDs = %q, want [%s %s]", got, id, first)
	}
	old, _ := r2.key(first)
	if !bytes.Equal(old.key[:], r1.Current().key[:]) {
		t.Error("rotation changed the old key")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("after rotation: mode %v, err %v", fi.Mode().Perm(), err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("rotation left %d files behind", len(entries))
	}
}

func TestKEK_NeverPrints(t *testing.T) {
	r := newTestKeyring(t, "cur", "old")
	k := r.Current()
	secret := hex.EncodeToString(k.key[:])
	oldKey, _ := r.key("old")
	oldSecret := hex.EncodeToString(oldKey.key[:])

	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	logger.Info("kek", "kek", k, "keyring", r)
	logger.Info("kek text", slog.Any("kek", k))
	slog.New(slog.NewTextHandler(&logs, nil)).Info("kek", "kek", k, "keyring", r)
	js, _ := json.Marshal(map[string]any{"kek": k, "keyring": r})

	out := strings.Join([]string{
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %x %X %q", k, k, k, k, k, k, k),
		fmt.Sprint(r), fmt.Sprintf("%v %+v %#v %s %x %X %q", r, r, r, r, r, r, r),
		fmt.Sprintf("%v", *r), fmt.Sprintf("%+v", []*KEK{k}),
		logs.String(), string(js),
	}, "\n")
	for _, s := range []string{secret, oldSecret, strings.ToUpper(secret), string(k.key[:])} {
		if strings.Contains(out, s) {
			t.Fatalf("key material printed:\n%s", out)
		}
	}
	if !strings.Contains(out, "cur") {
		t.Errorf("the key id should print:\n%s", out)
	}
	m := r.SealingMaterial()
	if len(m) != 32 || bytes.Equal(m, k.key[:]) {
		t.Error("SealingMaterial must be 32 bytes derived from, not equal to, the KEK")
	}
}

// Attack surface: a KEK file other users can read is refused, like ssh
// refuses a private key; 0600 and 0400 are fine.
func TestLoadKEKFileRefusesOpenModes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek")
	if err := GenerateKEKFile(path); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o604, 0o640, 0o660, 0o666} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKEKFile(path); !errors.Is(err, ErrKEKFileMode) {
			t.Errorf("mode %04o: LoadKEKFile = %v, want ErrKEKFileMode", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKEKFile(path); err != nil {
			t.Errorf("mode %04o: LoadKEKFile = %v", mode, err)
		}
	}
}
