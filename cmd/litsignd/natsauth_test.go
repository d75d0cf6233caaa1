package main

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/litsignd/litsignd/delegationstore"
)

func startTestEmbedded(t *testing.T, cfg *config) (string, []nats.Option, error) {
	t.Helper()
	ns, opts, err := startEmbedded(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return "", nil, err
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns.ClientURL(), opts, nil
}

func connectErr(url string, opts ...nats.Option) error {
	nc, err := nats.Connect(url, opts...)
	if err == nil {
		nc.Close()
	}
	return err
}

// Attack: an anonymous local client against the embedded server. Before:
// it could read plain hand-offs and purge the delegation bucket. After:
// outside dev mode the server requires the generated credentials (a 0600
// file for the CLI), or a configured auth file.
func TestAttackAnonymousClientEmbeddedServer(t *testing.T) {
	dir := t.TempDir()
	cfg := &config{natsListen: "127.0.0.1:0", dataDir: dir}
	url, opts, err := startTestEmbedded(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := connectErr(url); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("anonymous connect = %v, want an authorization violation", err)
	}
	if err := connectErr(url, opts...); err != nil {
		t.Fatalf("litsignd's own connection: %v", err)
	}
	path := embeddedCredentialsFile(dir)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, mode %v; want 0600", err, fi.Mode())
	}
	// The CLI's view: the file's LITSIGN_NATS_USER/PASSWORD connect.
	b, _ := os.ReadFile(path)
	env := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	if err := connectErr(url, nats.UserInfo(env["LITSIGN_NATS_USER"], env["LITSIGN_NATS_PASSWORD"])); err != nil {
		t.Fatalf("connect with the credentials file: %v", err)
	}
	if err := connectErr(url, nats.UserInfo(env["LITSIGN_NATS_USER"], "guess")); err == nil {
		t.Fatal("a wrong password connects")
	}
	// A restart keeps the credentials.
	pw, err := loadOrCreatePassword(dir)
	if err != nil || pw != env["LITSIGN_NATS_PASSWORD"] {
		t.Fatalf("restart: password %v, %v; want the stored one", pw != "", err)
	}
	// A credentials file others can read is refused.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreatePassword(dir); err == nil {
		t.Fatal("a world-readable credentials file was used")
	}
}

func TestEmbeddedAuthModes(t *testing.T) {
	t.Run("no-auth only on loopback", func(t *testing.T) {
		if _, _, err := startTestEmbedded(t, &config{natsListen: "0.0.0.0:0", dataDir: t.TempDir(), natsNoAuth: true}); err == nil {
			t.Fatal("--nats-no-auth on 0.0.0.0 started")
		}
		url, _, err := startTestEmbedded(t, &config{natsListen: "127.0.0.1:0", dataDir: t.TempDir(), natsNoAuth: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := connectErr(url); err != nil {
			t.Fatalf("--nats-no-auth on loopback: %v", err)
		}
	})
	t.Run("config file", func(t *testing.T) {
		dir := t.TempDir()
		conf := filepath.Join(dir, "auth.conf")
		if err := os.WriteFile(conf, []byte("authorization { users: [ {user: daemon, password: s3cret-daemon-pass} ] }\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		url, _, err := startTestEmbedded(t, &config{natsListen: "127.0.0.1:0", dataDir: dir, natsConfig: conf})
		if err != nil {
			t.Fatal(err)
		}
		if err := connectErr(url); err == nil {
			t.Fatal("anonymous connect to a --nats-config server")
		}
		if err := connectErr(url, nats.UserInfo("daemon", "s3cret-daemon-pass")); err != nil {
			t.Fatal(err)
		}
		empty := filepath.Join(dir, "empty.conf")
		_ = os.WriteFile(empty, []byte("max_payload: 1MB\n"), 0o600)
		if _, _, err := startTestEmbedded(t, &config{natsListen: "127.0.0.1:0", dataDir: dir, natsConfig: empty}); err == nil {
			t.Fatal("a --nats-config without authentication was accepted")
		}
	})
}

// Attack: a world-readable KEK file. Before: accepted silently. After:
// litsignd refuses to start with it.
func TestAttackWorldReadableKEK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	if err := delegationstore.GenerateKEKFile(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig([]string{"--kek-file", path}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loadKEK(cfg); !errors.Is(err, delegationstore.ErrKEKFileMode) {
		t.Fatalf("loadKEK of a 0644 KEK file = %v, want ErrKEKFileMode", err)
	}
}
