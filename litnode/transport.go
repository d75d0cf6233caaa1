package litnode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/nacl/box"
)

// Node endpoints (docs/naga-wire.md §3).
const (
	pathPKPSign        = "/web/pkp/sign/v2"
	pathSignSessionKey = "/web/sign_session_key/v2"
	pathExecuteJS      = "/web/execute/v2"
)

// nodeCall is one node's part of an operation.
type nodeCall struct {
	node nodeConn
	body any // the plaintext request object
}

// jsonAppender is a request body that writes its own JSON, without
// reflection; ok false means "use encoding/json".
type jsonAppender interface {
	appendJSON(b []byte) (out []byte, ok bool)
}

// nodeReply is one node's answer: the GenericResponse data, or an error.
type nodeReply struct {
	node string
	data json.RawMessage
	err  error
}

// fanOut sends every call in parallel under one request id and waits for all
// (the SDK sends to exactly the threshold nodes and needs all of them,
// docs/naga-wire.md §11.5).
func (c *Client) fanOut(ctx context.Context, op, path, requestID string, epoch uint64, calls []nodeCall) []nodeReply {
	replies := make([]nodeReply, len(calls))
	one := func(i int) {
		call := calls[i]
		start := time.Now()
		data, err := c.post(ctx, op, path, requestID, epoch, call)
		c.observe(Observation{Op: op, Node: call.node.url, Duration: time.Since(start), Err: err, Code: codeOf(err)})
		replies[i] = nodeReply{node: call.node.url, data: data, err: err}
	}
	var wg sync.WaitGroup
	for i := range len(calls) - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			one(i)
		}()
	}
	// The last call runs on this goroutine: one goroutine fewer per request.
	if len(calls) > 0 {
		one(len(calls) - 1)
	}
	wg.Wait()
	return replies
}

// post encrypts one request to the node's identity key with a fresh JIT key,
// sends it, and decrypts and unwraps the answer (docs/naga-wire.md §5).
func (c *Client) post(ctx context.Context, op, path, requestID string, epoch uint64, call nodeCall) (json.RawMessage, error) {
	url := call.node.url
	fail := func(status int, err error, class error) error {
		return &NodeError{Op: op, Node: url, Status: status, Err: err, class: class, CorrelationID: requestID}
	}
	bufs := requestBuffers.Get().(*requestBuffer)
	defer bufs.put()
	var plaintext []byte
	var err error
	if a, ok := call.body.(jsonAppender); ok {
		plaintext, ok = a.appendJSON(bufs.plaintext[:0])
		if ok {
			bufs.plaintext = plaintext
		} else {
			plaintext = nil
		}
	}
	if plaintext == nil {
		if plaintext, err = json.Marshal(call.body); err != nil {
			return nil, fail(0, err, ErrBadRequest)
		}
	}
	var jit *e2eeChannel
	if c.FreshE2EEKeys || call.node.e2ee == nil {
		jit, err = newE2EEChannel(c.rand(), call.node.identityKey)
	} else {
		jit, err = call.node.e2ee.get(c.rand(), call.node.identityKey)
	}
	if err != nil {
		return nil, fail(0, err, ErrBadRequest)
	}
	pooled := requestBodies.Get().(*[]byte)
	body := (*pooled)[:0]
	if need := 2*(len(plaintext)+e2eeZeroPrefix+box.Overhead) + 256; cap(body) < need {
		body = make([]byte, 0, need)
	}
	body, bufs.sealed, err = jit.appendSealedRequest(body, bufs.sealed, plaintext, time.Now(), epoch)
	if err != nil {
		return nil, fail(0, err, ErrBadRequest)
	}
	ctx, cancel := context.WithTimeout(ctx, durationOr(c.RequestTimeout, 45*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(url, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, fail(0, err, ErrBadRequest)
	}
	reuseBody := false
	defer func() {
		if reuseBody { // ciphertext only: no wipe needed
			*pooled = body[:0]
			requestBodies.Put(pooled)
		}
	}()
	c.setHeaders(req, requestID)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fail(0, err, ErrNodeUnavailable)
	}
	defer resp.Body.Close()
	reuseBody = c.bodyDoneOnReturn(req, resp) && cap(body) <= 1<<20
	buf := responseBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 1<<20 {
			responseBuffers.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, 32<<20)); err != nil {
		return nil, fail(resp.StatusCode, err, ErrNodeUnavailable)
	}
	// raw is only read below: everything kept from it is copied (strings,
	// json.RawMessage), so the buffer can be reused once post returns.
	raw := buf.Bytes()

	// An encrypted answer (success or most failures), or a plain one when the
	// node could not decrypt (§3 response shapes, §5.5).
	var g GenericResponse
	var renv E2EEEnvelope
	version, vk, rnd, created, ct, fast := scanE2EEEnvelope(raw)
	fast = fast && len(ct) > 0
	if fast || json.Unmarshal(raw, &renv) == nil && renv.Payload.CiphertextAndTag != "" {
		if !fast {
			p := renv.Payload
			version, vk, rnd, created, ct = []byte(renv.Version), []byte(p.VerificationKey), []byte(p.Random), []byte(p.CreatedAt), []byte(p.CiphertextAndTag)
		}
		var pt []byte
		pt, bufs.sealed, _, err = e2eeOpenFields(&jit.local, jit, version, vk, rnd, created, ct, bufs.plaintext[:0], bufs.sealed)
		if err != nil {
			return nil, fail(resp.StatusCode, err, ErrNodeUnavailable)
		}
		bufs.plaintext = pt[:0]
		if data, ok := scanGenericOK(pt); ok {
			// pt is reused once post returns: data is copied, as
			// encoding/json copies a RawMessage.
			g = GenericResponse{OK: true, Data: bytes.Clone(data)}
		} else if err := json.Unmarshal(pt, &g); err != nil {
			return nil, fail(resp.StatusCode, fmt.Errorf("decrypted response is not a GenericResponse: %v", err), ErrNodeUnavailable)
		}
	} else if err := json.Unmarshal(raw, &g); err != nil || (g.Error == nil && g.Data == nil && !g.OK) {
		var pe PublicError
		if json.Unmarshal(raw, &pe) == nil && (pe.ErrorCode != "" || pe.Message != "") {
			return nil, nodeErrorFromResponse(op, url, resp.StatusCode, nil, &pe)
		}
		return nil, fail(resp.StatusCode, fmt.Errorf("unparseable response (%d bytes)", len(raw)), ErrNodeUnavailable)
	}
	if !g.OK {
		e := nodeErrorFromResponse(op, url, resp.StatusCode, &g, nil)
		if e.CorrelationID == "" {
			e.CorrelationID = requestID
		}
		if e.Message == "can't decrypt" {
			e.Err = ErrDecrypt
		}
		return nil, e
	}
	if resp.StatusCode/100 != 2 {
		return nil, fail(resp.StatusCode, errors.New("ok response with an error status"), nil)
	}
	return g.Data, nil
}

