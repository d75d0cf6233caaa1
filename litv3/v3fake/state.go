package v3fake

import (
	"crypto/ecdsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/litsignd/litsignd/litv3"
)

// Scopes are a usage key's permissions (docs/lit-v3.md §2.3). Group id 0 is
// the wildcard "all groups".
type Scopes struct {
	CanCreateGroups, CanDeleteGroups, CanCreatePKPs                             bool
	ManageIPFSIDsInGroups, AddPKPToGroups, RemovePKPFromGroups, ExecuteInGroups []uint64
}

// grant is a permission that takes effect PropagationDelay after it was
// made and stops PropagationDelay after it was revoked (docs/lit-v3.md §2.6).
type grant struct {
	added, removed time.Time
}

func (g grant) active(now time.Time, delay time.Duration) bool {
	if g.added.IsZero() || now.Before(g.added.Add(delay)) {
		return false
	}
	return g.removed.IsZero() || now.Before(g.removed.Add(delay))
}

type wallet struct {
	addr              common.Address
	key               *ecdsa.PrivateKey
	name, description string
}

type usageKey struct {
	hash   common.Hash
	name   string
	scopes Scopes
	grant  grant
	// execute holds the per-group execute grants with their own times, so
	// an update that adds a group propagates on its own.
	execute map[uint64]grant
}

type group struct {
	id          uint64
	name, descr string
	pkps        map[common.Address]grant // common.Address{} is the wildcard
	cids        map[common.Hash]grant    // common.Hash{} is the wildcard
}

type account struct {
	masterHash common.Hash
	wallets    []*wallet // registration order: AMW, key wallets, created wallets
	keys       map[common.Hash]*usageKey
	groups     map[uint64]*group
	nextGroup  uint64
	// credits is the credit available, in cents.
	credits int64
}

// Account is what NewAccount returns.
type Account struct {
	// APIKey is the account (master) key; WalletAddress its Account Master
	// Wallet.
	APIKey        litv3.UsageKey
	WalletAddress common.Address
}

// mintWallet makes a fresh secp256k1 wallet.
func mintWallet(name, descr string) (*wallet, error) {
	k, err := crypto.GenerateKey()
	if err != nil {
		return nil, err
	}
	return &wallet{addr: crypto.PubkeyToAddress(k.PublicKey), key: k, name: name, description: descr}, nil
}

// keyOf is base64 of the wallet's private key: a new API key is the secret
// of the wallet minted with it (docs/lit-v3.md §2.2).
func keyOf(w *wallet) litv3.UsageKey {
	k, _ := litv3.KeyFromSecret(crypto.FromECDSA(w.key))
	return k
}

// hashOf is the key's on-chain identity: keccak256 of the key string as
// sent.
func hashOf(key string) common.Hash { return crypto.Keccak256Hash([]byte(key)) }

// NewAccount creates an account (POST /new_account) with credit cents of
// credit (Config.StarterCredits when negative).
func (s *Server) NewAccount(credit int64) (Account, error) {
	w, err := mintWallet("AMW", "Account Master Wallet")
	if err != nil {
		return Account{}, err
	}
	if credit < 0 {
		credit = s.cfg.StarterCredits
	}
	key := keyOf(w)
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &account{masterHash: key.Hash(), wallets: []*wallet{w}, keys: map[common.Hash]*usageKey{},
		groups: map[uint64]*group{}, credits: credit}
	s.accounts[a.masterHash] = a
	s.keyIndex[a.masterHash] = a
	s.keyAdded[a.masterHash] = s.now()
	return Account{APIKey: key, WalletAddress: w.addr}, nil
}

var errNoAccount = errors.New("v3fake: unknown account key")

func (s *Server) accountOf(k litv3.UsageKey) (*account, error) {
	a, ok := s.keyIndex[k.Hash()]
	if !ok {
		return nil, errNoAccount
	}
	return a, nil
}

// AddUsageKey adds a usage key to the account of accountKey
// (add_usage_api_key) and registers its wallet ("API Key Wallet").
func (s *Server) AddUsageKey(accountKey litv3.UsageKey, name string, sc Scopes) (litv3.UsageKey, error) {
	w, err := mintWallet("API Key Wallet", "Usage API Key Wallet")
	if err != nil {
		return litv3.UsageKey{}, err
	}
	key := keyOf(w)
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.accountOf(accountKey)
	if err != nil {
		return litv3.UsageKey{}, err
	}
	now := s.now()
	uk := &usageKey{hash: key.Hash(), name: name, scopes: sc, grant: grant{added: now}, execute: map[uint64]grant{}}
	for _, g := range sc.ExecuteInGroups {
		uk.execute[g] = grant{added: now}
	}
	a.keys[uk.hash] = uk
	a.wallets = append(a.wallets, w)
	s.keyIndex[uk.hash] = a
	s.keyAdded[uk.hash] = now
	return key, nil
}

