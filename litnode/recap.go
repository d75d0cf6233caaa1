package litnode

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// recapURNPrefix starts every ReCap resource (docs/naga-auth.md §3.2).
const recapURNPrefix = "urn:recap:"

// recapStatementPrefix is the fixed first sentence of a ReCap statement
// (docs/naga-auth.md §3.2).
const recapStatementPrefix = "I further authorize the stated URI to perform the following actions on my behalf:"

// recapMaxDepth bounds JSON nesting in a decoded ReCap. The node's serde_json
// stops at 128 levels as well.
const recapMaxDepth = 128

// Recap is a ReCap capability object (EIP-5573 as implemented by
// siwe-recap, docs/naga-auth.md §3.2).
//
// Att maps a resource URI to a map from "Namespace/Name" to its list of
// nota-bene objects. Nota-bene values are JSON values: nil, bool, string,
// json.Number (what DecodeRecapURN produces), Go numbers, []any and
// map[string]any; other types are encoded through encoding/json. Prf lists
// proof CIDs as strings; Lit always leaves it empty.
type Recap struct {
	Att map[string]map[string][]map[string]any
	Prf []string
}

// NewRecap returns an empty ReCap.
func NewRecap() *Recap {
	return &Recap{Att: map[string]map[string][]map[string]any{}, Prf: []string{}}
}

// DecodeRecapURN decodes "urn:recap:" + base64url (no padding) of the JSON
// object {"att":…,"prf":[…]}. As the JS decoder does, it rejects object keys
// that are not sorted at any level, ability names that do not match
// [a-zA-Z0-9.*_+-]+ on both sides of the "/", nota-bene lists that are not
// arrays of objects and proofs that are not strings. It is stricter than both
// the JS and the Rust decoders in one way: the URN must be exactly what
// EncodeURN writes (JCS canonical JSON, no padding, no extra keys), so a
// decoded ReCap always re-encodes to the identical URN. ReCaps from the SDK
// and from nodes are canonical. Every error wraps ErrMalformed.
func DecodeRecapURN(urn string) (*Recap, error) {
	payload, ok := strings.CutPrefix(urn, recapURNPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: recap: %.40q is not a urn:recap: URI", ErrMalformed, urn)
	}
	if strings.Contains(payload, "=") {
		return nil, fmt.Errorf("%w: recap: base64url must not be padded", ErrMalformed)
	}
	for i := 0; i < len(payload); i++ {
		if !isBase64URLByte(payload[i]) {
			return nil, fmt.Errorf("%w: recap: byte %q at %d is not base64url", ErrMalformed, payload[i], i)
		}
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: recap: base64url: %v", ErrMalformed, err)
	}
	if !utf8.Valid(raw) {
		return nil, fmt.Errorf("%w: recap: JSON is not valid UTF-8", ErrMalformed)
	}
	r, err := decodeRecapJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: recap: %v", ErrMalformed, err)
	}
	if r.EncodeURN() != urn {
		return nil, fmt.Errorf("%w: recap: JSON is not in JCS canonical form", ErrMalformed)
	}
	return r, nil
}

func isBase64URLByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// decodeRecapJSON parses the ReCap JSON and checks its shape.
func decodeRecapJSON(raw []byte) (*Recap, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := readSortedJSON(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not a JSON object")
	}
	for k := range top {
		if k != "att" && k != "prf" {
			return nil, fmt.Errorf("unknown key %q", k)
		}
	}
	attV, ok := top["att"]
	if !ok {
		return nil, errors.New(`missing "att"`)
	}
	prfV, ok := top["prf"]
	if !ok {
		return nil, errors.New(`missing "prf"`)
	}
	att, ok := attV.(map[string]any)
	if !ok {
		return nil, errors.New(`"att" is not an object`)
	}
	prf, ok := prfV.([]any)
	if !ok {
		return nil, errors.New(`"prf" is not an array`)
	}
	r := &Recap{Att: make(map[string]map[string][]map[string]any, len(att)), Prf: make([]string, 0, len(prf))}
	for _, p := range prf {
		s, ok := p.(string)
		if !ok {
			return nil, errors.New(`"prf" holds a non-string`)
		}
		r.Prf = append(r.Prf, s)
	}
	for res, absV := range att {
		abs, ok := absV.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("abilities of %q are not an object", res)
		}
		out := make(map[string][]map[string]any, len(abs))
		for ab, nbV := range abs {
			ns, name, found := strings.Cut(ab, "/")
			if !found || !validRecapName(ns) || !validRecapName(name) {
				return nil, fmt.Errorf("invalid ability %q on %q", ab, res)
			}
			list, ok := nbV.([]any)
			if !ok {
				return nil, fmt.Errorf("nota-bene of %q on %q is not an array", ab, res)
			}
			nbs := make([]map[string]any, 0, len(list))
			for _, e := range list {
				obj, ok := e.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("nota-bene of %q on %q holds a non-object", ab, res)
				}
				nbs = append(nbs, obj)
			}
			out[ab] = nbs
		}
		r.Att[res] = out
	}
	return r, nil
}

