package devnet

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/litsignd/litsignd/litnode"
)

// maxRequests bounds each node's request log.
const maxRequests = 10_000

// maxBodyBytes bounds a request body.
const maxBodyBytes = 4 << 20

// minResponsePlaintext is the shortest response plaintext a node may
// encrypt: the JS SDK strips the 16-byte prefix only from ciphertexts of at
// least 83 bytes, i.e. plaintexts of at least 51 (docs/naga-wire.md §5.1 Decrypt
// step 6).
const minResponsePlaintext = 51

// Node is one Lit node of the devnet: an HTTP server on 127.0.0.1 with its
// own identity keys, key shares, fault and request log. It is safe for
// concurrent use.
type Node struct {
	net         *Network
	index       int
	url         string // http://127.0.0.1:<port>
	socket      string // 127.0.0.1:<port>, what nodeSet and nodeAddress name (docs/naga-wire.md §13.2)
	port        int
	nodeAddress common.Address
	operator    common.Address
	peerID      string
	blsShare    litnode.BLSSecretKeyShare
	ecdsaID     secp256k1.ModNScalar
	srv         *http.Server

	mu          sync.Mutex
	current     litnode.X25519KeyPair
	previous    litnode.X25519KeyPair
	hasPrevious bool
	fault       Fault
	keyShares   map[string]secp256k1.ModNScalar // PKP token id → xᵢ
	reqs        []Request
}

// Request is what a node received and answered, for test assertions.
type Request struct {
	// Time is when the request arrived.
	Time time.Time
	// Method and Path are the HTTP method and URL path.
	Method, Path string
	// RequestID is the X-Correlation-Id or else X-Request-Id header.
	RequestID string
	// Body is the request's JSON: the decrypted plaintext of an E2EE
	// request, the plain body of a handshake; nil when it could not be read
	// or decrypted.
	Body json.RawMessage
	// Status is the HTTP status returned; 0 when the connection was dropped
	// (Fault.Down) or nothing was answered (Fault.Hang, client gone).
	Status int
	// ErrorCode is the PublicError.errorCode of a failure, or
	// "request_timeout"; "" on success and for failures without a code.
	ErrorCode string
	// Error is GenericResponse.error of a failure ("" on success).
	Error string
}

func newNode(n *Network, i int, blsShare litnode.BLSSecretKeyShare, nodeAddr, operator common.Address) (*Node, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("devnet: node %d listen: %w", i, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	nd := &Node{
		net:         n,
		index:       i,
		port:        port,
		socket:      "127.0.0.1:" + strconv.Itoa(port),
		nodeAddress: nodeAddr,
		operator:    operator,
		blsShare:    blsShare,
		ecdsaID:     ecdsaID(i),
		keyShares:   map[string]secp256k1.ModNScalar{},
	}
	nd.url = "http://" + nd.socket
	// A libp2p-like peer id: lowercase hex, leading zeros trimmed
	// (docs/naga-wire.md §7.4 peer_id).
	nd.peerID = new(big.Int).SetBytes(crypto.Keccak256(nodeAddr[:])).Text(16)
	if nd.current, err = litnode.NewX25519KeyPair(rand.Reader); err != nil {
		ln.Close()
		return nil, err
	}
	nd.srv = &http.Server{Handler: nd, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: n.cfg.KeepAlive}
	go nd.srv.Serve(ln)
	return nd, nil
}

// URL returns "http://127.0.0.1:<port>".
func (nd *Node) URL() string { return nd.url }

// SocketAddress returns "127.0.0.1:<port>", the node's address in nodeSet
// entries and (after the scheme) in session sigs.
func (nd *Node) SocketAddress() string { return nd.socket }

// Index returns the node's position in Network.Nodes.
func (nd *Node) Index() int { return nd.index }

// IdentityKey returns the node's current X25519 identity public key (the
// handshake's nodeIdentityKey).
func (nd *Node) IdentityKey() [32]byte {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.current.Public
}

// rotateIdentity does previous ← current and makes a new current
// (docs/naga-wire.md §4.5).
func (nd *Node) rotateIdentity() {
	kp, err := litnode.NewX25519KeyPair(rand.Reader)
	if err != nil {
		panic("devnet: identity key: " + err.Error())
	}
	nd.mu.Lock()
	defer nd.mu.Unlock()
	nd.previous, nd.hasPrevious = nd.current, true
	nd.current = kp
}

func (nd *Node) setKeyShare(tok string, x secp256k1.ModNScalar) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	nd.keyShares[tok] = x
}

func (nd *Node) keyShare(tok string) (secp256k1.ModNScalar, bool) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	x, ok := nd.keyShares[tok]
	return x, ok
}

// Requests returns a copy of the node's request log (the last 10 000).
func (nd *Node) Requests() []Request {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return append([]Request(nil), nd.reqs...)
}

// ResetRequests empties the request log.
func (nd *Node) ResetRequests() {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	nd.reqs = nil
}

