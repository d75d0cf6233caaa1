package litnode

import (
	"encoding/json"
	"os"
	"sync"
	"testing"
)

// The SDK vectors live in testdata/; interop/ regenerates them from the npm
// SDK and checks the checked-in copy against the regenerated one.
const (
	authVectorsFile    = "testdata/lit-auth-vectors.json"
	networkVectorsFile = "testdata/network-vectors.json"
)

var (
	authVectorsOnce sync.Once
	authVectorsRaw  map[string]any
)

// authVectors returns the decoded lit-auth vectors.
func authVectors(t testing.TB) map[string]any {
	t.Helper()
	authVectorsOnce.Do(func() {
		b, err := os.ReadFile(authVectorsFile)
		if err != nil {
			t.Fatalf("read vectors: %v", err)
		}
		if err := json.Unmarshal(b, &authVectorsRaw); err != nil {
			t.Fatalf("decode vectors: %v", err)
		}
	})
	if authVectorsRaw == nil {
		t.Fatal("vectors not loaded")
	}
	return authVectorsRaw
}

// vget walks a decoded JSON document by keys (strings) and indexes (ints).
func vget(t testing.TB, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("vector path %v: %q on a %T", path, k, v)
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("vector path %v: no key %q", path, k)
			}
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("vector path %v: index %d on a %T", path, k, v)
			}
			v = a[k]
		}
	}
	return v
}

func vstr(t testing.TB, v any, path ...any) string {
	t.Helper()
	s, ok := vget(t, v, path...).(string)
	if !ok {
		t.Fatalf("vector path %v is not a string", path)
	}
	return s
}