// readSortedJSON reads one JSON value from dec's token stream. Objects must
// list their keys in strictly increasing UTF-16 order, as they appear in the
// text; this is the JS decoder's isSorted check (docs/naga-auth.md §3.2), and it also
// rules out duplicate keys.
func readSortedJSON(dec *json.Decoder, depth int) (any, error) {
	if depth >= recapMaxDepth {
		return nil, fmt.Errorf("JSON nested more than %d levels", recapMaxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("JSON: %v", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := map[string]any{}
			prev := ""
			for i := 0; dec.More(); i++ {
				kt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("JSON: %v", err)
				}
				key, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("JSON: object key %v", kt)
				}
				if i > 0 && compareUTF16(prev, key) >= 0 {
					return nil, fmt.Errorf("object keys not sorted: %q after %q", key, prev)
				}
				v, err := readSortedJSON(dec, depth+1)
				if err != nil {
					return nil, err
				}
				obj[key] = v
				prev = key
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("JSON: %v", err)
			}
			return obj, nil
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := readSortedJSON(dec, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("JSON: %v", err)
			}
			return arr, nil
		default:
			return nil, fmt.Errorf("JSON: unexpected %q", rune(t))
		}
	default:
		return t, nil
	}
}

// validRecapName reports whether s matches [a-zA-Z0-9.*_+-]+, the syntax of
// an ability namespace and name (docs/naga-auth.md §3.2).
func validRecapName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '*' || c == '_' || c == '+' || c == '-') {
			return false
		}
	}
	return true
}

// EncodeURN returns "urn:recap:" + base64url without padding of the ReCap as
// JCS canonical JSON (RFC 8785: keys sorted by UTF-16 code units, no
// whitespace, strings escaped as JSON.stringify does, numbers in ECMAScript
// form), as both the JS canonicalize and Rust serde_jcs encoders write it
// (docs/naga-auth.md §3.2). A nil Att encodes as {} and a nil Prf as [].
func (r *Recap) EncodeURN() string {
	return recapURNPrefix + base64.RawURLEncoding.EncodeToString(r.canonicalJSON())
}

