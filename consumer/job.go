package consumer

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/litsignd/litsignd/litnode"
)

// Job kinds: the last token of the job subject, <prefix>.jobs.<kind>.
const (
	KindPKPSign   = "pkp-sign"
	KindExecuteJS = "execute-js"
)

// Delivery modes of an execute-js job: what litsignd does when it cannot
// know whether an earlier delivery's action ran (the daemon died after the
// nodes were called and before the result was recorded, or the nodes
// failed mid-way).
const (
	// DeliveryAtMostOnce (the default): the action never runs twice; such
	// a job ends with outcome_unknown instead.
	DeliveryAtMostOnce = "at-most-once"
	// DeliveryAtLeastOnce: the action is run again.
	DeliveryAtLeastOnce = "at-least-once"
)

// HeaderReplyTo is the job header that names the reply subject
// (docs/jetstream.md A.6: msg.Reply() of a JetStream message is the ack
// subject, so the producer's reply subject travels in a header).
const HeaderReplyTo = "Lit-Reply-To"

// Limits of a job.
const (
	// MaxJobIDLength is the longest job id accepted.
	MaxJobIDLength = 128
	// MaxJobBytes is the largest job body accepted.
	MaxJobBytes = 256 << 10
)

// Result statuses.
const (
	StatusOK    = "ok"
	StatusError = "error"
)

// Error codes of a failed job's result. They are stable: producers branch
// on them, and they label the litsignd_jobs_total metric.
const (
	// CodeBadRequest: the job is malformed (JSON, id, message, chain,
	// reply subject) or of an unsupported kind. Not retryable.
	CodeBadRequest = "bad_request"
	// CodeDelegationNotFound: no delegation is stored for the PKP. A
	// "needed" event is published.
	CodeDelegationNotFound = "delegation_not_found"
	// CodeDelegationExpired: the stored delegation has expired or expires
	// within the expiry margin. A "needed" event is published.
	CodeDelegationExpired = "delegation_expired"
	// CodeScopeDenied: the delegation's ReCap does not grant PKP signing on
	// the job's PKP; no node was asked. A "needed" event is published.
	CodeScopeDenied = "scope_denied"
	// CodePaymentFailed: the Lit nodes refused payment (HTTP 402).
	CodePaymentFailed = "payment_failed"
	// CodeLitAuthFailed: the Lit nodes rejected the session signatures or
	// the delegation (revoked permission, wrong network, …). A "needed"
	// event is published.
	CodeLitAuthFailed = "lit_auth_failed"
	// CodeLitUnavailable: the Lit network stayed unavailable through the
	// job's last allowed delivery. Retryable: resubmitting later may work.
	CodeLitUnavailable = "lit_unavailable"
	// CodeDeliveryExhausted: the job used up its deliveries without a
	// classified outcome (an internal transient failure on its last
	// delivery, or deliveries lost to AckWait expiry). Retryable.
	CodeDeliveryExhausted = "delivery_exhausted"
	// CodeActionFailed: a Lit Action threw, timed out or ran out of memory
	// (execute-js); the error carries the action's logs.
	CodeActionFailed = "action_failed"
	// CodeOutcomeUnknown: an at-most-once execute-js job whose action may
	// or may not have run (an earlier delivery reached the nodes and left
	// no result, or the nodes failed after some may have run it). It is
	// not run again. Not retryable: resubmitting may run the action twice.
	CodeOutcomeUnknown = "outcome_unknown"
	// CodeInternal: a failure of litsignd itself.
	CodeInternal = "internal"
)

// ErrBadJob is wrapped by every DecodeJob error and by every other
// rejection of a job's content.
var ErrBadJob = errors.New("bad job")

