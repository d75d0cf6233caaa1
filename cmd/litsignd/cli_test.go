package main

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/litsignd/litsignd/internal/cli"
)

// runCLI runs litsignd in-process as main does: stdout, stderr (with the
// error and hint main prints) and the exit status.
func runCLI(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errb)
	cli.Report(&errb, "litsignd", err)
	return out.String(), errb.String(), cli.ExitCode(err)
}

func TestHelpAndVersion(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
		not  []string
	}{
		{"-h", []string{"-h"}, []string{"usage: litsignd [flags]", "Commands:\n  dev ", "\n  kek ", "--kek-file string", "[$LITSIGND_KEK_FILE]", "[$LITSIGND_NATS_URL]",
			"--nats-tls-ca", "--nats-nkey-file", "--log-format string", `(default "json")`, "Environment:"},
			[]string{"--devnet-nodes", "--dev-info"}},
		{"--help", []string{"--help"}, []string{"usage: litsignd [flags]"}, nil},
		{"help", []string{"help"}, []string{"usage: litsignd [flags]"}, nil},
		{"dev -h", []string{"dev", "-h"}, []string{"usage: litsignd dev [flags]", "--devnet-nodes int", "[$LITSIGND_DEVNET_NODES]", "--dev-info string", `--log-format string`, `(default "text")`}, []string{"Commands:"}},
		{"help dev", []string{"help", "dev"}, []string{"usage: litsignd dev [flags]"}, nil},
		{"kek -h", []string{"kek", "-h"}, []string{"litsignd kek new [--out FILE]", "litsignd kek rotate FILE"}, nil},
		{"kek new -h", []string{"kek", "new", "-h"}, []string{"litsignd kek new [--out FILE]"}, nil},
		{"help kek", []string{"help", "kek"}, []string{"litsignd kek rotate FILE"}, nil},
		{"--version", []string{"--version"}, []string{"litsignd ", "go version:  " + runtime.Version(), "revision:"}, nil},
		{"version", []string{"version"}, []string{"litsignd ", runtime.Version()}, nil},
		{"dev --version", []string{"dev", "--version"}, []string{"litsignd ", runtime.Version()}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, nil, tc.args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q; want 0 and nothing on stderr", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) {
					t.Errorf("stdout has %q", n)
				}
			}
			for _, line := range strings.Split(out, "\n") {
				if n := utf8.RuneCountInString(line); n > 100 {
					t.Errorf("help line of %d columns: %q", n, line)
				}
			}
			if strings.Contains(out, "`") {
				t.Errorf("a backquote in the help:\n%s", out)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		message string
		hint    string
	}{
		{"unknown flag", []string{"--frob"}, nil, "unknown flag --frob", "run 'litsignd -h' for usage"},
		{"unknown flag in dev", []string{"dev", "--frob"}, nil, "unknown flag --frob", "run 'litsignd dev -h' for usage"},
		{"dev flag outside dev", []string{"--devnet-nodes", "3"}, nil, "unknown flag --devnet-nodes", "litsignd -h"},
		{"unknown command", []string{"frob"}, nil, `unknown command "frob"`, "litsignd -h"},
		{"extra argument", []string{"--kek-file", "k", "extra"}, nil, `unexpected argument "extra"`, "litsignd -h"},
		{"extra argument in dev", []string{"dev", "extra"}, nil, `unexpected argument "extra"`, "litsignd dev -h"},
		{"bad duration", []string{"--kek-file", "k", "--session-ttl", "3x"}, nil, `invalid value "3x" for --session-ttl: not a duration`, "litsignd -h"},
		{"bad env", []string{"--kek-file", "k"}, map[string]string{"LITSIGND_DRAIN_TIMEOUT": "soon"}, `LITSIGND_DRAIN_TIMEOUT="soon": not a duration`, "litsignd -h"},
		{"bad log format", []string{"--kek-file", "k", "--log-format", "xml"}, nil, `--log-format "xml": want text or json`, "litsignd -h"},
		{"password without user", []string{"--kek-file", "k", "--nats-password", "p"}, nil, "--nats-password needs --nats-user", "litsignd -h"},
		{"no KEK", nil, nil, "--kek-file (LITSIGND_KEK_FILE) is required", "litsignd -h"},
		{"replicas", []string{"--kek-file", "k", "--replicas", "9"}, nil, "--replicas 9", "litsignd -h"},
		{"kek without subcommand", []string{"kek"}, nil, "kek: want a subcommand: new or rotate", "litsignd kek -h"},
		{"kek unknown subcommand", []string{"kek", "frob"}, nil, `kek: unknown subcommand "frob"`, "litsignd kek -h"},
		{"kek new extra argument", []string{"kek", "new", "extra"}, nil, `unexpected argument "extra"`, "litsignd kek -h"},
		{"kek new unknown flag", []string{"kek", "new", "--frob"}, nil, "unknown flag --frob", "litsignd kek -h"},
		{"kek rotate without file", []string{"kek", "rotate"}, nil, "want exactly one argument", "litsignd kek -h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, tc.env, tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2 (stderr %q)", code, errOut)
			}
			if out != "" {
				t.Errorf("stdout %q", out)
			}
			lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "litsignd: ") || !strings.Contains(lines[0], tc.message) || !strings.Contains(lines[1], tc.hint) {
				t.Errorf("stderr %q: want one line with %q, then a hint with %q", errOut, tc.message, tc.hint)
			}
		})
	}
}

func TestConfigDefaultsPerMode(t *testing.T) {
	none := func(string) string { return "" }
	cfg, err := parseConfig([]string{"--kek-file", "k"}, none, nil)
	if err != nil || cfg.logFormat != "json" {
		t.Fatalf("daemon: %v, log format %q; want json", err, cfg.logFormat)
	}
	cfg, err = parseConfig([]string{"dev"}, none, nil)
	if err != nil || cfg.logFormat != "text" || cfg.devnetNodes != 4 {
		t.Fatalf("dev: %v, %+v; want text logs and 4 devnet nodes", err, cfg)
	}
	cfg, err = parseConfig([]string{"--kek-file", "k", "--session-ttl", "1d"}, func(k string) string {
		return map[string]string{"LITSIGND_EXPIRING_LEAD": "2d", "LITSIGND_LOG_FORMAT": "text"}[k]
	}, nil)
	if err != nil || cfg.sessionTTL != 24*time.Hour || cfg.expiringLead != 48*time.Hour || cfg.logFormat != "text" {
		t.Fatalf("%v, %+v: want days in flags and environment", err, cfg)
	}
	var b bytes.Buffer
	newLogger(cfg, &b).Info("hello", "k", "v")
	if !strings.Contains(b.String(), "level=INFO msg=hello k=v") {
		t.Errorf("text log %q", b.String())
	}
}
