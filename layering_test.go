// Package layering_test checks that the module's packages import only
// downward: internal is the ground floor, engineio stands on it, socketio
// on engineio, relay on socketio, and the commands and the bench on top.
// It reads the import lists from `go list`, so a new package or import is
// checked without editing this file unless it opens a new floor.
package layering_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "spectra-relay"

// rule says what the packages under a path of the module may import of the
// module. The longest path holding the package decides: a path holds its
// package and everything below it, "" holds everything (only in allow),
// "." is the module's root package.
type rule struct {
	from  string
	allow []string
}

// rules is the layering. Test files may also import the fuzz corpora.
var rules = []rule{
	// Ground floor: helpers of this module, nothing above them.
	{from: "internal", allow: []string{"internal"}},
	{from: "fuzz", allow: nil},
	{from: "engineio", allow: []string{"engineio", "internal"}},
	{from: "socketio", allow: []string{"socketio", "engineio", "internal"}},
	{from: "relay", allow: []string{"relay", "socketio", "engineio", "internal"}},
	// The relay's own floors: the match state and the replay format stand
	// on internal alone; the replay player on them and the clients.
	{from: "relay/match", allow: []string{"relay/match", "internal"}},
	{from: "relay/replayfile", allow: []string{"relay/replayfile", "internal"}},
	// The relay's parts around its root import the root never (that
	// would be a cycle anyway) and each other only downward: the HTTP
	// surfaces, the replay log and the Redis side of the cluster.
	{from: "relay/extras", allow: []string{"relay/match", "socketio", "internal"}},
	{from: "relay/operator", allow: []string{"relay/extras", "socketio", "engineio", "internal"}},
	{from: "relay/replaylog", allow: []string{"relay/match", "relay/replayfile", "internal"}},
	{from: "relay/cluster", allow: []string{"internal"}},
	{from: "relay/replayplayer", allow: []string{"relay/replayplayer", "relay/replayfile", "socketio/sioclient", "socketio/siopacket", "engineio/eioclient", "engineio/eiopacket", "internal"}},
	// The module's root holds only this test.
	{from: ".", allow: nil},
	// The commands and the bench sit on top and may use everything.
	{from: "cmd", allow: []string{""}},
	{from: "bench", allow: []string{""}},
}

// under reports whether pkg (module-relative) is path or below it.
func under(pkg, path string) bool {
	return path == "" || pkg == path || strings.HasPrefix(pkg, path+"/")
}

// ruleFor returns the rule with the longest path holding pkg.
func ruleFor(pkg string) (rule, bool) {
	best, found := rule{}, false
	for _, r := range rules {
		if under(pkg, r.from) && (!found || len(r.from) > len(best.from)) {
			best, found = r, true
		}
	}
	return best, found
}

type listed struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// violations lists each import of the module that its package's rule does
// not allow, as "from -> to", and each package no rule covers.
func violations(pkgs []listed) []string {
	var bad []string
	local := func(p string) (string, bool) {
		if p == module {
			return ".", true
		}
		rest, ok := strings.CutPrefix(p, module+"/")
		return rest, ok
	}
	for _, p := range pkgs {
		from, ok := local(p.ImportPath)
		if !ok {
			continue
		}
		r, ok := ruleFor(from)
		if !ok {
			bad = append(bad, from+": no layering rule")
			continue
		}
		check := func(imports []string, test bool) {
			for _, imp := range imports {
				to, ok := local(imp)
				if !ok || under(to, from) {
					continue
				}
				if test && under(to, "fuzz") {
					continue
				}
				if !slices.ContainsFunc(r.allow, func(a string) bool { return under(to, a) }) {
					bad = append(bad, from+" -> "+to)
				}
			}
		}
		check(p.Imports, false)
		check(p.TestImports, true)
		check(p.XTestImports, true)
	}
	slices.Sort(bad)
	return slices.Compact(bad)
}

