package jsapi

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRetry(t *testing.T) {
	calls := 0
	err := Retry(context.Background(), 5, time.Second, func(ctx context.Context) error {
		calls++
		if calls < 3 {
			return context.DeadlineExceeded
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Retry = %v after %d calls, want success on the 3rd", err, calls)
	}
	calls = 0
	permanent := errors.New("stream name already in use with a different configuration")
	if err := Retry(context.Background(), 5, time.Second, func(context.Context) error { calls++; return permanent }); err != permanent || calls != 1 {
		t.Fatalf("Retry(permanent) = %v after %d calls, want 1 call", err, calls)
	}
}
