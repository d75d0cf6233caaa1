package delegationstore

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric label values.
const (
	lookupHit     = "hit"
	lookupMiss    = "miss"
	lookupExpired = "expired"
	lookupSealed  = "sealed"

	putCreated   = "created"
	putReplaced  = "replaced"
	putUnchanged = "unchanged"
	putStale     = "stale"
	putRevoked   = "revoked"
	putExpired   = "expired"
	putConflict  = "conflict"
	putInvalid   = "invalid"
	putError     = "error"
)

// metrics are the store's Prometheus metrics. A nil *metrics (no
// Registerer) records nothing. No metric is labelled by PKP or session key.
type metrics struct {
	lookups       *prometheus.CounterVec
	puts          *prometheus.CounterVec
	revocations   prometheus.Counter
	events        *prometheus.CounterVec
	watchRestarts prometheus.Counter
	unseals       prometheus.Counter
}

// newMetrics registers the store's metrics on reg: the counters, and a
// collector that reads the cache at scrape time for the gauges.
func newMetrics(reg prometheus.Registerer, c *cache, now func() time.Time) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "litsignd_delegation_lookups_total",
			Help: "Delegation lookups served from the in-memory cache, by result (hit, miss, expired, sealed).",
		}, []string{"result"}),
		puts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "litsignd_delegation_puts_total",
			Help: "Delegation writes, by result (created, replaced, unchanged, stale, expired, conflict, invalid, error).",
		}, []string{"result"}),
		revocations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "litsignd_delegation_revocations_total",
			Help: "Delegations deleted by Revoke.",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "litsignd_delegation_events_total",
			Help: "Delegation expiry events emitted, by type (expiring, expired).",
		}, []string{"type"}),
		watchRestarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "litsignd_delegation_watch_restarts_total",
			Help: "Restarts of the KV watch that keeps the delegation cache current.",
		}),
		unseals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "litsignd_delegation_unseals_total",
			Help: "Delegations read from the bucket and unsealed because they were not in the hot set (first use, eviction, new revision).",
		}),
	}
	for _, r := range []string{lookupHit, lookupMiss, lookupExpired, lookupSealed} {
		m.lookups.WithLabelValues(r)
	}
	for _, r := range []string{putCreated, putReplaced, putUnchanged, putStale, putRevoked, putExpired, putConflict, putInvalid, putError} {
		m.puts.WithLabelValues(r)
	}
	for _, t := range []string{EventExpiring, EventExpired} {
		m.events.WithLabelValues(t)
	}
	cols := []prometheus.Collector{m.lookups, m.puts, m.revocations, m.events, m.watchRestarts, m.unseals, &cacheCollector{c: c, now: now}}
	for i, col := range cols {
		if err := reg.Register(col); err != nil {
			for _, done := range cols[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("register delegation store metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) lookup(result string) {
	if m != nil {
		m.lookups.WithLabelValues(result).Inc()
	}
}

func (m *metrics) put(result string) {
	if m != nil {
		m.puts.WithLabelValues(result).Inc()
	}
}

func (m *metrics) revoked() {
	if m != nil {
		m.revocations.Inc()
	}
}

func (m *metrics) event(typ string) {
	if m != nil {
		m.events.WithLabelValues(typ).Inc()
	}
}

func (m *metrics) unsealed() {
	if m != nil {
		m.unseals.Inc()
	}
}

func (m *metrics) watchRestart() {
	if m != nil {
		m.watchRestarts.Inc()
	}
}

// cacheCollector exports the cache's gauges, computed at scrape time:
// the number of stored delegations and the seconds until the nearest
// expiration. The latter is absent when no unexpired delegation is stored,
// so that "nothing stored" never reads as "expiring now".
type cacheCollector struct {
	c   *cache
	now func() time.Time
}

var (
	activeDesc = prometheus.NewDesc("litsignd_delegations_active",
		"Delegations stored in the KV bucket, as seen by the store's watch (including any past expiry that the server has not removed yet).", nil, nil)
	hotDesc = prometheus.NewDesc("litsignd_delegations_unsealed",
		"Delegations held unsealed in memory (the hot set, at most --hot-delegations).", nil, nil)
	nearestDesc = prometheus.NewDesc("litsignd_delegation_nearest_expiry_seconds",
		"Seconds until the nearest expiration among the stored, unexpired delegations; absent when there is none.", nil, nil)
)

// Describe implements prometheus.Collector.
func (cc *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- activeDesc
	ch <- hotDesc
	ch <- nearestDesc
}

// Collect implements prometheus.Collector.
func (cc *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	now := cc.now()
	n, nearest, ok := cc.c.stats(now)
	ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(hotDesc, prometheus.GaugeValue, float64(cc.c.hotLen()))
	if ok {
		ch <- prometheus.MustNewConstMetric(nearestDesc, prometheus.GaugeValue, nearest.Sub(now).Seconds())
	}
}
