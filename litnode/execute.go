package litnode

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"regexp"
	"strings"
	"time"
)

// opExecuteJS names execute requests in errors, logs and observations.
const opExecuteJS = "execute_js"

// ExecuteJSRequest asks the network to run a Lit Action (docs/naga-wire.md §8).
type ExecuteJSRequest struct {
	// Code is the action's JavaScript source (UTF-8); it is sent base64.
	// Give exactly one of Code and IPFSID.
	Code []byte
	// IPFSID is the CID of an action the nodes fetch themselves.
	IPFSID string
	// JSParams are the action's parameters: the action reads them as
	// jsParams.<key> (docs/naga-wire.md §8.1: sent wrapped as {"jsParams": …}).
	JSParams map[string]any
	// Auth mints the session signatures; the delegation must grant
	// lit-action-execution on lit-litaction://<CID> or lit-litaction://*.
	Auth SessionAuth
	// UserMaxPrice is the budget over all nodes; nil means unlimited.
	UserMaxPrice *big.Int
}

// PaymentItem is one component of what the nodes charged for an action
// (docs/naga-wire.md §8.2 paymentDetail), summed over the nodes.
type PaymentItem struct {
	// Component is BaseAmount, RunTimeLength, MemoryUsage, CodeLength,
	// ResponseLength, Signatures, …
	Component string `json:"component"`
	// Quantity and Price are the sums over the nodes.
	Quantity *big.Int `json:"quantity"`
	Price    *big.Int `json:"price"`
}

// ExecuteJSResult is the network's aggregated answer (docs/naga-wire.md §8.3).
type ExecuteJSResult struct {
	// Response is what the action set with Lit.Actions.setResponse, parsed
	// as JSON when it parses (numbers as json.Number), else the string.
	Response any
	// ResponseRaw is the chosen response string itself.
	ResponseRaw string
	// Logs is the action's console output (the most common among nodes).
	Logs string
	// Signatures are the combined, verified ECDSA signatures, by sigName.
	Signatures map[string]ECDSASignature
	// Claims are the most common claimData, by claim name.
	Claims map[string]any
	// PaymentDetail is the charge per component, summed over the nodes.
	PaymentDetail []PaymentItem
	// CID is the action's IPFS CID: IPFSID, or IPFSCIDv0 of Code.
	CID string
	// RequestID is the X-Request-Id of the attempt that succeeded.
	RequestID string
}

// ExecuteJSError is every error ExecuteJS returns. It unwraps to the
// cause, so errors.Is still finds the error class (ErrActionFailed,
// ErrUnauthorized, ErrNodeUnavailable, …).
type ExecuteJSError struct {
	// Err is the cause: an OpError of the last attempt's node errors, or
	// the failure that stopped ExecuteJS before any request was sent.
	Err error
	// MayHaveRun is false only when no node can have run the action: no
	// request was sent, or every node's failure proves it did not run it
	// (it could not decrypt the request, the connection was never made,
	// or it rejected the session signature, which nodes check before they
	// execute anything). Side effects of the action may have happened
	// whenever it is true.
	MayHaveRun bool
	// Logs is the action's output when it failed (ErrActionFailed): the
	// most common logs among the nodes that reported them.
	Logs string
	// Attempts is the number of attempts made.
	Attempts int
}

func (e *ExecuteJSError) Error() string {
	ran := "the action did not run"
	if e.MayHaveRun {
		ran = "the action may have run"
	}
	return fmt.Sprintf("execute_js (%s): %v", ran, e.Err)
}

// Unwrap returns the cause.
func (e *ExecuteJSError) Unwrap() error { return e.Err }

// ActionMayHaveRun reports whether the action of a failed (or succeeded:
// err nil) ExecuteJS may have run on some node. Errors ExecuteJS did not
// make count as "may have run": the caller cannot know better.
func ActionMayHaveRun(err error) bool {
	var ee *ExecuteJSError
	if errors.As(err, &ee) {
		return ee.MayHaveRun
	}
	return true
}

// ActionLogs returns the action logs carried by err: an ExecuteJSError's,
// else the most common logs of the node errors inside err; "" if none.
func ActionLogs(err error) string {
	var ee *ExecuteJSError
	if errors.As(err, &ee) && ee.Logs != "" {
		return ee.Logs
	}
	var logs []string
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *NodeError:
			if e.Logs != "" {
				logs = append(logs, e.Logs)
			}
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	if len(logs) == 0 {
		return ""
	}
	return mostCommon(logs, func(s string) string { return s })
}

