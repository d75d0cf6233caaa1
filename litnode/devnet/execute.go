package devnet

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/litsignd/litsignd/litnode"
)

// executeRequest is JsonExecutionRequest (docs/naga-wire.md §8.1).
type executeRequest struct {
	Code        *string          `json:"code"`
	IPFSID      *string          `json:"ipfsId"`
	JSParams    json.RawMessage  `json:"jsParams"`
	AuthSig     *litnode.AuthSig `json:"authSig"`
	NodeSet     []nodeSetEntry   `json:"nodeSet"`
	KeySetID    string           `json:"keySetId"`
	Epoch       uint64           `json:"epoch"`
	AuthMethods json.RawMessage  `json:"authMethods"`
	Invocation  string           `json:"invocation"`
}

// executeResponse is JsonExecutionResponse (docs/naga-wire.md §8.2).
type executeResponse struct {
	Success       bool                         `json:"success"`
	SignedData    map[string]executeSignedData `json:"signedData"`
	DecryptedData map[string]any               `json:"decryptedData"`
	ClaimData     map[string]any               `json:"claimData"`
	Response      string                       `json:"response"`
	Logs          string                       `json:"logs"`
	PaymentDetail []paymentItem                `json:"paymentDetail"`
}

// executeSignedData is one signEcdsa of the action: signatureShare is the
// JSON text of {"EcdsaSignedMessageShare":{…}} and publicKey the quoted key
// (docs/naga-wire.md §8.2, §7.4).
type executeSignedData struct {
	SigType        string `json:"sigType"`
	SignatureShare string `json:"signatureShare"`
	PublicKey      string `json:"publicKey"`
	SigName        string `json:"sigName"`
}

// paymentItem is one dynamic-payment component (docs/naga-wire.md §8.2).
type paymentItem struct {
	Component string `json:"component"`
	Quantity  uint64 `json:"quantity"`
	Price     uint64 `json:"price"`
}

// execute is POST /web/execute/v2 (docs/naga-wire.md §8; node execute_function):
// the code and its CID, the session sig for lit-litaction://<CID>, payment,
// the auth context, then the run.
func (nd *Node) execute(c *call, pt []byte) (any, *apiError) {
	var req executeRequest
	if err := decodeStrict(pt, &req); err != nil {
		return nil, codedErr(CodeBadInput, "execute request: "+err.Error())
	}
	if req.AuthSig == nil {
		return nil, codedErr(CodeBadInput, "execute request: missing authSig")
	}
	if strings.EqualFold(req.Invocation, "Async") {
		return nil, plainErr("Unexpected", http.StatusNotImplemented, "not implemented by the devnet",
			"async Lit Action invocation (and /web/job_status/v2) is not implemented by the devnet")
	}
	// Step 1: the code, and the CID the session must cover (docs/naga-wire.md
	// §8.1: code wins over ipfsId; the node hashes inline code itself).
	code, cid, aerr := nd.net.actionCode(req)
	if aerr != nil {
		return nil, aerr
	}
	// Step 2: the session sig, for lit-litaction://<CID> with
	// Threshold/Execution (docs/naga-auth.md §3.1, §6).
	s, aerr := nd.verifySessionSig(*req.AuthSig, authRequest{prefix: "lit-litaction", id: cid, ability: "Threshold/Execution"}, c.now)
	if aerr != nil {
		return nil, aerr.withShort("can't validate user address")
	}
	// Step 3: payment, product LitAction, maxPrice from the session sig
	// (docs/naga-wire.md §10.2).
	pay, aerr := nd.net.selectPayer(litnode.ProductLitAction, s.user, s.msg.MaxPrice)
	if aerr != nil {
		return nil, aerr.wrap("error getting payment method").withShort("error getting dynamic payment")
	}
	// Step 4: the auth context the action sees as Lit.Auth.
	auth := actionAuthContext(s, cid)
	// Step 5: the run. The node charges whatever the outcome.
	nd.net.actions.countRun(cid, c.requestID)
	sg := &actionSigner{nd: nd, c: c, s: s, req: &req, signed: map[string]executeSignedData{}}
	res := runAction(actionSpec{
		name: cid, code: code, params: req.JSParams, auth: auth,
		timeout: nd.net.cfg.ActionTimeout, memLimit: nd.net.cfg.ActionMemoryLimit,
		stop: nd.net.done, signEcdsa: sg.sign,
	})
	nd.net.charge(pay)
	logs := res.logs
	switch res.outcome {
	case actionOK:
	case actionTimedOut:
		e := codedErr(CodeJsTimeoutError, res.err).withShort("timeout")
		e.logs = &logs
		return nil, e
	case actionOutOfMemory:
		e := codedErr(CodeJsMemoryLimitError, res.err).withShort("memory limit")
		e.logs = &logs
		return nil, e
	case actionThrew:
		// docs/naga-wire.md §8.2: a thrown action is a source error, answered 400
		// with error = its message and errorObject = the logs (not a
		// PublicError).
		return nil, &apiError{short: res.err, kind: "Validation", status: http.StatusBadRequest, message: res.err, object: &logs}
	default:
		e := codedErr(CodeJsExecutionError, "Error executing JS", res.err).withShort("error executing js")
		e.logs = &logs
		return nil, e
	}
	return executeResponse{
		Success:       true,
		SignedData:    sg.signed,
		DecryptedData: map[string]any{},
		ClaimData:     map[string]any{},
		Response:      res.response,
		Logs:          res.logs,
		PaymentDetail: []paymentItem{
			{Component: "BaseAmount", Quantity: 1, Price: clampU64(pay.price)},
			{Component: "CodeLength", Quantity: uint64(len(code))},
			{Component: "ResponseLength", Quantity: uint64(len(res.response))},
			{Component: "Signatures", Quantity: uint64(len(sg.signed))},
		},
	}, nil
}

