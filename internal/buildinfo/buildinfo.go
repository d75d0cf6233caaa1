// Package buildinfo describes the running binary: the fields of the
// litsignd_build_info metric (version, Go version, VCS revision), read
// from runtime/debug.ReadBuildInfo, and printed by --version.
package buildinfo

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Info is what a binary knows about its build.
type Info struct {
	Version   string // -ldflags "-X main.version=…", else the module version, else "dev"
	GoVersion string // the toolchain that built the binary
	Revision  string // VCS revision, "unknown" when built without VCS stamping
	Time      string // VCS commit time, "" if unknown
	Modified  bool   // the work tree had uncommitted changes
}

// Read returns the build information; version is the value set at link
// time ("" or "dev" when none was).
func Read(version string) Info {
	i := Info{Version: version, GoVersion: runtime.Version(), Revision: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if (i.Version == "" || i.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			i.GoVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				i.Revision = s.Value
			case "vcs.time":
				i.Time = s.Value
			case "vcs.modified":
				i.Modified = s.Value == "true"
			}
		}
	}
	if i.Version == "" {
		i.Version = "dev"
	}
	return i
}

// LabelNames are the labels of the build-info metric, in the order of
// LabelValues.
func LabelNames() []string { return []string{"version", "goversion", "revision"} }

// LabelValues are the metric's label values.
func (i Info) LabelValues() []string {
	rev := i.Revision
	if i.Modified {
		rev += "-modified"
	}
	return []string{i.Version, i.GoVersion, rev}
}

// Print writes the --version text of program prog: its version on the
// first line, then each field.
func (i Info) Print(w io.Writer, prog string) {
	fmt.Fprintf(w, "%s %s\n", prog, i.Version)
	fmt.Fprintf(w, "  go version:  %s\n", i.GoVersion)
	rev := i.Revision
	if i.Modified {
		rev += " (modified work tree)"
	}
	if i.Revision == "unknown" {
		rev += " (built without VCS information)"
	}
	fmt.Fprintf(w, "  revision:    %s\n", rev)
	if i.Time != "" {
		fmt.Fprintf(w, "  commit time: %s\n", i.Time)
	}
}