// validJobID is what a job id may contain: it becomes a subject token
// (<prefix>.results.<id>) and a KV key of the ledger, so no dots,
// wildcards or spaces.
var validJobID = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Job is a decoded, validated job: pkp-sign or execute-js.
type Job struct {
	// ID is the producer's job id (also the Nats-Msg-Id of the job and of
	// its result). It is set on a decode error too when it is valid.
	ID string
	// Kind is the job kind, from the subject (set by the caller).
	Kind string
	// Producer is the producer that submitted the job, from the subject
	// <prefix>.jobs.<producer>.<kind> (set by the caller).
	Producer string
	// PKP is the PKP to sign with; PKPHex its normalised hex, or on a
	// decode error whatever pkpPublicKey said.
	PKP    litnode.PKPPublicKey
	PKPHex string
	// PKPAddress is the PKP's wallet address, lowercase 0x hex: given
	// (pkpPublicKey may name a Lit v3 PKP by its address, in which case
	// PKP is zero) or derived from PKP.
	PKPAddress string
	// Message is the bytes to sign (toSign as UTF-8, or toSignHex decoded).
	Message []byte
	// Chain says how Message becomes the signed digest.
	Chain litnode.SigningChain
	// Code is an execute-js job's action source; IPFSID its CID instead.
	// CID is the action's CID either way (litnode.IPFSCIDv0 of Code).
	Code   []byte
	IPFSID string
	CID    string
	// JSParams are an execute-js job's action parameters (never nil).
	JSParams map[string]any
	// Delivery is an execute-js job's delivery mode (DeliveryAtMostOnce
	// unless the job says otherwise).
	Delivery string
	// ReplyTo is where the result goes: the replyTo field or the
	// Lit-Reply-To header; empty means <prefix>.results.<id>. It is set on
	// a decode error too, so the error result reaches the producer.
	ReplyTo string
}

// jobWire is a pkp-sign job body. Pointers tell absent from empty.
type jobWire struct {
	ID           *string `json:"id"`
	PKPPublicKey *string `json:"pkpPublicKey"`
	ToSign       *string `json:"toSign"`
	ToSignHex    *string `json:"toSignHex"`
	Chain        *string `json:"chain"`
	ReplyTo      *string `json:"replyTo"`
}

// setString sets the string field name; it reports false for a name that
// is not one of jobWire's string fields.
func (w *jobWire) setString(name, value string) bool {
	p := &value
	switch name {
	case "id":
		w.ID = p
	case "pkpPublicKey":
		w.PKPPublicKey = p
	case "toSign":
		w.ToSign = p
	case "toSignHex":
		w.ToSignHex = p
	case "chain":
		w.Chain = p
	case "replyTo":
		w.ReplyTo = p
	default:
		return false
	}
	return true
}

// stringWire is a job body whose fields are all strings.
type stringWire interface {
	setString(name, value string) bool
}

// fillPlainStrings fills w from the scanned fields without encoding/json
// when w is a stringWire and every field is null or a plain string
// (plainJSONString): decodeJobBody has already refused unknown, duplicate
// and wrongly typed fields and trailing data, so the result is what the
// strict decoder gives. It reports false, having set nothing, when the
// strict decoder must decide.
func fillPlainStrings[W any](w *W, env envelope) bool {
	var filled W
	sw, ok := any(&filled).(stringWire)
	if !ok {
		return false
	}
	for _, name := range env.order {
		raw := env.fields[name]
		if string(raw) == "null" {
			continue
		}
		s, ok := plainJSONString(raw)
		if !ok || !sw.setString(name, s) {
			return false
		}
	}
	*w = filled
	return true
}

// DecodeJob decodes and validates a pkp-sign job body (README "NATS
// contract"). header may carry the reply subject in Lit-Reply-To. Unknown
// fields are rejected, so a misspelt replyTo is not silently ignored.
//
// Every error wraps ErrBadJob. On error the returned Job still carries what
// could be read (a valid ID, the reply subject, pkpPublicKey as given), so
// the caller can address the error result.
func DecodeJob(data []byte, header nats.Header) (Job, error) {
	var job Job
	w, err := decodeJobBody(&job, data, header, pkpSignSchema, func(w *jobWire) (id, pkp, reply *string) { return w.ID, w.PKPPublicKey, w.ReplyTo })
	if err != nil {
		return job, err
	}
	switch {
	case w.ToSign != nil && w.ToSignHex != nil:
		return job, badJob("both toSign and toSignHex are set; send exactly one")
	case w.ToSign != nil:
		job.Message = []byte(*w.ToSign)
	case w.ToSignHex != nil:
		h, ok := strings.CutPrefix(*w.ToSignHex, "0x")
		if !ok {
			return job, badJob("toSignHex must start with 0x")
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			return job, badJob("toSignHex is not hex: %v", err)
		}
		job.Message = b
	default:
		return job, badJob("missing toSign or toSignHex")
	}
	job.Chain = litnode.ChainEthereum
	if w.Chain != nil {
		switch c := litnode.SigningChain(*w.Chain); c {
		case litnode.ChainEthereum, litnode.ChainBitcoin, litnode.ChainRaw:
			job.Chain = c
		default:
			return job, badJob("chain %q: want ethereum, bitcoin or raw", *w.Chain)
		}
	}
	if _, err := litnode.Digest(job.Chain, job.Message); err != nil {
		return job, badJob("toSign for chain %s: %v", job.Chain, err)
	}
	return job, nil
}

