// Package litv3 is a client of Lit v3 ("Chipotle"), the REST API that runs
// Lit Actions in a TEE (docs/lit-v3.md): LitAction (POST
// /core/v1/lit_action) and the read endpoints a daemon needs (account_exists,
// wallets in a group, billing balance, version, health).
//
// A call authenticates with a usage API key (UsageKey, a bearer secret that
// never prints) sent as `Authorization: Bearer`. Every failure is an *Error
// that matches one sentinel (ErrUnauthorized, ErrPaymentRequired,
// ErrForbidden, ErrBadRequest, ErrOverloaded, ErrActionFailed,
// ErrUnavailable) and says whether the action can have run (MayHaveRun): v3
// has no idempotency, so a call that may have reached the runtime must not be
// retried by a caller that promises at-most-once. Both servers' error bodies
// are understood: April (v1.0.x) plain or HTML catcher pages and JSON-string
// handler errors, and v1.2+ JSON objects {error, message, fix, docs_url}
// (docs/lit-v3.md §1.4).
//
// The package imports neither NATS nor Prometheus; litv3/v3fake is a local
// fake of the service for tests.
package litv3
