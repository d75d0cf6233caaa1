package litnode

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// handshakeData is the handshake's data object (docs/naga-wire.md §4.2).
type handshakeData struct {
	ServerPublicKey     string          `json:"serverPublicKey"`
	SubnetPublicKey     string          `json:"subnetPublicKey"`
	NetworkPublicKey    string          `json:"networkPublicKey"`
	NetworkPublicKeySet string          `json:"networkPublicKeySet"`
	ClientSDKVersion    string          `json:"clientSdkVersion"`
	HDRootPubkeys       []string        `json:"hdRootPubkeys"`
	Attestation         json.RawMessage `json:"attestation"`
	LatestBlockhash     string          `json:"latestBlockhash"`
	NodeVersion         string          `json:"nodeVersion"`
	NodeIdentityKey     string          `json:"nodeIdentityKey"`
	Epoch               uint64          `json:"epoch"`
}

// connect discovers the nodes and handshakes them all in parallel
// (docs/naga-wire.md §1 steps 1–2, §4.3).
func (c *Client) connect(ctx context.Context) (*connState, error) {
	urls := c.Network.StaticNodes
	minNodeCount := 0
	var chainEpoch uint64
	haveChainEpoch := false
	if len(urls) == 0 {
		vs, err := c.Chain.ValidatorSet(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: read validator set: %v", ErrNodeUnavailable, err)
		}
		urls, minNodeCount, chainEpoch, haveChainEpoch = vs.URLs(), vs.MinNodeCount, vs.Epoch.Number, true
	}
	minimum := c.Network.MinimumThreshold
	if minimum <= 0 {
		minimum = 3
	}

	type result struct {
		url string
		hs  handshakeData
		err error
	}
	results := make([]result, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			hs, err := c.handshake(ctx, u)
			c.observe(Observation{Op: "handshake", Node: u, Duration: time.Since(start), Err: err, Code: codeOf(err)})
			results[i] = result{u, hs, err}
		}()
	}
	wg.Wait()

	var ok []result
	var errs []error
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
			c.logger().Warn("lit handshake failed", "node", r.url, "err", r.err)
			continue
		}
		ok = append(ok, r)
	}
	// Consensus values are the most common, compared by value (§4.3 step 6).
	netKey := mostCommon(ok, func(r result) string { return r.hs.NetworkPublicKey })
	blockhash := mostCommon(ok, func(r result) string { return r.hs.LatestBlockhash })
	handshakeEpoch := mostCommon(ok, func(r result) string { return fmt.Sprint(r.hs.Epoch) })

	s := &connState{nodes: map[string]nodeConn{}}
	for _, r := range ok {
		if r.hs.NetworkPublicKey != netKey {
			errs = append(errs, fmt.Errorf("handshake %s: network key differs from the consensus", r.url))
			continue
		}
		var ik [32]byte
		b, err := hex.DecodeString(r.hs.NodeIdentityKey)
		if err != nil || len(b) != 32 {
			errs = append(errs, fmt.Errorf("handshake %s: nodeIdentityKey is not 32 bytes of hex", r.url))
			continue
		}
		copy(ik[:], b)
		s.nodes[r.url] = nodeConn{url: r.url, identityKey: ik, epoch: r.hs.Epoch, e2ee: &lazyChannel{}}
		s.Nodes = append(s.Nodes, r.url)
	}
	sort.Strings(s.Nodes)
	need := max(minimum, 2*len(urls)/3)
	if len(s.Nodes) < need {
		return nil, &OpError{Op: "handshake", Attempts: 1, Errs: append([]error{fmt.Errorf("%w: %d of %d nodes answered the handshake, need %d", ErrNotEnoughNodes, len(s.Nodes), len(urls), need)}, errs...)}
	}
	if !strings.HasPrefix(blockhash, "0x") {
		return nil, fmt.Errorf("%w: handshake: no valid latestBlockhash", ErrNodeUnavailable)
	}
	pk, err := ParseBLSPublicKey(netKey)
	if err != nil {
		return nil, fmt.Errorf("%w: handshake network key: %v", ErrNodeUnavailable, err)
	}
	s.NetworkPublicKey = pk
	s.LatestBlockhash = blockhash
	// threshold = max(3, chain minNodeCount, ⌊2·connected/3⌋) (§4.3).
	s.Threshold = max(minimum, minNodeCount, 2*len(s.Nodes)/3)
	if len(s.Nodes) < s.Threshold {
		return nil, fmt.Errorf("%w: %d nodes connected, threshold %d", ErrNotEnoughNodes, len(s.Nodes), s.Threshold)
	}
	if haveChainEpoch {
		s.Epoch = chainEpoch // the chain's epoch, as JS uses (§4.3)
	} else {
		fmt.Sscan(handshakeEpoch, &s.Epoch)
	}
	s.ConnectedAt = c.now()
	return s, nil
}