// executeBody is the plaintext of /web/execute/v2 (docs/naga-wire.md §8.1). The
// JS SDK sends no epoch in it (only the envelope carries one).
type executeBody struct {
	Code        string         `json:"code,omitempty"`
	IPFSID      string         `json:"ipfsId,omitempty"`
	JSParams    map[string]any `json:"jsParams"`
	AuthSig     AuthSig        `json:"authSig"`
	NodeSet     []nodeSetEntry `json:"nodeSet"`
	KeySetID    string         `json:"keySetId"`
	AuthMethods []any          `json:"authMethods"`
}

// executeData is a node's JsonExecutionResponse (docs/naga-wire.md §8.2).
type executeData struct {
	Success       bool                         `json:"success"`
	SignedData    map[string]executeSignedData `json:"signedData"`
	ClaimData     json.RawMessage              `json:"claimData"`
	Response      json.RawMessage              `json:"response"`
	Logs          string                       `json:"logs"`
	PaymentDetail []paymentItemWire            `json:"paymentDetail"`
}

// executeSignedData is one signing inside the action: signatureShare is the
// JSON text of a SignableOutput, publicKey the quoted key (docs/naga-wire.md §8.2).
type executeSignedData struct {
	SigType        string          `json:"sigType"`
	SignatureShare json.RawMessage `json:"signatureShare"`
	PublicKey      json.RawMessage `json:"publicKey"`
	SigName        string          `json:"sigName"`
}

type paymentItemWire struct {
	Component string      `json:"component"`
	Quantity  json.Number `json:"quantity"`
	Price     json.Number `json:"price"`
}

// validCID is what an ipfsId may be: base58 or base32 text, which keeps the
// resource lit-litaction://<CID> a single token.
var validCID = regexp.MustCompile(`^[A-Za-z0-9]{1,128}$`)

// ExecuteJS runs a Lit Action on the threshold cheapest nodes for product
// LIT_ACTION, with session signatures for lit-litaction://<CID> minted just
// in time, and aggregates the answers as the SDK does (docs/naga-wire.md §8.3):
// the least common response (parsed as JSON when it parses), the most
// common logs and claims, the per-sigName ECDSA signatures combined and
// verified, and the payment summed per component.
//
// An action may have side effects, so ExecuteJS does not retry a failure
// after which any node may have run it, whatever its class: it refreshes
// and retries only when every node of the attempt provably did not run the
// action (docs/naga-wire.md §11.4 "can't decrypt" after a key rotation, and
// connections never made), or when the attempt failed before sending
// anything. Action failures (NodeJsExecutionError, NodeJsTimeoutError,
// NodeJsMemoryLimitError) are ErrActionFailed and carry the logs. Every
// error is an *ExecuteJSError that says whether the action may have run.
func (c *Client) ExecuteJS(ctx context.Context, req ExecuteJSRequest) (ExecuteJSResult, error) {
	fail := func(err error, ran bool, attempts int) (ExecuteJSResult, error) {
		var opErr *OpError
		if errors.As(err, &opErr) {
			opErr.Attempts = attempts
		}
		return ExecuteJSResult{}, &ExecuteJSError{Err: err, MayHaveRun: ran, Logs: ActionLogs(err), Attempts: attempts}
	}
	cid, body, err := executeSource(req)
	if err != nil {
		return fail(err, false, 0)
	}
	params := req.JSParams
	if params == nil {
		params = map[string]any{}
	}
	resources := []ResourceAbilityRequest{{Resource: LitResource{ResourcePrefix: litPrefixLitAction, Resource: cid}, Ability: AbilityLitActionExecution}}
	suspected := suspects{}
	used := map[string]int{}
	attempts := 0
	for {
		attempts++
		c.mu.RLock()
		gen := c.gen
		c.mu.RUnlock()
		s, err := c.current(ctx)
		if err != nil {
			return fail(err, false, attempts)
		}
		requestID := newRequestID()
		res, sent, err := c.executeOnce(ctx, s, requestID, req, body, params, resources, suspected)
		if err == nil {
			res.CID, res.RequestID = cid, requestID
			return res, nil
		}
		if sent {
			// Some node may have run the action: never again.
			return fail(err, true, attempts)
		}
		reason, ok := classifyRetry(err)
		if !ok || ctx.Err() != nil || used[reason.name] >= reason.budget || (c.MaxAttempts > 0 && attempts >= c.MaxAttempts) {
			if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
				err = fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
			}
			return fail(err, false, attempts)
		}
		used[reason.name]++
		c.logger().Info("lit action did not reach any node, refreshing and retrying", "op", opExecuteJS, "attempt", attempts, "reason", reason.name, "err", err)
		if reason.backoff {
			if serr := sleepCtx(ctx, time.Duration(used[reason.name])*durationOr(c.RetryBackoff, time.Second)); serr != nil {
				return fail(fmt.Errorf("%w (last error: %v)", serr, err), false, attempts)
			}
		}
		if rerr := c.refresh(ctx, gen); rerr != nil && (errors.Is(rerr, ErrNotEnoughNodes) || ctx.Err() != nil) {
			return fail(rerr, false, attempts)
		}
	}
}

