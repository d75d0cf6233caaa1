package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Authentication of the embedded nats-server (README "Security model").
// Outside dev mode it is one of:
//
//   - --nats-config FILE: the server's authorization/accounts come from a
//     nats-server configuration file (users per producer, permissions);
//     litsignd connects with its --nats-* credentials;
//   - generated (the default): one user "litsign" with a random password
//     kept in <data-dir>/nats-credentials (mode 0600, LITSIGN_NATS_* lines
//     for the litsign CLI); litsignd connects as that user;
//   - --nats-no-auth: no authentication, allowed only on a loopback
//     --nats-listen, with a warning at every start.
//
// Dev mode keeps the open loopback server of the quickstart.

// embeddedCredentialsFile is where the generated credentials are kept.
func embeddedCredentialsFile(dataDir string) string {
	return filepath.Join(dataDir, "nats-credentials")
}

const embeddedUser = "litsign"

// embeddedAuth configures opts' authentication and returns the client
// options litsignd's own connection needs.
func embeddedAuth(cfg *config, opts *server.Options, logger *slog.Logger) ([]nats.Option, error) {
	switch {
	case cfg.natsConfig != "":
		fileOpts, err := server.ProcessConfigFile(cfg.natsConfig)
		if err != nil {
			return nil, fmt.Errorf("--nats-config: %w", err)
		}
		if fileOpts.JetStream && fileOpts.StoreDir != "" {
			logger.Warn("--nats-config: its jetstream store_dir is ignored; the embedded server stores in --data-dir")
		}
		opts.Users, opts.Nkeys, opts.Accounts = fileOpts.Users, fileOpts.Nkeys, fileOpts.Accounts
		opts.Username, opts.Password, opts.Authorization = fileOpts.Username, fileOpts.Password, fileOpts.Authorization
		opts.NoAuthUser, opts.TrustedOperators, opts.AccountResolver = fileOpts.NoAuthUser, fileOpts.TrustedOperators, fileOpts.AccountResolver
		opts.SystemAccount = fileOpts.SystemAccount
		opts.JetStreamLimits = fileOpts.JetStreamLimits
		if len(opts.Users) == 0 && len(opts.Nkeys) == 0 && opts.Username == "" && opts.Authorization == "" && len(opts.TrustedOperators) == 0 {
			return nil, errors.New("--nats-config: the file configures no authentication (authorization or accounts with users)")
		}
		return nil, nil
	case cfg.dev:
		return nil, nil
	case cfg.natsNoAuth:
		if !loopbackListen(cfg.natsListen) {
			return nil, fmt.Errorf("--nats-no-auth with --nats-listen %s: an embedded server without authentication may listen on loopback only", cfg.natsListen)
		}
		logger.Warn("EMBEDDED NATS SERVER HAS NO AUTHENTICATION: every local process can read hand-offs, publish jobs and purge the delegation bucket; use --nats-config or the generated credentials in production",
			"listen", cfg.natsListen)
		return nil, nil
	}
	pw, err := loadOrCreatePassword(cfg.dataDir)
	if err != nil {
		return nil, err
	}
	opts.Users = []*server.User{{Username: embeddedUser, Password: pw}}
	return []nats.Option{nats.UserInfo(embeddedUser, pw)}, nil
}

// loopbackListen reports whether listen (HOST:PORT) is a loopback address.
func loopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loadOrCreatePassword reads the generated password from the credentials
// file, or creates the file (0600) with a new random one.
func loadOrCreatePassword(dataDir string) (string, error) {
	path := embeddedCredentialsFile(dataDir)
	if f, err := os.Open(path); err == nil {
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("%s has mode %04o: it holds the NATS password; chmod 600 it", path, fi.Mode().Perm())
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "LITSIGN_NATS_PASSWORD="); ok && len(v) >= 32 {
				return v, nil
			}
		}
		return "", fmt.Errorf("%s holds no LITSIGN_NATS_PASSWORD; delete it to generate new credentials", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	pw := hex.EncodeToString(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("write NATS credentials: %w", err)
	}
	_, werr := fmt.Fprintf(f, "# litsignd's embedded NATS server credentials (generated). Keep this file 0600.\nLITSIGN_NATS_USER=%s\nLITSIGN_NATS_PASSWORD=%s\n", embeddedUser, pw)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return "", fmt.Errorf("write NATS credentials: %w", werr)
	}
	return pw, nil
}
