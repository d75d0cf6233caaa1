package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The protocol notes live in docs/ and the code cites them by section:
// "docs/naga-wire.md §7.5", "docs/naga-auth.md §3.2–3.3, §6 step 7",
// "docs/naga-wire.md §13.4 "pkpSign fake" step 6", "docs/jetstream.md A.4, F".
// A citation may wrap onto the next comment line.
var (
	// gap is what may stand between the parts of a citation: blanks, and at
	// most one line break with the next line's comment marker.
	gap      = `(?:[ \t]*\n[ \t]*(?://+|#+|\*+)?)?[ \t]*`
	citeFile = regexp.MustCompile(`(docs/)?\b([a-z0-9][a-z0-9-]*)\.md\b`)
	// refAt is one section at the start of the rest of a citation: §n or a
	// range §n–m (groups 1, 2), or a jetstream.md label such as A.4 (group 3).
	refAt = regexp.MustCompile(`^` + gap + `(?:§\s?(\d+(?:\.\d+)*)(?:\s?[–-]\s?§?(\d+(?:\.\d+)*))?|§?([A-F](?:\.\d+)?)\b)`)
	// qualAt is what may follow a section: "step 6c", a quoted name of a part
	// of the section (group 1), "step 5" again.
	qualAt  = regexp.MustCompile(`^(?:,?` + gap + `steps?\s[0-9a-z'–-]+)?(?:` + gap + `"([^"\n]{2,80}(?:\n[^"\n]{0,80})?)")?(?:` + gap + `steps?\s[0-9a-z'–-]+)?`)
	sepAt   = regexp.MustCompile(`^` + gap + `(?:,|;|\band\b|\bor\b)`)
	bareAt  = regexp.MustCompile(`§\s?\d`)
	heading = regexp.MustCompile(`(?m)^(#{1,6})\s+(\d+(?:\.\d+)*|[A-Z](?:\.\d+)*)[.\s]`)
	// lineBreak joins comment lines, so a quoted name may wrap.
	lineBreak = regexp.MustCompile(`\s*\n\s*(?://+|#+|\*+)?\s*`)
)

// citedRef is one section of a citation and the name quoted after it, if any.
type citedRef struct{ label, quote string }

// parseRefs reads the sections of one citation from the start of rest and
// returns them with the length of text they span. Letter labels count only
// for jetstream.md.
func parseRefs(rest string, letters bool) ([]citedRef, int) {
	var refs []citedRef
	pos := 0
	for {
		m := refAt.FindStringSubmatchIndex(rest[pos:])
		if m == nil {
			break
		}
		var labels []string
		switch {
		case m[2] >= 0:
			labels = append(labels, rest[pos+m[2]:pos+m[3]])
			if m[4] >= 0 {
				labels = append(labels, rest[pos+m[4]:pos+m[5]])
			}
		case letters:
			labels = append(labels, rest[pos+m[6]:pos+m[7]])
		default:
			return refs, pos
		}
		pos += m[1]
		q := qualAt.FindStringSubmatchIndex(rest[pos:])
		quote := ""
		if q[2] >= 0 {
			quote = lineBreak.ReplaceAllString(rest[pos+q[2]:pos+q[3]], " ")
		}
		pos += q[1]
		for i, l := range labels {
			r := citedRef{label: l}
			if i == len(labels)-1 {
				r.quote = quote
			}
			refs = append(refs, r)
		}
		sep := sepAt.FindStringIndex(rest[pos:])
		if sep == nil || refAt.FindStringIndex(rest[pos+sep[1]:]) == nil {
			break
		}
		pos += sep[1]
	}
	return refs, pos
}