// executeSource checks the code or CID and returns the CID the session
// signatures name and the request's code fields.
func executeSource(req ExecuteJSRequest) (string, executeBody, error) {
	var b executeBody
	switch {
	case len(req.Code) > 0 && req.IPFSID != "":
		return "", b, fmt.Errorf("%w: give exactly one of code and ipfsId", ErrMalformed)
	case len(req.Code) > 0:
		// The node derives the inline code's CID itself and checks the
		// session signature against it (docs/naga-wire.md §8.1 authSig).
		cid, err := IPFSCIDv0(req.Code)
		if err != nil {
			return "", b, fmt.Errorf("%w: action code: %v", ErrMalformed, err)
		}
		b.Code = base64.StdEncoding.EncodeToString(req.Code)
		return cid, b, nil
	case req.IPFSID != "":
		if !validCID.MatchString(req.IPFSID) {
			return "", b, fmt.Errorf("%w: ipfsId %q is not a CID", ErrMalformed, req.IPFSID)
		}
		b.IPFSID = req.IPFSID
		return req.IPFSID, b, nil
	}
	return "", b, fmt.Errorf("%w: no action code or ipfsId", ErrMalformed)
}

// executeOnce is one attempt. sent reports whether some node may have run
// the action (see ExecuteJSError.MayHaveRun).
func (c *Client) executeOnce(ctx context.Context, s *connState, requestID string, req ExecuteJSRequest, src executeBody,
	params map[string]any, resources []ResourceAbilityRequest, suspected suspects) (ExecuteJSResult, bool, error) {
	targets, err := c.selectTargets(ctx, s, ProductLitAction, req.UserMaxPrice, suspected.top())
	if err != nil {
		return ExecuteJSResult{}, false, err
	}
	sigs, err := c.sessionSigs(req.Auth, resources, targets)
	if err != nil {
		return ExecuteJSResult{}, false, err
	}
	set := nodeSet(targets)
	wrapped := map[string]any{"jsParams": params} // docs/naga-wire.md §8.1 jsParams
	calls := make([]nodeCall, len(targets))
	for i, t := range targets {
		b := src
		b.JSParams, b.AuthSig, b.NodeSet, b.KeySetID, b.AuthMethods = wrapped, sigs[t.URL], set, "naga-keyset1", []any{}
		calls[i] = nodeCall{node: s.nodes[t.URL], body: b}
	}
	replies := c.fanOut(ctx, opExecuteJS, pathExecuteJS, requestID, s.Epoch, calls)
	ran := false
	for i := range replies {
		if replies[i].err != nil {
			replies[i].err = actionErrorFromNode(replies[i].err)
		}
		if replies[i].err == nil || !provablyNotRun(replies[i].err) {
			ran = true
		}
	}
	res, err := c.aggregateExecute(replies, s.Threshold)
	if err != nil {
		suspected.blame(err, targets)
		return ExecuteJSResult{}, ran, err
	}
	return res, true, nil
}

// actionErrorFromNode recognises an action that threw: the node answers
// 400 with error = the exception and errorObject = the action's logs, not a
// PublicError (docs/naga-wire.md §8.2 last paragraph), so no error kind comes
// with it. It becomes a NodeJsExecutionError (ErrActionFailed) carrying
// the logs.
func actionErrorFromNode(err error) error {
	var ne *NodeError
	if !errors.As(err, &ne) || ne.Op != opExecuteJS {
		return err
	}
	if ne.Status == 400 && ne.Kind == "" && ne.Code != "request_timeout" && ne.Logs == "" && ne.Message != "can't decrypt" {
		ne.Logs, ne.Code, ne.class = ne.Code, "NodeJsExecutionError", ErrActionFailed
	}
	return err
}

