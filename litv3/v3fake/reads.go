package v3fake

import (
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/litsignd/litsignd/litv3"
)

// keyed is the ApiKey guard of the free endpoints: 401 without a key
// (docs/lit-v3.md §2.4); the handler gets the key string.
func (s *Server) keyed(h func(w http.ResponseWriter, r *http.Request, key string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := extractKey(r)
		if key == "" {
			s.catcher(w, r, http.StatusUnauthorized, msgNoKey, catcherDefaults[401][1])
			return
		}
		h(w, r, key)
	}
}

// unknownKeyOnRead answers a read by a key that resolves to no account:
// v1.2+ 401; April per endpoint (docs/lit-v3.md §2.5).
func (s *Server) unknownKeyOnRead(w http.ResponseWriter, r *http.Request, op string) {
	if s.cfg.Version == V12 {
		s.catcher(w, r, http.StatusUnauthorized, msgUnknownKey, "Check the key; create a new usage key if it was removed.")
		return
	}
	if op == "billing/balance" {
		handlerError(w, http.StatusBadRequest, "Invalid API key: no wallet resolves for this API key")
		return
	}
	handlerError(w, http.StatusInternalServerError, op+" failed: Contract call reverted with data: AccountDoesNotExist")
}

func (s *Server) handleAccountExists(w http.ResponseWriter, r *http.Request, key string) {
	s.mu.Lock()
	_, ok := s.resolve(key)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, ok)
}

type walletItem struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Description   string `json:"description"`
	WalletAddress string `json:"wallet_address"`
}

// page applies ViewsFacet getPageStartAndLength (docs/lit-v3.md §5.1): a
// page size above the total returns everything on page 0 whatever the page
// number; a start past the end is empty.
func page[T any](items []T, r *http.Request) ([]T, bool) {
	pn, err1 := strconv.ParseUint(r.URL.Query().Get("page_number"), 10, 64)
	ps, err2 := strconv.ParseUint(r.URL.Query().Get("page_size"), 10, 64)
	if err1 != nil || err2 != nil {
		return nil, false
	}
	total := uint64(len(items))
	if ps > total {
		ps, pn = total, 0
	}
	start := pn * ps
	if ps == 0 || start >= total || (pn != 0 && start/pn != ps) {
		return []T{}, true
	}
	return items[start:min(start+ps, total)], true
}

func (s *Server) walletItems(ws []*wallet) []walletItem {
	out := make([]walletItem, len(ws))
	for i, w := range ws {
		id := "0" // April's listPkps never fills id (U12)
		if s.cfg.Version == V12 {
			id = strconv.Itoa(i)
		}
		out[i] = walletItem{ID: id, Name: w.name, Description: w.description, WalletAddress: strings.ToLower(w.addr.Hex())}
	}
	return out
}

