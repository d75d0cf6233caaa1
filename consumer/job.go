package consumer

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/litsignd/litsignd/litnode"
)

// Job kinds: the last token of the job subject, <prefix>.jobs.<kind>.
const (
	KindPKPSign   = "pkp-sign"
	KindExecuteJS = "execute-js" // reserved: rejected with bad_request until supported
)

// HeaderReplyTo is the job header that names the reply subject
// (jetstream-notes A.6: msg.Reply() of a JetStream message is the ack
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
	// CodeActionFailed: a Lit Action threw or timed out (execute-js).
	CodeActionFailed = "action_failed"
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

// Job is a decoded, validated sign job.
type Job struct {
	// ID is the producer's job id (also the Nats-Msg-Id of the job and of
	// its result). It is set on a decode error too when it is valid.
	ID string
	// Kind is the job kind, from the subject (set by the caller).
	Kind string
	// PKP is the PKP to sign with; PKPHex its normalised hex, or on a
	// decode error whatever pkpPublicKey said.
	PKP    litnode.PKPPublicKey
	PKPHex string
	// Message is the bytes to sign (toSign as UTF-8, or toSignHex decoded).
	Message []byte
	// Chain says how Message becomes the signed digest.
	Chain litnode.SigningChain
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

// DecodeJob decodes and validates a pkp-sign job body (README "NATS
// contract"). header may carry the reply subject in Lit-Reply-To. Unknown
// fields are rejected, so a misspelt replyTo is not silently ignored.
//
// Every error wraps ErrBadJob. On error the returned Job still carries what
// could be read (a valid ID, the reply subject, pkpPublicKey as given), so
// the caller can address the error result.
func DecodeJob(data []byte, header nats.Header) (Job, error) {
	var job Job
	hdrReply := strings.TrimSpace(header.Get(HeaderReplyTo))
	if hdrReply != "" && validSubject(hdrReply) {
		job.ReplyTo = hdrReply
	}
	if len(data) > MaxJobBytes {
		return job, badJob("job of %d bytes exceeds %d", len(data), MaxJobBytes)
	}
	var w jobWire
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		// Salvage the id and reply subject for the error result.
		var loose jobWire
		if json.Unmarshal(data, &loose) == nil {
			fillAddress(&job, loose, hdrReply)
		}
		return job, badJob("job is not the documented JSON object: %v", err)
	}
	if err := fillAddress(&job, w, hdrReply); err != nil {
		return job, err
	}
	if dec.More() {
		return job, badJob("trailing data after the job object")
	}
	if w.ID == nil || *w.ID == "" {
		return job, badJob("missing id")
	}
	if err := checkJobID(*w.ID); err != nil {
		return job, err
	}
	if w.PKPPublicKey == nil || *w.PKPPublicKey == "" {
		return job, badJob("missing pkpPublicKey")
	}
	pkp, err := litnode.ParsePKPPublicKey(*w.PKPPublicKey)
	if err != nil {
		return job, badJob("pkpPublicKey: %v", err)
	}
	job.PKP, job.PKPHex = pkp, pkp.Hex()
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

// fillAddress copies the id, PKP text and reply subject into job, and
// checks the reply subject.
func fillAddress(job *Job, w jobWire, hdrReply string) error {
	if w.ID != nil && checkJobID(*w.ID) == nil {
		job.ID = *w.ID
	}
	if w.PKPPublicKey != nil {
		job.PKPHex = *w.PKPPublicKey
		if len(job.PKPHex) > 140 {
			job.PKPHex = job.PKPHex[:140]
		}
	}
	if w.ReplyTo == nil {
		if hdrReply != "" && !validSubject(hdrReply) {
			return badJob("%s header is not a valid subject", HeaderReplyTo)
		}
		return nil
	}
	body := *w.ReplyTo
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

func badJob(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadJob, fmt.Sprintf(format, args...))
}

// Result is the body of a job's result (README "NATS contract"). A success
// has Signature and CompletedAt; a failure has Error.
type Result struct {
	ID           string           `json:"id"`
	Status       string           `json:"status"`
	Kind         string           `json:"kind"`
	PKPPublicKey string           `json:"pkpPublicKey"`
	Signature    *ResultSignature `json:"signature,omitempty"`
	Error        *ResultError     `json:"error,omitempty"`
	CompletedAt  *time.Time       `json:"completedAt,omitempty"`
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

// maxErrorMessage bounds a result's error message.
const maxErrorMessage = 1024

// errorMessage renders err for a result: bounded, one line.
func errorMessage(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	if len(s) > maxErrorMessage {
		s = s[:maxErrorMessage] + "…"
	}
	return s
}
