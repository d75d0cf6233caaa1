package litnode

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// attemptFunc runs one attempt of an operation against a connection state.
type attemptFunc func(ctx context.Context, s *connState, requestID string) error

// retryReason is why an attempt may be retried, with its budget and
// backoff unit (docs/naga-wire.md §11.4, the JS SDK's executeWithHandshake).
type retryReason struct {
	name    string
	budget  int
	backoff bool // 1 s × attempt (RetryBackoff × attempt), else at once
}

var (
	reasonMissingKey   = retryReason{"missing-verification-key", 1, false}
	reasonNetwork      = retryReason{"network-fetch-error", 3, true}
	reasonNoValidShare = retryReason{"no-valid-shares", 6, true}
)

// classifyRetry says whether err may be retried, and under which budget.
func classifyRetry(err error) (retryReason, bool) {
	if !Retryable(err) {
		return retryReason{}, false
	}
	switch {
	case errors.Is(err, ErrDecrypt):
		return reasonMissingKey, true
	case errors.Is(err, ErrNoValidShares):
		return reasonNoValidShare, true
	default:
		return reasonNetwork, true
	}
}

// withRetry runs attempts until one succeeds, an error is not retryable, or
// its reason's budget is spent (MaxAttempts, when set, caps the total).
// Before each retry it refreshes the connection (chain, handshake, identity
// keys), so the next attempt gets new JIT keys, new session signatures and,
// after a node failure, another node set (docs/naga-wire.md §11.4). Too few healthy
// nodes fails at once.
func (c *Client) withRetry(ctx context.Context, op string, attempt attemptFunc) error {
	used := map[string]int{}
	var last error
	attempts := 0
	for {
		attempts++
		c.mu.RLock()
		gen := c.gen
		c.mu.RUnlock()
		s, err := c.current(ctx)
		if err != nil {
			return err
		}
		err = attempt(ctx, s, newRequestID())
		if err == nil {
			return nil
		}
		last = err
		reason, ok := classifyRetry(err)
		if !ok || ctx.Err() != nil || used[reason.name] >= reason.budget || (c.MaxAttempts > 0 && attempts >= c.MaxAttempts) {
			break
		}
		used[reason.name]++
		c.logger().Info("lit operation failed, refreshing and retrying", "op", op, "attempt", attempts, "reason", reason.name, "err", err)
		if reason.backoff {
			if err := sleepCtx(ctx, time.Duration(used[reason.name])*durationOr(c.RetryBackoff, time.Second)); err != nil {
				break
			}
		}
		if err := c.refresh(ctx, gen); err != nil {
			if errors.Is(err, ErrNotEnoughNodes) || ctx.Err() != nil {
				return err
			}
			last = err
		}
	}
	var opErr *OpError
	if errors.As(last, &opErr) {
		opErr.Attempts = attempts
	}
	if ctx.Err() != nil && !errors.Is(last, ctx.Err()) {
		return fmt.Errorf("%s: %w (last error: %v)", op, ctx.Err(), last)
	}
	return last
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// newRequestID makes the X-Request-Id shared by the nodes of one attempt.
func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "litsignd_" + hex.EncodeToString(b)
}