func clampU64(x *big.Int) uint64 {
	if x == nil || x.Sign() <= 0 {
		return 0
	}
	if !x.IsUint64() {
		return ^uint64(0)
	}
	return x.Uint64()
}

// actionCode resolves the request's code and CID (docs/naga-wire.md §8.1; node
// execute_function): code (base64 of UTF-8) wins and is hashed with
// litnode.IPFSCIDv0; else ipfsId names a file of ActionsDir (or AddAction);
// neither is NodeInvalidIPFSID.
func (n *Network) actionCode(req executeRequest) (code, cid string, aerr *apiError) {
	switch {
	case req.Code != nil:
		b, err := base64.StdEncoding.DecodeString(*req.Code)
		if err != nil {
			return "", "", plainErr("Conversion", http.StatusBadRequest, "Your Lit Action code could not be decoded from base64", err.Error()).
				withShort("invalid lit action code")
		}
		if !utf8.Valid(b) {
			return "", "", plainErr("Conversion", http.StatusBadRequest, "Error converting bytes to string", "the decoded code is not UTF-8").
				withShort("can't decode lit action bytes to utf8")
		}
		cid, err := litnode.IPFSCIDv0(b)
		if err != nil {
			return "", "", plainErr("Validation", http.StatusBadRequest, "Lit Action code too large",
				fmt.Sprintf("the devnet runs actions of at most %d bytes: %v", litnode.IPFSChunkSize, err)).withShort("invalid lit action code")
		}
		return string(b), cid, nil
	case req.IPFSID != nil:
		b, ok := n.actions.lookup(*req.IPFSID)
		if !ok {
			return "", "", codedErr(CodeInvalidIPFSID, fmt.Sprintf("ipfs id %q is not an action of the devnet (Config.ActionsDir or AddAction)", *req.IPFSID)).
				withShort("error retrieving ipfs code file")
		}
		return string(b), *req.IPFSID, nil
	default:
		return "", "", codedErr(CodeInvalidIPFSID, "No code or ipfs hash provided").withShort("no code or ipfs hash provided")
	}
}

// actionAuthContext is Lit.Auth (docs/naga-auth.md §3.4 step 8, §6 step 7): the
// action's CID, and for a lit.bls delegation the auth method contexts of
// the lit-resolvedauthcontext the nodes put in it; for an EOA session the
// EOA is authSigAddress.
func actionAuthContext(s *session, cid string) map[string]any {
	ctx := map[string]any{
		"actionIpfsIds":      []any{cid},
		"authSigAddress":     nil,
		"authMethodContexts": []any{},
		"resources":          []any{},
		"customAuthResource": "",
	}
	if s.capKind != litnode.KindBLSNetwork {
		ctx["authSigAddress"] = s.cap.Address
		return ctx
	}
	for _, r := range s.recaps {
		for _, nb := range r.Att[resolvedAuthContextKey]["Auth/Auth"] {
			rc, ok := nb["auth_context"].(map[string]any)
			if !ok {
				continue
			}
			if m, ok := rc["authMethodContexts"].([]any); ok {
				ctx["authMethodContexts"] = m
			}
			if a, ok := rc["authSigAddress"]; ok {
				ctx["authSigAddress"] = a
			}
			return ctx
		}
	}
	return ctx
}

