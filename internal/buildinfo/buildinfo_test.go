package buildinfo

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	if i := Read("v1.2.3"); i.Version != "v1.2.3" || i.GoVersion != runtime.Version() || i.Revision == "" {
		t.Errorf("Read(v1.2.3) = %+v", i)
	}
	if i := Read(""); i.Version == "" {
		t.Error("Read(\"\") has no version")
	}
}

// The metric's labels and --version print the same fields.
func TestLabelsAndPrint(t *testing.T) {
	i := Info{Version: "v1.2.3", GoVersion: "go1.26.8", Revision: "abc123", Modified: true, Time: "2026-12-06T00:00:00Z"}
	names, values := LabelNames(), i.LabelValues()
	if strings.Join(names, ",") != "version,goversion,revision" || strings.Join(values, ",") != "v1.2.3,go1.26.8,abc123-modified" {
		t.Errorf("labels %v = %v", names, values)
	}
	var b bytes.Buffer
	i.Print(&b, "litsignd")
	for _, want := range []string{"litsignd v1.2.3\n", "go version:  go1.26.8", "revision:    abc123 (modified work tree)", "commit time: 2026-12-06T00:00:00Z"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("--version output lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	Info{Version: "dev", GoVersion: "go1.26.8", Revision: "unknown"}.Print(&b, "litsign")
	if !strings.Contains(b.String(), "built without VCS information") {
		t.Errorf("an unstamped build does not say so:\n%s", b.String())
	}
}
