package consumer

import (
	"context"
	"errors"

	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/policy"
)

// Job failures decided in this package (the others are delegationstore's
// and litnode's sentinels).
var (
	// errScopeDenied: the delegation's ReCap does not grant PKP signing on
	// the job's PKP.
	errScopeDenied = errors.New("delegation does not grant PKP signing on this PKP")
	// errInfra: litsignd's own JetStream plumbing (ledger, result publish)
	// failed; a redelivery may succeed.
	errInfra = errors.New("litsignd infrastructure unavailable")
	// errOutcomeUnknown: an at-most-once execute-js job whose action may
	// have run and whose outcome is not known; it must not run again.
	errOutcomeUnknown = errors.New("the action may have run; its outcome is unknown")
)

// jobDisposition is the job consumer's whole acknowledgement policy
// (docs/jetstream.md A.2, F "error classes"): it maps the error
// of one delivery to the result's error code, whether the producer may
// retry, and what happens to the message.
//
//   - nil: ack (the ok result was published).
//   - Permanent failures (bad input, no or expired delegation, scope,
//     payment, auth rejected by the nodes, a Lit Action that failed, an
//     at-most-once action whose outcome is unknown): an error result, then
//     Term.
//   - Transient failures (Lit network unavailable, timeouts, shares that do
//     not combine, litsignd's own plumbing): NakWithDelay, no result.
//   - A transient failure on the last allowed delivery (lastDelivery) is
//     final: an error result, then Term, so every job gets exactly one
//     final result. The code stays lit_unavailable when the network was
//     the cause and becomes delivery_exhausted otherwise.
//
// One thing happens outside it, by design: a result that is recorded in the
// ledger but cannot be published is naked even on the last delivery, so
// that the redelivery, or the max-deliveries handler (Jobs.HandleExhausted),
// publishes the recorded result rather than a second one.
//
// Checks go from the most to the least specific: an operation that failed
// on several nodes for different reasons counts as its worst, non-retryable
// reason, as litnode.Retryable does.
func jobDisposition(err error, lastDelivery bool) (code string, retryable bool, act action) {
	switch {
	case err == nil:
		return "", false, actAck
	case errors.Is(err, errOutcomeUnknown):
		// First: it wraps the transient failure that made the outcome
		// unknown, which must not cause a redelivery.
		return CodeOutcomeUnknown, false, actTerm
	case errors.Is(err, ErrBadJob), errors.Is(err, litnode.ErrMalformed), errors.Is(err, litnode.ErrBadRequest):
		return CodeBadRequest, false, actTerm
	case errors.Is(err, delegationstore.ErrNotFound):
		return CodeDelegationNotFound, false, actTerm
	case errors.Is(err, delegationstore.ErrExpired), errors.Is(err, litnode.ErrExpired):
		return CodeDelegationExpired, false, actTerm
	case errors.Is(err, policy.ErrDenied):
		return CodePolicyDenied, false, actTerm
	case errors.Is(err, errScopeDenied), errors.Is(err, litnode.ErrScope):
		return CodeScopeDenied, false, actTerm
	case errors.Is(err, litnode.ErrPaymentFailed):
		return CodePaymentFailed, false, actTerm
	case errors.Is(err, litnode.ErrUnauthorized):
		return CodeLitAuthFailed, false, actTerm
	case errors.Is(err, litnode.ErrActionFailed):
		return CodeActionFailed, false, actTerm
	case errors.Is(err, errPanic):
		// A bug that would hit every delivery of the job again.
		return CodeInternal, false, actTerm
	case errors.Is(err, delegationstore.ErrSealed), errors.Is(err, errUnusableDelegation),
		errors.Is(err, litnode.ErrAttestationUnsupported):
		// A stored secret the keyring cannot open, a stored record that
		// does not parse, or a network this build cannot talk to:
		// configuration, not the job.
		return CodeInternal, false, actTerm
	case errors.Is(err, litnode.ErrNodeUnavailable), errors.Is(err, litnode.ErrNoValidShares),
		errors.Is(err, litnode.ErrNotEnoughNodes), errors.Is(err, context.DeadlineExceeded):
		if lastDelivery {
			return CodeLitUnavailable, true, actTerm
		}
		return CodeLitUnavailable, true, actNak
	default:
		// errInfra, a drain that cancelled the job, anything unclassified:
		// retried, and on the last delivery reported as exhausted.
		if lastDelivery {
			return CodeDeliveryExhausted, true, actTerm
		}
		return CodeInternal, true, actNak
	}
}
