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

// withRetry runs attempts until one succeeds, an error is not retryable, or
// the budget is spent. Before each retry it refreshes the connection (chain,
// handshake, identity keys), so the next attempt gets new JIT keys, new
// session signatures and, after a node failure, another node set
// (network.md §11.4). Too few healthy nodes fails at once.
func (c *Client) withRetry(ctx context.Context, op string, attempt attemptFunc) error {
	maxAttempts := c.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 4
	}
	var last error
	attempts := 0
	for n := 1; n <= maxAttempts; n++ {
		attempts = n
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
		if !Retryable(err) || ctx.Err() != nil || n == maxAttempts {
			break
		}
		c.logger().Info("lit operation failed, refreshing and retrying", "op", op, "attempt", n, "err", err)
		if err := sleepCtx(ctx, time.Duration(n)*durationOr(c.RetryBackoff, 250*time.Millisecond)); err != nil {
			break
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
