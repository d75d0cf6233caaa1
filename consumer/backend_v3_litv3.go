package consumer

import (
	"context"
	"errors"
	"strings"

	"github.com/litsignd/litsignd/litv3"
)

// LitV3 adapts a *litv3.Client to the interfaces the v3 backend, the
// intake and the balance poller use (V3Client, V3Checker,
// V3BalanceReader), mapping litv3's typed errors onto V3Error.
type LitV3 struct{ C *litv3.Client }

// LitAction implements V3Client.
func (l LitV3) LitAction(ctx context.Context, usageKey string, req V3ActionRequest) (V3ActionResult, error) {
	key, err := litv3.ParseUsageKey(usageKey)
	if err != nil {
		return V3ActionResult{}, &V3Error{Kind: V3Unauthorized, Message: "the stored usage key is not a usage key"}
	}
	res, err := l.C.LitAction(ctx, key, litv3.ActionRequest{Code: req.Code, IPFSID: req.IPFSID, JSParams: req.JSParams,
		CorrelationID: req.CorrelationID, PrivacyMode: true})
	if err != nil {
		return V3ActionResult{}, v3ErrorOf(err)
	}
	return V3ActionResult{Response: res.Response, Logs: res.Logs, RequestID: res.RequestID}, nil
}

// AccountExists implements V3Checker: a 401 (v1.2+ answers an unknown key
// so) is false.
func (l LitV3) AccountExists(ctx context.Context, usageKey string) (bool, error) {
	key, err := litv3.ParseUsageKey(usageKey)
	if err != nil {
		return false, nil
	}
	ok, err := l.C.AccountExists(ctx, key)
	if errors.Is(err, litv3.ErrUnauthorized) {
		return false, nil
	}
	return ok, err
}

// CreditCents implements V3BalanceReader.
func (l LitV3) CreditCents(ctx context.Context, usageKey string) (int64, error) {
	key, err := litv3.ParseUsageKey(usageKey)
	if err != nil {
		return 0, err
	}
	b, err := l.C.Balance(ctx, key)
	if err != nil {
		return 0, err
	}
	return b.CreditCents(), nil
}

// v3ErrorOf maps a litv3 error onto V3Error.
func v3ErrorOf(err error) *V3Error {
	out := &V3Error{Kind: V3Unavailable, MayHaveRun: litv3.MayHaveRun(err), Message: err.Error()}
	var le *litv3.Error
	if errors.As(err, &le) {
		out.Status = le.Status
		if le.Message != "" {
			out.Message = le.Message
		}
	}
	switch {
	case errors.Is(err, litv3.ErrUnauthorized):
		out.Kind = V3Unauthorized
	case errors.Is(err, litv3.ErrPaymentRequired):
		out.Kind = V3Payment
	case errors.Is(err, litv3.ErrForbidden):
		out.Kind = V3Forbidden
	case errors.Is(err, litv3.ErrBadRequest):
		out.Kind = V3BadRequest
	case errors.Is(err, litv3.ErrOverloaded):
		out.Kind = V3Overloaded
	case errors.Is(err, litv3.ErrActionFailed):
		out.Kind = V3ActionFailed
	}
	if errors.Is(err, litv3.ErrWalletNotPermitted) && !strings.Contains(out.Message, "cannot use selected wallet") {
		out.Message += " (API key cannot use selected wallet in selected action)"
	}
	return out
}
