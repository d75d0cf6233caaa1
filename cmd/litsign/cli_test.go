package main

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/consumer"
	"github.com/litsignd/litsignd/internal/cli"
	"github.com/litsignd/litsignd/internal/natsflags"
	"github.com/litsignd/litsignd/internal/natstest"
)

// testPKP is a well-formed PKP public key (an uncompressed secp256k1 point).
var testPKP = func() string {
	k, _ := crypto.GenerateKey()
	return hexutil.Encode(crypto.FromECDSAPub(&k.PublicKey))
}()

// runCLI runs litsign in-process and returns stdout, stderr as main writes
// it (the error and its hint), and the exit status.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code, err := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
	cli.Report(&errb, "litsign", err)
	if err != nil && code == 0 {
		t.Fatalf("litsign %q: exit 0 with error %v", args, err)
	}
	return out.String(), errb.String(), code
}

func TestHelpAndVersion(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string // on stdout
		not  []string // not on stdout
	}{
		{"-h", []string{"-h"}, []string{"usage: litsign <command>", "Commands:", "publish-delegation", "LITSIGN_NATS_URL", "LITSIGN_DEV_INFO"}, nil},
		{"--help", []string{"--help"}, []string{"Commands:"}, nil},
		{"help", []string{"help"}, []string{"Commands:"}, nil},
		{"help sign", []string{"help", "sign"}, []string{"usage: litsign sign --pkp 0x04… (--message TEXT | --hex 0x…) [flags]", "--message string", "[$LITSIGN_MESSAGE]"}, []string{"Commands:"}},
		{"sign -h", []string{"sign", "-h"}, []string{"usage: litsign sign "}, nil},
		{"sign --help", []string{"sign", "--help"}, []string{"usage: litsign sign "}, nil},
		{"publish-delegation -h", []string{"publish-delegation", "-h"}, []string{"usage: litsign publish-delegation [flags] [FILE|-]", "--seal"}, nil},
		{"delegate -h", []string{"delegate", "-h"}, []string{"--owner-key", "--ttl duration", "[$LITSIGN_TTL]", "--dev-info string"},
			[]string{"--nats-url", "--nats-creds", "--subject-prefix", "NATS connection"}},
		{"delegations -h", []string{"delegations", "-h"}, []string{"--json", "--nats-tls-ca", "--nats-nkey-file", "--nats-tls-cert", "--nats-tls-key", "--nats-creds", "--nats-user"}, nil},
		{"bench -h", []string{"bench", "-h"}, []string{"--code string", "file with the action's JavaScript source", "--ipfs", "--params", "--jobs int"}, nil},
		{"devnet -h", []string{"devnet", "-h"}, []string{"--nodes int", "--kek-file"}, []string{"--nats-creds", "--pkp string", "--timeout"}},
		{"--version", []string{"--version"}, []string{"litsign ", "go version:  " + runtime.Version(), "revision:"}, nil},
		{"version", []string{"version"}, []string{"litsign ", runtime.Version()}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, tc.args...)
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
					t.Errorf("stdout has %q:\n%s", n, out)
				}
			}
			checkWidth(t, out)
		})
	}
}