// SetExecuteInGroups replaces a usage key's execute_in_groups
// (update_usage_api_key); groups added or dropped propagate with the delay.
func (s *Server) SetExecuteInGroups(accountKey, key litv3.UsageKey, groups []uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.accountOf(accountKey)
	if err != nil {
		return err
	}
	uk, ok := a.keys[key.Hash()]
	if !ok {
		return errors.New("v3fake: no such usage key")
	}
	s.setExecuteLocked(uk, groups)
	return nil
}

// RemoveUsageKey revokes a key (remove_usage_api_key); it stops working
// after the propagation delay.
func (s *Server) RemoveUsageKey(accountKey, key litv3.UsageKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.accountOf(accountKey)
	if err != nil {
		return err
	}
	uk, ok := a.keys[key.Hash()]
	if !ok || !uk.grant.removed.IsZero() {
		return errors.New("v3fake: no such usage key")
	}
	uk.grant.removed = s.now()
	return nil
}

// CreateWallet mints a wallet in the account (create_wallet), registered as
// "Wallet".
func (s *Server) CreateWallet(accountKey litv3.UsageKey) (common.Address, error) {
	w, err := mintWallet("Wallet", "Wallet")
	if err != nil {
		return common.Address{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.accountOf(accountKey)
	if err != nil {
		return common.Address{}, err
	}
	a.wallets = append(a.wallets, w)
	return w.addr, nil
}

// ImportWallet registers a wallet with a given key (as "Wallet"), for tests
// that need known vectors (docs/lit-v3.md §4.4).
func (s *Server) ImportWallet(accountKey litv3.UsageKey, key *ecdsa.PrivateKey) (common.Address, error) {
	w := &wallet{addr: crypto.PubkeyToAddress(key.PublicKey), key: key, name: "Wallet", description: "Wallet"}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.accountOf(accountKey)
	if err != nil {
		return common.Address{}, err
	}
	a.wallets = append(a.wallets, w)
	return w.addr, nil
}

// WalletKey returns a wallet's private key (tests check signatures with it).
func (s *Server) WalletKey(addr common.Address) (*ecdsa.PrivateKey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.accounts {
		for _, w := range a.wallets {
			if w.addr == addr {
				return w.key, true
			}
		}
	}
	return nil, false
}

// AddGroup creates a group with the given PKPs (common.Address{} is the
// wildcard) and CIDs ("0" or "" is the wildcard); it returns the group id
// (1, 2, … per account).
func (s *Server) AddGroup(accountKey litv3.UsageKey, name string, pkps []common.Address, cids []string) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.accountOf(accountKey)
	if err != nil {
		return 0, err
	}
	if len(pkps) > 10 || len(cids) > 10 {
		return 0, errors.New("v3fake: at most 10 PKPs and 10 CIDs per group")
	}
	now := s.now()
	a.nextGroup++
	g := &group{id: a.nextGroup, name: name, pkps: map[common.Address]grant{}, cids: map[common.Hash]grant{}}
	for _, p := range pkps {
		g.pkps[p] = grant{added: now}
	}
	for _, c := range cids {
		g.cids[cidKey(c)] = grant{added: now}
	}
	a.groups[g.id] = g
	return g.id, nil
}

// cidKey is keccak256(cid), or the wildcard for "0"/"".
func cidKey(cid string) common.Hash {
	if cid == "" || cid == "0" {
		return common.Hash{}
	}
	return common.Hash(litv3.CIDHash(cid))
}

func (s *Server) groupOf(accountKey litv3.UsageKey, id uint64) (*group, error) {
	a, err := s.accountOf(accountKey)
	if err != nil {
		return nil, err
	}
	g, ok := a.groups[id]
	if !ok {
		return nil, fmt.Errorf("v3fake: no group %d", id)
	}
	return g, nil
}

// AddActionToGroup permits a CID in a group (add_action_to_group).
func (s *Server) AddActionToGroup(accountKey litv3.UsageKey, groupID uint64, cid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.groupOf(accountKey, groupID)
	if err != nil {
		return err
	}
	g.cids[cidKey(cid)] = grant{added: s.now()}
	return nil
}

// RemoveActionFromGroup revokes a CID (remove_action_from_group).
func (s *Server) RemoveActionFromGroup(accountKey litv3.UsageKey, groupID uint64, cid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.groupOf(accountKey, groupID)
	if err != nil {
		return err
	}
	k := cidKey(cid)
	if gr, ok := g.cids[k]; ok && gr.removed.IsZero() {
		gr.removed = s.now()
		g.cids[k] = gr
	}
	return nil
}

// AddPKPToGroup permits a wallet in a group (add_pkp_to_group).
func (s *Server) AddPKPToGroup(accountKey litv3.UsageKey, groupID uint64, pkp common.Address) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.groupOf(accountKey, groupID)
	if err != nil {
		return err
	}
	g.pkps[pkp] = grant{added: s.now()}
	return nil
}