// jobSchema is the top-level fields of a job kind and their JSON types:
// 's' string, 'o' object.
type jobSchema map[string]byte

var (
	pkpSignSchema   = jobSchema{"id": 's', "pkpPublicKey": 's', "toSign": 's', "toSignHex": 's', "chain": 's', "replyTo": 's'}
	executeJSSchema = jobSchema{"id": 's', "pkpPublicKey": 's', "code": 's', "ipfsId": 's', "jsParams": 'o', "delivery": 's', "replyTo": 's'}
)

// decodeJobBody does what every job kind's decoder shares. First it
// recovers the address leniently (scanEnvelope): the id (a valid string,
// or a number), the PKP text and the reply subject (the replyTo field or
// the Lit-Reply-To header), from whatever part of the body can be read, so
// that an error result reaches the producer. Then it validates strictly,
// naming the field at fault: the size limit, one JSON object with nothing
// after it, nesting at most maxJobDepth, no duplicate or unknown field,
// each field of its schema type and valid UTF-8; then decodes into W.
func decodeJobBody[W any](job *Job, data []byte, header nats.Header, schema jobSchema, addr func(*W) (id, pkp, reply *string)) (*W, error) {
	hdrReply := strings.TrimSpace(header.Get(HeaderReplyTo))
	if hdrReply != "" && validSubject(hdrReply) {
		job.ReplyTo = hdrReply
	}
	env := scanEnvelope(data)
	if raw, ok := env.fields["id"]; ok && env.dup != "id" {
		job.ID = recoverID(raw)
	}
	var pkpText, bodyReply *string
	if raw, ok := env.fields["pkpPublicKey"]; ok {
		if s, ok := jsonString(raw); ok {
			pkpText = &s
		}
	}
	if raw, ok := env.fields["replyTo"]; ok && env.dup != "replyTo" {
		if s, ok := jsonString(raw); ok {
			bodyReply = &s
		}
	}
	addrErr := fillAddress(job, nil, pkpText, bodyReply, hdrReply)
	switch {
	case len(data) > MaxJobBytes:
		return nil, badJob("body: the job is %d bytes, at most %d accepted", len(data), MaxJobBytes)
	case env.syntax != "":
		return nil, badJob("body: the job is not valid JSON: %s", env.syntax)
	case env.trailing:
		return nil, badJob("body: trailing data after the job object")
	case env.depth+1 > maxJobDepth:
		return nil, badJob("%s: nested %d levels deep, at most %d allowed", env.deepest, env.depth+1, maxJobDepth)
	case env.dup != "":
		return nil, badJob("%s: the field appears more than once", env.dup)
	case addrErr != nil:
		return nil, addrErr
	}
	for _, name := range env.order {
		want, known := schema[name]
		if !known {
			return nil, badJob("%s: unknown field", strconv.Quote(name))
		}
		raw := env.fields[name]
		if string(raw) == "null" {
			continue // absent
		}
		switch want {
		case 's':
			if raw[0] != '"' {
				return nil, badJob("%s must be a string, got %s", name, jsonType(raw))
			}
			if !validJSONText(raw) {
				return nil, badJob("%s is not valid UTF-8", name)
			}
		case 'o':
			if raw[0] != '{' {
				return nil, badJob("%s must be a JSON object, got %s", name, jsonType(raw))
			}
			if !utf8.Valid(raw) {
				return nil, badJob("%s is not valid UTF-8", name)
			}
		}
	}
	var w W
	if !fillPlainStrings(&w, env) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&w); err != nil {
			return nil, badJob("body: the job is not the documented JSON object: %v", err)
		}
	}
	id, pkp, reply := addr(&w)
	if err := fillAddress(job, id, pkp, reply, hdrReply); err != nil {
		return nil, err
	}
	if err := decodeIdentity(job, id, pkp); err != nil {
		return nil, err
	}
	return &w, nil
}

// decodeIdentity checks the job id and parses the PKP into job.
func decodeIdentity(job *Job, id, pkpText *string) error {
	if id == nil || *id == "" {
		return badJob("missing id")
	}
	if err := checkJobID(*id); err != nil {
		return err
	}
	if pkpText == nil || *pkpText == "" {
		return badJob("missing pkpPublicKey")
	}
	if addr, ok := parsePKPAddress(*pkpText); ok { // backend.go
		job.PKPHex, job.PKPAddress = addr, addr
		return nil
	}
	pkp, err := litnode.ParsePKPPublicKey(*pkpText)
	if err != nil {
		return badJob("pkpPublicKey: %v (or a wallet address, 0x + 40 hex)", err)
	}
	job.PKP, job.PKPHex, job.PKPAddress = pkp, pkp.Hex(), strings.ToLower(pkp.Address().Hex())
	return nil
}

