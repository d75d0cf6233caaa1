package consumer

import (
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/litsignd/litsignd/delegationstore"
	"github.com/litsignd/litsignd/litnode"
	"github.com/litsignd/litsignd/policy"
)

// CodePolicyDenied: the PKP's policy (the owner's, from the hand-off, or
// the operator's default) does not allow the job: its producer, kind,
// chain or Lit Action, its rate, or a signature an action returned by
// another PKP. No node was asked, or (for that signature) the signature
// is withheld. Not retryable.
const CodePolicyDenied = "policy_denied"

// Intake rejection reasons of the policy and revocation checks.
const (
	ReasonInvalidPolicy    = "invalid_policy"
	ReasonRevoked          = "revoked"
	ReasonPlainNotAccepted = "plain_not_accepted"
)

// policyOf returns the policy that governs d: the owner's, else the
// operator's default, else policy.Default().
func (j *Jobs) policyOf(d *delegationstore.Delegation) *policy.Policy {
	switch {
	case d.Policy != nil:
		return d.Policy
	case j.DefaultPolicy != nil:
		return j.DefaultPolicy
	}
	return defaultPolicy
}

var defaultPolicy = policy.Default()

// producerOf is the job's producer for policies ("default" for a job
// without one).
func producerOf(job Job) string {
	if job.Producer == "" {
		return "default"
	}
	return job.Producer
}

// checkPolicy is the policy pre-check of a job whose delegation was found:
// no network call, before any node request. It takes a token of the PKP's
// rate limit when everything else allows the job.
func (j *Jobs) checkPolicy(job Job, d *delegationstore.Delegation) error {
	p := j.policyOf(d)
	req := policy.Request{Producer: producerOf(job), Kind: job.Kind, Chain: string(job.Chain), CID: job.CID, Inline: len(job.Code) > 0}
	if err := p.Check(req); err != nil {
		return fmt.Errorf("%s: %w", job.PKPHex, err)
	}
	if p.MaxJobsPerMinute > 0 && !j.guards().limiter.Allow(job.PKPHex, p.MaxJobsPerMinute, j.now()) {
		return fmt.Errorf("%s: %w: more than %d jobs a minute", job.PKPHex, policy.ErrDenied, p.MaxJobsPerMinute)
	}
	return nil
}

// checkActionSignatures withholds an action's result if it carries a
// signature by a key other than the job's PKP and the policy does not
// allow that: the node's check_pkp_auth lets an action sign with every PKP
// the delegation's owner controls, and the result would still be labelled
// with the job's PKP.
func (j *Jobs) checkActionSignatures(job Job, d *delegationstore.Delegation, res litnode.ExecuteJSResult) error {
	p := j.policyOf(d)
	for name, sig := range res.Signatures {
		if err := p.CheckSignerKey(job.PKPHex, hex.EncodeToString(sig.PublicKey)); err != nil {
			return fmt.Errorf("%s: signature %q: %w", job.PKPHex, name, err)
		}
	}
	return nil
}

// stillCurrent is SessionAuth.Valid for a job's delegation d: once the
// store no longer holds d at its revision (revoked, replaced, expired),
// the job mints no more session signatures.
func (j *Jobs) stillCurrent(d *delegationstore.Delegation) func() error {
	c, ok := j.Delegations.(interface {
		Current(pkp litnode.PKPPublicKey, rev uint64) bool
	})
	if !ok || d.Revision == 0 {
		return nil
	}
	return func() error {
		if !c.Current(d.PKP, d.Revision) {
			return fmt.Errorf("%w: the delegation for %s (revision %d) was revoked or replaced while the job ran",
				delegationstore.ErrNotFound, d.PKP.Hex(), d.Revision)
		}
		return nil
	}
}

// jobGuards is the mutable state of a Jobs' policy checks: the rate
// limiter and the "needed" event deduplication. It lives outside Jobs
// (keyed by it), so that Jobs stays a plain, copyable configuration.
type jobGuards struct {
	limiter policy.Limiter
	needed  neededDedup
}

var allGuards sync.Map // *Jobs → *jobGuards

func (j *Jobs) guards() *jobGuards {
	if g, ok := allGuards.Load(j); ok {
		return g.(*jobGuards)
	}
	g, _ := allGuards.LoadOrStore(j, &jobGuards{})
	return g.(*jobGuards)
}