// requestBodies pools request bodies (hex ciphertext of a few KiB) for
// the requests whose transport is done with the body when Do returns.
var requestBodies = sync.Pool{New: func() any { return new([]byte) }}

// bodyDoneOnReturn reports whether nothing uses req's body once the
// client's Do(req) has returned resp: true for a directTransport request to
// a plain http:// URL answered without a redirect, whose body was written
// on the calling goroutine; false for http.Transport, which may still hold
// a body after the response (net/http's RoundTrip contract), for a
// redirect (which may re-send the body through http.Transport), and for a
// caller's own HTTPClient.
func (c *Client) bodyDoneOnReturn(req *http.Request, resp *http.Response) bool {
	_, direct := c.httpClient().Transport.(*directTransport)
	return direct && resp.Request == req && req.URL.Scheme == "http" && req.URL.Host != ""
}

// requestBuffer is one request's reusable scratch: the plaintext JSON and
// the sealed bytes before hex (both are copied into the body).
type requestBuffer struct {
	plaintext, sealed []byte
}

var requestBuffers = sync.Pool{New: func() any { return &requestBuffer{plaintext: make([]byte, 0, 4096), sealed: make([]byte, 0, 4096)} }}

// put returns the buffers to the pool unless a request made them huge,
// wiping the plaintext: it holds a session signature.
func (r *requestBuffer) put() {
	if cap(r.plaintext) > 1<<20 || cap(r.sealed) > 1<<20 {
		return
	}
	clear(r.plaintext[:cap(r.plaintext)])
	requestBuffers.Put(r)
}

// responseBuffers are reused to read node responses.
var responseBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// lazyChannel is a node connection's reusable E2EE channel, made on first
// use.
type lazyChannel struct {
	once sync.Once
	ch   *e2eeChannel
	err  error
}

func (l *lazyChannel) get(rnd io.Reader, peer [32]byte) (*e2eeChannel, error) {
	l.once.Do(func() { l.ch, l.err = newE2EEChannel(rnd, peer) })
	if l.err != nil {
		// A failed read of randomness is not cached forever: use a fresh
		// channel for this request (and fail the same way if it fails again).
		return newE2EEChannel(rnd, peer)
	}
	return l.ch, nil
}