func (s *Server) handleListWallets(w http.ResponseWriter, r *http.Request, key string) {
	s.mu.Lock()
	res, ok := s.resolve(key)
	var items []walletItem
	if ok {
		items = s.walletItems(res.acct.wallets)
	}
	s.mu.Unlock()
	if !ok {
		s.unknownKeyOnRead(w, r, "list_wallets")
		return
	}
	p, ok := page(items, r)
	if !ok {
		s.catcher(w, r, http.StatusUnprocessableEntity, "", "") // U8: a missing query parameter
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) handleListWalletsInGroup(w http.ResponseWriter, r *http.Request, key string) {
	gid, err := strconv.ParseUint(r.URL.Query().Get("group_id"), 10, 64)
	if err != nil {
		s.catcher(w, r, http.StatusUnprocessableEntity, "", "")
		return
	}
	s.mu.Lock()
	res, ok := s.resolve(key)
	var items []walletItem
	var gerr bool
	if ok {
		g, found := res.acct.groups[gid]
		if !found {
			gerr = true
		} else {
			var ws []*wallet
			for _, wl := range res.acct.wallets {
				if gr, in := g.pkps[wl.addr]; in && gr.removed.IsZero() {
					ws = append(ws, wl)
				}
			}
			items = s.walletItems(ws)
		}
	}
	s.mu.Unlock()
	switch {
	case !ok:
		s.unknownKeyOnRead(w, r, "list_wallets_in_group")
	case gerr:
		handlerError(w, http.StatusInternalServerError, fmt.Sprintf("list_wallets_in_group failed: Contract call reverted with data: GroupDoesNotExist(%d)", gid))
	default:
		p, ok := page(items, r)
		if !ok {
			s.catcher(w, r, http.StatusUnprocessableEntity, "", "")
			return
		}
		writeJSON(w, http.StatusOK, p)
	}
}

func (s *Server) handleListGroups(w http.ResponseWriter, r *http.Request, key string) {
	type item struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	s.mu.Lock()
	res, ok := s.resolve(key)
	var items []item
	if ok {
		var ids []uint64
		for id := range res.acct.groups {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			g := res.acct.groups[id]
			items = append(items, item{ID: fmt.Sprintf("0x%064x", id), Name: g.name, Description: g.descr})
		}
	}
	s.mu.Unlock()
	if !ok {
		s.unknownKeyOnRead(w, r, "list_groups")
		return
	}
	p, ok := page(items, r)
	if !ok {
		s.catcher(w, r, http.StatusUnprocessableEntity, "", "")
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// handleListActions is GET /list_actions: the action ids (CID hashes) of a
// group, or of every group for group_id 0 or absent; the wildcard is listed
// as {"id":"n/a","name":"Any",…}. The fake keeps no action metadata
// (add_action), so names and descriptions are empty.
func (s *Server) handleListActions(w http.ResponseWriter, r *http.Request, key string) {
	type item struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	var gid uint64
	if q := r.URL.Query().Get("group_id"); q != "" {
		base := 10
		if strings.HasPrefix(q, "0x") {
			base = 16
		}
		n, ok := new(big.Int).SetString(strings.TrimPrefix(q, "0x"), base)
		if !ok || !n.IsUint64() {
			handlerError(w, http.StatusBadRequest, "Invalid group_id: "+q)
			return
		}
		gid = n.Uint64()
	}
	s.mu.Lock()
	res, ok := s.resolve(key)
	var items []item
	seen := map[common.Hash]bool{}
	if ok {
		var ids []uint64
		for id := range res.acct.groups {
			if gid == 0 || id == gid {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for _, id := range ids {
			var hs []common.Hash
			for h, g := range res.acct.groups[id].cids {
				if g.removed.IsZero() && !seen[h] {
					seen[h] = true
					hs = append(hs, h)
				}
			}
			slices.SortFunc(hs, func(a, b common.Hash) int { return strings.Compare(a.Hex(), b.Hex()) })
			for _, h := range hs {
				if h == (common.Hash{}) {
					items = append(items, item{ID: "n/a", Name: "Any", Description: "Any action received."})
				} else {
					items = append(items, item{ID: h.Hex()})
				}
			}
		}
	}
	s.mu.Unlock()
	if !ok {
		s.unknownKeyOnRead(w, r, "list_actions")
		return
	}
	p, ok := page(items, r)
	if !ok {
		s.catcher(w, r, http.StatusUnprocessableEntity, "", "")
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) handleBalance(w http.ResponseWriter, r *http.Request, key string) {
	s.mu.Lock()
	res, ok := s.resolve(key)
	var credits int64
	if ok {
		credits = res.acct.credits
	}
	s.mu.Unlock()
	if !ok {
		s.unknownKeyOnRead(w, r, "billing/balance")
		return
	}
	display := "No credits"
	if credits > 0 {
		display = fmt.Sprintf("$%d.%02d credit", credits/100, credits%100)
	}
	writeJSON(w, http.StatusOK, map[string]any{"balance_cents": -credits, "balance_display": display})
}

func (s *Server) handleVersion(w http.ResponseWriter, _ *http.Request) {
	commit := "v1.2.0-fake"
	if s.cfg.Version == April {
		commit = "v1.0.8-fake"
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": "lit-api-server", "version": "0.1.0",
		"commit_version": commit, "submodule_versions": [][]string{}})
}

func (s *Server) handleClientConfig(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, litv3.ActionLimits{
		TimeoutMS: uint64(s.cfg.ActionTimeout.Milliseconds()), ClientTimeoutMSBuffer: 5000,
		AsyncTimeoutMS: uint64(s.cfg.ActionTimeout.Milliseconds()), MemoryLimitMB: s.cfg.MemoryLimitMB,
		MaxCodeLength: uint64(s.cfg.MaxCodeLength), MaxResponseLength: uint64(s.cfg.MaxResponseLength),
		MaxConsoleLogLength: uint64(s.cfg.MaxConsoleLog), MaxFetchCount: 50, MaxGetKeysCount: 10, MaxRetries: 3,
	})
}

func (s *Server) handleIPFSID(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, BodyLimit+1))
	if err != nil || len(raw) > BodyLimit {
		s.catcher(w, r, http.StatusRequestEntityTooLarge, "", "")
		return
	}
	var code string
	if err := json.Unmarshal(raw, &code); err != nil {
		status := http.StatusBadRequest
		if json.Valid(raw) {
			status = http.StatusUnprocessableEntity
		}
		s.catcher(w, r, status, "", "")
		return
	}
	cid, err := litv3.CID(code)
	if err != nil {
		handlerError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, cid)
}

func (s *Server) handleChainConfig(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"chain_name": "Base", "chain_id": 8453, "is_evm": true,
		"testnet": false, "token": "ETH", "contract_address": common.Address{}.Hex()})
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	cpu := !s.overloaded.Load()
	status := http.StatusOK
	if !cpu {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]bool{"lit_actions_reachable": true, "cpu_available": cpu, "billing_keys_present": true})
}
