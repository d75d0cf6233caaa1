package consumer

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Handler handles one message and acknowledges it itself.
type Handler func(ctx context.Context, msg jetstream.Msg)

// Pull runs handle on the consumer's messages with at most workers in
// flight, pulling only small batches so that no message waits in a local
// buffer long enough to hit AckWait (docs/jetstream.md A.1). When ctx ends it
// stops pulling and waits for in-flight handlers, which run under a context
// that outlives ctx by up to drainTimeout (graceful drain).
func Pull(ctx context.Context, cons jetstream.Consumer, workers int, drainTimeout time.Duration, handle Handler, logger *slog.Logger) error {
	if workers <= 0 {
		workers = 1
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	batch := min(workers, 64)
	it, err := cons.Messages(jetstream.PullMaxMessages(batch), jetstream.PullExpiry(5*time.Second))
	if err != nil {
		return err
	}
	// Handlers keep running after ctx ends, until drainTimeout.
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			it.Stop()
		case <-stopped:
		}
	}()
	// A pool of workers, not a goroutine per message: a worker's stack
	// keeps the size a job needs instead of growing for every job. A
	// token in sem is taken before pulling, so no message is pulled while
	// every worker is busy.
	sem := make(chan struct{}, workers)
	msgs := make(chan jetstream.Msg)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for msg := range msgs {
				handle(hctx, msg)
				<-sem
			}
		}()
	}
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		msg, err := it.Next()
		if err != nil {
			<-sem
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
				break
			}
			logger.Warn("pull failed", "err", err)
			continue
		}
		msgs <- msg
	}
	close(msgs)
	close(stopped)
	it.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drainTimeout):
		logger.Warn("drain timeout: cancelling in-flight handlers")
		hcancel()
		<-done
	}
	return nil
}
