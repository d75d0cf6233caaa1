package v3fake

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/litsignd/litsignd/litv3"
)

// The management writes of docs/lit-v3.md §5.2 that a daemon's operator
// uses, over HTTP. Each is billed 1 cent (April: up front, even when it
// fails; v1.2+: only on a 2xx) behind the BilledManagementApiKey guard
// (401/402/503). Permission failures are 403 "Permission denied" where the
// service maps them so, else 500 "<op> failed: …".

func (s *Server) writeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /core/v1/new_account", s.handleNewAccount)
	for _, m := range []string{"GET", "POST"} {
		mux.HandleFunc(m+" /core/v1/create_wallet", s.billedWrite("create_wallet", s.writeCreateWallet))
	}
	mux.HandleFunc("POST /core/v1/add_group", s.billedWrite("add_group", s.writeAddGroup))
	mux.HandleFunc("POST /core/v1/add_action_to_group", s.billedWrite("add_action_to_group", s.writeActionInGroup(true)))
	mux.HandleFunc("POST /core/v1/remove_action_from_group", s.billedWrite("remove_action_from_group", s.writeActionInGroup(false)))
	mux.HandleFunc("POST /core/v1/add_pkp_to_group", s.billedWrite("add_pkp_to_group", s.writePKPInGroup(true)))
	mux.HandleFunc("POST /core/v1/remove_pkp_from_group", s.billedWrite("remove_pkp_from_group", s.writePKPInGroup(false)))
	mux.HandleFunc("POST /core/v1/add_usage_api_key", s.billedWrite("add_usage_api_key", s.writeAddUsageKey))
	mux.HandleFunc("POST /core/v1/update_usage_api_key", s.billedWrite("update_usage_api_key", s.writeUpdateUsageKey))
	mux.HandleFunc("POST /core/v1/remove_usage_api_key", s.billedWrite("remove_usage_api_key", s.writeRemoveUsageKey))
	mux.HandleFunc("GET /core/v1/list_api_keys", s.keyed(s.handleListAPIKeys))
}

// writer is the caller of a write as the chain sees it at once (writes do
// not wait for the read caches of docs/lit-v3.md §2.6).
type writer struct {
	acct *account
	key  litv3.UsageKey
	uk   *usageKey // nil for the master key
}

func (s *Server) writerOf(key string) (writer, bool) {
	h := hashOf(key)
	a, ok := s.keyIndex[h]
	if !ok {
		return writer{}, false
	}
	k, _ := litv3.ParseUsageKey(key)
	if h == a.masterHash {
		return writer{acct: a, key: k}, true
	}
	uk := a.keys[h]
	if uk == nil || !uk.grant.removed.IsZero() {
		return writer{}, false
	}
	return writer{acct: a, key: k, uk: uk}, true
}

// writeFn handles a decoded write; it returns the status and the JSON body.
type writeFn func(w writer, body map[string]json.RawMessage) (int, any)

// billedWrite is the BilledManagementApiKey guard, the body decode and the
// charge.
func (s *Server) billedWrite(op string, fn writeFn) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		key := extractKey(r)
		if key == "" {
			s.catcher(rw, r, http.StatusUnauthorized, msgNoKey, catcherDefaults[401][1])
			return
		}
		if s.cfg.Version == V12 && hashShapedKey.MatchString(key) {
			s.catcher(rw, r, http.StatusUnauthorized, msgHashShapedKey, "Send the raw API key, not its hash.")
			return
		}
		billing := !(s.cfg.Version == April && s.cfg.BillingOff)
		s.mu.Lock()
		wr, known := s.writerOf(key)
		var credits int64
		if known {
			credits = wr.acct.credits
		}
		s.mu.Unlock()
		switch {
		case !known && billing && s.cfg.Version == V12:
			s.catcher(rw, r, http.StatusUnauthorized, msgUnknownKey, "Check the key; create a new usage key if it was removed.")
			return
		case !known && billing:
			s.catcher(rw, r, http.StatusPaymentRequired, "", "")
			return
		case billing && s.billingOutage.Load():
			if s.cfg.Version == V12 {
				s.catcher(rw, r, http.StatusServiceUnavailable, msgBillingDown, fixBillingDown)
			} else {
				s.catcher(rw, r, http.StatusPaymentRequired, "", "")
			}
			return
		case billing && credits < 1:
			s.catcher(rw, r, http.StatusPaymentRequired, fmt.Sprintf(
				"Insufficient credits: this call needs $0.01 but your balance is $%d.%02d.", max(credits, 0)/100, max(credits, 0)%100),
				"Add credits in the dashboard (minimum $5).")
			return
		}
		if billing && s.cfg.Version == April {
			s.charge(wr.acct, 1) // April charges in the guard
		}
		body := map[string]json.RawMessage{}
		if r.Method == http.MethodPost {
			raw, err := io.ReadAll(io.LimitReader(r.Body, BodyLimit+1))
			switch {
			case err != nil:
				s.catcher(rw, r, http.StatusBadRequest, "", "")
				return
			case len(raw) > BodyLimit:
				s.catcher(rw, r, http.StatusRequestEntityTooLarge, "", "")
				return
			}
			if err := json.Unmarshal(raw, &body); err != nil {
				if json.Valid(raw) {
					s.catcher(rw, r, http.StatusUnprocessableEntity, "", "")
				} else {
					s.catcher(rw, r, http.StatusBadRequest, "", "")
				}
				return
			}
		}
		if !known {
			handlerError(rw, http.StatusInternalServerError, op+" failed: Contract call reverted with data: AccountDoesNotExist")
			return
		}
		status, out := fn(wr, body)
		if status == http.StatusOK && billing && s.cfg.Version == V12 {
			s.charge(wr.acct, 1) // v1.2+ settles after a 2xx
		}
		writeJSON(rw, status, out)
	}
}

