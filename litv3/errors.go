package litv3

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The kinds of failure (docs/lit-v3.md §2.5, §3.6). Every *Error matches
// exactly one of these with errors.Is, and possibly one of the details
// below.
var (
	// ErrUnauthorized: no key, an unknown or revoked key (401; April
	// without billing: a 500 that surfaces the AccountDoesNotExist revert;
	// April with billing answers an unknown key with 402, see
	// ErrPaymentRequired).
	ErrUnauthorized = errors.New("litv3: API key not accepted")
	// ErrPaymentRequired: the account has less than 1 cent of credit, or a
	// v1.2+ per-key spending cap is reached (402). On an April server an
	// unknown or removed key also gives 402.
	ErrPaymentRequired = errors.New("litv3: payment required")
	// ErrForbidden: the key may not run this action (403), or a v1.2+
	// spending rule refused the origin.
	ErrForbidden = errors.New("litv3: not permitted")
	// ErrBadRequest: 400, 404, 413 or 422: the request itself is wrong.
	ErrBadRequest = errors.New("litv3: bad request")
	// ErrOverloaded: 429, the node sheds load before auth, or a v1.2+
	// per-key rate or concurrency rule.
	ErrOverloaded = errors.New("litv3: service overloaded")
	// ErrActionFailed: the action ran and failed (500 "Actions failed with
	// …", an in-action limit, a 200 with has_error).
	ErrActionFailed = errors.New("litv3: Lit Action failed")
	// ErrUnavailable: any other 5xx, a network failure, a timeout, a
	// response that is not the service's.
	ErrUnavailable = errors.New("litv3: service unavailable")
)

// Details some failures carry besides their kind.
var (
	// ErrWalletNotPermitted: inside the action, getPrivateKey/Encrypt/
	// Decrypt named a PKP that no group of the running CID lets this key use
	// ("API key cannot use selected wallet in selected action"; a kind of
	// ErrActionFailed when the action does not catch it).
	ErrWalletNotPermitted = errors.New("litv3: the key cannot use this wallet in this action")
	// ErrNotCached: ipfs_id named code the server has not cached; send the
	// code (a kind of ErrBadRequest; nothing ran).
	ErrNotCached = errors.New("litv3: the server has no cached code for this IPFS id")
	// ErrActionTimeout: the action exceeded the maximum runtime.
	ErrActionTimeout = errors.New("litv3: the action exceeded the maximum runtime")
	// ErrActionMemory: the action exceeded the memory limit.
	ErrActionMemory = errors.New("litv3: the action exceeded the memory limit")
	// ErrOutOfFunds: credit ran out while the action ran (a 500, not 402).
	ErrOutOfFunds = errors.New("litv3: credit ran out during the action")
)

// Error is a failed call.
type Error struct {
	// Op is the endpoint, e.g. "lit_action".
	Op string
	// Status is the HTTP status; 0 when no response arrived.
	Status int
	// Kind is one of the Err* kinds above.
	Kind error
	// Detail is one of the detail errors above, or nil.
	Detail error
	// Code is the v1.2+ body's "error" field ("unauthorized", …); empty
	// for April bodies and handler errors.
	Code string
	// Message is the server's message: the v1.2+ "message", a handler's
	// JSON string, or the raw body (truncated).
	Message string
	// Fix is the v1.2+ body's "fix" text.
	Fix string
	// RequestID is the X-Request-Id response header.
	RequestID string
	// MayHaveRun reports whether the action can have run (and been billed):
	// true once the request may have reached the runtime and no answer
	// proves otherwise. A caller that promises at-most-once must not retry
	// such a failure.
	MayHaveRun bool
	// MayBePropagation reports whether this is what a grant that has not
	// propagated yet looks like (docs/lit-v3.md §2.6): a 403 for the CID, the
	// in-action wallet denial, or an unknown key (401, or 402 on April).
	// See RetryDuringPropagation.
	MayBePropagation bool
	// Err is the transport error, for Status 0.
	Err error
}

// PropagationWindow is how long after a grant or a new key a caller should
// treat the propagation-shaped failures as transient: the docs' own
// readiness poll waits up to 60 s (docs/lit-v3.md §2.6, §11 U13).
const PropagationWindow = 60 * time.Second

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "litv3: %s: ", e.Op)
	switch {
	case e.Status == 0 && e.Err != nil:
		fmt.Fprintf(&b, "%v", e.Err)
	default:
		fmt.Fprintf(&b, "HTTP %d", e.Status)
		if e.Code != "" {
			fmt.Fprintf(&b, " %s", e.Code)
		}
		if e.Message != "" {
			fmt.Fprintf(&b, ": %s", e.Message)
		}
	}
	if e.MayBePropagation {
		b.WriteString(" (may be a grant that has not propagated yet)")
	}
	if e.MayHaveRun {
		b.WriteString(" (the action may have run)")
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request %s]", e.RequestID)
	}
	return b.String()
}