// sessionRejectCode reports the codes of session-signature checks, which a
// node makes before it runs anything (docs/naga-auth.md §6 steps 1–6).
func sessionRejectCode(code string) bool {
	return strings.HasPrefix(code, "NodeInvalidAuthSig") || strings.HasPrefix(code, "NodeAuthSig") ||
		strings.HasPrefix(code, "NodeSIWE") || code == "NodeExpWrongOrTooLarge" || code == "NodeIatOutsideGracePeriod" ||
		code == "NodeNotAuthorized" || code == "NodeResourceIdNotFound" || code == "NodeParserError"
}

// provablyNotRun reports whether a node's failure proves that node did not
// run the action: it could not decrypt the request (docs/naga-wire.md §5.5,
// §13.4 step 2), the connection to it was never made, or it rejected the
// session signature.
func provablyNotRun(err error) bool {
	var ne *NodeError
	if !errors.As(err, &ne) {
		return false
	}
	switch {
	case ne.Message == "can't decrypt" && errors.Is(ne.Err, ErrDecrypt):
		return true
	case ne.Status == 0 && isDialError(ne.Err):
		return true
	case ne.Status != 0 && sessionRejectCode(ne.Code):
		return true
	}
	return false
}

// isDialError reports whether err is a failure to connect: the request was
// never written.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// aggregateExecute checks every node answered and aggregates the answers
// (docs/naga-wire.md §8.3).
func (c *Client) aggregateExecute(replies []nodeReply, threshold int) (ExecuteJSResult, error) {
	var errs []error
	datas := make([]executeData, 0, len(replies))
	nodes := make([]string, 0, len(replies))
	for _, r := range replies {
		if r.err != nil {
			if Retryable(r.err) {
				c.penalise(r.node, 3)
			}
			errs = append(errs, r.err)
			continue
		}
		var d executeData
		dec := json.NewDecoder(bytes.NewReader(r.data))
		dec.UseNumber()
		if err := dec.Decode(&d); err != nil || !d.Success {
			c.penalise(r.node, 3)
			errs = append(errs, &NodeError{Op: opExecuteJS, Node: r.node, Err: fmt.Errorf("bad executeJs response: %v", err), class: ErrNoValidShares})
			continue
		}
		datas = append(datas, d)
		nodes = append(nodes, r.node)
	}
	if len(errs) > 0 {
		return ExecuteJSResult{}, &OpError{Op: opExecuteJS, Attempts: 1, Errs: errs}
	}
	// §8.3 step 1: at least threshold successes; the SDK sends to exactly
	// threshold nodes, so all of them.
	if len(datas) < threshold {
		return ExecuteJSResult{}, fmt.Errorf("%w: %d execute responses, threshold %d", ErrNotEnoughNodes, len(datas), threshold)
	}
	var out ExecuteJSResult
	// §8.3 step 2: the least common response string, then JSON.parse.
	responses := make([]string, len(datas))
	for i, d := range datas {
		responses[i] = responseString(d.Response)
	}
	out.ResponseRaw = leastCommon(responses)
	out.Response = parseJSONOrString(out.ResponseRaw)
	// §8.3 step 3: the most common logs.
	logs := make([]string, len(datas))
	for i, d := range datas {
		logs[i] = d.Logs
	}
	out.Logs = mostCommon(logs, func(s string) string { return s })
	// §8.3 step 4: signatures per sigName.
	sigs, err := c.combineActionSignatures(datas, nodes)
	if err != nil {
		return ExecuteJSResult{}, err
	}
	out.Signatures = sigs
	// §8.3 step 6: the most common claimData.
	claims := make([]string, 0, len(datas))
	for _, d := range datas {
		if k := canonicalJSON(d.ClaimData); k != "" && k != "null" && k != "{}" {
			claims = append(claims, k)
		}
	}
	if len(claims) > 0 {
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(mostCommon(claims, func(s string) string { return s })))
		dec.UseNumber()
		if dec.Decode(&m) == nil {
			out.Claims = m
		}
	}
	// §8.3 step 7: paymentDetail summed per component.
	out.PaymentDetail = sumPayments(datas)
	return out, nil
}

// responseString is a node's response: a JSON string as the node sends it
// (docs/naga-wire.md §8.2), or, defensively, the JSON text of anything else.
func responseString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// leastCommon returns the value that occurs least often; of equally rare
// values, the first in node order. This is the SDK's default response
// strategy (docs/naga-wire.md §8.3 step 2: a stable sort by frequency, first
// element).
func leastCommon(values []string) string {
	counts := map[string]int{}
	for _, v := range values {
		counts[v]++
	}
	best, bestN := "", -1
	for _, v := range values {
		if n := counts[v]; bestN < 0 || n < bestN {
			best, bestN = v, n
		}
	}
	return best
}

