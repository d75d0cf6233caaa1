package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeBlocks returns the ```sh blocks of README.md's section heading.
func readmeBlocks(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no section %q", heading)
	}
	s = s[i+len(heading)+2:]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	var blocks []string
	for {
		i := strings.Index(s, "```sh\n")
		if i < 0 {
			return blocks
		}
		s = s[i+len("```sh\n"):]
		j := strings.Index(s, "```")
		blocks = append(blocks, s[:j])
		s = s[j+3:]
	}
}

// background starts a long-running README command (one line) with bash in
// dir; the test's end stops it. Its stderr goes to the returned pipe
// reader when wantStderr, else to a log file.
func background(t *testing.T, dir, line string, env []string, wantStderr bool) io.Reader {
	t.Helper()
	cmd := exec.Command("bash", "-c", "exec "+line)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var r io.Reader
	if wantStderr {
		pr, pw := io.Pipe()
		cmd.Stderr = pw
		r = pr
		t.Cleanup(func() { pw.Close() })
	} else {
		f, err := os.Create(filepath.Join(t.TempDir(), "stderr.log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = f
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return r
}

func waitDial(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // a hang guard
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestREADMEOwnNATS runs the README's "Run against your own NATS" commands
// as written, with two substitutions: `go run ./cmd/…` runs binaries built
// from this tree (nats-server built from the module in go.mod), and a free
// port replaces 4222. litsignd runs with the command line `litsign devnet`
// printed (after checking the README shows that form), its metrics on a
// free port through LITSIGND_METRICS_LISTEN.
func TestREADMEOwnNATS(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq is not installed (a quickstart prerequisite)")
	}
	blocks := readmeBlocks(t, "## Run against your own NATS")
	if len(blocks) != 5 {
		t.Fatalf("README section has %d sh blocks, want 5 (setup, nats-server, devnet, litsignd, client)", len(blocks))
	}
	bin := buildBinaries(t)
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "nats-server"), "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		t.Fatalf("go build nats-server: %v\n%s", err, out)
	}
	natsAddr := freeAddr(t)
	_, port, _ := net.SplitHostPort(natsAddr)
	sub := func(s string) string { return asBuilt(strings.ReplaceAll(s, "4222", port), bin) }
	path := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}
	work := t.TempDir()
	daemonLog := func() string { return "" }

	runShell(t, work, sub(blocks[0]), path, daemonLog)
	if st, err := os.Stat(filepath.Join(work, "litsignd-data", "kek.txt")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("kek.txt: %v, %v; want mode 0600", st, err)
	}

	background(t, work, sub(strings.TrimSpace(blocks[1])), path, false)
	waitDial(t, natsAddr)

	devnetErr := background(t, work, sub(strings.TrimSpace(blocks[2])), path, true)
	lines := bufio.NewScanner(devnetErr)
	var printed string
	for lines.Scan() {
		if lines.Text() == "Run litsignd against it:" && lines.Scan() {
			printed = strings.TrimSpace(lines.Text())
			break
		}
	}
	if printed == "" {
		t.Fatal("litsign devnet printed no litsignd command line")
	}
	go func() { _, _ = io.Copy(io.Discard, devnetErr) }()

	// The README shows the printed command's form.
	form := regexp.QuoteMeta(strings.TrimSpace(strings.ReplaceAll(blocks[3], "4222", port)))
	for placeholder, re := range map[string]string{"PORT": `[0-9]+`, "CHAIN": `[0-9]+`, "0xADDRESS": `0x[0-9a-fA-F]{40}`} {
		form = strings.ReplaceAll(form, placeholder, re)
	}
	if !regexp.MustCompile("^" + form + "$").MatchString(printed) {
		t.Fatalf("litsign devnet printed\n  %s\nthe README shows\n  %s", printed, blocks[3])
	}

	metrics := freeAddr(t)
	background(t, work, asBuilt(printed, bin), append(path, "LITSIGND_METRICS_LISTEN="+metrics), false)
	waitHTTP(t, "http://"+metrics+"/readyz", 200)

	out := runShell(t, work, sub(blocks[4]), path, daemonLog)
	if !statusOK.MatchString(out) {
		t.Fatalf("no ok sign result:\n%s", out)
	}
	if !strings.Contains(out, `"type":"stored"`) {
		t.Errorf("publish-delegation did not report the stored delegation:\n%s", out)
	}
	t.Logf("litsign devnet printed: %s", printed)
}