// errUnprocessable marks a body that does not fit the schema (422).
type errUnprocessable struct{}

func (errUnprocessable) Error() string { return "unprocessable" }

// field decodes a required field into v.
func field(body map[string]json.RawMessage, name string, v any) error {
	raw, ok := body[name]
	if !ok || json.Unmarshal(raw, v) != nil {
		return errUnprocessable{}
	}
	return nil
}

// optField decodes an optional field.
func optField(body map[string]json.RawMessage, name string, v any) error {
	raw, ok := body[name]
	if !ok || string(raw) == "null" {
		return nil
	}
	if json.Unmarshal(raw, v) != nil {
		return errUnprocessable{}
	}
	return nil
}

var unprocessable = map[string]string{"error": "unprocessable_entity", "message": "The request body does not match the expected schema.",
	"fix": "Check field names and types.", "docs_url": docsBase + "/management/errors"}

func denied() (int, any) { return http.StatusForbidden, "Permission denied" }

// inScope reports whether a per-group scope list allows group g (0 is all).
func inScope(list []uint64, g uint64) bool {
	return slices.Contains(list, 0) || slices.Contains(list, g)
}

func (s *Server) writeCreateWallet(w writer, _ map[string]json.RawMessage) (int, any) {
	if w.uk != nil && !w.uk.scopes.CanCreatePKPs {
		return denied()
	}
	addr, err := s.CreateWallet(w.key)
	if err != nil {
		return http.StatusInternalServerError, "create_wallet failed: " + err.Error()
	}
	return http.StatusOK, map[string]string{"wallet_address": strings.ToLower(addr.Hex())}
}

// parseHexBytes is lit-core hex_to_bytes: 0x optional, odd length padded.
func parseHexBytes(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return hex.DecodeString(s)
}

