package delegationstore

import (
	"bufio"
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// KEKSize is the size of a key-encryption key: an XChaCha20-Poly1305 key.
const KEKSize = chacha20poly1305.KeySize

// validKEKID is the key-id syntax: short, printable, no separators that the
// KEK file or a log line could confuse.
var validKEKID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// KEK is a key-encryption key with its id. The id is stored beside every
// secret sealed with the key, so a keyring can pick the key to unseal with.
//
// A KEK never prints its key: String, GoString, Format, LogValue and
// MarshalText show only the id. It is immutable and safe for concurrent use.
type KEK struct {
	id  string
	key [KEKSize]byte
}

// NewKEK returns a KEK with the given id ([A-Za-z0-9._-], 1 to 64
// characters) and 32-byte key. The key is copied.
func NewKEK(id string, key []byte) (*KEK, error) {
	if !validKEKID.MatchString(id) {
		return nil, fmt.Errorf("kek: id %q must be 1 to 64 characters of [A-Za-z0-9._-]", id)
	}
	if len(key) != KEKSize {
		return nil, fmt.Errorf("kek %s: key must be %d bytes, got %d", id, KEKSize, len(key))
	}
	k := &KEK{id: id}
	copy(k.key[:], key)
	return k, nil
}

// GenerateKEK returns a fresh random KEK with the given id.
func GenerateKEK(id string) (*KEK, error) {
	var key [KEKSize]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("kek: random key: %w", err)
	}
	defer clear(key[:])
	return NewKEK(id, key[:])
}

// ID returns the key id.
func (k *KEK) ID() string { return k.id }

// String shows the id only.
func (k *KEK) String() string {
	if k == nil {
		return "KEK(nil)"
	}
	return "KEK{id:" + k.id + " key:REDACTED}"
}

// GoString shows the id only.
func (k *KEK) GoString() string { return k.String() }

// Format shows the id only, for every verb (%x and %#v included).
func (k *KEK) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// LogValue shows the id only in log/slog output.
func (k *KEK) LogValue() slog.Value {
	if k == nil {
		return slog.StringValue("nil")
	}
	return slog.GroupValue(slog.String("id", k.id), slog.String("key", "REDACTED"))
}

// MarshalText writes the redacted form, so a KEK that ends up in JSON or in
// a text encoder shows its id and never its key.
func (k *KEK) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// aead returns the XChaCha20-Poly1305 cipher of the key.
func (k *KEK) aead() (cipher.AEAD, error) {
	return chacha20poly1305.NewX(k.key[:])
}

// Keyring is the set of key-encryption keys the store knows: one current key
// that seals every new secret, and older keys that are kept only to unseal
// secrets sealed before a rotation. A Keyring is immutable and safe for
// concurrent use; it never prints key material.
type Keyring struct {
	current *KEK
	all     []*KEK // current first, then older keys in file order
	byID    map[string]*KEK
}

// NewKeyring returns a keyring that seals with current and unseals with
// current or any of old. Key ids must be distinct.
func NewKeyring(current *KEK, old ...*KEK) (*Keyring, error) {
	if current == nil {
		return nil, errors.New("keyring: no current key")
	}
	r := &Keyring{current: current, byID: map[string]*KEK{}}
	for _, k := range append([]*KEK{current}, old...) {
		if k == nil {
			return nil, errors.New("keyring: nil key")
		}
		if _, dup := r.byID[k.id]; dup {
			return nil, fmt.Errorf("keyring: duplicate key id %q", k.id)
		}
		r.byID[k.id] = k
		r.all = append(r.all, k)
	}
	return r, nil
}

// Current returns the key that seals new secrets.
func (r *Keyring) Current() *KEK { return r.current }

// IDs returns the key ids, the current one first.
func (r *Keyring) IDs() []string {
	ids := make([]string, len(r.all))
	for i, k := range r.all {
		ids[i] = k.id
	}
	return ids
}

// key returns the key with the given id.
func (r *Keyring) key(id string) (*KEK, bool) {
	k, ok := r.byID[id]
	return k, ok
}

// SealingMaterial returns 32 bytes derived from the current key with
// HKDF-SHA256 under a label of its own, for components that need a secret
// shared by every replica (the consumer derives its hand-off sealing key
// from it). It is not the KEK: knowing it does not open any stored secret.
// It changes when the current key is rotated. Callers must treat it as a
// secret.
func (r *Keyring) SealingMaterial() []byte {
	out := make([]byte, 32)
	h := hkdf.New(sha256.New, r.current.key[:], nil, []byte("litsignd delegationstore: sealing material v1"))
	if _, err := io.ReadFull(h, out); err != nil {
		// HKDF-SHA256 can produce 255*32 bytes; 32 never fails.
		panic("delegationstore: hkdf: " + err.Error())
	}
	return out
}