// execWire is an execute-js job body. Pointers tell absent from empty.
type execWire struct {
	ID           *string         `json:"id"`
	PKPPublicKey *string         `json:"pkpPublicKey"`
	Code         *string         `json:"code"`
	IPFSID       *string         `json:"ipfsId"`
	JSParams     json.RawMessage `json:"jsParams"`
	Delivery     *string         `json:"delivery"`
	ReplyTo      *string         `json:"replyTo"`
}

// validCID is what an ipfsId may be: base58 or base32 text only, so that
// lit-litaction://<CID> stays one resource.
var validCID = regexp.MustCompile(`^[A-Za-z0-9]{1,128}$`)

// DecodeExecuteJSJob decodes and validates an execute-js job body (README
// "NATS contract"): id, pkpPublicKey, exactly one of code (the action's
// JavaScript source) and ipfsId, optional jsParams (an object), delivery
// (at-most-once by default, or at-least-once) and replyTo. Errors and
// partial results are as DecodeJob's.
func DecodeExecuteJSJob(data []byte, header nats.Header) (Job, error) {
	job := Job{Kind: KindExecuteJS, Delivery: DeliveryAtMostOnce}
	w, err := decodeJobBody(&job, data, header, executeJSSchema, func(w *execWire) (id, pkp, reply *string) { return w.ID, w.PKPPublicKey, w.ReplyTo })
	if err != nil {
		return job, err
	}
	switch {
	case w.Code != nil && w.IPFSID != nil:
		return job, badJob("both code and ipfsId are set; send exactly one")
	case w.Code != nil:
		if *w.Code == "" {
			return job, badJob("code is empty")
		}
		job.Code = []byte(*w.Code)
		cid, err := litnode.IPFSCIDv0(job.Code)
		if err != nil {
			return job, badJob("code: %v", err)
		}
		job.CID = cid
	case w.IPFSID != nil:
		if !validCID.MatchString(*w.IPFSID) {
			return job, badJob("ipfsId %q is not a CID", *w.IPFSID)
		}
		job.IPFSID, job.CID = *w.IPFSID, *w.IPFSID
	default:
		return job, badJob("missing code or ipfsId")
	}
	job.JSParams = map[string]any{}
	if p := bytes.TrimSpace(w.JSParams); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		pd := json.NewDecoder(bytes.NewReader(p))
		pd.UseNumber() // numbers reach the action exactly as sent
		if p[0] != '{' || pd.Decode(&job.JSParams) != nil {
			return job, badJob("jsParams must be a JSON object")
		}
	}
	if w.Delivery != nil {
		switch *w.Delivery {
		case DeliveryAtMostOnce, DeliveryAtLeastOnce:
			job.Delivery = *w.Delivery
		default:
			return job, badJob("delivery %q: want %s or %s", *w.Delivery, DeliveryAtMostOnce, DeliveryAtLeastOnce)
		}
	}
	return job, nil
}

// fillAddress copies the id, PKP text and reply subject into job, and
// checks the reply subject.
func fillAddress(job *Job, id, pkpText, replyTo *string, hdrReply string) error {
	if id != nil && checkJobID(*id) == nil {
		job.ID = *id
	}
	if pkpText != nil {
		job.PKPHex = *pkpText
		if len(job.PKPHex) > 140 {
			job.PKPHex = job.PKPHex[:140]
		}
	}
	if replyTo == nil {
		if hdrReply != "" && !validSubject(hdrReply) {
			return badJob("%s header is not a valid subject", HeaderReplyTo)
		}
		return nil
	}
	body := *replyTo
	if !validSubject(body) {
		return badJob("replyTo %q is not a valid subject", body)
	}
	if hdrReply != "" && hdrReply != body {
		return badJob("replyTo and the %s header differ", HeaderReplyTo)
	}
	job.ReplyTo = body
	return nil
}

func checkJobID(id string) error {
	switch {
	case len(id) > MaxJobIDLength:
		return badJob("id is %d characters long, at most %d allowed", len(id), MaxJobIDLength)
	case !validJobID.MatchString(id):
		return badJob("id may contain only letters, digits, '-' and '_'")
	}
	return nil
}

