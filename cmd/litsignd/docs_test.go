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
// "docs/naga-wire.md §7.5", "docs/naga-auth.md §3.2–3.3, §6",
// "docs/jetstream.md A.4, F". A citation may wrap onto the next comment line.
var (
	// sep is what may stand between a file name and its first section, or
	// between two sections of a list: spaces, a line break, comment markers.
	citeSep  = `[\s/#*]*`
	numRef   = `§\s?\d+(?:\.\d+)*(?:\s?[–-]\s?§?\d+(?:\.\d+)*)?`
	numChain = numRef + `(?:\s*(?:,|\band\b|\bor\b)` + citeSep + numRef + `)*`
	jsRef    = `§?[A-F](?:\.\d+)?\b`
	jsChain  = jsRef + `(?:\s*,` + citeSep + jsRef + `)*`
	// fileCite: group 1 = "docs/" when present, 2 = file stem, 3 = sections.
	fileCite = regexp.MustCompile(`(docs/)?\b([a-z0-9][a-z0-9-]*)\.md\b` + citeSep + `(` + numChain + `|` + jsChain + `)`)
	bareCite = regexp.MustCompile(numChain)
	oneRef   = regexp.MustCompile(`\d+(?:\.\d+)*|[A-F](?:\.\d+)?`)
	heading  = regexp.MustCompile(`(?m)^(#{1,6})\s+(\d+(?:\.\d+)*|[A-Z](?:\.\d+)*)[.\s]`)
	// quoted follows a citation that names a part of its last section:
	// `docs/naga-wire.md §13.4 "pkpSign fake"`, `§7 step 2 "verification equation"`.
	quoted = regexp.MustCompile(`^(?:,? steps? [0-9a-z'–-]+)? "([^"\n]{2,60})"`)
	// lineBreak joins comment lines, so a quoted name may wrap.
	lineBreak = regexp.MustCompile(`\s*\n\s*(?://|#|\*)?\s*`)
)

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
		if inDocs && path != "docs/README.md" {
			self = strings.TrimSuffix(strings.TrimPrefix(path, "docs/"), ".md")
		}
		var covered [][]int
		for _, m := range fileCite.FindAllStringSubmatchIndex(text, -1) {
			covered = append(covered, m[:2])
			prefixed := m[2] >= 0
			stem := text[m[4]:m[5]]
			if !prefixed && (!inDocs || docs[stem] == nil) {
				continue // "README.md §…" or a file of another project, not a citation of docs/
			}
			chain := text[m[6]:m[7]]
			checked += checkRefs(t, docs, path, lineOf(text, m[0]), stem, chain)
			// A quoted name after the citation must occur in the last section cited.
			after := text[m[7]:min(len(text), m[7]+200)]
			if q := quoted.FindStringSubmatch(lineBreak.ReplaceAllString(after, " ")); q != nil && bodies[stem] != nil {
				refs := oneRef.FindAllString(chain, -1)
				last := refs[len(refs)-1]
				if body, ok := bodies[stem][last]; ok && !mentions(body, q[1]) {
					t.Errorf("%s:%d cites docs/%s.md %s %q, but that section does not mention it",
						path, lineOf(text, m[0]), stem, last, q[1])
				}
			}
		}
		if self == "" {
			continue
		}
		for _, m := range bareCite.FindAllStringIndex(text, -1) {
			if overlaps(covered, m) {
				continue
			}
			checked += checkRefs(t, docs, path, lineOf(text, m[0]), self, text[m[0]:m[1]])
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

func checkRefs(t *testing.T, docs map[string]map[string]bool, path string, line int, stem, chain string) int {
	t.Helper()
	labels, ok := docs[stem]
	if !ok {
		t.Errorf("%s:%d cites docs/%s.md, which does not exist", path, line, stem)
		return 1
	}
	n := 0
	for _, ref := range oneRef.FindAllString(chain, -1) {
		n++
		if !labels[ref] {
			shown := ref
			if ref[0] >= '0' && ref[0] <= '9' {
				shown = "§" + ref
			}
			t.Errorf("%s:%d cites docs/%s.md %s, but that document has no heading %q (it has %s)",
				path, line, stem, shown, ref, strings.Join(sortedKeys(labels), " "))
		}
	}
	return n
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

// mentions reports whether name occurs in body, ignoring case and Markdown
// emphasis and code marks.
func mentions(body, name string) bool {
	plain := strings.NewReplacer("`", "", "*", "").Replace(body)
	return strings.Contains(strings.ToLower(plain), strings.ToLower(name))
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
