package policy

import (
	"sync"
	"time"
)

// Limiter enforces MaxJobsPerMinute per key (a PKP) with a token bucket
// that holds a minute's allowance and refills continuously. It counts the
// jobs one litsignd process admits: with N replicas a PKP gets at most N
// times its limit (README "Security model"). The zero value is ready; it
// is safe for concurrent use and keeps at most maxLimiterKeys buckets.
type Limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
	limit  int
}

const maxLimiterKeys = 1 << 16

// Allow takes one token from key's bucket of limit jobs per minute; limit
// <= 0 always allows.
func (l *Limiter) Allow(key string, limit int, now time.Time) bool {
	if limit <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	b, ok := l.buckets[key]
	if !ok || b.limit != limit {
		if len(l.buckets) >= maxLimiterKeys {
			l.evict(now)
		}
		b = &bucket{tokens: float64(limit), at: now, limit: limit}
		l.buckets[key] = b
	}
	if el := now.Sub(b.at); el > 0 {
		b.tokens = min(float64(limit), b.tokens+el.Minutes()*float64(limit))
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// evict drops the buckets that are full again (idle for a minute), or all
// when none is: a full bucket is what a new one would be.
func (l *Limiter) evict(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.at) >= time.Minute {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxLimiterKeys {
		clear(l.buckets)
	}
}
