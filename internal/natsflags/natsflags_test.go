package natsflags

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/litsignd/litsignd/internal/natstest"
)

// The flags reach a server that requires mutual TLS and an nkey; without
// the nkey or the client certificate the server refuses.
func TestFlagsConnectToTLSAndNKeyServer(t *testing.T) {
	url, files := natstest.RunSecure(t)
	connect := func(args ...string) error {
		var f Flags
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		f.Register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := f.Validate(); err != nil {
			return err
		}
		opts, err := f.Options()
		if err != nil {
			return err
		}
		nc, err := nats.Connect(url, append(opts, nats.NoReconnect())...)
		if err == nil {
			nc.Close()
		}
		return err
	}
	all := []string{"--nats-nkey-file", files.NKeySeed, "--nats-tls-ca", files.CA, "--nats-tls-cert", files.Cert, "--nats-tls-key", files.Key}
	if err := connect(all...); err != nil {
		t.Fatalf("with nkey and client certificate: %v", err)
	}
	if err := connect(all[2:]...); err == nil {
		t.Error("connected without the nkey")
	}
	if err := connect(all[:4]...); err == nil {
		t.Error("connected without a client certificate")
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    Flags
		want string
	}{
		{"password without user", Flags{Password: "p"}, "--nats-password needs --nats-user"},
		{"two methods", Flags{User: "u", NKeyFile: file}, "one NATS authentication method"},
		{"cert without key", Flags{TLSCert: file}, "go together"},
		{"missing creds", Flags{Creds: filepath.Join(dir, "nope")}, "--nats-creds"},
		{"bad key pair", Flags{TLSCert: file, TLSKey: file}, "--nats-tls-cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if err := (&Flags{User: "u", Password: "p"}).Validate(); err != nil {
		t.Errorf("user and password: %v", err)
	}
}
