package consumer

import (
	"context"
	"log/slog"
	"slices"
)

// deferredAttrs is a slog.Handler that keeps the attributes of With calls
// and hands them to the handler beneath only for a record it logs. A job's
// logger carries five or six attributes (producer, job, kind, delivery,
// seq, pkp) and most jobs log nothing at the configured level; formatting
// those attributes eagerly, as a JSON or text handler's WithAttrs does,
// was paid by every job. The output is the same as the eager handler's:
// the attributes are applied, in order, before the record is handled, and
// a group closes over the attributes before it.
type deferredAttrs struct {
	h     slog.Handler
	attrs []slog.Attr
}

// deferredLogger returns log with its further With attributes deferred.
func deferredLogger(log *slog.Logger) *slog.Logger {
	return slog.New(&deferredAttrs{h: log.Handler()})
}

func (d *deferredAttrs) Enabled(ctx context.Context, level slog.Level) bool {
	return d.h.Enabled(ctx, level)
}

func (d *deferredAttrs) Handle(ctx context.Context, r slog.Record) error {
	h := d.h
	if len(d.attrs) > 0 {
		h = h.WithAttrs(d.attrs)
	}
	return h.Handle(ctx, r)
}

func (d *deferredAttrs) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return d
	}
	return &deferredAttrs{h: d.h, attrs: append(slices.Clip(d.attrs), attrs...)}
}

func (d *deferredAttrs) WithGroup(name string) slog.Handler {
	if name == "" {
		return d
	}
	h := d.h
	if len(d.attrs) > 0 {
		h = h.WithAttrs(d.attrs)
	}
	return &deferredAttrs{h: h.WithGroup(name)}
}
