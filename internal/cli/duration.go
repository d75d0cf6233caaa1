package cli

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDuration parses a Go duration ("90s", "15m", "1h30m") that may start
// with a whole number of days ("30d", "1d12h"). The error says what is
// accepted.
func ParseDuration(s string) (time.Duration, error) {
	bad := errors.New("not a duration: want a number and a unit (s, m, h, or d for days), e.g. 90s, 15m, 12h, 30d or 1d12h")
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, bad
	}
	var days time.Duration
	if i := strings.IndexByte(t, 'd'); i >= 0 {
		n, err := strconv.ParseUint(t[:i], 10, 16)
		if err != nil {
			return 0, bad
		}
		days, t = time.Duration(n)*24*time.Hour, t[i+1:]
		if t == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(t)
	if err != nil || (days > 0 && d < 0) {
		return 0, bad
	}
	return days + d, nil
}

// FormatDuration writes d the way ParseDuration reads it, short: 15m, 2h,
// 30d, 1d12h, 1m30s.
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return d.String()
	}
	var b strings.Builder
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dd", days)
		d -= days * 24 * time.Hour
		if d == 0 {
			return b.String()
		}
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	b.WriteString(s)
	return b.String()
}

type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) String() string { return FormatDuration(time.Duration(*d)) }

// Placeholder names the value in the help.
func (d *durationValue) Placeholder() string { return "duration" }

// DurationVar declares a duration flag that accepts days (see
// ParseDuration).
func DurationVar(fs *flag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var((*durationValue)(p), name, usage)
}

// Duration is DurationVar returning the variable.
func Duration(fs *flag.FlagSet, name string, value time.Duration, usage string) *time.Duration {
	p := new(time.Duration)
	DurationVar(fs, p, name, value, usage)
	return p
}