// String shows the key ids only.
func (r *Keyring) String() string {
	if r == nil {
		return "Keyring(nil)"
	}
	return "Keyring{current:" + r.current.id + " ids:[" + strings.Join(r.IDs(), " ") + "] keys:REDACTED}"
}

// GoString shows the key ids only.
func (r *Keyring) GoString() string { return r.String() }

// Format shows the key ids only, for every verb.
func (r *Keyring) Format(f fmt.State, _ rune) { io.WriteString(f, r.String()) }

// LogValue shows the key ids only in log/slog output.
func (r *Keyring) LogValue() slog.Value {
	if r == nil {
		return slog.StringValue("nil")
	}
	return slog.GroupValue(slog.String("current", r.current.id), slog.Any("ids", r.IDs()))
}

// MarshalText writes the redacted form.
func (r *Keyring) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// LoadKEKFile reads a keyring from a KEK file. Each key line is
// "<id>:<64 hex digits>"; the first key line is the current key and later
// lines are older keys kept for unsealing during a rotation. Blank lines and
// lines starting with '#' are ignored. Errors name the file and line number,
// never the line's content.
//
// A file that others may read (or, if litsignd's user owns it, its group)
// is refused with ErrKEKFileMode.
func LoadKEKFile(path string) (*Keyring, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read KEK file: %w", err)
	}
	if err := checkKEKFileMode(path, fi); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read KEK file: %w", err)
	}
	defer clear(data)
	r, err := parseKEKFile(data)
	if err != nil {
		return nil, fmt.Errorf("KEK file %s: %w", path, err)
	}
	return r, nil
}

func parseKEKFile(data []byte) (*Keyring, error) {
	var keys []*KEK
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, hexKey, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want <id>:<64 hex digits>", n)
		}
		key, err := hex.DecodeString(strings.TrimSpace(hexKey))
		if err != nil || len(key) != KEKSize {
			clear(key)
			return nil, fmt.Errorf("line %d: key must be %d hex digits", n, 2*KEKSize)
		}
		k, err := NewKEK(strings.TrimSpace(id), key)
		clear(key)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("no keys")
	}
	return NewKeyring(keys[0], keys[1:]...)
}

// GenerateKEKFile creates a KEK file at path holding one fresh random key,
// with mode 0600. It refuses to overwrite an existing file.
func GenerateKEKFile(path string) error {
	k, err := GenerateKEK(newKEKID())
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create KEK file: %w", err)
	}
	line := kekLine(k)
	defer clear(line)
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("write KEK file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write KEK file: %w", err)
	}
	return f.Close()
}

// WriteNewKEK writes a KEK file's content holding one fresh random key to
// w (what GenerateKEKFile stores), for `litsignd kek new > kek.txt`.
func WriteNewKEK(w io.Writer) error {
	k, err := GenerateKEK(newKEKID())
	if err != nil {
		return err
	}
	line := kekLine(k)
	defer clear(line)
	_, err = w.Write(line)
	return err
}

// RotateKEKFile adds a fresh random key to the KEK file at path as its new
// current key, keeping the previous keys after it so that secrets sealed
// with them still open. The file is replaced atomically (mode 0600). It
// returns the new key id. Daemons pick the new key up when they reload the
// file; records move to the new key on their next Put or through Reseal.
func RotateKEKFile(path string) (string, error) {
	old, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read KEK file: %w", err)
	}
	defer clear(old)
	if _, err := parseKEKFile(old); err != nil {
		return "", fmt.Errorf("KEK file %s: %w", path, err)
	}
	id := newKEKID()
	k, err := GenerateKEK(id)
	if err != nil {
		return "", err
	}
	data := append(kekLine(k), old...)
	defer clear(data)
	if _, err := parseKEKFile(data); err != nil { // e.g. a duplicate id
		return "", fmt.Errorf("rotate KEK file %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".kek-*")
	if err != nil {
		return "", fmt.Errorf("rotate KEK file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("rotate KEK file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", fmt.Errorf("rotate KEK file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("rotate KEK file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("rotate KEK file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("rotate KEK file: %w", err)
	}
	return id, nil
}

// kekLine renders a key as a KEK file line. The caller clears it.
func kekLine(k *KEK) []byte {
	line := make([]byte, 0, len(k.id)+1+2*KEKSize+1)
	line = append(line, k.id...)
	line = append(line, ':')
	line = hex.AppendEncode(line, k.key[:])
	return append(line, '\n')
}

// newKEKID returns an id of the form kek-YYYYMMDD-<8 hex>: sortable by
// creation day and unique enough that rotations never collide.
func newKEKID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "kek-" + time.Now().UTC().Format("20060102") + "-" + hex.EncodeToString(b[:])
}