// TestDocsCitations keeps the citations honest: every "docs/<file>.md §n" (or
// "docs/jetstream.md X.n") in a tracked file names a heading that exists in
// that document, and so does every "§n" inside docs/ itself.
func TestDocsCitations(t *testing.T) {
	root := repoRoot(t)
	docs := map[string]map[string]bool{}     // stem → section labels
	bodies := map[string]map[string]string{} // stem → label → text
	entries, err := os.ReadDir(filepath.Join(root, "docs"))
	if err != nil {
		t.Fatalf("docs/: %v", err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".md") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, "docs", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		labels, texts := map[string]bool{}, map[string]string{}
		hs := heading.FindAllStringSubmatchIndex(text, -1)
		for i, h := range hs {
			label, level := text[h[4]:h[5]], h[3]-h[2]
			end := len(text)
			for _, next := range hs[i+1:] {
				if next[3]-next[2] <= level {
					end = next[0]
					break
				}
			}
			labels[label] = true
			texts[label] = text[h[0]:end]
		}
		stem := strings.TrimSuffix(e.Name(), ".md")
		docs[stem], bodies[stem] = labels, texts
	}
	for _, want := range []string{"naga-auth", "naga-wire", "jetstream", "lit-v3", "README"} {
		if _, ok := docs[want]; !ok {
			t.Errorf("docs/%s.md is missing", want)
		}
	}

	checked := 0
	for _, path := range trackedFiles(t, root) {
		text := readText(t, root, path)
		if text == "" {
			continue
		}
		inDocs := strings.HasPrefix(path, "docs/")
		self := ""
		if stem := strings.TrimSuffix(strings.TrimPrefix(path, "docs/"), ".md"); inDocs && numbered(docs[stem]) {
			self = stem // a bare "§n" in a numbered document is one of its own sections
		}
		var covered [][]int
		for _, m := range citeFile.FindAllStringSubmatchIndex(text, -1) {
			prefixed := m[2] >= 0
			stem := text[m[4]:m[5]]
			if !prefixed && (!inDocs || docs[stem] == nil) {
				continue // "README.md", or a file of another project: not a citation of docs/
			}
			refs, n := parseRefs(text[m[1]:], stem == "jetstream")
			covered = append(covered, []int{m[0], m[1] + n})
			checked += checkRefs(t, docs, bodies, path, lineOf(text, m[0]), stem, refs)
		}
		if self == "" {
			continue
		}
		// Inside a numbered document of docs/, a bare "§n" is one of its sections.
		for _, m := range bareAt.FindAllStringIndex(text, -1) {
			if overlaps(covered, m) {
				continue
			}
			refs, n := parseRefs(text[m[0]:], false)
			covered = append(covered, []int{m[0], m[0] + n})
			checked += checkRefs(t, docs, bodies, path, lineOf(text, m[0]), self, refs)
		}
	}
	if checked < 100 {
		t.Errorf("only %d citations found; the scanner no longer sees the code's citations", checked)
	}
}

// TestNoPathsOutsideRepo: whoever clones the repository must be able to follow
// every reference, so nothing may point at the research notes outside it.
func TestNoPathsOutsideRepo(t *testing.T) {
	root := repoRoot(t)
	banned := []string{".." + "/shared", "shared" + "/lit", "jetstream" + "-notes"}
	for _, path := range trackedFiles(t, root) {
		text := readText(t, root, path)
		for _, b := range banned {
			if i := strings.Index(text, b); i >= 0 {
				t.Errorf("%s:%d refers to %q, a path outside the repository; cite docs/ instead", path, lineOf(text, i), b)
			}
		}
	}
}

func checkRefs(t *testing.T, docs map[string]map[string]bool, bodies map[string]map[string]string, path string, line int, stem string, refs []citedRef) int {
	t.Helper()
	labels, ok := docs[stem]
	if !ok {
		t.Errorf("%s:%d cites docs/%s.md, which does not exist", path, line, stem)
		return 1
	}
	for _, r := range refs {
		shown := r.label
		if shown[0] >= '0' && shown[0] <= '9' {
			shown = "§" + shown
		}
		if !labels[r.label] {
			t.Errorf("%s:%d cites docs/%s.md %s, but that document has no heading %q (it has %s)",
				path, line, stem, shown, r.label, strings.Join(sortedKeys(labels), " "))
			continue
		}
		// A name quoted after the section must occur in it.
		if r.quote != "" && !mentions(bodies[stem][r.label], r.quote) {
			t.Errorf("%s:%d cites docs/%s.md %s %q, but that section does not mention it", path, line, stem, shown, r.quote)
		}
	}
	return len(refs)
}

// repoRoot is the module root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found: %v", err)
	}
	return root
}

// trackedFiles lists the files git tracks; without git (a source archive) it
// walks the tree, leaving out hidden directories and node_modules.
func trackedFiles(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		var files []string
		for _, f := range strings.Split(string(out), "\x00") {
			if f != "" {
				files = append(files, f)
			}
		}
		return files
	}
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// readText returns the file's text, or "" for binary or vanished files.
func readText(t *testing.T, root, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(path)))
	if err != nil {
		if os.IsNotExist(err) {
			return "" // deleted in the work tree but still in the index
		}
		t.Fatal(err)
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return ""
	}
	return string(b)
}

// numbered reports whether a document has numbered sections (§n headings).
func numbered(labels map[string]bool) bool {
	for l := range labels {
		if l[0] >= '0' && l[0] <= '9' {
			return true
		}
	}
	return false
}

// mentions reports whether name occurs in body, ignoring case and Markdown
// emphasis and code marks; "…" in name elides text.
func mentions(body, name string) bool {
	plain := strings.ToLower(strings.NewReplacer("`", "", "*", "").Replace(body))
	for _, part := range strings.Split(strings.ToLower(name), "…") {
		if part = strings.TrimSpace(part); part != "" && !strings.Contains(plain, part) {
			return false
		}
	}
	return true
}

func lineOf(text string, off int) int { return strings.Count(text[:off], "\n") + 1 }

func overlaps(spans [][]int, m []int) bool {
	for _, s := range spans {
		if m[0] < s[1] && s[0] < m[1] {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
