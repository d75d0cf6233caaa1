// Package natsflags declares the NATS authentication and TLS flags that
// litsign and litsignd share (--nats-creds, --nats-user/--nats-password,
// --nats-nkey-file, --nats-tls-ca/-cert/-key), checks them before anything
// connects, and turns them into nats.Options.
package natsflags

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
)

// Flags are the NATS authentication and TLS settings.
type Flags struct {
	Creds    string
	User     string
	Password string
	NKeyFile string
	TLSCA    string
	TLSCert  string
	TLSKey   string
}

// Names are the flags Register declares, for help sections.
func Names() []string {
	return []string{"nats-creds", "nats-user", "nats-password", "nats-nkey-file", "nats-tls-ca", "nats-tls-cert", "nats-tls-key"}
}

// Register declares the flags on fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Creds, "nats-creds", "", "NATS credentials file (user JWT and nkey seed)")
	fs.StringVar(&f.User, "nats-user", "", "NATS user name (with --nats-password)")
	fs.StringVar(&f.Password, "nats-password", "", "NATS password")
	fs.StringVar(&f.NKeyFile, "nats-nkey-file", "", "NATS nkey seed file")
	fs.StringVar(&f.TLSCA, "nats-tls-ca", "", "CA certificate file (PEM) that verifies the NATS server; enables TLS")
	fs.StringVar(&f.TLSCert, "nats-tls-cert", "", "client certificate file (PEM) for NATS TLS (with --nats-tls-key)")
	fs.StringVar(&f.TLSKey, "nats-tls-key", "", "client key file (PEM) for NATS TLS")
}

// Validate checks the flags without connecting: one authentication
// method, a certificate with its key, and readable files.
func (f *Flags) Validate() error {
	methods := 0
	for _, set := range []bool{f.Creds != "", f.NKeyFile != "", f.User != ""} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		return errors.New("give one NATS authentication method: --nats-creds, --nats-nkey-file or --nats-user")
	}
	if f.Password != "" && f.User == "" {
		return errors.New("--nats-password needs --nats-user")
	}
	if (f.TLSCert == "") != (f.TLSKey == "") {
		return errors.New("--nats-tls-cert and --nats-tls-key go together")
	}
	for _, file := range []struct{ flag, path string }{
		{"--nats-creds", f.Creds}, {"--nats-nkey-file", f.NKeyFile}, {"--nats-tls-ca", f.TLSCA},
	} {
		if file.path == "" {
			continue
		}
		if _, err := os.Stat(file.path); err != nil {
			return fmt.Errorf("%s: %w", file.flag, err)
		}
	}
	if f.TLSCert != "" {
		if _, err := tls.LoadX509KeyPair(f.TLSCert, f.TLSKey); err != nil {
			return fmt.Errorf("--nats-tls-cert/--nats-tls-key: %w", err)
		}
	}
	return nil
}

// Options returns the nats.Options for the flags (after Validate).
func (f *Flags) Options() ([]nats.Option, error) {
	var opts []nats.Option
	if f.Creds != "" {
		opts = append(opts, nats.UserCredentials(f.Creds))
	}
	if f.User != "" {
		opts = append(opts, nats.UserInfo(f.User, f.Password))
	}
	if f.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(f.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--nats-nkey-file: %w", err)
		}
		opts = append(opts, o)
	}
	if f.TLSCA != "" {
		opts = append(opts, nats.RootCAs(f.TLSCA))
	}
	if f.TLSCert != "" {
		opts = append(opts, nats.ClientCert(f.TLSCert, f.TLSKey))
	}
	return opts, nil
}
