package bench

import (
	"fmt"
	"slices"
	"strings"
)

// KindGoVariantPrefix starts a variant kind of spectra-server: "go+NAME=value"
// (more settings joined with "+") runs it with those extra environment
// variables, so one run measures settings side by side, e.g.
// go,go+URING=true,go+SNDBUF=64KiB,floor.
const KindGoVariantPrefix = KindGo + "+"

// variantReserved are the variables the bench itself sets for spectra-server;
// a variant may not change them (the flags it passes win anyway). INSECURE
// is not among them: go+INSECURE=false runs the relay with TLS, on a
// self-signed pair the server generates in the step's own folder
// (SERVER_KEY and SERVER_CERT, hence reserved) and the harness trusts.
var variantReserved = []string{"REQUIRE_AUTH_KEY", "BIND", "INGEST_PORT", "OUTPUT_PORT", "EXTRAS_PORT", "ADMIN_BIND", "REPLAY_DIR", "SERVER_KEY", "SERVER_CERT"}

// KindGoTLS is spectra-server with TLS on its ports (INSECURE=false).
const KindGoTLS = KindGoVariantPrefix + "INSECURE=false"

// GoVariantEnv returns the environment entries of a variant kind
// ("go+URING=true+SNDBUF=64KiB" → URING=true, SNDBUF=64KiB), or an error
// when kind is not a well-formed one.
func GoVariantEnv(kind string) ([]string, error) {
	rest, ok := strings.CutPrefix(kind, KindGoVariantPrefix)
	if !ok {
		return nil, fmt.Errorf("%q is not a go+NAME=value kind", kind)
	}
	var env []string
	seen := map[string]bool{}
	for _, kv := range strings.Split(rest, "+") {
		name, value, ok := strings.Cut(kv, "=")
		switch {
		case !ok || value == "":
			return nil, fmt.Errorf("%q: %q is not NAME=value", kind, kv)
		case !envName(name):
			return nil, fmt.Errorf("%q: %q is not an environment variable name (A-Z, 0-9, _)", kind, name)
		case seen[name]:
			return nil, fmt.Errorf("%q: %s given twice", kind, name)
		}
		for _, r := range variantReserved {
			if name == r {
				return nil, fmt.Errorf("%q: %s is set by the bench itself", kind, name)
			}
		}
		if name == "INSECURE" && value != "true" && value != "false" {
			return nil, fmt.Errorf("%q: INSECURE is true or false", kind)
		}
		seen[name] = true
		env = append(env, name+"="+value)
	}
	return env, nil
}

// VariantTLS reports whether a variant kind runs spectra-server with TLS.
func VariantTLS(kind string) bool {
	env, err := GoVariantEnv(kind)
	return err == nil && slices.Contains(env, "INSECURE=false")
}

// IsGoVariant reports whether kind is a well-formed variant kind.
func IsGoVariant(kind string) bool {
	_, err := GoVariantEnv(kind)
	return err == nil
}

// IsGo reports whether kind runs one spectra-server: go or a variant.
func IsGo(kind string) bool { return kind == KindGo || IsGoVariant(kind) }

func envName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// variantMarkdown is the report's section on each variant beside plain go
// and the floor, from the same run.
func variantMarkdown(b *strings.Builder, results []Result) {
	kinds := serverKinds(results, IsGoVariant)
	if len(kinds) == 0 {
		return
	}
	b.WriteString("## spectra-server variants beside go and the floor\n\n")
	b.WriteString("Each variant is spectra-server with extra settings (environment variables), measured in the same run as plain `go` " +
		"and the floor. Cells are variant / go (×: the ratio); \"vs floor\" is the variant's CPU per match_data against the floor's; " +
		"goroutines are the server's go_goroutines (its /metrics) at the end of the window: a count that grows with the overlays " +
		"means a goroutine per connection.\n\n")
	b.WriteString("| variant | step | delivered | p99 ms (Δ) | µs CPU / match_data vs go | vs floor | goroutines |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, k := range kinds {
		floor := map[Step]Comparison{}
		for _, c := range Compare(results, k, KindFloor) {
			floor[c.Step] = c
		}
		for _, c := range Compare(results, k, KindGo) {
			a := c.A
			p99 := ratio(a.LatencyP99ms, c.B.LatencyP99ms, a.Measured() && a.LatencySamples > 0, c.B.Measured() && c.B.LatencySamples > 0).cell(f0, "")
			if c.HasP99Delta {
				p99 += fmt.Sprintf(" (Δ %+.0f)", c.P99Delta)
			}
			vsFloor := dash
			if fc, ok := floor[c.Step]; ok {
				vsFloor = fc.CPUPerMsg.cell(f1, "")
			}
			step := c.Step.String() + c.runsNote()
			if c.HarnessFull {
				step += " ‡"
			}
			gor := ratio(float64(a.ServerGoroutines), float64(c.B.ServerGoroutines), a.ServerGoroutines > 0, c.B.ServerGoroutines > 0).cell(f0, "")
			fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s | %s | %s |\n", k, step, c.Delivered.cell(f1, "%"), p99, c.CPUPerMsg.cell(f1, ""), vsFloor, gor)
		}
	}
	b.WriteString("\n")
}

// goalFloorPlusCPU: spectra-server's CPU per match_data against floor+'s,
// at most, where floor+ delivers (issue 22).
const goalFloorPlusCPU = 1.1

// floorPlusMarkdown puts spectra-server and each variant beside floor+,
// the floor with the relay's own encoder and io_uring batches: how far the
// relay is from the best minimal server.
func floorPlusMarkdown(b *strings.Builder, results []Result) {
	kinds := serverKinds(results, IsGo)
	var rows []Comparison
	for _, k := range kinds {
		rows = append(rows, Compare(results, k, KindFloorPlus)...)
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("## spectra-server beside floor+\n\n")
	fmt.Fprintf(b, "floor+ is the floor with spectra-server's deltaflate for the shared context and io_uring batches for a broadcast's writes: "+
		"the least a relay must do, done with the relay's own best tools. Cells are server / floor+ from the same run; the goal (issue 22) is "+
		"CPU per match_data ≤ ×%.1f floor+'s wherever floor+ delivers ≥ 99.5 %%.\n\n", goalFloorPlusCPU)
	b.WriteString("| server | step | delivered | p99 ms (Δ) | µs CPU / match_data | goal |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, c := range rows {
		a := c.A
		p99 := ratio(a.LatencyP99ms, c.B.LatencyP99ms, a.Measured() && a.LatencySamples > 0, c.B.Measured() && c.B.LatencySamples > 0).cell(f0, "")
		if c.HasP99Delta {
			p99 += fmt.Sprintf(" (Δ %+.0f)", c.P99Delta)
		}
		goal := dash + " (floor+ under 99.5 %)"
		if c.BDeliversAll {
			goal = "met"
			if !c.CPUPerMsg.HasRat || c.CPUPerMsg.R > goalFloorPlusCPU {
				goal = "**missed**"
			}
		}
		step := c.Step.String() + c.runsNote()
		if c.HarnessFull {
			step += " ‡"
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s | %s |\n", a.Server, step, c.Delivered.cell(f1, "%"), p99, c.CPUPerMsg.cell(f1, ""), goal)
	}
	b.WriteString("\n")
}