func (r *Recap) canonicalJSON() []byte {
	b := []byte(`{"att":{`)
	for i, res := range sortedKeysUTF16(r.Att) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSString(b, res)
		b = append(b, ":{"...)
		abs := r.Att[res]
		for j, ab := range sortedKeysUTF16(abs) {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSString(b, ab)
			b = append(b, ":["...)
			for k, nb := range abs[ab] {
				if k > 0 {
					b = append(b, ',')
				}
				b = appendJCSValue(b, nb)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `},"prf":[`...)
	for i, p := range r.Prf {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSString(b, p)
	}
	return append(b, "]}"...)
}

// Statement returns the human-readable text that a ReCap adds to a SIWE
// statement (docs/naga-auth.md §3.2): the fixed sentence, then for each resource in
// sorted order and each of its namespaces in sorted order the section
// " (n) '<Namespace>': '<name1>', '<name2>' for '<resource>'.", with names
// sorted and n counting from 1 across all sections.
func (r *Recap) Statement() string {
	var b strings.Builder
	b.WriteString(recapStatementPrefix)
	n := 0
	for _, res := range sortedKeysUTF16(r.Att) {
		groups := map[string][]string{}
		for ab := range r.Att[res] {
			ns, name, _ := strings.Cut(ab, "/")
			groups[ns] = append(groups[ns], name)
		}
		for _, ns := range sortedKeysUTF16(groups) {
			names := groups[ns]
			slices.SortFunc(names, compareUTF16)
			n++
			fmt.Fprintf(&b, " (%d) '%s': ", n, ns)
			for i, name := range names {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString("'" + name + "'")
			}
			b.WriteString(" for '" + res + "'.")
		}
	}
	return b.String()
}

// AddAbility appends notaBene ({} when nil) to the nota-bene list of
// "namespace/name" on resource. Namespace and name must match
// [a-zA-Z0-9.*_+-]+ or the encoded ReCap will not decode.
func (r *Recap) AddAbility(resource, namespace, name string, notaBene map[string]any) {
	if notaBene == nil {
		notaBene = map[string]any{}
	}
	if r.Att == nil {
		r.Att = map[string]map[string][]map[string]any{}
	}
	abs := r.Att[resource]
	if abs == nil {
		abs = map[string][]map[string]any{}
		r.Att[resource] = abs
	}
	key := namespace + "/" + name
	abs[key] = append(abs[key], notaBene)
}

// Merge adds other's capabilities to r as the node's siwe-recap merge does
// (docs/naga-auth.md §3.4 step 8): resources and abilities are united, the nota-bene
// lists of an ability present in both are concatenated (r's first), and
// proofs are appended unless already present.
func (r *Recap) Merge(other *Recap) {
	r.merge(other, func(cur, nbs []map[string]any) []map[string]any {
		return append(slices.Clip(cur), nbs...)
	})
}

// mergeJS adds other to r as the JS siwe-recap Recap.merge does, which the
// SDK's add_to_siwe_message uses: an ability whose current nota-bene list is
// empty or holds only empty objects takes other's list instead of growing.
// So adding the same request twice still yields one {} (docs/naga-auth.md §3.2).
func (r *Recap) mergeJS(other *Recap) {
	r.merge(other, func(cur, nbs []map[string]any) []map[string]any {
		if allEmptyNotaBene(cur) {
			return slices.Clone(nbs)
		}
		return append(slices.Clip(cur), nbs...)
	})
}

// merge unites resources, abilities and proofs of other into r; combine
// joins the nota-bene lists of one ability (r's, then other's).
func (r *Recap) merge(other *Recap, combine func(cur, nbs []map[string]any) []map[string]any) {
	if other == nil {
		return
	}
	if r.Att == nil {
		r.Att = map[string]map[string][]map[string]any{}
	}
	for _, p := range other.Prf {
		if !slices.Contains(r.Prf, p) {
			r.Prf = append(r.Prf, p)
		}
	}
	for res, abs := range other.Att {
		dst := r.Att[res]
		if dst == nil {
			dst = make(map[string][]map[string]any, len(abs))
			r.Att[res] = dst
		}
		for ab, nbs := range abs {
			dst[ab] = combine(dst[ab], nbs)
		}
	}
}

func allEmptyNotaBene(nbs []map[string]any) bool {
	for _, nb := range nbs {
		if len(nb) > 0 {
			return false
		}
	}
	return true
}

// Grants reports whether the ReCap grants ability ("Namespace/Name") on
// resource ("<prefix>://<id>") as a node decides it (docs/naga-auth.md §6 step 6c): the
// key "<prefix>://*" is looked up first and, only if it is absent, the exact
// resource key; under the key found, "*/*" or the exact ability must be
// present. So a wildcard key without the ability hides an exact key that has
// it, as on the node.
func (r *Recap) Grants(resource, ability string) bool {
	if r == nil {
		return false
	}
	keys := []string{resource}
	if prefix, _, ok := strings.Cut(resource, "://"); ok {
		keys = []string{prefix + "://*", resource}
	}
	for _, k := range keys {
		abs, ok := r.Att[k]
		if !ok {
			continue
		}
		_, wild := abs["*/*"]
		_, exact := abs[ability]
		return wild || exact
	}
	return false
}

// AddRecapToSIWE adds r to m as the JS siwe-recap add_to_siwe_message does
// (docs/naga-auth.md §3.2). If the last resource of m is a ReCap whose statement ends
// m's statement, r is merged into it (JS merge semantics), the trailing ReCap
// statement is replaced by the merged one and the last resource by the merged
// URN. Otherwise r's statement is appended to m's statement after a space (or
// becomes the statement when m has none) and r's URN is appended to the
// resources. r itself is not modified.
func AddRecapToSIWE(m *SIWEMessage, r *Recap) {
	if m.Statement != "" && len(m.Resources) > 0 {
		last := len(m.Resources) - 1
		if prev, err := DecodeRecapURN(m.Resources[last]); err == nil {
			prevStatement := prev.Statement()
			if strings.HasSuffix(m.Statement, prevStatement) {
				prev.mergeJS(r)
				m.Statement = m.Statement[:len(m.Statement)-len(prevStatement)] + prev.Statement()
				m.Resources[last] = prev.EncodeURN()
				return
			}
		}
	}
	if m.Statement == "" {
		m.Statement = r.Statement()
	} else {
		m.Statement += " " + r.Statement()
	}
	m.Resources = append(m.Resources, r.EncodeURN())
}

// VerifyRecapStatements decodes every ReCap resource of m and checks that
// m's statement ends with each one's Statement, as a node does (docs/naga-auth.md §6
// step 6c). It is stricter than the node in two ways: a ReCap resource that
// does not decode is an error (ErrMalformed) where the node skips it, and a
// message without a statement fails (ErrStatementMismatch) where the node
// skips the check. A message without ReCaps returns nil, nil.
func VerifyRecapStatements(m *SIWEMessage) ([]*Recap, error) {
	var out []*Recap
	for i, urn := range m.RecapURNs() {
		r, err := DecodeRecapURN(urn)
		if err != nil {
			return nil, fmt.Errorf("recap resource %d: %w", i, err)
		}
		if want := r.Statement(); !strings.HasSuffix(m.Statement, want) {
			return nil, fmt.Errorf("%w: statement does not end with %q", ErrStatementMismatch, want)
		}
		out = append(out, r)
	}
	return out, nil
}

// compareUTF16 orders strings by UTF-16 code units, the order of JS sort()
// and of RFC 8785 key sorting. It differs from byte order only between
// supplementary characters and U+E000..U+FFFF.
func compareUTF16(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			ua, ub := firstUTF16Unit(ra), firstUTF16Unit(rb)
			if ua != ub {
				return int(ua) - int(ub)
			}
			// Same high surrogate: the low surrogates order as the runes do.
			if ra < rb {
				return -1
			}
			return 1
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) - len(b)
}

