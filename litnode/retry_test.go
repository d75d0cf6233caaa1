package litnode

import (
	"errors"
	"fmt"
	"testing"
)

func TestClassifyRetry(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want retryReason
		ok   bool
	}{
		{"can't decrypt", &NodeError{Status: 500, Message: "can't decrypt", Err: ErrDecrypt}, reasonMissingKey, true},
		{"transport", &NodeError{Err: errors.New("connection refused"), class: ErrNodeUnavailable}, reasonNetwork, true},
		{"408", &NodeError{Status: 408, Code: "request_timeout"}, reasonNetwork, true},
		{"shares", fmt.Errorf("%w: combined signature does not verify", ErrNoValidShares), reasonNoValidShare, true},
		{"auth", &NodeError{Status: 403, Code: "NodeExpWrongOrTooLarge"}, retryReason{}, false},
		{"payment", &NodeError{Status: 402, Code: "PaymentFailed"}, retryReason{}, false},
		{"bad input", &NodeError{Status: 422, Code: "NodeBadInput"}, retryReason{}, false},
		{"mixed: one node unauthorized", &OpError{Errs: []error{&NodeError{Status: 500}, &NodeError{Status: 401, Code: "NodeInvalidAuthSig"}}}, retryReason{}, false},
	}
	for _, tc := range tests {
		got, ok := classifyRetry(tc.err)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s: classifyRetry = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
