package consumer

import (
	"strconv"
	"sync"
	"time"
)

// DefaultNeededWindow is Jobs.NeededWindow's default: within it, a PKP
// gets one "needed" event per reason however many jobs fail for it.
const DefaultNeededWindow = time.Minute

func (j *Jobs) neededWindow() time.Duration {
	if j.NeededWindow > 0 {
		return j.NeededWindow
	}
	return DefaultNeededWindow
}

// neededDedup admits one "needed" event per (PKP, reason) and window in
// this process; its Nats-Msg-Id (PKP, reason, window start) makes the
// events stream drop the copies of other replicas. The zero value is ready.
type neededDedup struct {
	mu   sync.Mutex
	last map[string]time.Time
}

const maxNeededKeys = 1 << 14

// admit reports whether an event for pkp and reason goes out at now, and
// its message id.
func (d *neededDedup) admit(pkp, reason string, window time.Duration, now time.Time) (msgID string, ok bool) {
	start := now.Truncate(window)
	key := pkp + "|" + reason
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last == nil || len(d.last) >= maxNeededKeys {
		d.last = map[string]time.Time{}
	}
	if t, seen := d.last[key]; seen && t.Equal(start) {
		return "", false
	}
	d.last[key] = start
	return "needed-" + pkp + "-" + reason + "-" + strconv.FormatInt(start.Unix(), 10), true
}
