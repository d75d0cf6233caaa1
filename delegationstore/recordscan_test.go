package delegationstore

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The fast index scan reads what encoding/json reads from every record Put
// writes, and declines (ok false) rather than misreading anything else.
func TestScanRecordIndexMatchesJSON(t *testing.T) {
	now := time.Now()
	h := newTestHandOff(t, newTestPKP(t), newTestSessionKey(t), now.Add(-time.Minute), now.Add(time.Hour))
	d, err := h.ParseDelegation()
	if err != nil {
		t.Fatal(err)
	}
	rec, err := newRecord(h, d, newTestKeyring(t, "k1"), now)
	if err != nil {
		t.Fatal(err)
	}
	value, err := rec.encode()
	if err != nil {
		t.Fatal(err)
	}
	var want recordIndex
	if err := json.Unmarshal(value, &want); err != nil {
		t.Fatal(err)
	}
	got, ok := scanRecordIndex(value)
	if !ok {
		t.Fatalf("scan declined a record Put wrote: %s", value)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scan = %+v\njson = %+v", got, want)
	}
	// Records it must not read itself: it declines, the json fallback decides.
	for _, v := range []string{
		strings.Replace(string(value), `"v":1`, `"V":1`, 1),                                // case-insensitive key
		strings.Replace(string(value), `"pkpPublicKey":"0x`, `"pkpPublicKey":"\u0030x`, 1), // escape in a read field
		strings.Replace(string(value), `"v":1`, `"v":"1"`, 1),                              // wrong type
		string(value[:len(value)-1]),                                                       // truncated
		string(value) + "x",                                                                // trailing data
		`[]`, ``, `{"v":1,}`,
	} {
		if r, ok := scanRecordIndex([]byte(v)); ok {
			t.Errorf("scan accepted %.80q… as %+v", v, r)
		}
	}
}