func goList(t *testing.T) []listed {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to read the import graph: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-json=ImportPath,Imports,TestImports,XTestImports", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []listed
	dec := json.NewDecoder(bytes.NewReader(out))
	for range 10000 {
		var p listed
		if err := dec.Decode(&p); err != nil {
			if errors.Is(err, io.EOF) {
				return pkgs
			}
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	t.Fatal("go list listed more than 10000 packages")
	return nil
}

func TestLayeringNoUpwardImport(t *testing.T) {
	pkgs := goList(t)
	// The floors this test names must exist, or it checks nothing.
	seen := map[string]bool{}
	for _, p := range pkgs {
		seen[p.ImportPath] = true
	}
	for _, want := range []string{"internal/jsontext", "engineio", "socketio", "relay", "relay/replayplayer", "relay/replaylog", "relay/extras", "relay/operator", "cmd/spectra-server"} {
		if !seen[module+"/"+want] {
			t.Errorf("go list does not show %s/%s", module, want)
		}
	}
	if bad := violations(pkgs); len(bad) > 0 {
		t.Errorf("imports against the layering:\n  %s", strings.Join(bad, "\n  "))
	}
}

// TestLayeringCatchesUpwardImport feeds the checker made-up packages so a
// broken checker cannot let the real graph pass.
func TestLayeringCatchesUpwardImport(t *testing.T) {
	m := func(s string) string { return module + "/" + s }
	cases := []struct {
		name string
		pkg  listed
		want []string
	}{
		{"internal to relay", listed{ImportPath: m("internal/x"), Imports: []string{m("relay/replayfile")}}, []string{"internal/x -> relay/replayfile"}},
		{"internal to socketio client", listed{ImportPath: m("internal/x"), Imports: []string{m("socketio/sioclient")}}, []string{"internal/x -> socketio/sioclient"}},
		{"engineio to socketio", listed{ImportPath: m("engineio"), Imports: []string{m("socketio")}}, []string{"engineio -> socketio"}},
		{"socketio to relay in a test", listed{ImportPath: m("socketio"), XTestImports: []string{m("relay")}}, []string{"socketio -> relay"}},
		{"match to relay root", listed{ImportPath: m("relay/match"), Imports: []string{m("relay")}}, []string{"relay/match -> relay"}},
		{"operator to the relay root", listed{ImportPath: m("relay/operator"), Imports: []string{m("relay")}}, []string{"relay/operator -> relay"}},
		{"extras to operator", listed{ImportPath: m("relay/extras"), Imports: []string{m("relay/operator")}}, []string{"relay/extras -> relay/operator"}},
		{"replay log to the cluster", listed{ImportPath: m("relay/replaylog"), Imports: []string{m("relay/cluster")}}, []string{"relay/replaylog -> relay/cluster"}},
		{"relay to cmd", listed{ImportPath: m("relay"), Imports: []string{m("cmd/spectra-server")}}, []string{"relay -> cmd/spectra-server"}},
		{"unknown floor", listed{ImportPath: m("newfloor")}, []string{"newfloor: no layering rule"}},
		{"downward is fine", listed{ImportPath: m("relay"), Imports: []string{m("socketio"), m("engineio"), m("internal/jsontext"), m("relay/match"), "fmt"}}, nil},
		{"own sub-package is fine", listed{ImportPath: m("engineio"), Imports: []string{m("engineio/eiopacket")}}, nil},
		{"fuzz corpora in a test", listed{ImportPath: m("engineio"), TestImports: []string{m("fuzz")}}, nil},
		{"fuzz corpora in code", listed{ImportPath: m("engineio"), Imports: []string{m("fuzz")}}, []string{"engineio -> fuzz"}},
		{"cmd uses everything", listed{ImportPath: m("cmd/spectra-server"), Imports: []string{m("relay"), m("internal/connlimit")}}, nil},
		{"other modules ignored", listed{ImportPath: "example.com/x", Imports: []string{m("relay")}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := violations([]listed{c.pkg})
			if !slices.Equal(got, c.want) {
				t.Errorf("violations = %q, want %q", got, c.want)
			}
		})
	}
}
