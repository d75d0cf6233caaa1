package consumer

import (
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// beatCounter is a message that counts its InProgress calls.
type beatCounter struct {
	jetstream.Msg
	beats atomic.Int64
}

func (m *beatCounter) InProgress() error { m.beats.Add(1); return nil }

// TestHeartbeatBeatsUntilStopped: a job waiting on slow nodes keeps
// telling JetStream it is in progress, again and again, and never once
// its stop returned (a late beat would extend a delivery that has ended).
func TestHeartbeatBeatsUntilStopped(t *testing.T) {
	j := &Jobs{Heartbeat: 5 * time.Millisecond}
	m := &beatCounter{}
	stop := j.heartbeat(m, slog.New(slog.DiscardHandler))
	deadline := time.Now().Add(10 * time.Second)
	for m.beats.Load() < 3 {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("%d in-progress beats in 10 s; want at least 3", m.beats.Load())
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	after := m.beats.Load()
	time.Sleep(20 * j.Heartbeat)
	if got := m.beats.Load(); got != after {
		t.Errorf("%d in-progress beats after stop returned", got-after)
	}
	stop2 := (&Jobs{Heartbeat: -1}).heartbeat(m, slog.New(slog.DiscardHandler))
	time.Sleep(20 * j.Heartbeat)
	stop2()
	if got := m.beats.Load(); got != after {
		t.Errorf("a disabled heartbeat beat %d times", got-after)
	}
}
