package consumer

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/litsignd/litsignd/litnode"
)

// Job outcomes (label outcome of litsignd_jobs_total).
const (
	outcomeOK          = "ok"          // signed; ok result published
	outcomeError       = "error"       // final error result published
	outcomeRetry       = "retry"       // transient failure; redelivery asked for
	outcomeRepublished = "republished" // the ledger's result published again
	outcomeSuperseded  = "superseded"  // another delivery recorded the result first
	outcomeDropped     = "dropped"     // no result possible: no id and no reply subject
	// outcomeUndeliverable: the result is recorded but could not be
	// published through the last delivery (permission denied, no
	// responders); the job is terminated, not acked as done.
	outcomeUndeliverable = "undeliverable"
)

// Delegation lookup results (label result of
// litsignd_job_delegation_lookups_total).
const (
	lookupHit      = "hit"
	lookupNotFound = "not_found"
	lookupExpired  = "expired"
	lookupError    = "error"
)

// latencyBuckets fit Lit request and job latencies (docs/jetstream.md E.1).
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 5, 10, 20, 30, 60}

// registerJobMetrics registers the job consumer's metrics on f (part of
// NewMetrics; docs/jetstream.md E.1: no label carries a PKP, job id or
// node-supplied free text).
//
// Delegation lookups of the sign path are litsignd_job_delegation_lookups_total:
// litsignd_delegation_lookups_total is the delegation store's own cache
// counter, registered on the same registry.
func registerJobMetrics(f promauto.Factory, m *Metrics) {
	m.jobs = f.NewCounterVec(prometheus.CounterOpts{
		Name: "litsignd_jobs_total",
		Help: "Job deliveries handled, by kind, outcome (ok, error, retry, republished, superseded, dropped, undeliverable), error code and producer (configured producers; others are \"other\").",
	}, []string{"kind", "outcome", "code", "producer"})
	m.duration = f.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "litsignd_job_duration_seconds",
		Help:    "Time to handle one job delivery, from decode to acknowledgement.",
		Buckets: latencyBuckets,
	}, []string{"kind"})
	m.inFlight = f.NewGauge(prometheus.GaugeOpts{
		Name: "litsignd_jobs_in_flight",
		Help: "Job deliveries being handled by this replica.",
	})
	m.litDuration = f.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "litsignd_lit_request_duration_seconds",
		Help:    "Duration of Lit node requests and refreshes, by operation.",
		Buckets: latencyBuckets,
	}, []string{"op"})
	m.nodeErrors = f.NewCounterVec(prometheus.CounterOpts{
		Name: "litsignd_lit_node_errors_total",
		Help: "Failed Lit node requests, by operation and error code (the node's errorCode, else the error class).",
	}, []string{"op", "code"})
	m.refreshes = f.NewCounterVec(prometheus.CounterOpts{
		Name: "litsignd_lit_refreshes_total",
		Help: "Lit connection refreshes (chain read and handshake), by result (ok, error).",
	}, []string{"result"})
	m.sessionSigs = f.NewCounter(prometheus.CounterOpts{
		Name: "litsignd_session_sigs_minted_total",
		Help: "Session signatures minted and sent, one per node request that carries one.",
	})
	m.lookups = f.NewCounterVec(prometheus.CounterOpts{
		Name: "litsignd_job_delegation_lookups_total",
		Help: "Delegation lookups of the sign path, by result (hit, not_found, expired, error).",
	}, []string{"result"})
	m.exhaustedTotal = f.NewCounter(prometheus.CounterOpts{
		Name: "litsignd_jobs_exhausted_total",
		Help: "Jobs whose deliveries ran out without a final result (max-deliveries advisories), answered with delivery_exhausted.",
	})
	for _, r := range []string{lookupHit, lookupNotFound, lookupExpired, lookupError} {
		m.lookups.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "error"} {
		m.refreshes.WithLabelValues(r)
	}
}

// ObserveLit records one litnode observation; plug it into
// litnode.Client.Observe.
func (m *Metrics) ObserveLit(o litnode.Observation) {
	if m == nil {
		return
	}
	m.litDuration.WithLabelValues(o.Op).Observe(o.Duration.Seconds())
	switch o.Op {
	case "refresh":
		if o.Err != nil {
			m.refreshes.WithLabelValues("error").Inc()
		} else {
			m.refreshes.WithLabelValues("ok").Inc()
		}
		return
	case "pkp_sign", "execute_js":
		// Every such request carries a session signature minted for its node.
		m.sessionSigs.Inc()
	}
	if o.Err != nil {
		m.nodeErrors.WithLabelValues(o.Op, nodeErrorCode(o)).Inc()
	}
}

// nodeErrorCode is a bounded label for a node error: the node's code when
// it looks like one, else the error class.
func nodeErrorCode(o litnode.Observation) string {
	if c := o.Code; c != "" && len(c) <= 64 && isIdentifier(c) {
		return c
	}
	switch {
	case errors.Is(o.Err, litnode.ErrPaymentFailed):
		return "payment_failed"
	case errors.Is(o.Err, litnode.ErrUnauthorized):
		return "unauthorized"
	case errors.Is(o.Err, litnode.ErrBadRequest):
		return "bad_request"
	case errors.Is(o.Err, litnode.ErrActionFailed):
		return "action_failed"
	case errors.Is(o.Err, litnode.ErrNoValidShares):
		return "no_valid_shares"
	case errors.Is(o.Err, litnode.ErrNodeUnavailable):
		return "unavailable"
	default:
		return "other"
	}
}

func isIdentifier(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func (m *Metrics) job(kind, outcome, code, producer string, d time.Duration) {
	if m == nil {
		return
	}
	if kind == "" {
		kind = "unknown"
	}
	m.jobs.WithLabelValues(kind, outcome, code, producer).Inc()
	m.duration.WithLabelValues(kind).Observe(d.Seconds())
}

func (m *Metrics) inFlightAdd(n float64) {
	if m != nil {
		m.inFlight.Add(n)
	}
}

func (m *Metrics) lookup(result string) {
	if m != nil {
		m.lookups.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) exhausted() {
	if m != nil {
		m.exhaustedTotal.Inc()
	}
}
