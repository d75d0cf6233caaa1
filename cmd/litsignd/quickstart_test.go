package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// buildBinaries builds litsignd and litsign into a temporary directory and
// returns it.
func buildBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, pkg := range []string{".", "../litsign"} {
		name := "litsignd"
		if pkg != "." {
			name = "litsign"
		}
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return dir
}

// asBuilt rewrites a README command line to use the built binaries in bin
// instead of `go run ./cmd/…`; nothing else changes.
func asBuilt(line, bin string) string {
	line = strings.ReplaceAll(line, "go run ./cmd/litsignd", filepath.Join(bin, "litsignd"))
	return strings.ReplaceAll(line, "go run ./cmd/litsign", filepath.Join(bin, "litsign"))
}

// readmeBlock returns the first ```sh block of README.md after the text
// after.
func readmeBlock(t *testing.T, after string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, after)
	if i < 0 {
		t.Fatalf("README.md has no %q", after)
	}
	s = s[i:]
	i = strings.Index(s, "```sh\n")
	if i < 0 {
		t.Fatalf("README.md has no sh block after %q", after)
	}
	s = s[i+len("```sh\n"):]
	return s[:strings.Index(s, "```")]
}

// runShell runs script with bash (-eu -o pipefail) in dir and returns its
// stdout; it fails the test with everything on failure.
func runShell(t *testing.T, dir, script string, env []string, daemonLogs func() string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang guard, not a speed target
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\nscript:\n%s\nstdout:\n%s\nstderr:\n%s\ndaemon:\n%s", err, script, stdout.String(), stderr.String(), daemonLogs())
	}
	return stdout.String()
}

var statusOK = regexp.MustCompile(`"status":\s*"ok"`)

// The README's quickstart is, line for line, what litsignd dev prints with
// the default data directory.
func TestREADMEQuickstartIsTheBanner(t *testing.T) {
	got := readmeBlock(t, "prints this quickstart")
	if want := quickstart("litsignd-data/dev-info.json", "litsignd-data"); got != want {
		t.Errorf("README quickstart:\n%s\nlitsignd dev prints:\n%s", got, want)
	}
}

// TestQuickstart runs the quickstart litsignd dev prints (the README's,
// see above) against litsignd dev: delegate a dev PKP, hand it over
// sealed, list, sign, run an action, bench.
func TestQuickstart(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq is not installed (a quickstart prerequisite)")
	}
	bin := buildBinaries(t)
	dataDir := filepath.Join(t.TempDir(), "litsignd-data") // created by litsignd, as by default
	var banner syncBuffer
	_, logs, stop := startDevOut(t, dataDir, &banner)
	defer stop()
	_, qs, ok := strings.Cut(banner.String(), "Quickstart (in another terminal; needs jq):\n\n")
	if !ok || qs != quickstart(filepath.Join(dataDir, "info.json"), dataDir)+"\n" {
		t.Fatalf("litsignd dev printed:\n%s\nwant its quickstart", banner.String())
	}
	out := runShell(t, t.TempDir(), asBuilt(qs, bin), nil, logs.String)
	if n := len(statusOK.FindAllString(out, -1)); n < 2 {
		t.Errorf("quickstart printed %d ok results, want sign's and exec's:\n%s", n, out)
	}
	// The envelope (a session secret) sits in the data directory, which
	// only its owner can enter.
	if _, err := os.Stat(filepath.Join(dataDir, "envelope.json")); err != nil {
		t.Fatal(err)
	}
	if d, err := os.Stat(dataDir); err != nil || d.Mode().Perm()&0o077 != 0 {
		t.Errorf("data dir %s: mode %v, %v; want 0700", dataDir, d.Mode().Perm(), err)
	}
	t.Logf("quickstart output:\n%s", out)
}
