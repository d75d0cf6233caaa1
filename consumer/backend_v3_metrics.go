package consumer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// V3Metrics are the Lit v3 backend's metrics. A nil *V3Metrics records
// nothing. Safe for concurrent use.
type V3Metrics struct {
	calls       *prometheus.CounterVec   // op, outcome
	duration    *prometheus.HistogramVec // op
	billed      *prometheus.CounterVec   // producer
	balance     *prometheus.GaugeVec     // account
	balanceErrs prometheus.Counter
	overloads   prometheus.Counter
	waits       prometheus.Counter
	badSigs     prometheus.Counter
}

// NewV3Metrics registers the v3 metrics on reg.
func NewV3Metrics(reg prometheus.Registerer) *V3Metrics {
	f := promauto.With(reg)
	return &V3Metrics{
		calls: f.NewCounterVec(prometheus.CounterOpts{
			Name: "litsignd_v3_requests_total",
			Help: "Lit v3 lit_action calls by operation (sign, execute) and outcome (ok, unauthorized, payment_required, forbidden, bad_request, overloaded, action_failed, unavailable).",
		}, []string{"op", "outcome"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "litsignd_v3_request_duration_seconds",
			Help:    "Duration of one Lit v3 lit_action call.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 5, 10, 20, 30, 60},
		}, []string{"op"}),
		billed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "litsignd_v3_action_billed_seconds_total",
			Help: "Lit v3 action seconds billed, as the service bills them (max(1, whole seconds) per run that executed), by producer (configured producers; any other as other); 1 s = 1 US cent.",
		}, []string{"producer"}),
		balance: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "litsignd_v3_balance_cents",
			Help: "Lit v3 credit left per account (US cents), polled from /billing/balance.",
		}, []string{"account"}),
		balanceErrs: f.NewCounter(prometheus.CounterOpts{
			Name: "litsignd_v3_balance_poll_errors_total",
			Help: "Failed Lit v3 balance polls.",
		}),
		overloads: f.NewCounter(prometheus.CounterOpts{
			Name: "litsignd_v3_overload_backoffs_total",
			Help: "Lit v3 429 answers that paused all calls (global backoff).",
		}),
		waits: f.NewCounter(prometheus.CounterOpts{
			Name: "litsignd_v3_credential_waits_total",
			Help: "Lit v3 calls that waited for a free slot of their credential's concurrency limit.",
		}),
		badSigs: f.NewCounter(prometheus.CounterOpts{
			Name: "litsignd_v3_invalid_signatures_total",
			Help: "Signatures from the v3 signing action that did not recover to the PKP (never published).",
		}),
	}
}

func (m *V3Metrics) call(op, outcome, producer string, d time.Duration, ran bool) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(op, outcome).Inc()
	m.duration.WithLabelValues(op).Observe(d.Seconds())
	if ran {
		m.billed.WithLabelValues(producer).Add(float64(BilledSeconds(d)))
	}
}

// BilledSeconds is what the service bills for a run of duration d: whole
// elapsed seconds, at least one (docs/lit-v3.md §6).
func BilledSeconds(d time.Duration) int64 { return max(1, int64(d/time.Second)) }

// SetBalance records an account's credit.
func (m *V3Metrics) SetBalance(account string, cents int64) {
	if m != nil {
		m.balance.WithLabelValues(account).Set(float64(cents))
	}
}

// BalanceError counts a failed balance poll.
func (m *V3Metrics) BalanceError() {
	if m != nil {
		m.balanceErrs.Inc()
	}
}

func (m *V3Metrics) overload() {
	if m != nil {
		m.overloads.Inc()
	}
}

func (m *V3Metrics) credentialWait() {
	if m != nil {
		m.waits.Inc()
	}
}

func (m *V3Metrics) badSignature() {
	if m != nil {
		m.badSigs.Inc()
	}
}
