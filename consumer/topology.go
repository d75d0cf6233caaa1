package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/internal/jsapi"
)

// Topology names litsignd's subjects, streams, consumers and buckets. The
// zero value is not usable; start from DefaultTopology or TopologyFor.
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

// DefaultPrefix is the default subject prefix; its topology keeps the
// documented names (README "NATS contract").
const DefaultPrefix = "lit"

// DefaultTopology returns the documented defaults (README "NATS contract"),
// TopologyFor(DefaultPrefix).
func DefaultTopology() Topology { return TopologyFor(DefaultPrefix) }

// TopologyFor returns the topology of a deployment with the given subject
// prefix: every stream, consumer and bucket name derives from the prefix,
// so deployments with different prefixes share nothing on one NATS
// account. The prefix "lit" gives LIT_DELEGATIONS, lit_daemon, litsignd,
// … ; "acme.prod" gives ACME_PROD_DELEGATIONS, acme_prod_daemon,
// litsignd-acme_prod, … (characters a name cannot hold become '_').
func TopologyFor(prefix string) Topology {
	upper, lower := strings.ToUpper(nameToken(prefix)), strings.ToLower(nameToken(prefix))
	consumer := "litsignd"
	if prefix != DefaultPrefix {
		consumer += "-" + lower
	}
	return Topology{
		Prefix:            prefix,
		DelegationsStream: upper + "_DELEGATIONS",
		EventsStream:      upper + "_EVENTS",
		JobsStream:        upper + "_JOBS",
		ResultsStream:     upper + "_RESULTS",
		IntakeConsumer:    consumer + "-intake",
		JobsConsumer:      consumer,
		DelegationsBucket: lower + "_delegations",
		DaemonBucket:      lower + "_daemon",
		JobsBucket:        lower + "_jobs",
		AuditStream:       upper + "_AUDIT",
		Replicas:          1,
	}
}

// nameToken maps a subject prefix to the characters stream, consumer and
// bucket names may hold: letters, digits, '_' and '-'; anything else
// (the '.' between tokens, for one) becomes '_'.
func nameToken(prefix string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-') {
			return r
		}
		return '_'
	}, prefix)
}

// Subject helpers.
func (t Topology) DelegationsSubject() string { return t.Prefix + ".delegations" }
func (t Topology) RevocationsSubject() string { return t.Prefix + ".revocations" }
func (t Topology) EventSubject(event, pkp string) string {
	return t.Prefix + ".events.delegation." + event + "." + pkp
}
func (t Topology) JobSubject(kind string) string  { return t.Prefix + ".jobs." + kind }
func (t Topology) ResultSubject(id string) string { return t.Prefix + ".results." + id }

// ProducerJobSubject is where producer publishes jobs of kind:
// <prefix>.jobs.<producer>.<kind>.
func (t Topology) ProducerJobSubject(producer, kind string) string {
	return t.Prefix + ".jobs." + producer + "." + kind
}

// JobResultSubject is the default result subject of a producer's job:
// <prefix>.results.<producer>.<id>.
func (t Topology) JobResultSubject(producer, id string) string {
	return t.Prefix + ".results." + producer + "." + id
}

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
	for _, cfg := range t.coreStreams() {
		if err := t.ensureStream(ctx, js, cfg); err != nil {
			return err
		}
	}
	if err := jsapi.Retry(ctx, 10, 5*time.Second, func(ctx context.Context) error {
		_, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: t.DaemonBucket, Description: "litsignd: public daemon facts (sealing key)",
			Storage: jetstream.FileStorage, Replicas: max(t.Replicas, 1), History: 1, MaxBytes: 1 << 20, MaxValueSize: 4 << 10,
		})
		return err
	}); err != nil {
		return fmt.Errorf("ensure bucket %s: %w", t.DaemonBucket, err)
	}
	return nil
}

// coreStreams are the streams Ensure creates.
func (t Topology) coreStreams() []jetstream.StreamConfig {
	replicas := max(t.Replicas, 1)
	return []jetstream.StreamConfig{{
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
}

// PrefixMetadataKey is the stream metadata key naming the subject prefix a
// stream was created for.
const PrefixMetadataKey = "litsignd.subject-prefix"

// ErrTopologyClash means a stream litsignd would create or update belongs
// to someone else: it exists with other subjects and was not created for
// this subject prefix, or one of its subjects is already another stream's.
// litsignd then changes nothing.
var ErrTopologyClash = errors.New("stream belongs to another deployment")

// Check verifies, without changing anything, that Ensure and EnsureJobs
// can create or update every stream of t: each either does not exist yet
// or was created for t.Prefix (or has exactly t's subjects), and none of
// t's subjects is captured by another stream. Run it before writing
// anything so that a clash leaves no trace.
func (t Topology) Check(ctx context.Context, js jetstream.JetStream) error {
	for _, cfg := range append(append(t.coreStreams(), t.jobStreams()...), t.auditStream(0)) {
		if err := t.checkStream(ctx, js, cfg); err != nil {
			return err
		}
	}
	return nil
}

func (t Topology) checkStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	var s jetstream.Stream
	// Retried like the writes: before a fresh cluster has a meta leader,
	// the lookup times out (jsapi).
	err := jsapi.Retry(ctx, 10, 5*time.Second, func(ctx context.Context) (err error) {
		s, err = js.Stream(ctx, cfg.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil
		}
		return err
	})
	if err == nil && s == nil {
		err = jetstream.ErrStreamNotFound
	}
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
	case err != nil:
		return fmt.Errorf("check stream %s: %w", cfg.Name, err)
	default:
		have := s.CachedInfo().Config
		same := slices.Equal(slices.Sorted(slices.Values(have.Subjects)), slices.Sorted(slices.Values(cfg.Subjects)))
		if !same && have.Metadata[PrefixMetadataKey] != t.Prefix {
			return fmt.Errorf("%w: stream %s exists with subjects %v and was not created for --subject-prefix %q (which needs %v); litsignd does not change it",
				ErrTopologyClash, cfg.Name, have.Subjects, t.Prefix, cfg.Subjects)
		}
	}
	for _, subj := range cfg.Subjects {
		var other string
		err := jsapi.Retry(ctx, 10, 5*time.Second, func(ctx context.Context) (err error) {
			other, err = js.StreamNameBySubject(ctx, subj)
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return nil
			}
			return err
		})
		if err == nil && other == "" {
			err = jetstream.ErrStreamNotFound
		}
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
		case err != nil:
			return fmt.Errorf("check subject %s: %w", subj, err)
		case other != cfg.Name:
			return fmt.Errorf("%w: subject %s (--subject-prefix %q) is already captured by stream %s", ErrTopologyClash, subj, t.Prefix, other)
		}
	}
	return nil
}

// ensureStream checks that the stream is t's (see Check), then creates it
// or updates it to cfg, retrying while a cluster settles (jsapi). The
// stream is marked with the prefix it was created for.
func (t Topology) ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	if err := t.checkStream(ctx, js, cfg); err != nil {
		return err
	}
	cfg = t.limited(cfg)
	cfg.Metadata = map[string]string{PrefixMetadataKey: t.Prefix}
	if err := jsapi.Retry(ctx, 10, 5*time.Second, func(ctx context.Context) error {
		_, err := js.CreateOrUpdateStream(ctx, cfg)
		return err
	}); err != nil {
		return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
	}
	return nil
}