func (nd *Node) record(r Request) {
	nd.mu.Lock()
	nd.reqs = append(nd.reqs, r)
	if len(nd.reqs) >= 2*maxRequests {
		nd.reqs = append([]Request(nil), nd.reqs[len(nd.reqs)-maxRequests:]...)
	}
	nd.mu.Unlock()
	nd.net.log.Debug("devnet request", "node", nd.index, "path", r.Path, "requestId", r.RequestID,
		"status", r.Status, "errorCode", r.ErrorCode, "error", r.Error)
}

// correlationID returns X-Correlation-Id, or else X-Request-Id: the id a
// node puts in PublicError.correlationId (docs/naga-wire.md §3).
func correlationID(r *http.Request) string {
	if v := r.Header.Get("X-Correlation-Id"); v != "" {
		return v
	}
	return r.Header.Get("X-Request-Id")
}

// legacyRoutes are the v0/v1 endpoints a Naga node answers with
// OldEndpointVersionNoLongerSupported (docs/naga-wire.md §2.1 "Datil").
var legacyRoutes = map[string]bool{}

func init() {
	for _, p := range []string{"/web/pkp/sign", "/web/sign_session_key", "/web/execute", "/web/encryption/sign"} {
		for _, v := range []string{"", "/", "/v0", "/v1"} {
			legacyRoutes[p+v] = true
		}
	}
}

// ServeHTTP routes a request as a Naga node does (docs/naga-wire.md §3): POST with a
// JSON body to /web/handshake[/], /web/pkp/sign/v2, /web/sign_session_key/v2
// and /web/execute/v2; 410 on the legacy routes; 404 otherwise. The node's
// fault applies first.
func (nd *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := Request{Time: nd.net.now(), Method: r.Method, Path: r.URL.Path, RequestID: correlationID(r)}
	defer func() {
		// A panic is answered 500 NodeSystemFault, as the node's catcher
		// does (docs/naga-wire.md §11.1); an aborted handler stays aborted.
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			nd.net.log.Error("devnet node panic", "node", nd.index, "path", r.URL.Path, "panic", v)
			nd.plainError(w, &rec, codedErr(CodeSystemFault, fmt.Sprint(v)))
		}
	}()
	f := nd.Fault()
	if f.Down {
		nd.record(rec)
		dropConnection(w)
		return
	}
	if f.Hang {
		nd.record(rec)
		select {
		case <-r.Context().Done():
		case <-nd.net.done:
		}
		return
	}
	path := r.URL.Path
	known := path == "/web/handshake" || path == "/web/handshake/" || path == "/web/pkp/sign/v2" ||
		path == "/web/sign_session_key/v2" || path == "/web/execute/v2" || path == "/web/encryption/sign/v2" ||
		legacyRoutes[path]
	// Rocket matches a route only for its method and, with format = "json",
	// only for a JSON Content-Type (docs/naga-wire.md §3); anything else is 404.
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if !known || r.Method != http.MethodPost || ct != "application/json" {
		nd.plainError(w, &rec, plainErr("Validation", http.StatusNotFound, "Not Found",
			fmt.Sprintf("no route for %s %s with Content-Type %q (routes take POST application/json)", r.Method, path, r.Header.Get("Content-Type"))))
		return
	}
	switch {
	case path == "/web/handshake" || path == "/web/handshake/":
		nd.serveHandshake(w, r, &rec, f)
	case path == "/web/pkp/sign/v2":
		nd.serveE2EE(w, r, &rec, f, nd.pkpSign)
	case path == "/web/sign_session_key/v2":
		nd.serveE2EE(w, r, &rec, f, nd.signSessionKey)
	case path == "/web/execute/v2": // Lit Actions (execute.go)
		nd.serveE2EE(w, r, &rec, f, nd.execute)
	case legacyRoutes[path]:
		nd.plainError(w, &rec, codedErr(CodeOldEndpointVersion, path+" is a v0/v1 endpoint; Naga nodes serve /v2 only"))
	default:
		nd.plainError(w, &rec, plainErr("Unexpected", http.StatusNotImplemented, "not implemented by the devnet",
			path+" is not implemented by the devnet yet"))
	}
}

// plainError answers with a plain PublicError body.
func (nd *Node) plainError(w http.ResponseWriter, rec *Request, e *apiError) {
	rec.Status, rec.ErrorCode, rec.Error = e.status, e.code, e.message
	nd.record(*rec)
	writeJSON(w, e.status, mustMarshal(e.public(rec.RequestID)))
}

// wait applies the Delay fault against the node timeout (docs/naga-wire.md §12:
// 30 s per request by default). It reports whether the timeout fired and
// whether the client went away first.
func (nd *Node) wait(r *http.Request, start time.Time, d time.Duration) (timedOut, gone bool) {
	if d <= 0 {
		return false, false
	}
	limit := nd.net.cfg.NodeTimeout - time.Since(start)
	wait, timedOut := d, false
	if d >= limit {
		wait, timedOut = max(limit, 0), true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return timedOut, false
	case <-r.Context().Done():
		return false, true
	case <-nd.net.done:
		return false, true
	}
}

// e2eeHandler handles the decrypted plaintext of an E2EE request.
type e2eeHandler func(c *call, plaintext []byte) (any, *apiError)

// call is the context of one decrypted request.
type call struct {
	requestID string
	now       time.Time
}

