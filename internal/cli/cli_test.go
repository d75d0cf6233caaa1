package cli

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90s", 90 * time.Second, true},
		{"15m", 15 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"30d", 30 * 24 * time.Hour, true},
		{"31d", 31 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"0d", 0, true},
		{"31", 0, false},
		{"d", 0, false},
		{"1.5d", 0, false},
		{"-1d", 0, false},
		{"1d-1h", 0, false},
		{"1w", 0, false},
		{"", 0, false},
		{"parse error", 0, false},
	} {
		got, err := ParseDuration(tc.in)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if !tc.ok {
			if err == nil {
				t.Errorf("ParseDuration(%q) = %v, want an error", tc.in, got)
			} else if !strings.Contains(err.Error(), "30d") || !strings.Contains(err.Error(), "15m") {
				t.Errorf("ParseDuration(%q) error %q does not say what is accepted", tc.in, err)
			}
		}
	}
}

func TestFormatDurationRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{15 * time.Minute, "15m"}, {2 * time.Hour, "2h"}, {30 * time.Second, "30s"}, {90 * time.Second, "1m30s"},
		{30 * 24 * time.Hour, "30d"}, {36 * time.Hour, "1d12h"}, {24*time.Hour + time.Minute, "1d1m"}, {0, "0s"},
	} {
		got := FormatDuration(tc.d)
		if got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
		if back, err := ParseDuration(got); err != nil || back != tc.d {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", tc.d, back, err)
		}
	}
}

func testFlags() (*flag.FlagSet, *string, *time.Duration, *bool) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	url := fs.String("nats-url", "", "NATS URL")
	ttl := Duration(fs, "ttl", 15*time.Minute, "lifetime")
	seal := fs.Bool("seal", false, "seal it")
	fs.String("dev-info", "", "description file written by `litsignd dev`")
	return fs, url, ttl, seal
}

func TestParse(t *testing.T) {
	env := map[string]string{"X_NATS_URL": "nats://env", "X_TTL": "2d"}
	getenv := func(k string) string { return env[k] }

	fs, url, ttl, _ := testFlags()
	if err := Parse(fs, []string{"--nats-url", "nats://flag"}, "X_", getenv); err != nil {
		t.Fatal(err)
	}
	if *url != "nats://flag" || *ttl != 48*time.Hour {
		t.Errorf("url %q ttl %v: want the flag to win and the environment to fill the rest", *url, *ttl)
	}

	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    error // ErrHelp, or nil for a usage error
		message string
	}{
		{"-h", []string{"-h"}, nil, ErrHelp, ""},
		{"--help", []string{"--help"}, nil, ErrHelp, ""},
		{"unknown flag", []string{"--frob"}, nil, nil, "unknown flag --frob"},
		{"missing value", []string{"--nats-url"}, nil, nil, "flag --nats-url needs a value"},
		{"bad duration", []string{"--ttl", "31x"}, nil, nil, `invalid value "31x" for --ttl: not a duration`},
		{"bad bool", []string{"--seal=maybe"}, nil, nil, "--seal"},
		{"bad env", nil, map[string]string{"X_TTL": "soon"}, nil, `X_TTL="soon": not a duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, _, _, _ := testFlags()
			var out bytes.Buffer
			fs.SetOutput(&out)
			err := Parse(fs, tc.args, "X_", func(k string) string { return tc.env[k] })
			if tc.want != nil {
				if !errors.Is(err, tc.want) || ExitCode(err) != 0 {
					t.Fatalf("err %v (exit %d), want %v and exit 0", err, ExitCode(err), tc.want)
				}
				return
			}
			var ue *UsageError
			if !errors.As(err, &ue) || ExitCode(err) != 2 || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("err %v (exit %d), want a usage error (exit 2) containing %q", err, ExitCode(err), tc.message)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("usage error %q spans lines", err)
			}
			if out.Len() > 0 {
				t.Errorf("the flag package printed %q itself", out.String())
			}
		})
	}
}

func TestExtraArguments(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	_ = fs.Parse([]string{"a", "b"})
	if err := Extra(fs, 2); err != nil {
		t.Errorf("two arguments of two: %v", err)
	}
	if err := Extra(fs, 1); ExitCode(err) != 2 || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("two arguments of one: %v", err)
	}
	if err := Extra(fs, 0); ExitCode(err) != 2 || !strings.Contains(err.Error(), `"a"`) || !strings.Contains(err.Error(), "no arguments") {
		t.Errorf("arguments of none: %v", err)
	}
	fs = flag.NewFlagSet("t", flag.ContinueOnError)
	_ = fs.Parse([]string{"file", "--seal"})
	if err := Extra(fs, 1); err == nil || !strings.Contains(err.Error(), "flags go before") {
		t.Errorf("a flag after the argument: %v", err)
	}
}

func TestReportAndExitCode(t *testing.T) {
	var b bytes.Buffer
	Report(&b, "prog", WithHint(errors.New("unknown flag --frob"), "run 'prog -h' for usage"))
	if b.String() != "prog: unknown flag --frob\nrun 'prog -h' for usage\n" {
		t.Errorf("report = %q", b.String())
	}
	b.Reset()
	Report(&b, "prog", errors.New("connect:\nrefused"))
	if b.String() != "prog: connect: refused\n" {
		t.Errorf("report = %q, want one line", b.String())
	}
	b.Reset()
	Report(&b, "prog", ErrHelp)
	Report(&b, "prog", nil)
	if b.Len() != 0 {
		t.Errorf("help or success reported %q", b.String())
	}
	if ExitCode(nil) != 0 || ExitCode(ErrHelp) != 0 || ExitCode(errors.New("x")) != 1 || ExitCode(Usagef("x")) != 2 {
		t.Error("exit codes: want 0 for nil and help, 2 for usage, 1 otherwise")
	}
}

// Backquotes in a usage text are quotes, not the placeholder; every flag
// shows its environment variable.
func TestPrintFlags(t *testing.T) {
	fs, _, _, _ := testFlags()
	var b bytes.Buffer
	PrintFlags(&b, fs, "X_", Section{Title: "NATS:", Names: []string{"nats-url"}})
	out := b.String()
	for _, want := range []string{
		"Flags:\n", "  --dev-info string\n", "written by 'litsignd dev' [$X_DEV_INFO]",
		"  --ttl duration\n", "(default 15m) [$X_TTL]", "  --seal\n", "NATS:\n  --nats-url string\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "--dev-info litsignd") || strings.Contains(out, "`") {
		t.Errorf("a backquoted word became the placeholder:\n%s", out)
	}
	if strings.Index(out, "NATS:") < strings.Index(out, "--ttl") {
		t.Errorf("a sectioned flag is listed under Flags:\n%s", out)
	}
}
