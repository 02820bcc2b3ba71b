package main

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// updateEnvExample rewrites .env.example from the settings table:
// go test ./cmd/spectra-server -run TestEnvExample -update-env-example
var updateEnvExample = flag.Bool("update-env-example", false, "rewrite .env.example from the settings table")

// repoFile is a file of the repository, found from this package's folder.
func repoFile(name string) string { return filepath.Join("..", "..", name) }

// readmeRow is one row of the README's Configuration table.
type readmeRow struct{ flag, env, def string }

// readmeSettings parses the README's Configuration table: the rows that
// start with a flag in backquotes.
func readmeSettings(t *testing.T) []readmeRow {
	t.Helper()
	f, err := os.Open(repoFile("README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []readmeRow
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "| `-") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 5 {
			t.Errorf("README row with too few cells: %s", line)
			continue
		}
		unquote := func(s string) string {
			s = strings.TrimSpace(s)
			if strings.HasPrefix(s, "`") {
				if end := strings.Index(s[1:], "`"); end >= 0 {
					return s[1 : 1+end]
				}
			}
			return s
		}
		def := unquote(cells[3])
		if def == `""` {
			def = ""
		}
		rows = append(rows, readmeRow{
			flag: strings.TrimPrefix(unquote(cells[1]), "-"),
			env:  unquote(cells[2]),
			def:  def,
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestReadmeTableMatchesSettings keeps the README's Configuration table and
// `spectra-server -h` (the settings table) the same list: every setting a
// row, in the same order, with the same variable and default.
func TestReadmeTableMatchesSettings(t *testing.T) {
	rows := readmeSettings(t)
	if len(rows) != len(settings) {
		t.Errorf("README lists %d settings, -h %d", len(rows), len(settings))
	}
	for i := 0; i < len(rows) && i < len(settings); i++ {
		r, s := rows[i], settings[i]
		if r.flag != s.flag || r.env != s.env || r.def != s.def {
			t.Errorf("README row %d is -%s %s default %q; -h has -%s %s default %q", i+1, r.flag, r.env, r.def, s.flag, s.env, s.def)
		}
	}
}

// envExample is the text of .env.example: every setting, commented out at
// its default, with its meaning above it.
func envExample() string {
	var b strings.Builder
	b.WriteString("# Every setting of spectra-server, at its default (commented out).\n")
	b.WriteString("# Copy this file to .env beside the binary and uncomment what you change;\n")
	b.WriteString("# flags win over the environment, the environment wins over .env.\n")
	b.WriteString("# Generated from the settings table: go test ./cmd/spectra-server -run TestEnvExample -update-env-example\n")
	for _, s := range settings {
		b.WriteString("\n# ")
		b.WriteString(s.meaning)
		b.WriteString("\n# ")
		b.WriteString(s.env)
		b.WriteString("=")
		if strings.ContainsAny(s.def, " #\"'") {
			b.WriteString(`"` + s.def + `"`)
		} else {
			b.WriteString(s.def)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestEnvExample keeps .env.example listing every setting with its
// default and meaning.
func TestEnvExample(t *testing.T) {
	want := envExample()
	path := repoFile(".env.example")
	if *updateEnvExample {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (make it with -update-env-example)", err)
	}
	if string(got) != want {
		t.Errorf(".env.example differs from the settings table; rewrite it: go test ./cmd/spectra-server -run TestEnvExample -update-env-example")
	}
	// Uncommented, the file reads back as every setting at its default.
	var uncommented strings.Builder
	for _, line := range strings.Split(want, "\n") {
		for _, s := range settings {
			if strings.HasPrefix(line, "# "+s.env+"=") {
				uncommented.WriteString(strings.TrimPrefix(line, "# ") + "\n")
			}
		}
	}
	vals := parseDotEnv(uncommented.String())
	for _, s := range settings {
		v, ok := vals[s.env]
		if !ok || v != s.def {
			t.Errorf(".env.example: %s reads back as %q (present %v), default %q", s.env, v, ok, s.def)
		}
	}
}
