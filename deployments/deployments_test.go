// Package deployments_test checks the files of deployments/ against the real
// things they configure, on 127.0.0.1 and in-process, since no container
// engine runs here:
//
//   - the NATS configs load with nats-server's own parser, a three-server
//     cluster starts from them and keeps every message through the loss of
//     a server (nats_test.go);
//   - each NATS role can do what deployments/README.md says and gets a
//     permissions violation for the rest (permissions_test.go);
//   - the compose daemons, started with the compose file's own entrypoint,
//     command and environment, hand off delegations and sign jobs against
//     that cluster and a local Lit network, and export every metric the
//     dashboard and the alerts read (daemon_test.go);
//   - the compose, Kubernetes, Helm, Prometheus and Grafana files decode
//     strictly, name only flags and variables litsignd has, and the image
//     builds with go.mod's Go version (manifests_test.go).
package deployments_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot is the module root, relative to this package's directory (the
// working directory of go test).
const repoRoot = ".."

// binaries are litsignd and litsign, built once per test binary.
var binaries struct {
	once sync.Once
	dir  string
	err  error
}

// buildBinaries builds cmd/litsignd and cmd/litsign into a temporary
// directory (removed by TestMain) and returns it.
func buildBinaries(t testing.TB) string {
	t.Helper()
	binaries.once.Do(func() {
		dir, err := os.MkdirTemp("", "litsignd-deployments-bin-")
		if err != nil {
			binaries.err = err
			return
		}
		binaries.dir = dir
		cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/litsignd", "./cmd/litsign")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			binaries.err = fmt.Errorf("go build ./cmd/litsignd ./cmd/litsign: %v\n%s", err, out)
		}
	})
	if binaries.err != nil {
		t.Fatal(binaries.err)
	}
	return binaries.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binaries.dir != "" {
		os.RemoveAll(binaries.dir)
	}
	os.Exit(code)
}

// flagNames runs `<bin> <args…> -h` and returns the flag names it lists.
func flagNames(t testing.TB, bin string, args ...string) map[string]bool {
	t.Helper()
	cmd := exec.Command(bin, append(args, "-h")...)
	out, _ := cmd.CombinedOutput() // the listing is what counts
	names := map[string]bool{}
	re := regexp.MustCompile(`^  --?([a-z0-9][a-z0-9-]*)`)
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			names[m[1]] = true
		}
	}
	if len(names) == 0 {
		t.Fatalf("%s %v -h listed no flags:\n%s", bin, args, out)
	}
	return names
}

// litsigndFlags is the daemon's flag set, from the built binary.
func litsigndFlags(t testing.TB) map[string]bool {
	return flagNames(t, filepath.Join(buildBinaries(t), "litsignd"))
}

// envName is litsignd's environment fallback of a flag (cmd/litsignd
// config.go envName).
func envName(flag string) string {
	return "LITSIGND_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// checkDaemonArgs reports every --flag in args that litsignd lacks.
func checkDaemonArgs(t *testing.T, where string, args []string, flags map[string]bool) {
	t.Helper()
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name := strings.TrimLeft(a, "-")
		name, _, _ = strings.Cut(name, "=")
		if !flags[name] {
			t.Errorf("%s passes %q to litsignd, which has no flag %q", where, a, name)
		}
	}
}

// checkDaemonEnv reports every LITSIGND_* variable litsignd does not read
// and every other variable not in allowed.
func checkDaemonEnv(t *testing.T, where string, names []string, flags map[string]bool, allowed ...string) {
	t.Helper()
	envs := map[string]bool{}
	for f := range flags {
		envs[envName(f)] = true
	}
	for _, n := range names {
		switch {
		case envs[n]:
		case strings.HasPrefix(n, "LITSIGND_"):
			t.Errorf("%s sets %s, which is no litsignd flag's environment fallback", where, n)
		case !contains(allowed, n):
			t.Errorf("%s sets %s for litsignd, which does not read it", where, n)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var lns []net.Listener
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// serverLog collects what a nats-server logs at warning level and above,
// to find permission violations.
type serverLog struct {
	name  string
	mu    sync.Mutex
	lines []string
}

func (l *serverLog) add(level, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, l.name+" "+level+" "+fmt.Sprintf(format, args...))
}

func (l *serverLog) Noticef(string, ...any)            {}
func (l *serverLog) Debugf(string, ...any)             {}
func (l *serverLog) Tracef(string, ...any)             {}
func (l *serverLog) Warnf(format string, args ...any)  { l.add("WRN", format, args...) }
func (l *serverLog) Errorf(format string, args ...any) { l.add("ERR", format, args...) }
func (l *serverLog) Fatalf(format string, args ...any) { l.add("FTL", format, args...) }

// violations returns the logged permission violations.
func (l *serverLog) violations() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var v []string
	for _, s := range l.lines {
		if strings.Contains(s, "Violation") {
			v = append(v, s)
		}
	}
	return v
}

// within runs f until it returns nil or d passes, and returns its last error.
func within(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// testContext is a context bounded by d and by the test's own deadline.
func testContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
