package litnode

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// realShare is a share as the devnet (and a lit-peer node) writes it:
// FormatECDSAShareJSON, with share_id, signature_share, big_r and the keys
// JSON-encoded inside the JSON string.
func realShare(t testing.TB) string {
	var secret, k, digest [32]byte
	secret[31], k[31], digest[0] = 5, 9, 1
	ss, bigR, err := MakeECDSAShares(secret, digest, k, [][32]byte{{31: 1}, {31: 2}, {31: 3}})
	if err != nil {
		t.Fatal(err)
	}
	pub := secp256k1.PrivKeyFromBytes(secret[:]).PubKey().SerializeUncompressed()
	return string(FormatECDSAShareJSON(ECDSAShare{Digest: digest[:], ShareID: "0A", PeerID: "peer-1", SignatureShare: ss[0], BigR: bigR, PublicKey: pub}))
}

// responseScanSeeds returns GenericResponse and pkpSign data bodies the
// fast paths must take (the first three) and near misses they must leave
// to encoding/json.
func responseScanSeeds(t testing.TB) []string {
	share := realShare(t)
	data := `{"success":true,"signedData":[1,2,3],"signatureShare":` + share + `}`
	inner := strings.TrimSuffix(strings.TrimPrefix(share, `{"EcdsaSignedMessageShare":`), `}`)
	return []string{
		`{"ok":true,"error":null,"errorObject":null,"data":` + data + `}`,
		data,
		` { "data" : {"signatureShare":` + share + ` , "success" : true} , "ok" : true } `,
		// Near misses.
		`{"ok":true,"data":` + data + `,"extra":1}`,
		`{"OK":true,"data":` + data + `}`,
		`{"ok":true,"ok":true,"data":` + data + `}`,
		`{"ok":false,"error":"can't decrypt","errorObject":null,"data":null}`,
		`{"ok":true,"error":"x","data":{}}`,
		`{"ok":true,"data":null}`,
		`{"ok":true,"data":[1]}`,
		`{"ok":true,"data":{"a":[1,]}}`,
		`{"ok":true,"data":{}}x`,
		`{"success":false,"signatureShare":` + share + `}`,
		`{"success":true,"signatureShare":"` + strings.ReplaceAll(share, `"`, `\"`) + `"}`,
		`{"success":true,"signatureShare":` + inner + `}`,
		`{"success":true,"signatureShare":{"EcdsaSignedMessageShare":` + inner + `,"FrostSignedMessageShare":{}}}`,
		`{"success":true,"signatureShare":` + strings.Replace(share, `"digest"`, `"Digest"`, 1) + `}`,
		`{"success":true,"signatureShare":` + strings.Replace(share, `"peer_id":"peer-1"`, `"peer_id":"peer\u002d1"`, 1) + `}`,
		`{"success":true,"signatureShare":` + strings.Replace(share, `"peer_id":"peer-1"`, `"peer_id":null`, 1) + `}`,
		`{"success":true,"signatureShare":` + strings.Replace(share, `"result":"success"`, `"result":"success","result":"fail"`, 1) + `}`,
		`{"success":true,"signedData":[1,,2],"signatureShare":` + share + `}`,
		``, `{`, `{}`, `null`,
	}
}

// checkResponseScanMatchesJSON fails if a fast path accepts raw but
// decodes it to something other than what encoding/json decodes.
func checkResponseScanMatchesJSON(t *testing.T, raw []byte) {
	if data, ok := scanGenericOK(raw); ok {
		var g GenericResponse
		if err := json.Unmarshal(raw, &g); err != nil {
			t.Fatalf("scanGenericOK accepted what encoding/json rejects (%v): %q", err, raw)
		}
		if !g.OK || g.Error != nil || g.ErrorObject != nil || !bytes.Equal(g.Data, data) {
			t.Fatalf("scanGenericOK decoded %q as data %q; encoding/json as %+v", raw, data, g)
		}
	}
	if w, ok := scanPKPSignShare(raw); ok {
		var d pkpSignData
		if err := json.Unmarshal(raw, &d); err != nil || !d.Success {
			t.Fatalf("scanPKPSignShare accepted what encoding/json rejects (%v, success %v): %q", err, d.Success, raw)
		}
		var outer map[string]json.RawMessage
		if err := json.Unmarshal(d.SignatureShare, &outer); err != nil || len(outer) != 1 || outer[ecdsaShareVariant] == nil {
			t.Fatalf("scanPKPSignShare accepted a share ParseECDSAShare reads otherwise (%v, %d keys): %q", err, len(outer), raw)
		}
		var want ecdsaShareWire
		if err := json.Unmarshal(outer[ecdsaShareVariant], &want); err != nil || want != w {
			t.Fatalf("scanPKPSignShare decoded %q as %+v; encoding/json as %+v (%v)", raw, w, want, err)
		}
	}
}

// TestScanPKPSignResponse: the fast paths take the answers nodes send,
// decode them as encoding/json does, and leave every other shape (an
// unknown or miscased key, a duplicate, an error answer, a share written
// as a string or without its variant tag, an escape, a null, invalid JSON
// in a value passed over, trailing bytes) to encoding/json.
func TestScanPKPSignResponse(t *testing.T) {
	seeds := responseScanSeeds(t)
	for _, raw := range seeds {
		checkResponseScanMatchesJSON(t, []byte(raw))
	}
	if _, ok := scanGenericOK([]byte(seeds[0])); !ok {
		t.Errorf("scanGenericOK refused a node's answer: %s", seeds[0])
	}
	if _, ok := scanGenericOK([]byte(seeds[2])); !ok {
		t.Errorf("scanGenericOK refused a node's answer: %s", seeds[2])
	}
	w, ok := scanPKPSignShare([]byte(seeds[1]))
	if !ok {
		t.Fatalf("scanPKPSignShare refused a node's data: %s", seeds[1])
	}
	fast, err := shareFromWire(&w)
	if err != nil {
		t.Fatal(err)
	}
	var d pkpSignData
	if err := json.Unmarshal([]byte(seeds[1]), &d); err != nil {
		t.Fatal(err)
	}
	slow, err := ParseECDSAShare(d.SignatureShare)
	if err != nil || fast.ShareID != "0A" || fast.PeerID != "peer-1" || fast.Result != "success" {
		t.Fatalf("share %+v, err %v", fast, err)
	}
	fj, _ := json.Marshal(fast)
	sj, _ := json.Marshal(slow)
	if !bytes.Equal(fj, sj) {
		t.Errorf("fast path share %s; ParseECDSAShare %s", fj, sj)
	}
	for i, raw := range seeds[3:] {
		_, gok := scanGenericOK([]byte(raw))
		_, sok := scanPKPSignShare([]byte(raw))
		if gok || sok {
			t.Errorf("near miss %d taken by a fast path (generic %v, share %v): %s", i, gok, sok, raw)
		}
	}
}

func FuzzScanPKPSignResponse(f *testing.F) {
	for _, s := range responseScanSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkResponseScanMatchesJSON(t, raw) })
}
