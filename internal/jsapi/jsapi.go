// Package jsapi retries JetStream API calls that fail while a cluster is
// settling: before a meta leader is elected, or when two replicas create the
// same replicated stream or bucket at once (nats-server then answers with a
// timeout for several seconds; docs/jetstream.md B.2). Each attempt gets its own
// short deadline, so one stalled request does not eat the whole budget.
package jsapi

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Retry calls fn with a per-attempt deadline until it succeeds, fails with an
// error that is not transient, or ctx ends (at most attempts tries).
func Retry(ctx context.Context, attempts int, perAttempt time.Duration, fn func(ctx context.Context) error) error {
	var err error
	for i := 0; i < max(attempts, 1); i++ {
		actx, cancel := context.WithTimeout(ctx, perAttempt)
		err = fn(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !Transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(i+1) * 250 * time.Millisecond):
		}
	}
	return err
}

// Transient reports whether err is worth retrying.
func Transient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
		return true
	}
	s := err.Error()
	for _, sub := range []string{"no responders", "timeout", "insufficient resources", "no suitable peers", "leader not found"} {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
