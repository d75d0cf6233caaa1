package litnode

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// An action that throws on every node is one failure, not one per node:
// the message says it once, with the number of nodes; distinct failures
// and non-node errors stay listed, and a lone node keeps its URL and
// request id.
func TestOpErrorGroupsIdenticalNodeFailures(t *testing.T) {
	thrown := func(node, req string) error {
		return &NodeError{Op: opExecuteJS, Node: node, Status: 500, Code: "NodeJsExecutionError", Message: "Error: boom at line 1", CorrelationID: req}
	}
	err := &OpError{Op: opExecuteJS, Attempts: 1, Errs: []error{
		thrown("http://n1", "r1"), thrown("http://n2", "r2"), thrown("http://n3", "r3"),
		&NodeError{Op: opExecuteJS, Node: "http://n4", Status: 0, Err: errors.New("connection refused"), CorrelationID: "r4"},
		errors.New("not enough shares"),
	}}
	msg := err.Error()
	if n := strings.Count(msg, "boom"); n != 1 {
		t.Errorf("the action's error appears %d times in %q, want once", n, msg)
	}
	for _, want := range []string{"execute_js failed after 1 attempt(s): 3 nodes: HTTP 500 NodeJsExecutionError: Error: boom at line 1", "http://n4: connection refused [request r4]", "not enough shares"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "http://n1") || strings.Contains(msg, "[request r1]") {
		t.Errorf("%q names one of the nodes of a grouped failure", msg)
	}
	if !errors.Is(err, ErrActionFailed) {
		t.Error("grouping lost the error class")
	}

	// A transport failure names each node's URL once (not again inside the
	// *url.Error), so nodes that timed out alike group too, keeping the
	// request id they share.
	timeout := func(node string) error {
		return &NodeError{Op: opExecuteJS, Node: node, Err: &url.Error{Op: "Post", URL: node + "/web/execute/v2", Err: context.DeadlineExceeded}, CorrelationID: "req-1"}
	}
	err = &OpError{Op: opExecuteJS, Attempts: 1, Errs: []error{timeout("http://n1"), timeout("http://n2")}}
	if msg := err.Error(); msg != "execute_js failed after 1 attempt(s): 2 nodes: context deadline exceeded [request req-1]" {
		t.Errorf("timeouts: %q", msg)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("grouping lost the cause")
	}
	if msg := timeout("http://n1").Error(); msg != "execute_js http://n1: context deadline exceeded [request req-1]" {
		t.Errorf("one node: %q", msg)
	}
}