func firstUTF16Unit(r rune) rune {
	if r >= 0x10000 {
		hi, _ := utf16.EncodeRune(r)
		return hi
	}
	return r
}

func sortedKeysUTF16[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareUTF16)
	return keys
}

// appendJCSValue appends v as RFC 8785 canonical JSON. Values that are not
// plain JSON types go through encoding/json first; what cannot be encoded
// (NaN, infinities, channels, …) is written as null, as JSON.stringify does
// for non-finite numbers.
func appendJCSValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case string:
		return appendJSString(b, x)
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return append(b, "null"...)
		}
		return appendJSNumber(b, f)
	case float64:
		return appendJSNumber(b, x)
	case float32:
		return appendJSNumber(b, float64(x))
	case int:
		return appendJSNumber(b, float64(x))
	case int8:
		return appendJSNumber(b, float64(x))
	case int16:
		return appendJSNumber(b, float64(x))
	case int32:
		return appendJSNumber(b, float64(x))
	case int64:
		return appendJSNumber(b, float64(x))
	case uint:
		return appendJSNumber(b, float64(x))
	case uint8:
		return appendJSNumber(b, float64(x))
	case uint16:
		return appendJSNumber(b, float64(x))
	case uint32:
		return appendJSNumber(b, float64(x))
	case uint64:
		return appendJSNumber(b, float64(x))
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJCSValue(b, e)
		}
		return append(b, ']')
	case map[string]any:
		b = append(b, '{')
		for i, k := range sortedKeysUTF16(x) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSString(b, k)
			b = append(b, ':')
			b = appendJCSValue(b, x[k])
		}
		return append(b, '}')
	default:
		raw, err := json.Marshal(x)
		if err != nil {
			return append(b, "null"...)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var generic any
		if err := dec.Decode(&generic); err != nil {
			return append(b, "null"...)
		}
		return appendJCSValue(b, generic)
	}
}
