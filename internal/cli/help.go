package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"golang.org/x/term"
)

// Section groups flags under a title in the help; Names lists its flags.
type Section struct {
	Title string
	Names []string
}

// helpWidth is the width the help text is wrapped to.
const helpWidth = 100

// PrintFlags writes fs's flags to w, sorted by name: first those in no
// section under "Flags:", then each section's. Every flag shows a
// placeholder for its value (its type, never a backquoted word of the
// usage text), its usage, its default, and its environment variable
// (envPrefix, see EnvName) unless envPrefix is "".
func PrintFlags(w io.Writer, fs *flag.FlagSet, envPrefix string, sections ...Section) {
	inSection := map[string]bool{}
	for _, s := range sections {
		for _, n := range s.Names {
			inSection[n] = true
		}
	}
	var rest []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if !inSection[f.Name] {
			rest = append(rest, f)
		}
	})
	first := true
	block := func(title string, flags []*flag.Flag) {
		if len(flags) == 0 {
			return
		}
		if !first {
			fmt.Fprintln(w)
		}
		first = false
		fmt.Fprintln(w, title)
		for _, f := range flags {
			printFlag(w, f, envPrefix)
		}
	}
	block("Flags:", rest)
	for _, s := range sections {
		var flags []*flag.Flag
		for _, n := range s.Names {
			if f := fs.Lookup(n); f != nil {
				flags = append(flags, f)
			}
		}
		sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
		block(s.Title, flags)
	}
}

// printFlag writes one flag: "  --name placeholder" and, indented below,
// the usage wrapped to helpWidth with its default and environment variable.
func printFlag(w io.Writer, f *flag.Flag, envPrefix string) {
	head := "  --" + f.Name
	if p := Placeholder(f); p != "" {
		head += " " + p
	}
	// Backquotes in the usage are quotes for the reader, not placeholders.
	text := strings.ReplaceAll(f.Usage, "`", "'")
	if !isZero(f) {
		def := f.DefValue
		if Placeholder(f) == "string" {
			def = fmt.Sprintf("%q", def)
		}
		text += " (default " + def + ")"
	}
	if envPrefix != "" {
		text += " [$" + EnvName(envPrefix, f.Name) + "]"
	}
	const indent = "      "
	fmt.Fprintln(w, head)
	for _, line := range wrap(text, helpWidth-len(indent)) {
		fmt.Fprintln(w, indent+line)
	}
}

// Placeholder is the word that stands for f's value in the help: its type
// (string, int, duration, …), "" for a boolean.
func Placeholder(f *flag.Flag) string {
	if p, ok := f.Value.(interface{ Placeholder() string }); ok {
		return p.Placeholder()
	}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return ""
	}
	// UnquoteUsage names the type; strip backquotes so that it cannot pick
	// a quoted word of the usage instead.
	g := *f
	g.Usage = strings.ReplaceAll(f.Usage, "`", "")
	name, _ := flag.UnquoteUsage(&g)
	switch name {
	case "uint", "int", "uint64", "int64":
		return "int"
	case "float64":
		return "number"
	}
	return name
}

func isZero(f *flag.Flag) bool {
	switch f.DefValue {
	case "", "0", "false", "0s":
		return true
	}
	return false
}

// wrap splits text into lines of at most width characters at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) > width:
			lines = append(lines, line)
			line = word
		default:
			line += " " + word
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// IsTerminal reports whether w is a terminal (for progress bars and
// pretty-printed output).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
