package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/litnode"
)

// Backend runs a decoded job on one Lit generation: Naga (litnode, the
// node wire protocol) or Lit v3 (the Chipotle REST API). The job path
// (Jobs.Handle: ledger, disposition, result, ack) is the same for both;
// each stored PKP record says which backend serves it (backendFor).
type Backend interface {
	// Name is the backend's name in logs and metrics: "naga" or "lit-v3".
	Name() string
	// Sign runs a pkp-sign job.
	Sign(ctx context.Context, msg jetstream.Msg, job Job, log *slog.Logger) (litnode.ECDSASignature, error)
	// Execute runs an execute-js job. It records in f whether the action
	// was called and may have run, and returns errOutcomeUnknown (wrapping
	// the cause) for an at-most-once job whose action may have run and
	// whose failure would otherwise be retried.
	Execute(ctx context.Context, msg jetstream.Msg, job Job, log *slog.Logger, f *finisher) (litnode.ExecuteJSResult, error)
}

// pkpAddress matches a PKP named by its wallet address.
var pkpAddress = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)

// parsePKPAddress returns a wallet address lowercase.
func parsePKPAddress(s string) (string, bool) {
	if !pkpAddress.MatchString(s) {
		return "", false
	}
	return strings.ToLower(s), true
}

// backendFor picks the backend of a job's PKP: a Naga delegation stored
// under its public key wins; otherwise a v3 credential stored under its
// address (the job may name the PKP by either). With no v3 backend
// configured every job goes to Naga, as before. A job that names the PKP by
// address and has no v3 credential gets delegation_not_found (Naga
// delegations are kept by public key).
func (j *Jobs) backendFor(ctx context.Context, job Job) (Backend, error) {
	naga := nagaBackend{j}
	if j.V3 == nil {
		if job.PKP.IsZero() {
			return nil, fmt.Errorf("%w: the job names PKP %s by its wallet address; this litsignd serves no Lit v3 backend, and Naga delegations are kept by public key", delegationstore.ErrNotFound, job.PKPAddress)
		}
		return naga, nil
	}
	if !job.PKP.IsZero() {
		_, err := j.Delegations.Get(ctx, job.PKP)
		if !errors.Is(err, delegationstore.ErrNotFound) {
			return naga, nil // stored (or expired, or unusable: Naga reports it)
		}
	}
	cred, err := j.V3.Credentials.Get(ctx, job.PKPAddress)
	switch {
	case errors.Is(err, delegationstore.ErrNotFound) && !job.PKP.IsZero():
		return naga, nil // reports delegation_not_found as before
	case err != nil:
		return nil, err
	}
	return &v3Job{b: j.V3, j: j, cred: cred}, nil
}