// RemovePKPFromGroup revokes a wallet (remove_pkp_from_group).
func (s *Server) RemovePKPFromGroup(accountKey litv3.UsageKey, groupID uint64, pkp common.Address) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.groupOf(accountKey, groupID)
	if err != nil {
		return err
	}
	if gr, ok := g.pkps[pkp]; ok && gr.removed.IsZero() {
		gr.removed = s.now()
		g.pkps[pkp] = gr
	}
	return nil
}

// SetCredits sets an account's credit, in cents.
func (s *Server) SetCredits(accountKey litv3.UsageKey, cents int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.accountOf(accountKey)
	if err != nil {
		return err
	}
	a.credits = cents
	return nil
}

// Credits returns an account's credit, in cents.
func (s *Server) Credits(accountKey litv3.UsageKey) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.accountOf(accountKey)
	if err != nil {
		return 0, err
	}
	return a.credits, nil
}

// resolved is a key the guard accepted.
type resolved struct {
	acct  *account
	hash  common.Hash
	uk    *usageKey // nil for the master key
	since time.Time // when the key was created
}

// resolve looks a key string up as the chain would see it now: a key not
// yet propagated, or revoked and propagated, is unknown.
func (s *Server) resolve(key string) (resolved, bool) {
	h := hashOf(key)
	a, ok := s.keyIndex[h]
	if !ok {
		return resolved{}, false
	}
	now := s.now()
	if h == a.masterHash {
		if now.Before(s.keyAdded[h].Add(s.cfg.PropagationDelay)) {
			return resolved{}, false
		}
		return resolved{acct: a, hash: h}, true
	}
	uk := a.keys[h]
	if uk == nil || !uk.grant.active(now, s.cfg.PropagationDelay) {
		return resolved{}, false
	}
	return resolved{acct: a, hash: h, uk: uk}, true
}

// canExecute is ViewsFacet canExecuteAction (docs/lit-v3.md §2.3): some group
// holds the CID (or the wildcard) and the key may execute in that group (or
// in all).
func (s *Server) canExecute(r resolved, cid common.Hash) bool {
	return s.cached(denialKey{r.hash, cid, common.Address{}}, len(s.executableGroups(r, cid)) > 0)
}

type denialKey struct {
	key, cid common.Hash
	wallet   common.Address
}

// cached applies Config.StaleDenial to a permission check's answer: a
// refusal is remembered, and repeated while it is younger than StaleDenial.
func (s *Server) cached(k denialKey, allowed bool) bool {
	if s.cfg.StaleDenial <= 0 {
		return allowed
	}
	now := s.now()
	if at, ok := s.denied[k]; ok {
		if now.Before(at.Add(s.cfg.StaleDenial)) {
			return false
		}
		delete(s.denied, k)
	}
	if !allowed {
		s.denied[k] = now
	}
	return allowed
}

func (s *Server) executableGroups(r resolved, cid common.Hash) []*group {
	now, d := s.now(), s.cfg.PropagationDelay
	var out []*group
	if r.uk == nil && !s.cfg.MasterKeyExecutes {
		return nil
	}
	for _, g := range r.acct.groups {
		if !(g.cids[cid].active(now, d) || g.cids[common.Hash{}].active(now, d)) {
			continue
		}
		if r.uk != nil && !(r.uk.execute[g.id].active(now, d) || r.uk.execute[0].active(now, d)) {
			continue
		}
		out = append(out, g)
	}
	return out
}

// canUseWallet is canUseWalletInAction: canExecute through a group that
// also holds the wallet (or the wildcard address(0)), and the wallet is the
// account's.
func (s *Server) canUseWallet(r resolved, cid common.Hash, addr common.Address) (*wallet, bool) {
	var w *wallet
	for _, x := range r.acct.wallets {
		if x.addr == addr {
			w = x
		}
	}
	if w == nil {
		return nil, false
	}
	now, d := s.now(), s.cfg.PropagationDelay
	ok := false
	for _, g := range s.executableGroups(r, cid) {
		if g.pkps[addr].active(now, d) || g.pkps[common.Address{}].active(now, d) {
			ok = true
		}
	}
	if !s.cached(denialKey{r.hash, cid, addr}, ok) {
		return nil, false
	}
	return w, true
}

// KeyString reveals a key (tests hand keys to clients).
func KeyString(k litv3.UsageKey) string { return k.Reveal() }

// looksLikeKey reports whether s has the key shape (44 base64 chars).
func looksLikeKey(s string) bool {
	b, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(b) == 32 && !strings.HasPrefix(s, "0x")
}
