package consumer

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/internal/jsapi"
)

// Topology names litsignd's subjects, streams, consumers and buckets. The
// zero value is not usable; start from DefaultTopology.
type Topology struct {
	Prefix            string // subject prefix, default "lit"
	DelegationsStream string // LIT_DELEGATIONS
	EventsStream      string // LIT_EVENTS
	JobsStream        string // LIT_JOBS
	ResultsStream     string // LIT_RESULTS
	IntakeConsumer    string // durable consumer of the delegations stream
	JobsConsumer      string // durable consumer of the jobs stream
	DelegationsBucket string // lit_delegations
	DaemonBucket      string // lit_daemon: the sealing public key and other public facts
	JobsBucket        string // lit_jobs: the job ledger
	AuditStream       string // LIT_AUDIT ("" means LIT_AUDIT)
	Replicas          int
	// MaxBytes and MaxMsgs bound every stream litsignd creates (0: the
	// defaults of limits.go; negative: unlimited).
	MaxBytes, MaxMsgs int64
}

// DefaultTopology returns the documented defaults (README "NATS contract").
func DefaultTopology() Topology {
	return Topology{
		Prefix:            "lit",
		DelegationsStream: "LIT_DELEGATIONS",
		EventsStream:      "LIT_EVENTS",
		JobsStream:        "LIT_JOBS",
		ResultsStream:     "LIT_RESULTS",
		IntakeConsumer:    "litsignd-intake",
		JobsConsumer:      "litsignd",
		DelegationsBucket: "lit_delegations",
		DaemonBucket:      "lit_daemon",
		JobsBucket:        "lit_jobs",
		Replicas:          1,
	}
}

// Subject helpers.
func (t Topology) DelegationsSubject() string { return t.Prefix + ".delegations" }
func (t Topology) RevocationsSubject() string { return t.Prefix + ".revocations" }
func (t Topology) EventSubject(event, pkp string) string {
	return t.Prefix + ".events.delegation." + event + "." + pkp
}
func (t Topology) JobSubject(kind string) string  { return t.Prefix + ".jobs." + kind }
func (t Topology) ResultSubject(id string) string { return t.Prefix + ".results." + id }

// SealingKeyKV is the key in DaemonBucket under which litsignd publishes
// its X25519 sealing public key (hex).
const SealingKeyKV = "sealing-public-key"

// Limits of the intake stream.
const (
	// MaxEnvelopeBytes is the largest delegation message accepted; larger
	// ones are rejected with reason too_large.
	MaxEnvelopeBytes  = 64 << 10
	delegationsMaxAge = 10 * time.Minute
)

// Ensure creates or updates the streams and buckets the daemon needs. It is
// idempotent and safe to run from every replica.
func (t Topology) Ensure(ctx context.Context, js jetstream.JetStream) error {
	replicas := max(t.Replicas, 1)
	streams := []jetstream.StreamConfig{{
		// Work-queue: an acked envelope is gone, so no secret stays.
		Name:       t.DelegationsStream,
		Subjects:   []string{t.DelegationsSubject(), t.RevocationsSubject()},
		Retention:  jetstream.WorkQueuePolicy,
		Storage:    jetstream.FileStorage,
		MaxAge:     delegationsMaxAge,
		Duplicates: 2 * time.Minute,
		// Headers included, what intake accepts (MaxEnvelopeBytes): a larger
		// hand-off is refused at publish and never stored.
		MaxMsgSize:  MaxEnvelopeBytes,
		Replicas:    replicas,
		Description: "litsignd: delegation hand-offs and revocations (work queue)",
	}, {
		Name:        t.EventsStream,
		Subjects:    []string{t.Prefix + ".events.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      7 * 24 * time.Hour,
		Duplicates:  10 * time.Minute,
		MaxMsgSize:  8 << 10,
		Replicas:    replicas,
		Description: "litsignd: delegation events",
	}}
	for _, cfg := range streams {
		if err := ensureStream(ctx, js, t.limited(cfg)); err != nil {
			return err
		}
	}
	if err := jsapi.Retry(ctx, 10, 5*time.Second, func(ctx context.Context) error {
		_, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: t.DaemonBucket, Description: "litsignd: public daemon facts (sealing key)",
			Storage: jetstream.FileStorage, Replicas: replicas, History: 1, MaxBytes: 1 << 20, MaxValueSize: 4 << 10,
		})
		return err
	}); err != nil {
		return fmt.Errorf("ensure bucket %s: %w", t.DaemonBucket, err)
	}
	return nil
}

// ensureStream creates the stream or updates it to cfg, retrying while a
// cluster settles (jsapi).
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	if err := jsapi.Retry(ctx, 10, 5*time.Second, func(ctx context.Context) error {
		_, err := js.CreateOrUpdateStream(ctx, cfg)
		return err
	}); err != nil {
		return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
	}
	return nil
}