// Unwrap lets errors.Is match the kind, the detail and the transport error.
func (e *Error) Unwrap() []error {
	out := []error{e.Kind}
	if e.Detail != nil {
		out = append(out, e.Detail)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// MayHaveRun reports whether err leaves open that the action ran: true for
// every error that is not an *Error saying otherwise (unknown failures are
// assumed to have reached the service), false for nil.
func MayHaveRun(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.MayHaveRun
	}
	return true
}

// Retryable reports whether repeating the call cannot run the action twice
// and may succeed: overload (429) and unavailability that provably stopped
// before the runtime (a refused connection, a v1.2+ billing outage 503).
func Retryable(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.MayHaveRun {
		return false
	}
	return errors.Is(e.Kind, ErrOverloaded) || errors.Is(e.Kind, ErrUnavailable)
}

// RetryDuringPropagation reports whether err should be retried because the
// credential or grant it used arrived less than window ago (sinceGrant) and
// err is what an unpropagated grant looks like and nothing ran. The
// in-action wallet denial (MayHaveRun) is not included: the action ran up
// to getPrivateKey; a caller whose action has no effect before that point
// may retry it with RetryDuringPropagationAfterRun.
func RetryDuringPropagation(err error, sinceGrant, window time.Duration) bool {
	var e *Error
	return errors.As(err, &e) && e.MayBePropagation && !e.MayHaveRun && sinceGrant >= 0 && sinceGrant < window
}

// RetryDuringPropagationAfterRun is RetryDuringPropagation that also accepts
// the in-action wallet denial, for actions that do nothing before their key
// operation (such as a signing action).
func RetryDuringPropagationAfterRun(err error, sinceGrant, window time.Duration) bool {
	var e *Error
	return errors.As(err, &e) && e.MayBePropagation && sinceGrant >= 0 && sinceGrant < window
}

// v12Body is the v1.2+ catcher body (docs/lit-v3.md §1.4).
type v12Body struct {
	Error   *string `json:"error"`
	Message string  `json:"message"`
	Fix     string  `json:"fix"`
	DocsURL string  `json:"docs_url"`
}

const maxMessage = 2048

// decodeErrorBody reads both body shapes: a v1.2+ object with a string
// "error", a JSON string (handler errors, every version), else raw text.
func decodeErrorBody(body []byte) (code, msg, fix string) {
	var obj v12Body
	if err := json.Unmarshal(body, &obj); err == nil && obj.Error != nil {
		return *obj.Error, obj.Message, obj.Fix
	}
	var s string
	if err := json.Unmarshal(body, &s); err == nil {
		return "", s, ""
	}
	t := strings.TrimSpace(string(body))
	if len(t) > maxMessage {
		t = t[:maxMessage] + "…"
	}
	return "", t, ""
}

// Classify turns a non-200 answer into an *Error (docs/lit-v3.md §2.5,
// §3.6), for callers that make their own requests. action says whether the
// call was /lit_action (else nothing can have run).
func Classify(op string, status int, body []byte, h http.Header, action bool) *Error {
	return classify(op, status, body, h, action)
}

func classify(op string, status int, body []byte, h http.Header, action bool) *Error {
	code, msg, fix := decodeErrorBody(body)
	e := &Error{Op: op, Status: status, Code: code, Message: msg, Fix: fix, RequestID: h.Get("X-Request-Id")}
	switch {
	case status == http.StatusUnauthorized:
		e.Kind = ErrUnauthorized
		// No key at all is the caller's bug; anything else may be a
		// brand-new key the read RPC cannot see yet.
		e.MayBePropagation = !strings.Contains(msg, "No API key provided") && !strings.Contains(msg, "precomputed account hash")
	case status == http.StatusPaymentRequired:
		e.Kind = ErrPaymentRequired
		// April with billing answers an unknown (or brand-new) key with
		// 402; v1.2+ says "Insufficient credits" or "spending cap".
		e.MayBePropagation = code == "" && !strings.Contains(msg, "spending cap")
	case status == http.StatusForbidden:
		e.Kind = ErrForbidden
		e.MayBePropagation = strings.Contains(msg, "not authorized to execute the specified action")
	case status == http.StatusTooManyRequests:
		e.Kind = ErrOverloaded
	case status == http.StatusBadRequest || status == http.StatusNotFound ||
		status == http.StatusRequestEntityTooLarge || status == http.StatusUnprocessableEntity ||
		status == http.StatusUnsupportedMediaType:
		e.Kind = ErrBadRequest
		if strings.Contains(msg, "No cached code found") {
			e.Detail = ErrNotCached
		}
		if status == http.StatusBadRequest && strings.HasPrefix(msg, "Invalid API key") {
			// April billing/balance with an unknown key.
			e.Kind, e.MayBePropagation = ErrUnauthorized, true
		}
	case status == http.StatusInternalServerError:
		classify500(e, msg, action)
	case status == http.StatusServiceUnavailable:
		e.Kind = ErrUnavailable
		// The v1.2+ billing guard says so before anything runs.
		e.MayHaveRun = action && !strings.Contains(msg, "not charged")
	case status >= 500:
		e.Kind, e.MayHaveRun = ErrUnavailable, action
	case status >= 300 && status < 400:
		// A redirect (not followed): nothing ran here.
		e.Kind = ErrUnavailable
	default:
		e.Kind, e.MayHaveRun = ErrUnavailable, action
	}
	return e
}

func classify500(e *Error, msg string, action bool) {
	switch {
	case strings.Contains(msg, "AccountDoesNotExist"):
		// April without billing: the permission check reverted for an
		// unknown key, before execution.
		e.Kind, e.MayBePropagation = ErrUnauthorized, true
		return
	case strings.Contains(msg, "Actions failed with") || strings.Contains(msg, "Billing failed for"):
		e.Kind = ErrActionFailed
	default:
		// "lit_actions didn't respond", tonic transport errors, U3's
		// "Unhandled error code", a proxy page: the runtime may have
		// started.
		e.Kind = ErrUnavailable
	}
	e.MayHaveRun = action
	switch {
	case strings.Contains(msg, "API key cannot use selected wallet in selected action"):
		e.Detail, e.MayBePropagation = ErrWalletNotPermitted, true
	case strings.Contains(msg, "exceeded the maximum runtime"):
		e.Detail = ErrActionTimeout
	case strings.Contains(msg, "exceeded the maximum memory"):
		e.Detail = ErrActionMemory
	case strings.Contains(msg, "ran out of funds"):
		e.Detail = ErrOutOfFunds
	}
}