// validSubject reports whether s is a literal NATS subject a result can be
// published to: non-empty tokens, no wildcards or whitespace.
func validSubject(s string) bool {
	if s == "" || len(s) > 512 {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
	}
	return !strings.ContainsAny(s, " \t\r\n\x00")
}

// contentHash is the hash of what a job asks for: kind, PKP, message and
// chain, or action (code or CID), parameters and delivery mode. The ledger
// keeps it, so that an id reused by its producer for another job is
// refused instead of answered with the first job's result.
func (job *Job) contentHash() string {
	h := sha256.New()
	field := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte(job.Kind))
	field([]byte(job.PKPHex))
	field([]byte(job.Chain))
	field(job.Message)
	field(job.Code)
	field([]byte(job.IPFSID))
	params, _ := json.Marshal(job.JSParams) // sorted keys; numbers as sent
	field(params)
	field([]byte(job.Delivery))
	return hex.EncodeToString(h.Sum(nil))
}

func badJob(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadJob, fmt.Sprintf(format, args...))
}

// Result is the body of a job's result (README "NATS contract"). A success
// has CompletedAt and, for pkp-sign, Signature, for execute-js, the
// ActionResult fields; a failure has Error.
type Result struct {
	ID string `json:"id"`
	// Producer is the job's producer (from its subject).
	Producer     string           `json:"producer,omitempty"`
	Status       string           `json:"status"`
	Kind         string           `json:"kind"`
	PKPPublicKey string           `json:"pkpPublicKey"`
	Signature    *ResultSignature `json:"signature,omitempty"`
	// ActionResult is set on an execute-js success; its fields are
	// written inline (response, logs, signatures) and omitted otherwise.
	*ActionResult
	Error       *ResultError `json:"error,omitempty"`
	CompletedAt *time.Time   `json:"completedAt,omitempty"`
}

// ActionResult is what an execute-js job's action produced.
type ActionResult struct {
	// Response is the action's response: the JSON it set, when it parses,
	// else the string.
	Response json.RawMessage `json:"response"`
	// Logs is the action's console output.
	Logs string `json:"logs"`
	// Signatures are the signatures the action made, by sigName.
	Signatures map[string]*ResultSignature `json:"signatures"`
}

// ResultSignature is a combined PKP signature, hex with 0x.
type ResultSignature struct {
	R          string `json:"r"`          // 32 bytes
	S          string `json:"s"`          // 32 bytes, low-s
	RecoveryID int    `json:"recoveryId"` // 0 or 1
	Signature  string `json:"signature"`  // r‖s‖v, 65 bytes, v = 27 + recoveryId
	PublicKey  string `json:"publicKey"`  // the PKP's uncompressed key
	SignedData string `json:"signedData"` // the 32-byte digest signed
}

// ResultError says why a job failed.
type ResultError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
	// Logs are the action's logs of a failed execute-js job, when the
	// nodes returned them.
	Logs string `json:"logs,omitempty"`
}

// newResultSignature renders a combined signature.
func newResultSignature(sig litnode.ECDSASignature) *ResultSignature {
	eth := sig.Ethereum()
	return &ResultSignature{
		R:          "0x" + hex.EncodeToString(sig.R[:]),
		S:          "0x" + hex.EncodeToString(sig.S[:]),
		RecoveryID: int(sig.RecoveryID),
		Signature:  "0x" + hex.EncodeToString(eth[:]),
		PublicKey:  "0x" + hex.EncodeToString(sig.PublicKey),
		SignedData: "0x" + hex.EncodeToString(sig.Digest),
	}
}

// newActionResult renders what an action produced.
func newActionResult(r litnode.ExecuteJSResult) *ActionResult {
	resp, err := json.Marshal(r.Response)
	if err != nil { // cannot happen: values decoded from JSON
		resp, _ = json.Marshal(r.ResponseRaw)
	}
	sigs := make(map[string]*ResultSignature, len(r.Signatures))
	for name, sig := range r.Signatures {
		sigs[name] = newResultSignature(sig)
	}
	return &ActionResult{Response: resp, Logs: boundLogs(r.Logs), Signatures: sigs}
}

// maxErrorMessage bounds a result's error message.
const maxErrorMessage = 1024

// maxLogs bounds the action logs in a result.
const maxLogs = 64 << 10

// boundLogs cuts logs to maxLogs bytes, on a UTF-8 boundary.
func boundLogs(s string) string {
	if len(s) <= maxLogs {
		return s
	}
	cut := maxLogs
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// errorMessage renders err for a result: bounded, one line.
func errorMessage(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	if len(s) > maxErrorMessage {
		s = s[:maxErrorMessage] + "…"
	}
	return s
}