// actionSigner makes this node's signEcdsa shares for one execute request.
type actionSigner struct {
	nd     *Node
	c      *call
	s      *session
	req    *executeRequest
	signed map[string]executeSignedData
}

// sign is Lit.Actions.signEcdsa on this node (docs/naga-wire.md §13.4 "pkpSign
// fake", §7.3 steps 5–8): check_pkp_auth of the session for the PKP as
// pkpSign does (the delegation's EthWallet auth methods, or the EOA, must
// own or be permitted on it; permitted Lit Actions are not modelled), the
// request's nodeSet as the signing group, and the Lagrange-weighted share
// sᵢ = λᵢ·k⁻¹·(z + xᵢ·r) with the nonce k that every node of the request
// derives alike from the request id, the digest, the key and the set —
// domain-separated by sigName, so each signature of the action has its own
// nonce.
func (sg *actionSigner) sign(digest []byte, publicKey, sigName string) error {
	nd := sg.nd
	pk, err := litnode.ParsePKPPublicKey(publicKey)
	if err != nil {
		return fmt.Errorf("invalid publicKey: %v", err)
	}
	tok := pk.TokenID()
	if aerr := nd.checkPKPAuth(tok, sg.s); aerr != nil {
		return fmt.Errorf("%s: %s", aerr.code, strings.Join(aerr.details, "; "))
	}
	if !nd.net.isActive(nd.index) {
		return fmt.Errorf("node %s is not in the current validator set", nd.socket)
	}
	sorted, ids, self, err := nd.signingGroup(sg.req.NodeSet)
	if err != nil {
		return err
	}
	if cur := nd.net.Epoch(); sg.req.Epoch != 0 && sg.req.Epoch != cur && sg.req.Epoch+1 != cur {
		return fmt.Errorf("could not read key share for epoch %d (current epoch is %d)", sg.req.Epoch, cur)
	}
	if len(digest) != 32 {
		return fmt.Errorf("Message length to be signed is not 32 bytes, got %d", len(digest))
	}
	xi, ok := nd.keyShare(tok)
	if !ok {
		return fmt.Errorf("could not read key share: no key share for PKP %s", tok)
	}
	f := nd.Fault()
	var variant byte
	if f.WrongR {
		variant = 1 // another nonce, hence another R, on this node only
	}
	k := deriveNonce(nd.net.nonceKey, actionNonceID(sg.c.requestID, sigName), digest, pk[:], sorted, variant)
	si, bigR, err := ecdsaSignShare(xi, lagrangeAt0(ids, self), k, [32]byte(digest))
	if err != nil {
		return fmt.Errorf("ecdsa signing failed: %v", err)
	}
	if f.BadShare {
		var s, one secp256k1.ModNScalar
		s.SetBytes(&si)
		one.SetInt(1)
		si = s.Add(&one).Bytes()
	}
	idBytes := nd.ecdsaID.Bytes()
	share := litnode.ECDSAShare{
		Digest:         append([]byte(nil), digest...),
		ShareID:        strings.ToUpper(fmt.Sprintf("%x", idBytes[:])),
		PeerID:         nd.peerID,
		SignatureShare: si,
		BigR:           bigR,
		PublicKey:      pk[:],
		SigType:        litnode.ECDSASigTypeK256,
		Result:         "success",
	}
	sg.signed[sigName] = executeSignedData{
		SigType:        litnode.ECDSASigTypeK256,
		SignatureShare: string(litnode.FormatECDSAShareJSON(share)),
		PublicKey:      jsonQuote(strings.TrimPrefix(pk.Hex(), "0x")),
		SigName:        sigName,
	}
	return nil
}

// actionNonceID is the request-id field of deriveNonce for signature
// sigName of an action: an unambiguous encoding of both, distinct from a
// plain request id unless a client crafts one (and then only the same
// digest, key and set give the same nonce, i.e. the same signature).
func actionNonceID(requestID, sigName string) string {
	return "lit-action/" + strconv.Itoa(len(sigName)) + ":" + sigName + "/" + requestID
}

