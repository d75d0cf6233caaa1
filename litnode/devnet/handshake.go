package devnet

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"time"
)

// Values a devnet node reports about itself in the handshake.
const (
	// NodeVersion is the handshake's nodeVersion.
	NodeVersion = "1.0.0-devnet"
	// GitCommitHash is the handshake's gitCommitHash.
	GitCommitHash = "devnet"
	// defaultSDKVersion is what a node assumes without X-Lit-SDK-Version
	// (docs/naga-wire.md §3).
	defaultSDKVersion = "1.2.60"
)

// semverRE is the semver.org 2.0.0 grammar, which the node's semver parser
// enforces on X-Lit-SDK-Version (docs/naga-wire.md §3).
var semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// validSDKVersion reports whether v parses as semver and is not 0.0.0
// (docs/naga-wire.md §3).
func validSDKVersion(v string) bool {
	m := semverRE.FindStringSubmatch(v)
	if m == nil {
		return false
	}
	return !(m[1] == "0" && m[2] == "0" && m[3] == "0" && m[4] == "" && m[5] == "")
}

// handshakeData is the §4.2 response object, camelCase, in the node's field
// order.
type handshakeData struct {
	ServerPublicKey     string   `json:"serverPublicKey"`
	SubnetPublicKey     string   `json:"subnetPublicKey"`
	NetworkPublicKey    string   `json:"networkPublicKey"`
	NetworkPublicKeySet string   `json:"networkPublicKeySet"`
	ClientSDKVersion    string   `json:"clientSdkVersion"`
	HDRootPubkeys       []string `json:"hdRootPubkeys"`
	Attestation         any      `json:"attestation"`
	LatestBlockhash     string   `json:"latestBlockhash"`
	NodeVersion         string   `json:"nodeVersion"`
	NodeIdentityKey     string   `json:"nodeIdentityKey"`
	Epoch               uint64   `json:"epoch"`
	GitCommitHash       string   `json:"gitCommitHash"`
}

// serveHandshake answers POST /web/handshake[/] (docs/naga-wire.md §4, §13.3).
func (nd *Node) serveHandshake(w http.ResponseWriter, r *http.Request, rec *Request, f Fault) {
	start := time.Now()
	// The TracingRequired guard (docs/naga-wire.md §3): X-Request-Id or
	// X-Correlation-Id, else 400 through the 418 catcher (§11.1).
	if rec.RequestID == "" {
		nd.plainError(w, rec, codedErr(CodeMissingRequestID, "send X-Request-Id (or X-Correlation-Id)"))
		return
	}
	sdk := defaultSDKVersion
	if vs, present := r.Header["X-Lit-Sdk-Version"]; present {
		if len(vs) == 0 || !validSDKVersion(vs[0]) {
			got := ""
			if len(vs) > 0 {
				got = vs[0]
			}
			nd.plainError(w, rec, codedErr(CodeInvalidSDKVersion, "X-Lit-SDK-Version "+jsonQuote(got)+" is not a semver version other than 0.0.0"))
			return
		}
		sdk = vs[0]
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		nd.plainError(w, rec, codedErr(CodeBadInput, "request body could not be read: "+err.Error()))
		return
	}
	// JsonSDKHandshakeRequest (docs/naga-wire.md §4.1): clientPublicKey is required
	// by serde, challenge is optional, anything else (epoch) is ignored.
	var req struct {
		ClientPublicKey *string `json:"clientPublicKey"`
		Challenge       *string `json:"challenge"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.ClientPublicKey == nil {
		nd.plainError(w, rec, codedErr(CodeBadInput, "handshake body must be a JSON object with a string clientPublicKey"))
		return
	}
	rec.Body = json.RawMessage(body)
	if f.Timeout408 {
		nd.plainTimeout(w, rec)
		return
	}
	timedOut, gone := nd.wait(r, start, f.Delay)
	if gone {
		nd.record(*rec)
		return
	}
	if timedOut {
		nd.plainTimeout(w, rec)
		return
	}
	if req.Challenge == nil {
		// docs/naga-wire.md §4.2 "Degraded answers": 400, ok:false, error "", the
		// handshake object with "ERR" in the key fields as errorObject.
		errObj := string(mustMarshal(handshakeData{
			ServerPublicKey: "ERR", SubnetPublicKey: "ERR", NetworkPublicKey: "ERR", NetworkPublicKeySet: "ERR",
			ClientSDKVersion: sdk, HDRootPubkeys: []string{}, LatestBlockhash: "ERR", NodeVersion: NodeVersion,
			NodeIdentityKey: "ERR", Epoch: 0, GitCommitHash: GitCommitHash,
		}))
		empty := ""
		rec.Status, rec.Error = http.StatusBadRequest, "handshake without challenge"
		nd.record(*rec)
		writeJSON(w, http.StatusBadRequest, mustMarshal(GenericResponse{Error: &empty, ErrorObject: &errObj}))
		return
	}
	key := nd.IdentityKey()
	hash, _ := nd.net.latestBlock()
	root := nd.net.blsKey.Hex()
	data := handshakeData{
		ServerPublicKey:     "", // legacy, unused (docs/naga-wire.md §4.2)
		SubnetPublicKey:     root,
		NetworkPublicKey:    root,
		NetworkPublicKeySet: root,
		ClientSDKVersion:    sdk,
		HDRootPubkeys:       append([]string(nil), nd.net.hdRoots...),
		Attestation:         nil, // no SEV-SNP: dev mode (docs/naga-wire.md §4.4)
		LatestBlockhash:     hash.Hex(),
		NodeVersion:         NodeVersion,
		NodeIdentityKey:     hex.EncodeToString(key[:]),
		Epoch:               nd.net.Epoch(),
		GitCommitHash:       GitCommitHash,
	}
	rec.Status = http.StatusOK
	nd.record(*rec)
	writeJSON(w, http.StatusOK, mustMarshal(okResponse(data)))
}

// plainTimeout answers the node timeout without a session: plain
// {"message":"Request timed out","errorCode":"request_timeout"} with 408
// (docs/naga-wire.md §11.1).
func (nd *Node) plainTimeout(w http.ResponseWriter, rec *Request) {
	rec.Status, rec.ErrorCode, rec.Error = http.StatusRequestTimeout, CodeRequestTimeout, "Request timed out"
	nd.record(*rec)
	writeJSON(w, http.StatusRequestTimeout, []byte(`{"message":"Request timed out","errorCode":"request_timeout"}`))
}

func jsonQuote(s string) string { return string(mustMarshal(s)) }
