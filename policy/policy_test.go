package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const cidA = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
const cidB = "QmZ4tDuvesekSs4qM5ZBKpXiZGun7S2CYtEZRB3DYXkjGx"

func mustParse(t *testing.T, s string) *Policy {
	t.Helper()
	p, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse(%s): %v", s, err)
	}
	return p
}

// Each member allows what it lists and denies the rest.
func TestEachFieldAllowsAndDenies(t *testing.T) {
	sign := func(producer, chain string) Request {
		return Request{Producer: producer, Kind: KindPKPSign, Chain: chain}
	}
	byCID := func(cid string) Request { return Request{Producer: "a", Kind: KindExecuteJS, CID: cid} }
	inline := func(cid string) Request { return Request{Producer: "a", Kind: KindExecuteJS, CID: cid, Inline: true} }
	cases := []struct {
		name   string
		policy string
		allow  []Request
		deny   []Request
	}{
		{"producers", `{"producers":["billing"]}`, []Request{sign("billing", "ethereum")}, []Request{sign("other", "ethereum"), sign("", "ethereum")}},
		{"kinds", `{"kinds":["execute-js"],"inlineCode":true}`, []Request{inline(cidA)}, []Request{sign("a", "ethereum")}},
		{"chains", `{"chains":["bitcoin"]}`, []Request{sign("a", "bitcoin")}, []Request{sign("a", "ethereum"), sign("a", "raw")}},
		{"actionCids", `{"actionCids":["` + cidA + `"]}`, []Request{byCID(cidA), inline(cidA)}, []Request{byCID(cidB), inline(cidB)}},
		{"actionCids any", `{"actionCids":["*"]}`, []Request{byCID(cidA), byCID(cidB)}, nil},
		{"inlineCode", `{"inlineCode":true}`, []Request{inline(cidA), inline(cidB)}, []Request{byCID(cidA)}},
		{"no policy members", `{}`, []Request{sign("anyone", "raw")}, []Request{inline(cidA), byCID(cidA)}},
	}
	for _, c := range cases {
		p := mustParse(t, c.policy)
		for _, r := range c.allow {
			if err := p.Check(r); err != nil {
				t.Errorf("%s: %+v denied: %v", c.name, r, err)
			}
		}
		for _, r := range c.deny {
			if err := p.Check(r); !errors.Is(err, ErrDenied) {
				t.Errorf("%s: %+v allowed (err %v)", c.name, r, err)
			}
		}
	}
}

func TestOtherPKPSignatures(t *testing.T) {
	own, other := "0x04aabbcc", "0x04ddeeff"
	if err := mustParse(t, `{}`).CheckSignerKey(own, "04AABBCC"); err != nil {
		t.Fatalf("own key denied: %v", err)
	}
	if err := mustParse(t, `{}`).CheckSignerKey(own, other); !errors.Is(err, ErrDenied) {
		t.Fatalf("other key allowed without otherPkpSignatures: %v", err)
	}
	if err := mustParse(t, `{"otherPkpSignatures":true}`).CheckSignerKey(own, other); err != nil {
		t.Fatalf("other key denied with otherPkpSignatures: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	d := Default()
	if err := d.Check(Request{Producer: "x", Kind: KindPKPSign, Chain: "ethereum"}); err != nil {
		t.Fatalf("default denies pkp-sign: %v", err)
	}
	if err := d.Check(Request{Producer: "x", Kind: KindExecuteJS, CID: cidA, Inline: true}); !errors.Is(err, ErrDenied) {
		t.Fatalf("default allows inline code: %v", err)
	}
	if err := Permissive().Check(Request{Kind: KindExecuteJS, CID: cidA, Inline: true}); err != nil {
		t.Fatalf("dev default denies inline code: %v", err)
	}
	if err := Permissive().CheckSignerKey("0x04aa", "0x04bb"); !errors.Is(err, ErrDenied) {
		t.Fatal("dev default allows signatures by other PKPs")
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{
		`[]`, `{"producer":["a"]}`, `{"kinds":["sign"]}`, `{"chains":["solana"]}`, `{"producers":["a.b"]}`,
		`{"actionCids":["not a cid"]}`, `{"maxJobsPerMinute":-1}`, `{} {}`, `{"inlineCode":"yes"}`,
		`{"producers":[` + strings.Repeat(`"a",`, MaxListEntries) + `"a"]}`,
	} {
		if _, err := Parse([]byte(s)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%.60s) = %v, want ErrInvalid", s, err)
		}
	}
	if p, err := Parse(nil); p != nil || err != nil {
		t.Fatalf("Parse(nil) = %v, %v", p, err)
	}
}

func TestLimiter(t *testing.T) {
	var l Limiter
	now := time.Unix(1_700_000_000, 0)
	for i := range 3 {
		if !l.Allow("k", 3, now) {
			t.Fatalf("job %d of 3 denied", i+1)
		}
	}
	if l.Allow("k", 3, now) {
		t.Fatal("4th job in the same minute allowed")
	}
	if !l.Allow("other", 3, now) {
		t.Fatal("the limit is not per key")
	}
	if !l.Allow("k", 3, now.Add(20*time.Second)) {
		t.Fatal("no token back after a third of a minute")
	}
	if !l.Allow("k", 0, now) {
		t.Fatal("limit 0 must mean unlimited")
	}
}
