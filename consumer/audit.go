package consumer

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/litsignd/litsignd/litnode"
)

// AuditRecord is one entry of the audit trail: a pkp-sign or execute-js
// job that reached the Lit nodes. It is published on
// <prefix>.audit.<producer> into the LIT_AUDIT stream. It never carries a
// secret, the message itself, nor an action's response or logs: only the
// digest (pkp-sign) or the action's CID (execute-js).
type AuditRecord struct {
	JobID    string    `json:"jobId"`
	Producer string    `json:"producer"`
	PKP      string    `json:"pkpPublicKey"`
	Kind     string    `json:"kind"`
	Digest   string    `json:"digest,omitempty"` // 0x + hex of the signed digest
	CID      string    `json:"cid,omitempty"`
	Chain    string    `json:"chain,omitempty"`
	Outcome  string    `json:"outcome"`           // "ok" or the job's error code
	Nodes    int       `json:"nodes"`             // nodes asked (the Naga network's threshold; 0 on Lit v3)
	Backend  string    `json:"backend,omitempty"` // "naga" or "lit-v3"
	Delivery uint64    `json:"delivery,omitempty"`
	At       time.Time `json:"at"`
}

// Auditor records audit entries. *NATSAudit implements it.
type Auditor interface {
	Record(ctx context.Context, rec AuditRecord) error
}

// DefaultAuditMaxAge is how long LIT_AUDIT keeps entries by default.
const DefaultAuditMaxAge = 90 * 24 * time.Hour

// AuditSubject is <prefix>.audit.<producer>.
func (t Topology) AuditSubject(producer string) string { return t.Prefix + ".audit." + producer }

// AuditStreamName is the audit stream, AuditStream or <PREFIX>_AUDIT.
func (t Topology) AuditStreamName() string {
	if t.AuditStream != "" {
		return t.AuditStream
	}
	return strings.ToUpper(nameToken(t.Prefix)) + "_AUDIT"
}

// EnsureAudit creates or updates the audit stream: limits retention, kept
// maxAge (DefaultAuditMaxAge when 0), bounded by the topology's limits.
func (t Topology) EnsureAudit(ctx context.Context, js jetstream.JetStream, maxAge time.Duration) error {
	return t.ensureStream(ctx, js, t.auditStream(maxAge))
}