// signingGroup checks the request's nodeSet as pkpSign does (docs/naga-wire.md §7.3
// step 7) and returns its sorted socket addresses, their ECDSA ids and this
// node's index among them.
func (nd *Node) signingGroup(set []nodeSetEntry) (sorted []string, ids []secp256k1.ModNScalar, self int, err error) {
	for _, e := range set {
		sorted = append(sorted, e.SocketAddress)
	}
	slices.Sort(sorted)
	if len(slices.Compact(slices.Clone(sorted))) != len(sorted) {
		return nil, nil, 0, fmt.Errorf("invalid node set: the nodeSet names a node twice")
	}
	self = -1
	ids = make([]secp256k1.ModNScalar, len(sorted))
	for i, sa := range sorted {
		peer, active := nd.net.nodeBySocket(sa)
		if peer == nil || !active {
			return nil, nil, 0, fmt.Errorf("invalid node set: nodeSet entry %q is not a node of the current validator set", sa)
		}
		ids[i] = peer.ecdsaID
		if peer == nd {
			self = i
		}
	}
	if self < 0 {
		return nil, nil, 0, fmt.Errorf("invalid node set: this node (%s) is not in the nodeSet", nd.socket)
	}
	if len(sorted) < nd.net.cfg.Threshold {
		return nil, nil, 0, fmt.Errorf("invalid node set: the nodeSet has %d nodes; the key threshold is %d", len(sorted), nd.net.cfg.Threshold)
	}
	return sorted, ids, self, nil
}

// actionStore holds the actions the devnet can run by ipfsId, and counts
// runs for ActionRuns.
type actionStore struct {
	dir string
	log *slog.Logger

	mu    sync.Mutex
	byDir map[string][]byte              // CID → code, from dir
	added map[string][]byte              // CID → code, from AddAction
	runs  map[string]map[string]struct{} // CID → request ids that ran it
}

func newActionStore(dir string, log *slog.Logger) (*actionStore, error) {
	s := &actionStore{dir: dir, log: log, byDir: map[string][]byte{}, added: map[string][]byte{}, runs: map[string]map[string]struct{}{}}
	if dir != "" {
		if err := s.index(); err != nil {
			return nil, fmt.Errorf("devnet: actions directory: %w", err)
		}
	}
	return s, nil
}

// index (re)reads every regular file directly in the directory (symlinks
// followed) under its CID. Files larger than one IPFS chunk are skipped.
func (s *actionStore) index() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	m := map[string][]byte{}
	for _, e := range entries {
		p := filepath.Join(s.dir, e.Name())
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			s.log.Warn("devnet: unreadable action file", "path", p, "err", err)
			continue
		}
		cid, err := litnode.IPFSCIDv0(b)
		if err != nil {
			s.log.Warn("devnet: action file skipped", "path", p, "err", err)
			continue
		}
		m[cid] = b
	}
	s.mu.Lock()
	s.byDir = m
	s.mu.Unlock()
	return nil
}

// lookup returns the code of cid, re-reading the directory on a miss.
func (s *actionStore) lookup(cid string) ([]byte, bool) {
	get := func() ([]byte, bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if b, ok := s.added[cid]; ok {
			return b, true
		}
		b, ok := s.byDir[cid]
		return b, ok
	}
	if b, ok := get(); ok || s.dir == "" {
		return b, ok
	}
	if err := s.index(); err != nil {
		s.log.Warn("devnet: actions directory", "dir", s.dir, "err", err)
	}
	return get()
}

func (s *actionStore) countRun(cid, requestID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := s.runs[cid]
	if ids == nil {
		ids = map[string]struct{}{}
		s.runs[cid] = ids
	}
	ids[requestID] = struct{}{}
}

// ActionRuns returns how many distinct requests (X-Correlation-Id, else
// X-Request-Id) ran the action cid on at least one node: a request that
// ran on every node of its set counts once, a retry under a new request id
// counts again. An action runs once the session sig and payment checks
// passed, whether it then succeeded or not.
func (n *Network) ActionRuns(cid string) int {
	n.actions.mu.Lock()
	defer n.actions.mu.Unlock()
	return len(n.actions.runs[cid])
}

// AddAction makes code runnable by its CID, as a file of Config.ActionsDir
// would be, and returns the CID (litnode.IPFSCIDv0 of code).
func (n *Network) AddAction(code []byte) (string, error) {
	cid, err := litnode.IPFSCIDv0(code)
	if err != nil {
		return "", fmt.Errorf("devnet: add action: %w", err)
	}
	n.actions.mu.Lock()
	defer n.actions.mu.Unlock()
	n.actions.added[cid] = append([]byte(nil), code...)
	return cid, nil
}
