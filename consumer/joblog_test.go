package consumer

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
)

// TestDeferredAttrsLogsWhatWithLogs: a job logger whose attributes are
// deferred writes the same bytes as slog's eager With, for the JSON and
// text handlers, with record attributes, groups and levels below the
// handler's, and never calls the handler's WithAttrs for a record it drops.
func TestDeferredAttrsLogsWhatWithLogs(t *testing.T) {
	for _, kind := range []string{"json", "text"} {
		t.Run(kind, func(t *testing.T) {
			var eagerBuf, lazyBuf bytes.Buffer
			newHandler := func(buf *bytes.Buffer) slog.Handler {
				opts := &slog.HandlerOptions{Level: slog.LevelWarn, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey && len(groups) == 0 {
						return slog.Attr{}
					}
					return a
				}}
				if kind == "json" {
					return slog.NewJSONHandler(buf, opts)
				}
				return slog.NewTextHandler(buf, opts)
			}
			base := slog.New(newHandler(&eagerBuf)).With("component", "jobs")
			eager := base.With("producer", "p1", "job", "j-1", "delivery", uint64(2))
			lazy := deferredLogger(slog.New(newHandler(&lazyBuf)).With("component", "jobs")).With("producer", "p1", "job", "j-1", "delivery", uint64(2))
			for _, pair := range []struct{ eager, lazy *slog.Logger }{
				{eager, lazy},
				{eager.With("pkp", "0x04ab"), lazy.With("pkp", "0x04ab")},
				{eager.WithGroup("g").With("inner", 1), lazy.WithGroup("g").With("inner", 1)},
				{eager.With(), lazy.With()},
			} {
				pair.eager.Info("dropped", "k", "v")
				pair.lazy.Info("dropped", "k", "v")
				pair.eager.Warn("kept", "err", "boom", slog.Group("grp", "a", 1))
				pair.lazy.Warn("kept", "err", "boom", slog.Group("grp", "a", 1))
				pair.eager.Log(context.Background(), slog.LevelError, "error")
				pair.lazy.Log(context.Background(), slog.LevelError, "error")
			}
			if eagerBuf.Len() == 0 || eagerBuf.String() != lazyBuf.String() {
				t.Fatalf("deferred attributes log differently:\neager:\n%s\ndeferred:\n%s", eagerBuf.String(), lazyBuf.String())
			}
		})
	}
}

// countingHandler counts WithAttrs calls: formatting work a dropped record
// must not cause.
type countingHandler struct {
	slog.Handler
	withAttrs *int
}

func (c countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	*c.withAttrs++
	return countingHandler{c.Handler.WithAttrs(as), c.withAttrs}
}

func TestDeferredAttrsFormatNothingForDroppedRecords(t *testing.T) {
	var n int
	var buf bytes.Buffer
	h := countingHandler{slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}), &n}
	log := deferredLogger(slog.New(h)).With("producer", "p1", "job", "j-1")
	log = log.With("pkp", "0x04ab")
	log.Info("job done")
	if n != 0 || buf.Len() != 0 {
		t.Fatalf("a dropped record cost %d WithAttrs calls and wrote %q", n, buf.String())
	}
	log.Warn("kept")
	if n != 1 || !bytes.Contains(buf.Bytes(), []byte(`"msg":"kept","producer":"p1","job":"j-1","pkp":"0x04ab"}`)) {
		t.Fatalf("WithAttrs calls %d, output %s", n, buf.String())
	}
}
