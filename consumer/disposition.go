package consumer

import (
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// action is what happens to a JetStream message once handled.
type action int

const (
	actAck  action = iota // done: remove it
	actNak                // transient failure: redeliver after a delay
	actTerm               // permanent failure: never redeliver
)

func (a action) String() string {
	switch a {
	case actAck:
		return "ack"
	case actNak:
		return "nak"
	default:
		return "term"
	}
}

// intakeDisposition is the intake's acknowledgement policy: success acks, a
// rejection (bad input, failed verification) terminates, anything else
// (store or network unavailable, no handshake yet) is retried.
func intakeDisposition(err error) action {
	var rj *rejection
	switch {
	case err == nil:
		return actAck
	case errors.As(err, &rj):
		return actTerm
	default:
		return actNak
	}
}

// nakDelay backs off with the delivery count: 1 s, 2 s, 4 s … capped at 30 s.
func nakDelay(meta *jetstream.MsgMetadata) time.Duration {
	n := uint64(1)
	if meta != nil {
		n = max(meta.NumDelivered, 1)
	}
	d := time.Second << min(n-1, 5)
	return min(d, 30*time.Second)
}
