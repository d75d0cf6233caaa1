package consumer

import "github.com/nats-io/nats.go/jetstream"

// Defaults of Topology.MaxBytes and Topology.MaxMsgs: every stream litsignd
// creates is bounded (a stream at its limit discards its oldest messages;
// a work queue refuses new ones), so no producer or client can grow the
// server's storage without bound.
const (
	DefaultStreamMaxBytes = 256 << 20
	DefaultStreamMaxMsgs  = 1_000_000
)

// limited sets cfg's MaxBytes and MaxMsgs from the topology (defaults
// above; negative means unlimited). A work-queue stream refuses new
// messages at its limit (DiscardNew) rather than dropping unhandled ones.
func (t Topology) limited(cfg jetstream.StreamConfig) jetstream.StreamConfig {
	cfg.MaxBytes = limitOr(t.MaxBytes, DefaultStreamMaxBytes)
	cfg.MaxMsgs = limitOr(t.MaxMsgs, DefaultStreamMaxMsgs)
	if cfg.Retention == jetstream.WorkQueuePolicy {
		cfg.Discard = jetstream.DiscardNew
	}
	return cfg
}

func limitOr(v, def int64) int64 {
	switch {
	case v < 0:
		return -1
	case v == 0:
		return def
	}
	return v
}

// MaxResultBytes is LIT_RESULTS' MaxMsgSize: NATS's default max_payload,
// the largest result a publish can carry anyway.
const MaxResultBytes = 1 << 20

// DefaultLedgerMaxBytes bounds the job ledger bucket (lit_jobs): a day of
// final results at a few KiB each (about 100 000).
const DefaultLedgerMaxBytes = 512 << 20