// handshake runs one node's handshake (docs/naga-wire.md §4.1–4.2).
func (c *Client) handshake(ctx context.Context, url string) (handshakeData, error) {
	ctx, cancel := context.WithTimeout(ctx, durationOr(c.HandshakeTimeout, 10*time.Second))
	defer cancel()
	challenge := make([]byte, 32)
	if _, err := io.ReadFull(c.rand(), challenge); err != nil {
		return handshakeData{}, err
	}
	body, _ := json.Marshal(map[string]any{"clientPublicKey": "test", "challenge": hex.EncodeToString(challenge), "epoch": 0})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(url, "/")+"/web/handshake/", bytes.NewReader(body))
	if err != nil {
		return handshakeData{}, &NodeError{Op: "handshake", Node: url, Err: err, class: ErrBadRequest}
	}
	c.setHeaders(req, hex.EncodeToString(challenge[:16]))
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return handshakeData{}, &NodeError{Op: "handshake", Node: url, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return handshakeData{}, &NodeError{Op: "handshake", Node: url, Status: resp.StatusCode, Err: err}
	}
	var g GenericResponse
	if err := json.Unmarshal(raw, &g); err != nil {
		var pe PublicError
		if json.Unmarshal(raw, &pe) == nil && pe.ErrorCode != "" {
			return handshakeData{}, nodeErrorFromResponse("handshake", url, resp.StatusCode, nil, &pe)
		}
		return handshakeData{}, &NodeError{Op: "handshake", Node: url, Status: resp.StatusCode, Err: fmt.Errorf("unparseable response: %v", err), class: ErrNodeUnavailable}
	}
	// ok:false is a failed handshake, whatever the status (§4.2 recommendation).
	if !g.OK || resp.StatusCode != http.StatusOK {
		e := nodeErrorFromResponse("handshake", url, resp.StatusCode, &g, nil)
		e.class = ErrNodeUnavailable
		return handshakeData{}, e
	}
	var hs handshakeData
	if err := json.Unmarshal(g.Data, &hs); err != nil {
		return handshakeData{}, &NodeError{Op: "handshake", Node: url, Status: resp.StatusCode, Err: fmt.Errorf("bad handshake data: %v", err), class: ErrNodeUnavailable}
	}
	if len(hs.Attestation) > 0 && string(hs.Attestation) != "null" && c.Attestation == AttestationSkip && c.Network.RequireAttestation {
		c.logger().Warn("lit node attestation NOT checked (skipped by configuration)", "node", url)
	}
	return hs, nil
}

// setHeaders sets the headers the SDK sends on every request (docs/naga-wire.md §3).
func (c *Client) setHeaders(req *http.Request, requestID string) {
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Request-Id", requestID)
	v := c.Network.SDKVersionHeader
	if v == "" {
		v = sdkVersion + "-" + c.Network.Name
	}
	req.Header.Set("X-Lit-SDK-Version", v)
	req.Header.Set("X-Lit-SDK-Type", "Go")
}

func mostCommon[T any](items []T, key func(T) string) string {
	counts := map[string]int{}
	best, bestN := "", 0
	for _, it := range items {
		k := key(it)
		counts[k]++
		if counts[k] > bestN || counts[k] == bestN && k < best {
			best, bestN = k, counts[k]
		}
	}
	return best
}

// codeOf returns the node error code inside err, if any.
func codeOf(err error) string {
	var ne *NodeError
	if errors.As(err, &ne) {
		return ne.Code
	}
	return ""
}