func (s *Server) writeAddGroup(w writer, body map[string]json.RawMessage) (int, any) {
	var name, descr string
	var pkps, cidHashes []string
	if field(body, "group_name", &name) != nil || field(body, "group_description", &descr) != nil ||
		field(body, "pkp_ids_permitted", &pkps) != nil || field(body, "cid_hashes_permitted", &cidHashes) != nil {
		return http.StatusUnprocessableEntity, unprocessable
	}
	if w.uk != nil && !w.uk.scopes.CanCreateGroups {
		return denied()
	}
	if len(cidHashes) > 10 {
		return http.StatusInternalServerError, "add_group failed: Contract call reverted: cidHashes must be 10 items or fewer"
	}
	if len(pkps) > 10 {
		return http.StatusInternalServerError, "add_group failed: Contract call reverted: pkpIds must be 10 items or fewer"
	}
	var addrs []common.Address
	for _, p := range pkps {
		b, err := parseHexBytes(p)
		if err != nil || len(b) != 20 {
			return http.StatusBadRequest, "invalid H160: address must be exactly 20 bytes"
		}
		addrs = append(addrs, common.BytesToAddress(b))
	}
	var hashes []common.Hash
	for _, c := range cidHashes {
		b, err := parseHexBytes(c)
		if err != nil || len(b) > 32 {
			return http.StatusBadRequest, "invalid cid hash: " + c
		}
		hashes = append(hashes, common.BytesToHash(b))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	w.acct.nextGroup++
	g := &group{id: w.acct.nextGroup, name: name, descr: descr, pkps: map[common.Address]grant{}, cids: map[common.Hash]grant{}}
	for _, a := range addrs {
		g.pkps[a] = grant{added: now}
	}
	for _, h := range hashes {
		g.cids[h] = grant{added: now}
	}
	w.acct.groups[g.id] = g
	return http.StatusOK, map[string]any{"success": true, "group_id": strconv.FormatUint(g.id, 10)}
}

// hashedCID parses a hashed_cid (0x hex or decimal).
func hashedCID(s string) (common.Hash, bool) {
	if strings.HasPrefix(s, "0x") {
		b, err := parseHexBytes(s)
		if err != nil || len(b) > 32 {
			return common.Hash{}, false
		}
		return common.BytesToHash(b), true
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Sign() < 0 || n.BitLen() > 256 {
		return common.Hash{}, false
	}
	return common.BigToHash(n), true
}

func (s *Server) writeActionInGroup(add bool) writeFn {
	return func(w writer, body map[string]json.RawMessage) (int, any) {
		var gid uint64
		var cidField string
		name := "hashed_cid"
		if add {
			name = "action_ipfs_cid"
		}
		if field(body, "group_id", &gid) != nil || field(body, name, &cidField) != nil {
			return http.StatusUnprocessableEntity, unprocessable
		}
		if w.uk != nil && !inScope(w.uk.scopes.ManageIPFSIDsInGroups, gid) {
			return denied()
		}
		h := cidKey(cidField)
		if !add {
			var ok bool
			if h, ok = hashedCID(cidField); !ok {
				return http.StatusBadRequest, "Invalid hashed_cid: " + cidField
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		g, ok := w.acct.groups[gid]
		if !ok {
			return denied() // the contract reverts; the service maps it to 403
		}
		now := s.now()
		if add {
			g.cids[h] = grant{added: now}
		} else if gr, ok := g.cids[h]; ok && gr.removed.IsZero() {
			gr.removed = now
			g.cids[h] = gr
		}
		return http.StatusOK, map[string]bool{"success": true}
	}
}

func (s *Server) writePKPInGroup(add bool) writeFn {
	return func(w writer, body map[string]json.RawMessage) (int, any) {
		var gid uint64
		var pkp string
		if field(body, "group_id", &gid) != nil || field(body, "pkp_id", &pkp) != nil {
			return http.StatusUnprocessableEntity, unprocessable
		}
		scope := w.uk != nil && !inScope(w.uk.scopes.AddPKPToGroups, gid)
		if !add {
			scope = w.uk != nil && !inScope(w.uk.scopes.RemovePKPFromGroups, gid)
		}
		if scope {
			return denied()
		}
		b, err := parseHexBytes(pkp)
		if err != nil || len(b) != 20 {
			return http.StatusBadRequest, "Invalid PKP ID: " + pkp
		}
		addr := common.BytesToAddress(b)
		s.mu.Lock()
		defer s.mu.Unlock()
		g, ok := w.acct.groups[gid]
		if !ok {
			return denied()
		}
		now := s.now()
		if add {
			g.pkps[addr] = grant{added: now}
		} else if gr, ok := g.pkps[addr]; ok && gr.removed.IsZero() {
			gr.removed = now
			g.pkps[addr] = gr
		}
		return http.StatusOK, map[string]bool{"success": true}
	}
}

func scopesOf(body map[string]json.RawMessage) (Scopes, error) {
	var sc Scopes
	for name, dst := range map[string]*bool{"can_create_groups": &sc.CanCreateGroups, "can_delete_groups": &sc.CanDeleteGroups, "can_create_pkps": &sc.CanCreatePKPs} {
		if err := field(body, name, dst); err != nil {
			return sc, err
		}
	}
	for name, dst := range map[string]*[]uint64{"manage_ipfs_ids_in_groups": &sc.ManageIPFSIDsInGroups, "add_pkp_to_groups": &sc.AddPKPToGroups,
		"remove_pkp_from_groups": &sc.RemovePKPFromGroups, "execute_in_groups": &sc.ExecuteInGroups} {
		if err := field(body, name, dst); err != nil {
			return sc, err
		}
		if len(*dst) > 50 {
			return sc, fmt.Errorf("%s must be 50 items or fewer", name)
		}
	}
	return sc, nil
}

func (s *Server) writeAddUsageKey(w writer, body map[string]json.RawMessage) (int, any) {
	var name, descr string
	if field(body, "name", &name) != nil || field(body, "description", &descr) != nil {
		return http.StatusUnprocessableEntity, unprocessable
	}
	sc, err := scopesOf(body)
	if _, ok := err.(errUnprocessable); ok {
		return http.StatusUnprocessableEntity, unprocessable
	} else if err != nil {
		return http.StatusInternalServerError, "add_usage_api_key failed: Contract call reverted: " + err.Error()
	}
	if w.uk != nil && !w.uk.scopes.CanCreatePKPs {
		// Its first step, registerWalletDerivation, reverts (docs/lit-v3.md §5.2).
		return http.StatusInternalServerError, "add_usage_api_key failed: Contract call reverted with data: NotAllowedToCreatePkps"
	}
	k, err := s.AddUsageKey(w.key, name, sc)
	if err != nil {
		return http.StatusInternalServerError, "add_usage_api_key failed: " + err.Error()
	}
	return http.StatusOK, map[string]any{"success": true, "usage_api_key": k.Reveal()}
}

// targetKey resolves a usage_api_key field: a raw key, or 0x + 64 hex taken
// as its hash (docs/lit-v3.md §5.2).
func targetKey(a *account, s string) (*usageKey, bool) {
	h := hashOf(s)
	if hashShapedKey.MatchString(s) {
		h = common.HexToHash(s)
	}
	uk, ok := a.keys[h]
	return uk, ok && uk.grant.removed.IsZero()
}

func (s *Server) writeUpdateUsageKey(w writer, body map[string]json.RawMessage) (int, any) {
	var target, name, descr string
	if field(body, "usage_api_key", &target) != nil || field(body, "name", &name) != nil || field(body, "description", &descr) != nil {
		return http.StatusUnprocessableEntity, unprocessable
	}
	sc, err := scopesOf(body)
	if _, ok := err.(errUnprocessable); ok {
		return http.StatusUnprocessableEntity, unprocessable
	} else if err != nil {
		return http.StatusInternalServerError, "update_usage_api_key failed: Contract call reverted: " + err.Error()
	}
	if w.uk != nil {
		return http.StatusInternalServerError, "update_usage_api_key failed: Contract call reverted with data: NotMasterAccount"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	uk, ok := targetKey(w.acct, target)
	if !ok {
		return http.StatusInternalServerError, "update_usage_api_key failed: Contract call reverted with data: UsageApiKeyDoesNotExist"
	}
	uk.name = name
	groups := sc.ExecuteInGroups
	sc.ExecuteInGroups = uk.scopes.ExecuteInGroups
	uk.scopes = sc
	s.setExecuteLocked(uk, groups)
	return http.StatusOK, map[string]bool{"success": true}
}

func (s *Server) writeRemoveUsageKey(w writer, body map[string]json.RawMessage) (int, any) {
	var target string
	if field(body, "usage_api_key", &target) != nil {
		return http.StatusUnprocessableEntity, unprocessable
	}
	if w.uk != nil {
		return http.StatusInternalServerError, "remove_usage_api_key failed: Contract call reverted with data: NotMasterAccount"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	uk, ok := targetKey(w.acct, target)
	if !ok {
		return http.StatusInternalServerError, "remove_usage_api_key failed: Contract call reverted with data: UsageApiKeyDoesNotExist"
	}
	uk.grant.removed = s.now()
	return http.StatusOK, map[string]bool{"success": true}
}

// setExecuteLocked replaces a key's execute_in_groups with propagation
// times; s.mu is held.
func (s *Server) setExecuteLocked(uk *usageKey, groups []uint64) {
	now := s.now()
	want := map[uint64]bool{}
	for _, g := range groups {
		want[g] = true
		if gr, ok := uk.execute[g]; !ok || !gr.removed.IsZero() {
			uk.execute[g] = grant{added: now}
		}
	}
	for g, gr := range uk.execute {
		if !want[g] && gr.removed.IsZero() {
			gr.removed = now
			uk.execute[g] = gr
		}
	}
	uk.scopes.ExecuteInGroups = append([]uint64(nil), groups...)
}

type apiKeyItem struct {
	ID                       string   `json:"id"`
	APIKeyHash               string   `json:"api_key_hash"`
	Name                     string   `json:"name"`
	Description              string   `json:"description"`
	Expiration               string   `json:"expiration"`
	Balance                  uint64   `json:"balance"`
	CanCreateGroups          bool     `json:"can_create_groups"`
	CanDeleteGroups          bool     `json:"can_delete_groups"`
	CanCreatePKPs            bool     `json:"can_create_pkps"`
	CanManageIPFSIDsInGroups []uint64 `json:"can_manage_ipfs_ids_in_groups"`
	CanAddPKPToGroups        []uint64 `json:"can_add_pkp_to_groups"`
	CanRemovePKPFromGroups   []uint64 `json:"can_remove_pkp_from_groups"`
	CanExecuteInGroups       []uint64 `json:"can_execute_in_groups"`
}

func nonNil(x []uint64) []uint64 {
	if x == nil {
		return []uint64{}
	}
	return x
}

func (s *Server) handleListAPIKeys(w http.ResponseWriter, r *http.Request, key string) {
	s.mu.Lock()
	res, ok := s.resolve(key)
	var items []apiKeyItem
	if ok {
		for _, uk := range res.acct.keys {
			if !uk.grant.removed.IsZero() {
				continue
			}
			h := uk.hash.Hex()
			items = append(items, apiKeyItem{ID: h, APIKeyHash: h, Name: uk.name,
				Expiration: strconv.FormatInt(uk.grant.added.Add(10*365*24*time.Hour).Unix(), 10), Balance: 10000000,
				CanCreateGroups: uk.scopes.CanCreateGroups, CanDeleteGroups: uk.scopes.CanDeleteGroups, CanCreatePKPs: uk.scopes.CanCreatePKPs,
				CanManageIPFSIDsInGroups: nonNil(uk.scopes.ManageIPFSIDsInGroups), CanAddPKPToGroups: nonNil(uk.scopes.AddPKPToGroups),
				CanRemovePKPFromGroups: nonNil(uk.scopes.RemovePKPFromGroups), CanExecuteInGroups: nonNil(uk.scopes.ExecuteInGroups)})
		}
	}
	s.mu.Unlock()
	if !ok {
		s.unknownKeyOnRead(w, r, "list_api_keys")
		return
	}
	slices.SortFunc(items, func(a, b apiKeyItem) int { return strings.Compare(a.ID, b.ID) })
	p, ok := page(items, r)
	if !ok {
		s.catcher(w, r, http.StatusUnprocessableEntity, "", "")
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// newAccountLimiter is the v1.2+ per-IP token bucket of POST /new_account:
// burst 30, refill 30 per minute (docs/lit-v3.md §3.7).
type newAccountLimiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func (l *newAccountLimiter) allow(ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	b, ok := l.buckets[ip]
	if !ok {
		b = &bucket{tokens: 30, at: now}
		l.buckets[ip] = b
	}
	b.tokens = min(30, b.tokens+now.Sub(b.at).Minutes()*30)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (s *Server) handleNewAccount(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Version == V12 {
		ip := r.RemoteAddr
		if i := strings.LastIndexByte(ip, ':'); i > 0 {
			ip = ip[:i]
		}
		if !s.newAccounts.allow(ip, s.now()) {
			s.catcher(w, r, http.StatusTooManyRequests, "Too many account creation requests from your IP.", "Wait a minute and retry.")
			return
		}
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, BodyLimit+1))
	if err != nil || len(raw) > BodyLimit {
		s.catcher(w, r, http.StatusRequestEntityTooLarge, "", "")
		return
	}
	body := map[string]json.RawMessage{}
	if err := json.Unmarshal(raw, &body); err != nil {
		if json.Valid(raw) {
			s.catcher(w, r, http.StatusUnprocessableEntity, "", "")
		} else {
			s.catcher(w, r, http.StatusBadRequest, "", "")
		}
		return
	}
	var name, descr, email string
	if field(body, "account_name", &name) != nil || field(body, "account_description", &descr) != nil || optField(body, "email", &email) != nil {
		s.catcher(w, r, http.StatusUnprocessableEntity, "", "")
		return
	}
	a, err := s.NewAccount(-1)
	if err != nil {
		handlerError(w, http.StatusInternalServerError, "new_account failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"api_key": a.APIKey.Reveal(), "wallet_address": strings.ToLower(a.WalletAddress.Hex())})
}
