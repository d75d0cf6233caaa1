package consumer

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the consumer package's Prometheus metrics, of the intake and
// of the job consumer, shared by both (docs/jetstream.md E.1). A nil *Metrics
// records nothing. Safe for concurrent use.
type Metrics struct {
	// intake
	intakeReceived *prometheus.CounterVec // kind
	intakeOutcome  *prometheus.CounterVec // kind, outcome, reason
	verifyDuration prometheus.Histogram

	// jobs
	jobs           *prometheus.CounterVec   // kind, outcome, code
	duration       *prometheus.HistogramVec // kind
	inFlight       prometheus.Gauge
	litDuration    *prometheus.HistogramVec // op
	nodeErrors     *prometheus.CounterVec   // op, code
	refreshes      *prometheus.CounterVec   // result
	sessionSigs    prometheus.Counter
	lookups        *prometheus.CounterVec // result
	exhaustedTotal prometheus.Counter

	// audit (audit.go)
	auditErrors prometheus.Counter
}

// NewMetrics registers the consumer metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		intakeReceived: f.NewCounterVec(prometheus.CounterOpts{
			Name: "litsignd_delegations_received_total",
			Help: "Delegation hand-offs and revocations received on the intake stream.",
		}, []string{"kind"}),
		intakeOutcome: f.NewCounterVec(prometheus.CounterOpts{
			Name: "litsignd_delegations_processed_total",
			Help: "Intake messages by outcome (stored, revoked, rejected, retry) and rejection reason.",
		}, []string{"kind", "outcome", "reason"}),
		verifyDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "litsignd_delegation_verify_duration_seconds",
			Help:    "Time to verify one delegation (BLS pairing check included).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25},
		}),
	}
	registerJobMetrics(f, m)
	registerAuditMetrics(f, m)
	return m
}

func (m *Metrics) observeIntake(kind string, err error, _ time.Duration) {
	if m == nil {
		return
	}
	m.intakeReceived.WithLabelValues(kind).Inc()
	outcome, reason := "stored", ""
	if kind == "revocation" {
		outcome = "revoked"
	}
	var rj *rejection
	switch {
	case err == nil:
	case errors.As(err, &rj):
		outcome, reason = "rejected", rj.reason
	default:
		outcome = "retry"
	}
	m.intakeOutcome.WithLabelValues(kind, outcome, reason).Inc()
}

func (m *Metrics) observeVerify(d time.Duration) {
	if m == nil {
		return
	}
	m.verifyDuration.Observe(d.Seconds())
}
