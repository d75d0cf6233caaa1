package litnode

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Retryable reports whether err may succeed after a refresh and retry.
func Retryable(err error) bool {
	if errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrPaymentFailed) ||
		errors.Is(err, ErrBadRequest) || errors.Is(err, ErrActionFailed) {
		return false
	}
	return errors.Is(err, ErrNodeUnavailable) || errors.Is(err, ErrNoValidShares) || errors.Is(err, ErrNotEnoughNodes)
}

// PublicError is the node's error body (docs/naga-wire.md §11.1), sent plain or as
// a JSON string inside GenericResponse.errorObject.
type PublicError struct {
	ErrorKind     string   `json:"errorKind,omitempty"`
	ErrorCode     string   `json:"errorCode,omitempty"`
	Status        int      `json:"status,omitempty"`
	Message       string   `json:"message,omitempty"`
	CorrelationID string   `json:"correlationId,omitempty"`
	Details       []string `json:"details,omitempty"`
	Logs          string   `json:"logs,omitempty"`
}

// GenericResponse is the node's response wrapper (docs/naga-wire.md §5.3).
type GenericResponse struct {
	OK          bool            `json:"ok"`
	Error       *string         `json:"error"`
	ErrorObject *string         `json:"errorObject"`
	Data        json.RawMessage `json:"data"`
}

// NodeError is one node's failure, with what the node said.
type NodeError struct {
	Node          string   // node URL
	Op            string   // handshake, pkp_sign, sign_session_key, execute_js
	Status        int      // HTTP status; 0 when no response arrived
	Code          string   // PublicError.errorCode, or a plain code such as request_timeout
	Kind          string   // PublicError.errorKind
	Message       string   // GenericResponse.error or PublicError.message
	Details       []string // PublicError.details
	CorrelationID string
	Logs          string // Lit Action logs, when the node sent them
	Err           error  // the cause: a transport error, ErrDecrypt, …
	class         error
}

func (e *NodeError) Error() string {
	s := e.Op + " " + e.Node + e.detail()
	if e.CorrelationID != "" {
		s += " [request " + e.CorrelationID + "]"
	}
	return s
}

// detail is what went wrong, without which node and request:
// ": HTTP 500 Code: message (details): cause".
func (e *NodeError) detail() string {
	var b strings.Builder
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if len(e.Details) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(e.Details, "; "))
	}
	if e.Err != nil {
		cause := e.Err
		if ue, ok := cause.(*url.Error); ok {
			cause = ue.Err // "Post <url>": the node is named already
		}
		fmt.Fprintf(&b, ": %v", cause)
	}
	return b.String()
}

// Unwrap returns the cause and the error class.
func (e *NodeError) Unwrap() []error {
	out := []error{e.Class()}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// Class returns the error class sentinel of e.
func (e *NodeError) Class() error {
	if e.class != nil {
		return e.class
	}
	return classify(e.Status, e.Code, e.Message)
}

// classify maps what a node said to an error class (docs/naga-wire.md §11.2, §11.4).
func classify(status int, code, message string) error {
	switch {
	case code == "PaymentFailed" || status == 402:
		return ErrPaymentFailed
	case code == "NodeJsExecutionError" || code == "NodeJsTimeoutError" || code == "NodeJsMemoryLimitError":
		return ErrActionFailed
	case message == "can't decrypt" || code == "request_timeout" || status == 408 || status == 0 || status >= 500:
		return ErrNodeUnavailable
	case strings.Contains(message, "could not read key share"), strings.Contains(message, "unable to insert into key cache"),
		strings.Contains(message, "ecdsa signing failed"):
		return ErrNoValidShares
	case status == 401 || status == 403 || status == 404 ||
		strings.Contains(code, "AuthSig") || strings.HasPrefix(code, "NodeSIWE") ||
		code == "NodeExpWrongOrTooLarge" || code == "NodeIatOutsideGracePeriod" || code == "NodeNotAuthorized" ||
		code == "NodePKPNotAuthorized" || code == "NodeResourceIdNotFound" || code == "NodeInvalidAuthContextResource":
		return ErrUnauthorized
	case status == 429:
		return ErrNodeUnavailable
	default:
		return ErrBadRequest
	}
}

// nodeErrorFromResponse builds a NodeError from a failed GenericResponse or
// a plain PublicError body.
func nodeErrorFromResponse(op, node string, status int, g *GenericResponse, pe *PublicError) *NodeError {
	e := &NodeError{Op: op, Node: node, Status: status}
	if g != nil {
		if g.Error != nil {
			e.Message = *g.Error
		}
		if g.ErrorObject != nil {
			obj := *g.ErrorObject
			var inner PublicError
			if err := json.Unmarshal([]byte(obj), &inner); err == nil && (inner.ErrorCode != "" || inner.Message != "") {
				pe = &inner
			} else if obj != "" {
				e.Code = obj // a plain code such as request_timeout
			}
		}
	}
	if pe != nil {
		e.Code, e.Kind, e.Details, e.CorrelationID, e.Logs = pe.ErrorCode, pe.ErrorKind, pe.Details, pe.CorrelationID, pe.Logs
		if e.Message == "" {
			e.Message = pe.Message
		}
		if pe.Status != 0 && status == 0 {
			e.Status = pe.Status
		}
	}
	return e
}

// OpError is a failed operation: the last attempt's node errors, and how
// many attempts were made.
type OpError struct {
	Op       string
	Attempts int
	Errs     []error
}

// Error lists each distinct failure once: nodes usually fail alike (every
// node runs the same action and throws the same error), so node errors
// that differ only in the node and request id are one entry naming how
// many nodes reported it.
func (e *OpError) Error() string {
	type group struct {
		first   error
		op      string
		n       int
		request string // the request id all its nodes reported, if one
	}
	var groups []*group
	byDetail := map[string]*group{}
	for _, err := range e.Errs {
		ne, ok := err.(*NodeError)
		if !ok {
			groups = append(groups, &group{first: err, n: 1})
			continue
		}
		key := ne.Op + ne.detail()
		if g := byDetail[key]; g != nil {
			g.n++
			if g.request != ne.CorrelationID {
				g.request = ""
			}
			continue
		}
		g := &group{first: err, op: ne.Op, n: 1, request: ne.CorrelationID}
		byDetail[key] = g
		groups = append(groups, g)
	}
	msgs := make([]string, len(groups))
	for i, g := range groups {
		msgs[i] = g.first.Error()
		if g.n > 1 {
			op := g.op + " on "
			if g.op == e.Op {
				op = ""
			}
			msgs[i] = fmt.Sprintf("%s%d nodes%s", op, g.n, g.first.(*NodeError).detail())
			if g.request != "" {
				msgs[i] += " [request " + g.request + "]"
			}
		}
	}
	return fmt.Sprintf("%s failed after %d attempt(s): %s", e.Op, e.Attempts, strings.Join(msgs, "; "))
}

// Unwrap returns the node errors.
func (e *OpError) Unwrap() []error { return e.Errs }
