package v3fake

import (
	"fmt"
	"net/http"
	"strings"
)

const docsBase = "https://developer.litprotocol.com"

// catcherCodes are the v1.2+ "error" values per status (docs/lit-v3.md §1.4).
var catcherCodes = map[int]string{
	400: "bad_request", 401: "unauthorized", 402: "payment_required", 403: "forbidden",
	404: "not_found", 422: "unprocessable_entity", 429: "too_many_requests",
	500: "internal_error", 503: "service_unavailable",
}

// catcherDefaults are the generic message and fix of a catcher body when a
// guard gives none. The spec records the shape and the specific texts of
// the guards (used verbatim where given); these generic texts are the
// fake's.
var catcherDefaults = map[int][2]string{
	400: {"The request could not be understood.", "Check the request body is valid JSON."},
	401: {"No API key provided.", "Send your usage API key in the Authorization: Bearer header or X-Api-Key."},
	402: {"Payment required.", "Add credits to your account."},
	403: {"Forbidden.", "Check the key's permissions."},
	404: {"The requested resource was not found.", "Check the path and method."},
	413: {"The request body is too large.", "Send a smaller body (limit 10 MiB)."},
	422: {"The request body does not match the expected schema.", "Check field names and types."},
	429: {"Too many requests.", "Retry with backoff."},
	500: {"Internal server error.", "Retry later."},
	503: {"Service unavailable.", "Retry in a few seconds."},
}

// rocketReasons are the reason phrases and descriptions of Rocket's default
// catcher, the April body for guard failures (docs/lit-v3.md §1.4, U7).
var rocketReasons = map[int][2]string{
	400: {"Bad Request", "The request could not be understood by the server due to malformed syntax."},
	401: {"Unauthorized", "The request requires user authentication."},
	402: {"Payment Required", "The request could not be processed due to lack of payment."},
	403: {"Forbidden", "The server refused to authorize the request."},
	404: {"Not Found", "The requested resource could not be found."},
	413: {"Payload Too Large", "The request is larger than the server is willing or able to process."},
	422: {"Unprocessable Entity", "The request was well-formed but was unable to be followed due to semantic errors."},
	429: {"Too Many Requests", "The user has sent too many requests in a given amount of time."},
	500: {"Internal Server Error", "The server encountered an internal error while processing this request."},
	503: {"Service Unavailable", "The server is currently unavailable."},
}

// catcher answers a guard or routing failure in the selected version's
// shape: v1.2 {error, message, fix, docs_url}; April Rocket's default
// catcher, JSON when the client prefers it, else HTML.
func (s *Server) catcher(w http.ResponseWriter, r *http.Request, status int, msg, fix string) {
	if s.cfg.Version == April {
		reason := rocketReasons[status]
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			writeJSON(w, status, map[string]any{"error": map[string]any{
				"code": status, "reason": reason[0], "description": reason[1]}})
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<!DOCTYPE html>
<html lang="en">
<head>
    <meta charset="utf-8">
    <title>%d %s</title>
</head>
<body align="center">
    <div role="main" align="center">
        <h1>%d: %s</h1>
        <p>%s</p>
        <hr />
    </div>
    <div role="contentinfo" align="center">
        <small>Rocket</small>
    </div>
</body>
</html>`, status, reason[0], status, reason[0], reason[1])
		return
	}
	code, ok := catcherCodes[status]
	if !ok {
		code = "error"
	}
	d := catcherDefaults[status]
	if msg == "" {
		msg, fix = d[0], d[1]
	}
	docs := docsBase + "/management/errors"
	switch status {
	case 401, 403:
		docs = docsBase + "/architecture/authModel"
	case 402:
		docs = docsBase + "/management/pricing"
	}
	writeJSON(w, status, map[string]string{"error": code, "message": msg, "fix": fix, "docs_url": docs})
}

// Guard texts of v1.2+ (docs/lit-v3.md §2.1, §2.5, §3.6).
const (
	msgNoKey         = "No API key provided."
	msgHashShapedKey = "API key looks like a precomputed account hash, not a raw key."
	msgUnknownKey    = "API key not recognized — it does not resolve to any account."
	msgBillingDown   = "Billing is temporarily unavailable — your request was not charged."
	fixBillingDown   = "Retry in a few seconds."
	msgOverloaded    = "The node is shedding load (CPU overloaded)."
	fixOverloaded    = "Retry with backoff. Spread sustained load over time or across requests."
)

// extractKey reads the key as both guards do (docs/lit-v3.md §2.1):
// `Authorization: Bearer <k>` wins, else X-Api-Key trimmed.
func extractKey(r *http.Request) string {
	if f := strings.Fields(r.Header.Get("Authorization")); len(f) >= 2 && strings.EqualFold(f[0], "bearer") {
		return f[1]
	}
	return strings.TrimSpace(r.Header.Get("X-Api-Key"))
}