// Every command's help: exit 0, its own usage line, no backquote turned
// into a placeholder, and each flag with its LITSIGN_ variable.
func TestEveryCommandHelp(t *testing.T) {
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			out, _, code := runCLI(t, c.name, "-h")
			if code != 0 || !strings.HasPrefix(out, "usage: litsign "+c.name) {
				t.Fatalf("exit %d, help:\n%s", code, out)
			}
			if strings.Contains(out, "`") || strings.Contains(out, "-dev-info litsignd") {
				t.Errorf("a backquoted word became a placeholder:\n%s", out)
			}
			for _, line := range strings.Split(out, "\n") {
				if strings.HasPrefix(line, "  --") {
					name := strings.Fields(line)[0][2:]
					if !strings.Contains(out, "[$"+cli.EnvName(envPrefix, name)+"]") {
						t.Errorf("--%s: no environment variable in the help", name)
					}
				}
			}
			checkWidth(t, out)
			help, _, _ := runCLI(t, "help", c.name)
			if help != out {
				t.Error("'litsign help <cmd>' differs from '<cmd> -h'")
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	pkp := testPKP
	for _, tc := range []struct {
		name    string
		args    []string
		message string // the one error line
		hint    string
	}{
		{"no command", nil, "no command given", ""},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`, "run 'litsign -h'"},
		{"help of unknown command", []string{"help", "frobnicate"}, `unknown command "frobnicate"`, "run 'litsign -h'"},
		{"flag before command", []string{"--nats-url", "x", "sign"}, "flags go after it", "run 'litsign -h'"},
		{"unknown flag", []string{"sign", "--frob"}, "unknown flag --frob", "run 'litsign sign -h' for usage"},
		{"NATS flag on delegate", []string{"delegate", "--nats-url", "nats://x", "--pkp", pkp}, "unknown flag --nats-url", "run 'litsign delegate -h'"},
		{"extra argument", []string{"keygen", "extra"}, `unexpected argument "extra"`, "run 'litsign keygen -h'"},
		{"extra argument to delegations", []string{"delegations", "list"}, `unexpected argument "list"`, "litsign delegations -h"},
		{"two files", []string{"publish-delegation", "a.json", "b.json"}, `unexpected argument "b.json"`, "litsign publish-delegation -h"},
		{"flag after file", []string{"publish-delegation", "a.json", "--seal"}, "flags go before", "litsign publish-delegation -h"},
		{"bad duration", []string{"delegate", "--pkp", pkp, "--ttl", "3x"}, "not a duration: want a number and a unit (s, m, h, or d for days)", "litsign delegate -h"},
		{"ttl over 30 days", []string{"delegate", "--pkp", pkp, "--ttl", "31d", "--owner-key", "01"}, "--ttl 31d: want more than 0 and at most 30d", "litsign delegate -h"},
		{"bench code with pkp-sign", []string{"bench", "--pkp", pkp, "--kind", "pkp-sign", "--code", "a.js"}, "--code and --ipfs are for --kind execute-js", "litsign bench -h"},
		{"bench execute-js without code", []string{"bench", "--pkp", pkp, "--kind", "execute-js"}, "needs --code FILE or --ipfs CID", "litsign bench -h"},
		{"bench missing code file", []string{"bench", "--pkp", pkp, "--code", "/nonexistent/a.js"}, "--code", "litsign bench -h"},
		{"bad pkp", []string{"sign", "--pkp", "0x04zz", "--message", "m"}, "--pkp", "litsign sign -h"},
		{"audit since in days", []string{"audit", "--pkp", "0x04zz", "--since", "7d"}, "--pkp", "litsign audit -h"},
		{"audit bad since", []string{"audit", "--pkp", testPKP, "--since", "a week"}, "not a duration", "litsign audit -h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2 (stderr %q)", code, errOut)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
			if tc.name == "no command" {
				if !strings.Contains(errOut, "Commands:") || !strings.HasSuffix(errOut, "litsign: no command given\n") {
					t.Errorf("stderr %q: want the command list and the error", errOut)
				}
				return
			}
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "litsign: ") || !strings.Contains(lines[0], tc.message) || !strings.Contains(lines[1], tc.hint) {
				t.Errorf("stderr %q: want one line with %q and a hint with %q", errOut, tc.message, tc.hint)
			}
		})
	}
}

// The environment fills flags: LITSIGN_TTL in days reaches delegate's
// validation; a bad variable names itself.
func TestEnvironmentFallback(t *testing.T) {
	var out, errb bytes.Buffer
	env := map[string]string{"LITSIGN_TTL": "40d", "LITSIGN_PKP": testPKP, "LITSIGN_OWNER_KEY": "01"}
	code, err := run(context.Background(), []string{"delegate"}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
	if code != 2 || err == nil || !strings.Contains(err.Error(), "--ttl 40d") {
		t.Errorf("LITSIGN_TTL=40d: exit %d, %v", code, err)
	}
	env["LITSIGN_TTL"] = "soon"
	code, err = run(context.Background(), []string{"delegate"}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
	if code != 2 || err == nil || !strings.Contains(err.Error(), `LITSIGN_TTL="soon"`) {
		t.Errorf("LITSIGN_TTL=soon: exit %d, %v", code, err)
	}
}

// bench fails when a job gets no result: nobody serves the jobs stream.
func TestBenchFailsOnLostJobs(t *testing.T) {
	_, url := natstest.RunJetStream(t)
	_, js := natstest.Connect(t, url)
	topo := consumer.DefaultTopology()
	if err := topo.EnsureJobs(context.Background(), js); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code, err := run(context.Background(), []string{"bench", "--nats-url", url, "--pkp", testPKP, "--jobs", "2", "--concurrency", "2", "--timeout", "300ms"},
		func(string) string { return "" }, strings.NewReader(""), &out, &errb)
	if code != 1 || err == nil || !strings.Contains(err.Error(), "2 jobs got no result") || !strings.Contains(out.String(), "no result:   2") {
		t.Fatalf("bench with no daemon: exit %d, %v\n%s", code, err, out.String())
	}
	if strings.Contains(errb.String(), "\r") {
		t.Errorf("progress bar drawn on a non-terminal stderr: %q", errb.String())
	}
}

// litsign reaches a NATS that requires mutual TLS and an nkey, with the
// flags litsignd has.
func TestLitsignOverTLSAndNKey(t *testing.T) {
	url, files := natstest.RunSecure(t)
	auth := natsflags.Flags{NKeyFile: files.NKeySeed, TLSCA: files.CA, TLSCert: files.Cert, TLSKey: files.Key}
	opts, err := auth.Options()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: consumer.DefaultTopology().DelegationsBucket}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "delegations", "--nats-url", url, "--nats-nkey-file", files.NKeySeed,
		"--nats-tls-ca", files.CA, "--nats-tls-cert", files.Cert, "--nats-tls-key", files.Key, "--timeout", "10s")
	if code != 0 || !strings.Contains(out, "(no delegations stored)") {
		t.Fatalf("exit %d: %s%s", code, errOut, out)
	}
	_, errOut, code = runCLI(t, "delegations", "--nats-url", url, "--nats-tls-ca", files.CA, "--nats-tls-cert", files.Cert, "--nats-tls-key", files.Key, "--timeout", "10s")
	if code != 1 || !strings.Contains(errOut, "connect to NATS") {
		t.Errorf("without the nkey: exit %d, %s", code, errOut)
	}
}

// sign and exec print a result indented on a terminal, on one line
// otherwise; the progress bar and the indentation follow IsTerminal, which
// is false for pipes and buffers.
func TestPrintJSON(t *testing.T) {
	data := []byte(`{"id":"j1","status":"ok","signature":{"r":"0x01"}}`)
	var b bytes.Buffer
	printJSON(&b, data, true)
	if b.String() != "{\n  \"id\": \"j1\",\n  \"status\": \"ok\",\n  \"signature\": {\n    \"r\": \"0x01\"\n  }\n}\n" {
		t.Errorf("pretty = %q", b.String())
	}
	b.Reset()
	printJSON(&b, data, false)
	if b.String() != string(data)+"\n" {
		t.Errorf("compact = %q", b.String())
	}
	if cli.IsTerminal(&b) {
		t.Error("a buffer is no terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if cli.IsTerminal(w) {
		t.Error("a pipe is no terminal")
	}
}

// checkWidth fails for a help line wider than 100 columns.
func checkWidth(t *testing.T, out string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(line); n > 100 {
			t.Errorf("help line of %d columns: %q", n, line)
		}
	}
}
