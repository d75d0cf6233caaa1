// Package cli holds the command-line conventions litsign and litsignd
// share: flags parsed with environment fallbacks, usage errors (exit
// status 2, one line and a hint), help requested (exit status 0), help text
// that lists every flag with its environment variable, and durations that
// accept days.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// ErrHelp is returned when help was requested: the caller prints the help
// to stdout and exits 0.
var ErrHelp = errors.New("help requested")

// UsageError is a mistake on the command line or in the environment: the
// process exits 2 after printing Err on one line and then Hint.
type UsageError struct {
	Err  error
	Hint string // e.g. "run 'litsign sign -h' for usage"
}

func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a *UsageError with a formatted message and no hint.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// WithHint makes err a *UsageError carrying hint, unless it already has one.
func WithHint(err error, hint string) error {
	var ue *UsageError
	if errors.As(err, &ue) {
		if ue.Hint == "" {
			ue.Hint = hint
		}
		return ue
	}
	return &UsageError{Err: err, Hint: hint}
}

// ExitCode is the exit status for what run returned: 0 for nil and
// ErrHelp, 2 for a *UsageError, 1 otherwise.
func ExitCode(err error) int {
	var ue *UsageError
	switch {
	case err == nil, errors.Is(err, ErrHelp):
		return 0
	case errors.As(err, &ue):
		return 2
	default:
		return 1
	}
}

// Report writes err for a user: "<prog>: <message>" on one line and, for a
// usage error, the hint on the next. Nothing for nil or ErrHelp.
func Report(w io.Writer, prog string, err error) {
	if err == nil || errors.Is(err, ErrHelp) {
		return
	}
	fmt.Fprintf(w, "%s: %s\n", prog, strings.ReplaceAll(err.Error(), "\n", " "))
	var ue *UsageError
	if errors.As(err, &ue) && ue.Hint != "" {
		fmt.Fprintln(w, ue.Hint)
	}
}

// EnvName is the environment fallback of a flag: prefix + NAME with '-' as
// '_' (prefix "LITSIGND_", flag "nats-url" → LITSIGND_NATS_URL).
func EnvName(prefix, flagName string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse sets fs's flags from the environment (envPrefix, see EnvName) and
// then from args; the command line wins. -h and --help return ErrHelp; any
// other mistake is a *UsageError with one line (fs prints nothing itself).
func Parse(fs *flag.FlagSet, args []string, envPrefix string, getenv func(string) string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if envErr != nil || envPrefix == "" {
			return
		}
		name := EnvName(envPrefix, f.Name)
		if v := getenv(name); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = Usagef("%s=%q: %v", name, v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		return ErrHelp
	default:
		return &UsageError{Err: errors.New(flagError(err.Error()))}
	}
}

// flagError rewrites the flag package's messages in the --flag spelling
// the help uses.
func flagError(msg string) string {
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag --" + strings.TrimLeft(name, "-")
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "flag --" + strings.TrimLeft(name, "-") + " needs a value"
	}
	if rest, ok := strings.CutPrefix(msg, "invalid value "); ok {
		// invalid value "x" for flag -name: cause
		return "invalid value " + strings.Replace(rest, " for flag -", " for --", 1)
	}
	if rest, ok := strings.CutPrefix(msg, "invalid boolean value "); ok {
		return "invalid boolean value " + strings.Replace(rest, " for -", " for --", 1)
	}
	return msg
}

// Extra returns a usage error if fs has more than max positional
// arguments, naming the first unexpected one.
func Extra(fs *flag.FlagSet, max int) error {
	if fs.NArg() <= max {
		return nil
	}
	a := fs.Arg(max)
	if strings.HasPrefix(a, "-") && a != "-" {
		return Usagef("unexpected argument %q after the positional arguments (flags go before them)", a)
	}
	if max == 0 {
		return Usagef("unexpected argument %q (this command takes no arguments)", a)
	}
	return Usagef("unexpected argument %q (at most %d argument(s))", a, max)
}