// parseJSONOrString is JSON.parse with the string kept when it does not
// parse (docs/naga-wire.md §8.3 step 2). Numbers stay exact (json.Number).
func parseJSONOrString(s string) any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return s
	}
	if _, err := dec.Token(); err == nil {
		return s // trailing data: JSON.parse would throw
	}
	return v
}

// canonicalJSON renders a JSON value with sorted keys, so equal values from
// different nodes compare equal.
func canonicalJSON(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return string(raw)
	}
	b, err := json.Marshal(v) // map keys sorted
	if err != nil {
		return string(raw)
	}
	return string(b)
}

// combineActionSignatures groups the signedData entries by sigName across
// the nodes and combines each group (docs/naga-wire.md §8.3 step 4, §7.5). Every
// node of the set must have signed: the shares are Lagrange-weighted for
// the whole node set.
func (c *Client) combineActionSignatures(datas []executeData, nodes []string) (map[string]ECDSASignature, error) {
	names := map[string]bool{}
	for _, d := range datas {
		for name := range d.SignedData {
			names[name] = true
		}
	}
	out := make(map[string]ECDSASignature, len(names))
	for name := range names {
		shares := make([]ECDSAShare, 0, len(datas))
		for i, d := range datas {
			sd, ok := d.SignedData[name]
			if !ok {
				c.penalise(nodes[i], 3)
				return nil, &NodeError{Op: opExecuteJS, Node: nodes[i], Err: fmt.Errorf("no signature share for %q", name), class: ErrNoValidShares}
			}
			sh, err := ParseECDSAShare(sd.SignatureShare)
			if err == nil && sh.Result != ecdsaShareSuccess {
				err = fmt.Errorf("node returned a %q share", sh.Result)
			}
			if err == nil {
				err = checkSharePublicKey(sd.PublicKey, sh.PublicKey)
			}
			if err != nil {
				c.penalise(nodes[i], 3)
				// %v, not %w: a bad share is the node's fault, not
				// malformed input of the caller's.
				return nil, &NodeError{Op: opExecuteJS, Node: nodes[i], Err: fmt.Errorf("signature %q: %v", name, err), class: ErrNoValidShares}
			}
			shares = append(shares, sh)
		}
		// CombineECDSAShares verifies the sum against the shares' public key.
		sig, err := CombineECDSAShares(shares)
		if err != nil {
			return nil, fmt.Errorf("%w: signature %q: %v", ErrNoValidShares, name, err)
		}
		out[name] = sig
	}
	return out, nil
}

// checkSharePublicKey compares signedData.publicKey (a quoted hex key,
// docs/naga-wire.md §8.2) with the share's key, when it is present and readable.
func checkSharePublicKey(raw json.RawMessage, shareKey []byte) error {
	var s string
	if len(bytes.TrimSpace(raw)) == 0 || json.Unmarshal(raw, &s) != nil {
		return nil
	}
	h := strings.TrimPrefix(stripJSONQuotes(s), "0x")
	if h == "" {
		return nil
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return fmt.Errorf("%w: signedData publicKey is not hex", ErrMalformed)
	}
	if len(b) == secpCompressedSize {
		if !bytes.Equal(b, compressSEC1(shareKey)) {
			return fmt.Errorf("%w: signedData publicKey differs from the share's", ErrMalformed)
		}
		return nil
	}
	if !bytes.Equal(b, shareKey) {
		return fmt.Errorf("%w: signedData publicKey differs from the share's", ErrMalformed)
	}
	return nil
}

// sumPayments sums paymentDetail per component over the nodes, components
// in first-seen order (docs/naga-wire.md §8.3 step 7).
func sumPayments(datas []executeData) []PaymentItem {
	var out []PaymentItem
	index := map[string]int{}
	add := func(dst *big.Int, n json.Number) {
		if v, ok := new(big.Int).SetString(n.String(), 10); ok {
			dst.Add(dst, v)
		}
	}
	for _, d := range datas {
		for _, p := range d.PaymentDetail {
			i, ok := index[p.Component]
			if !ok {
				i = len(out)
				index[p.Component] = i
				out = append(out, PaymentItem{Component: p.Component, Quantity: new(big.Int), Price: new(big.Int)})
			}
			add(out[i].Quantity, p.Quantity)
			add(out[i].Price, p.Price)
		}
	}
	return out
}
