package consumer

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/internal/jsapi"
)

// Limits and defaults of the job streams.
const (
	// JobsDuplicateWindow is the duplicate window of the jobs and results
	// streams: producers set Nats-Msg-Id = job id, and a retry within it
	// is dropped by the server (docs/jetstream.md A.4, F).
	JobsDuplicateWindow = 10 * time.Minute
	// ResultsMaxAge is how long LIT_RESULTS keeps a result.
	ResultsMaxAge = 24 * time.Hour
	// jobsMaxAge drops jobs nobody handled in a day.
	jobsMaxAge = 24 * time.Hour
	// Defaults of JobsConsumerConfig (litsignd passes its flags, whose
	// MaxAckPending default is 4096).
	defaultJobsMaxDeliver    = 5
	defaultJobsAckWait       = 30 * time.Second
	defaultJobsMaxAckPending = 256
)

// ExhaustedStream is the stream that keeps the jobs consumer's
// max-deliveries advisories (docs/jetstream.md A.3, A.5): a job whose
// deliveries run out without a final result stays in the work-queue stream
// and the server only announces it, so the advisory is captured and
// handled by Jobs.HandleExhausted.
func (t Topology) ExhaustedStream() string { return t.JobsStream + "_EXHAUSTED" }

// ExhaustedConsumer is the durable consumer of ExhaustedStream.
func (t Topology) ExhaustedConsumer() string { return t.JobsConsumer + "-exhausted" }

// MaxDeliveriesSubject is the advisory subject the server publishes on
// when a job exhausts the jobs consumer's MaxDeliver.
func (t Topology) MaxDeliveriesSubject() string {
	return "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + t.JobsStream + "." + t.JobsConsumer
}

// JobsSubjects is the filter of the jobs stream, <prefix>.jobs.>.
func (t Topology) JobsSubjects() string { return t.Prefix + ".jobs.>" }

// ResultsSubjects is the filter of the results stream, <prefix>.results.>.
func (t Topology) ResultsSubjects() string { return t.Prefix + ".results.>" }

// EnsureJobs creates or updates what the job consumer needs: the jobs
// stream (work queue: an acked or terminated job is gone), the results
// stream (limits, a day of results), the stream of max-deliveries
// advisories and the job ledger bucket (entries kept DefaultLedgerTTL). It
// is idempotent and safe to run from every replica.
func (t Topology) EnsureJobs(ctx context.Context, js jetstream.JetStream) error {
	for _, cfg := range t.jobStreams() {
		if err := t.ensureStream(ctx, js, cfg); err != nil {
			return err
		}
	}
	if _, err := OpenLedger(ctx, js, t.JobsBucket, DefaultLedgerTTL, max(t.Replicas, 1)); err != nil {
		return err
	}
	return nil
}

// jobStreams are the streams EnsureJobs creates.
func (t Topology) jobStreams() []jetstream.StreamConfig {
	replicas := max(t.Replicas, 1)
	return []jetstream.StreamConfig{{
		Name:        t.JobsStream,
		Subjects:    []string{t.JobsSubjects()},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      jobsMaxAge,
		Duplicates:  JobsDuplicateWindow,
		MaxMsgSize:  MaxJobBytes + 4<<10,
		Replicas:    replicas,
		Description: "litsignd: sign jobs (work queue)",
	}, {
		Name:        t.ResultsStream,
		Subjects:    []string{t.ResultsSubjects()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      ResultsMaxAge,
		Duplicates:  JobsDuplicateWindow,
		MaxMsgSize:  MaxResultBytes,
		Replicas:    replicas,
		Description: "litsignd: job results",
	}, {
		Name:        t.ExhaustedStream(),
		Subjects:    []string{t.MaxDeliveriesSubject()},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      jobsMaxAge,
		MaxMsgSize:  8 << 10,
		Replicas:    replicas,
		Description: "litsignd: max-deliveries advisories of the jobs consumer",
	}}
}

// JobsConsumerConfig is the config of the durable pull consumer all
// replicas share (docs/jetstream.md A.1, A.2, A.7, F). Explicit acks;
// AckWait bounds a silent worker (handlers send InProgress while they
// wait on nodes); no BackOff, since BackOff does not apply to naks and
// the handler naks with its own delay; MaxAckPending caps jobs in flight
// over all replicas. Zero or negative arguments mean MaxDeliver 5,
// AckWait 30 s and MaxAckPending 256. Jobs.MaxDeliver must equal
// maxDeliver.
func (t Topology) JobsConsumerConfig(maxDeliver int, ackWait time.Duration, maxAckPending int) jetstream.ConsumerConfig {
	if maxDeliver <= 0 {
		maxDeliver = defaultJobsMaxDeliver
	}
	if ackWait <= 0 {
		ackWait = defaultJobsAckWait
	}
	if maxAckPending <= 0 {
		maxAckPending = defaultJobsMaxAckPending
	}
	return jetstream.ConsumerConfig{
		Durable:       t.JobsConsumer,
		Description:   "litsignd sign jobs",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    maxDeliver,
		MaxAckPending: maxAckPending,
		FilterSubject: t.JobsSubjects(),
	}
}

// ExhaustedConsumerConfig is the config of the durable consumer of
// ExhaustedStream, shared by all replicas.
func (t Topology) ExhaustedConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       t.ExhaustedConsumer(),
		Description:   "litsignd exhausted jobs",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    20,
		MaxAckPending: 64,
	}
}

// EnsureJobsConsumers creates or updates the jobs consumer with cfg (see
// JobsConsumerConfig) and the exhausted-jobs consumer, and returns both.
// Run Jobs.Handle on the first and Jobs.HandleExhausted on the second.
func (t Topology) EnsureJobsConsumers(ctx context.Context, js jetstream.JetStream, cfg jetstream.ConsumerConfig) (jobs, exhausted jetstream.Consumer, err error) {
	err = jsapi.Retry(ctx, 10, 5*time.Second, func(ctx context.Context) (err error) {
		jobs, err = js.CreateOrUpdateConsumer(ctx, t.JobsStream, cfg)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("jobs consumer: %w", err)
	}
	err = jsapi.Retry(ctx, 10, 5*time.Second, func(ctx context.Context) (err error) {
		exhausted, err = js.CreateOrUpdateConsumer(ctx, t.ExhaustedStream(), t.ExhaustedConsumerConfig())
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("exhausted-jobs consumer: %w", err)
	}
	return jobs, exhausted, nil
}