// envelopeWire is the request envelope {version, payload{…}}; extra keys
// such as the SDK's top-level epoch are ignored (docs/naga-wire.md §3, §5.2).
type envelopeWire struct {
	Version *string `json:"version"`
	Payload *struct {
		VerificationKey  *string `json:"verification_key"`
		Random           *string `json:"random"`
		CreatedAt        *string `json:"created_at"`
		CiphertextAndTag *string `json:"ciphertext_and_tag"`
	} `json:"payload"`
}

// parseEnvelope decodes the adjacently tagged envelope; false when it does
// not deserialize (docs/naga-wire.md §13.4 step 1).
func parseEnvelope(body []byte) (litnode.E2EEEnvelope, bool) {
	var w envelopeWire
	if err := json.Unmarshal(body, &w); err != nil || w.Version == nil || *w.Version != litnode.E2EEVersion || w.Payload == nil {
		return litnode.E2EEEnvelope{}, false
	}
	p := w.Payload
	if p.VerificationKey == nil || p.Random == nil || p.CreatedAt == nil || p.CiphertextAndTag == nil {
		return litnode.E2EEEnvelope{}, false
	}
	return litnode.E2EEEnvelope{Version: *w.Version, Payload: litnode.E2EEPayload{
		VerificationKey: *p.VerificationKey, Random: *p.Random, CreatedAt: *p.CreatedAt, CiphertextAndTag: *p.CiphertextAndTag,
	}}, true
}

// decrypt opens env with the current, then the previous identity key
// (docs/naga-wire.md §4.5, §13.4 step 2), and returns the key that worked.
func (nd *Node) decrypt(env litnode.E2EEEnvelope) (key litnode.X25519KeyPair, pt []byte, sender [32]byte, ok bool) {
	nd.mu.Lock()
	keys := []litnode.X25519KeyPair{nd.current}
	if nd.hasPrevious {
		keys = append(keys, nd.previous)
	}
	nd.mu.Unlock()
	for _, k := range keys {
		if pt, sender, err := litnode.E2EEDecrypt(k, env); err == nil {
			return k, pt, sender, true
		}
	}
	return litnode.X25519KeyPair{}, nil, [32]byte{}, false
}

// cantDecrypt answers the plain "can't decrypt" 500 (docs/naga-wire.md §5.5, §13.4
// step 2).
func (nd *Node) cantDecrypt(w http.ResponseWriter, rec *Request) {
	pe := PublicError{ErrorKind: "Unexpected", Status: http.StatusInternalServerError, Message: "can't decrypt",
		CorrelationID: rec.RequestID,
		Details:       []string{"the request could not be decrypted with the node's current or previous identity key"}}
	obj := string(mustMarshal(pe))
	short := "can't decrypt"
	rec.Status, rec.Error = http.StatusInternalServerError, short
	nd.record(*rec)
	writeJSON(w, http.StatusInternalServerError, mustMarshal(GenericResponse{Error: &short, ErrorObject: &obj}))
}

// serveE2EE is the common wrapper of the encrypted endpoints (docs/naga-wire.md
// §13.4 steps 1–4).
func (nd *Node) serveE2EE(w http.ResponseWriter, r *http.Request, rec *Request, f Fault, h e2eeHandler) {
	start := time.Now()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		nd.plainError(w, rec, codedErr(CodeBadInput, "request body could not be read: "+err.Error()))
		return
	}
	env, ok := parseEnvelope(body)
	if !ok {
		nd.plainError(w, rec, codedErr(CodeBadInput, "the body is not a v1 E2EE envelope"))
		return
	}
	if f.CantDecrypt {
		nd.cantDecrypt(w, rec)
		return
	}
	key, pt, sender, ok := nd.decrypt(env)
	if !ok {
		nd.cantDecrypt(w, rec)
		return
	}
	if json.Valid(pt) {
		rec.Body = json.RawMessage(pt)
	}
	// Step 3: answer with the key that decrypted, to the request's
	// verification_key.
	respond := func(status int, g GenericResponse) {
		out := mustMarshal(g)
		for len(out) < minResponsePlaintext {
			out = append(out, ' ')
		}
		env, err := litnode.E2EESeal(key, sender, out)
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		rec.Status = status
		nd.record(*rec)
		writeJSON(w, status, mustMarshal(env))
	}
	timeout := func() {
		short, code := "Request timed out", CodeRequestTimeout
		rec.Error, rec.ErrorCode = short, code
		respond(http.StatusRequestTimeout, GenericResponse{Error: &short, ErrorObject: &code})
	}
	if f.Timeout408 {
		timeout()
		return
	}
	timedOut, gone := nd.wait(r, start, f.Delay)
	if gone {
		nd.record(*rec)
		return
	}
	if timedOut {
		timeout()
		return
	}
	data, aerr := h(&call{requestID: rec.RequestID, now: nd.net.now()}, pt)
	if aerr != nil {
		rec.ErrorCode, rec.Error = aerr.code, aerr.short
		respond(aerr.status, aerr.generic(rec.RequestID))
		return
	}
	respond(http.StatusOK, okResponse(data))
}
