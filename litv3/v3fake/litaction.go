package v3fake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/litsignd/litsignd/litv3"
)

var hashShapedKey = regexp.MustCompile(`^0x[0-9a-fA-F]{64}$`)

// litActionRequest is LitActionRequest (docs/lit-v3.md §3.1); unknown fields
// are ignored.
type litActionRequest struct {
	Code     *string         `json:"code"`
	IPFSID   *string         `json:"ipfs_id"`
	JSParams json.RawMessage `json:"js_params"`
}

// handleLitAction is POST /core/v1/lit_action in the order of
// docs/lit-v3.md §3.3.
func (s *Server) handleLitAction(w http.ResponseWriter, r *http.Request) {
	// 2. CpuAvailable, before auth.
	if s.overloaded.Load() || (s.cfg.MaxConcurrentRuns > 0 && s.inFlight.Load() >= int64(s.cfg.MaxConcurrentRuns)) {
		s.catcher(w, r, http.StatusTooManyRequests, msgOverloaded, fixOverloaded)
		return
	}
	// 3. BilledLitActionApiKey.
	key := extractKey(r)
	if key == "" {
		s.catcher(w, r, http.StatusUnauthorized, msgNoKey, catcherDefaults[401][1])
		return
	}
	if s.cfg.Version == V12 && hashShapedKey.MatchString(key) {
		s.catcher(w, r, http.StatusUnauthorized, msgHashShapedKey, "Send the raw API key, not its hash.")
		return
	}
	billing := !(s.cfg.Version == April && s.cfg.BillingOff)
	s.mu.Lock()
	res, known := s.resolve(key)
	var credits int64
	if known {
		credits = res.acct.credits
	}
	s.mu.Unlock()
	if !known && billing {
		if s.cfg.Version == V12 {
			s.catcher(w, r, http.StatusUnauthorized, msgUnknownKey, "Check the key; create a new usage key if it was removed.")
		} else {
			s.catcher(w, r, http.StatusPaymentRequired, "", "") // the wallet resolution failed
		}
		return
	}
	if billing && s.billingOutage.Load() {
		if s.cfg.Version == V12 {
			s.catcher(w, r, http.StatusServiceUnavailable, msgBillingDown, fixBillingDown)
		} else {
			s.catcher(w, r, http.StatusPaymentRequired, "", "")
		}
		return
	}
	if billing && credits < 1 {
		fix := "Add credits in the dashboard (minimum $5)."
		if credits <= 0 {
			fix += " New billing accounts can take up to a minute to appear."
		}
		s.catcher(w, r, http.StatusPaymentRequired,
			fmt.Sprintf("Insufficient credits: this call needs $0.01 but your balance is $%d.%02d.", max(credits, 0)/100, max(credits, 0)%100), fix)
		return
	}
	// 4. The JSON body.
	raw, err := io.ReadAll(io.LimitReader(r.Body, BodyLimit+1))
	if err != nil {
		s.catcher(w, r, http.StatusBadRequest, "", "")
		return
	}
	if len(raw) > BodyLimit {
		s.catcher(w, r, http.StatusRequestEntityTooLarge, "", "")
		return
	}
	var req litActionRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) || !json.Valid(raw) {
			s.catcher(w, r, http.StatusBadRequest, "", "")
		} else {
			s.catcher(w, r, http.StatusUnprocessableEntity, "", "")
		}
		return
	}
	// 5. The code.
	code := ""
	if req.Code != nil {
		code = *req.Code
	}
	if code == "" {
		if req.IPFSID == nil || *req.IPFSID == "" {
			handlerError(w, http.StatusBadRequest, "Either `code` or `ipfs_id` must be provided.: missing code and ipfs_id")
			return
		}
		s.mu.Lock()
		c, ok := s.cache[*req.IPFSID]
		s.mu.Unlock()
		if !ok {
			handlerError(w, http.StatusBadRequest, "No cached code found. Submit the action code at least once before referencing it by IPFS ID.: cache miss for IPFS ID "+*req.IPFSID)
			return
		}
		code = c
	}
	cid, err := litv3.CID(code)
	if err != nil {
		handlerError(w, http.StatusInternalServerError, "Internal server error.: "+err.Error())
		return
	}
	// 6. Permission by CID.
	if !known { // April without billing: the view reverts for an unknown key
		handlerError(w, http.StatusInternalServerError,
			"Internal server error.: Contract call reverted with data: AccountDoesNotExist")
		return
	}
	cidHash := common.Hash(litv3.CIDHash(cid))
	s.mu.Lock()
	allowed := s.canExecute(res, cidHash)
	if allowed {
		s.cache[cid] = code // 7. cached after authorization
	}
	s.mu.Unlock()
	if !allowed {
		handlerError(w, http.StatusForbidden, fmt.Sprintf(
			"The provided API key is not authorized to execute the specified action (%s/%s).", cid, litv3.CIDHashDecimal(cid)))
		return
	}
	if len(code) > s.cfg.MaxCodeLength {
		handlerError(w, http.StatusInternalServerError, fmt.Sprintf(
			"Internal server error.: Actions failed with : Code payload is too large (%d bytes). Max length is %d bytes.", len(code), s.cfg.MaxCodeLength))
		return
	}
	params := req.JSParams
	if len(bytes.TrimSpace(params)) == 0 {
		params = json.RawMessage("null")
	}
	// 9. Execute, billed per second.
	s.mu.Lock()
	s.runs[cid]++
	s.mu.Unlock()
	s.total.Add(1)
	headers := map[string]string{"x-request-id": w.Header().Get("X-Request-Id")}
	if c := r.Header.Get("X-Correlation-Id"); c != "" {
		headers["x-correlation-id"] = c
	}
	s.inFlight.Add(1)
	start := time.Now()
	out := s.run(runSpec{res: res, cid: cid, cidHash: cidHash, code: code, params: params, headers: headers,
		credits: credits, billing: billing, start: start})
	s.inFlight.Add(-1)
	if billing {
		secs := int64(time.Since(start) / time.Second)
		s.charge(res.acct, max(1, min(secs, max(credits, 1))))
	}
	if out.err != "" {
		handlerError(w, http.StatusInternalServerError, "Internal server error.: Actions failed with : "+out.err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"response": responseValue(out.response, out.responseSet),
		"logs": out.logs, "has_error": false})
}

// charge takes cents from the account (never below zero).
func (s *Server) charge(a *account, cents int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a.credits = max(a.credits-cents, 0)
}

// responseValue is the body's response (docs/lit-v3.md §3.5): the response
// string parsed as JSON when it parses, else the string; "" when nothing
// was set.
func responseValue(s string, set bool) json.RawMessage {
	if !set {
		return json.RawMessage(`""`)
	}
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}