// auditStream is the audit stream's configuration.
func (t Topology) auditStream(maxAge time.Duration) jetstream.StreamConfig {
	if maxAge <= 0 {
		maxAge = DefaultAuditMaxAge
	}
	return jetstream.StreamConfig{
		Name:        t.AuditStreamName(),
		Subjects:    []string{t.Prefix + ".audit.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      maxAge,
		Duplicates:  JobsDuplicateWindow,
		MaxMsgSize:  4 << 10,
		Replicas:    max(t.Replicas, 1),
		Description: "litsignd: audit trail of jobs that reached the Lit nodes",
	}
}

// NATSAudit publishes audit records into the audit stream, deduplicated
// per job delivery. Publishing is asynchronous (the job's result does not
// wait for the audit stream's ack; at most the client's async-pending
// limit is outstanding): a record the stream does not acknowledge within
// auditAckTimeout, or refuses, is reported to OnError. The
// acknowledgements are matched by the JetStream client's own reply
// handler, with no goroutine per record.
type NATSAudit struct {
	JS       jetstream.JetStream
	Topology Topology
	// OnError receives records whose publish failed after Record returned;
	// nil ignores them. It runs on the NATS client's callback goroutine or
	// a timer's: it must not block.
	OnError func(rec AuditRecord, err error)

	once sync.Once
	pub  jetstream.JetStream // JS's connection, with the error handler
	err  error
}

// auditAckTimeout bounds the wait for the audit stream's acknowledgement
// of one record: a record whose ack is lost (a server restart) is reported
// instead of being waited on forever.
const auditAckTimeout = 30 * time.Second

// publisher returns the JetStream context the records are published
// with: JS's connection, reporting failed acknowledgements to OnError.
func (a *NATSAudit) publisher() (jetstream.JetStream, error) {
	a.once.Do(func() {
		a.pub, a.err = jetstream.New(a.JS.Conn(),
			jetstream.WithPublishAsyncErrHandler(a.asyncError),
			jetstream.WithPublishAsyncTimeout(auditAckTimeout))
	})
	return a.pub, a.err
}

// asyncError hands a record whose publish failed to OnError.
func (a *NATSAudit) asyncError(_ jetstream.JetStream, msg *nats.Msg, err error) {
	if a.OnError == nil {
		return
	}
	var rec AuditRecord
	_ = json.Unmarshal(msg.Data, &rec) // our own encoding of the record
	a.OnError(rec, fmt.Errorf("publish audit record: %w", err))
}

// Record implements Auditor.
func (a *NATSAudit) Record(ctx context.Context, rec AuditRecord) error {
	pub, err := a.publisher()
	if err != nil {
		return fmt.Errorf("publish audit record: %w", err)
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	id := "audit-" + rec.Producer + "-" + rec.JobID + "-" + strconv.FormatUint(rec.Delivery, 10)
	if _, err := pub.PublishAsync(a.Topology.AuditSubject(rec.Producer), body, jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("publish audit record: %w", err)
	}
	return nil
}

// nodeCounter is implemented by Lit clients that know how many nodes a
// request asks (*litnode.Client through State).
type nodeCounter interface {
	State() (litnode.State, bool)
}

// audit records a job that reached the nodes (err is its outcome). A
// failure to record is logged and counted (AuditFailed), and does not fail
// the job: the nodes have already acted.
func (j *Jobs) audit(ctx context.Context, msg jetstream.Msg, job Job, err error, log *slog.Logger) {
	nodes := 0
	if nc, ok := j.Signer.(nodeCounter); ok {
		if s, ok := nc.State(); ok {
			nodes = s.Threshold
		}
	}
	j.auditAs(ctx, msg, job, err, log, "naga", nodes)
}

// auditAs is audit for a backend (the Lit v3 backend asks no nodes).
func (j *Jobs) auditAs(ctx context.Context, msg jetstream.Msg, job Job, err error, log *slog.Logger, backend string, nodes int) {
	if j.Audit == nil {
		return
	}
	rec := AuditRecord{JobID: job.ID, Producer: producerOf(job), PKP: job.PKPHex, Kind: job.Kind, Outcome: StatusOK, At: j.now().UTC(), Backend: backend, Nodes: nodes}
	if err != nil {
		rec.Outcome, _, _ = jobDisposition(err, false)
	}
	switch job.Kind {
	case KindExecuteJS:
		rec.CID = job.CID
	default:
		rec.Chain = string(job.Chain)
		if d, derr := litnode.Digest(job.Chain, job.Message); derr == nil {
			rec.Digest = "0x" + hex.EncodeToString(d[:])
		}
	}
	if meta, merr := msg.Metadata(); merr == nil {
		rec.Delivery = meta.NumDelivered
	}
	if aerr := j.Audit.Record(ctx, rec); aerr != nil {
		log.Error("audit record not written", "err", aerr)
		j.Metrics.auditFailed()
	}
}

func registerAuditMetrics(f promauto.Factory, m *Metrics) {
	m.auditErrors = f.NewCounter(prometheus.CounterOpts{
		Name: "litsignd_audit_errors_total",
		Help: "Jobs that reached the Lit nodes whose audit record could not be written.",
	})
}

// AuditFailed counts an audit record that could not be written (for
// NATSAudit.OnError).
func (m *Metrics) AuditFailed() { m.auditFailed() }

func (m *Metrics) auditFailed() {
	if m != nil {
		m.auditErrors.Inc()
	}
}
