package bench

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Step kinds.
const (
	// StepRamp connects the overlays at the ramp rate, then measures.
	StepRamp = ""
	// StepStorm connects every overlay of every match at once, with
	// StormDialers concurrent dialers and no ramp, timing until each has
	// its first match_data; then measures like a ramp step.
	StepStorm = "storm"
)

// String is the step as -steps takes it: 10x2000 or storm:50x10000.
func (s Step) String() string {
	p := fmt.Sprintf("%dx%d", s.Matches, s.Overlays)
	if s.Kind != StepRamp {
		p = s.Kind + ":" + p
	}
	return p
}

// ParseStep parses one [KIND:]MATCHESxOVERLAYS step.
func ParseStep(f string) (Step, error) {
	f = strings.TrimSpace(f)
	var st Step
	if kind, rest, ok := strings.Cut(f, ":"); ok {
		switch kind {
		case "storm":
			st.Kind = StepStorm
		case "ramp":
		default:
			return st, fmt.Errorf("bad step %q: kind must be ramp or storm", f)
		}
		f = rest
	}
	m, n, ok := strings.Cut(f, "x")
	mi, err1 := strconv.Atoi(m)
	ni, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || mi < 1 || ni < mi {
		return st, fmt.Errorf("bad step %q (want [storm:]MATCHESxOVERLAYS with overlays ≥ matches)", f)
	}
	st.Matches, st.Overlays = mi, ni
	return st, nil
}

// ParseSteps turns the command line into steps: the -steps list if given,
// else every match count with every overlay count (-overlays: in total,
// -per-match: per match).
func ParseSteps(steps, matches, overlays, perMatch string) ([]Step, error) {
	var out []Step
	if steps != "" {
		for _, f := range strings.Split(steps, ",") {
			if strings.TrimSpace(f) == "" {
				continue
			}
			st, err := ParseStep(f)
			if err != nil {
				return nil, err
			}
			out = append(out, st)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no steps in %q", steps)
		}
		return out, nil
	}
	ms, err := counts(matches)
	if err != nil {
		return nil, err
	}
	src, mult := overlays, false
	if perMatch != "" {
		src, mult = perMatch, true
	}
	ns, err := counts(src)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		for _, n := range ns {
			if mult {
				n *= m
			}
			if n >= m {
				out = append(out, Step{Matches: m, Overlays: n})
			}
		}
	}
	return out, nil
}

func counts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad count %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// ParseServers parses -servers: a comma-separated list of go, its variants
// go+NAME=value[+NAME=value…], floor, node and clusterN ("both" is the old
// name of go,node).
func ParseServers(s string) ([]string, error) {
	if s == "both" {
		return []string{KindGo, KindNode}, nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == KindGo, f == KindFloor, f == KindFloorPlus, f == KindNode, IsCluster(f):
		case f == "":
			continue
		case strings.HasPrefix(f, KindGoVariantPrefix):
			if _, err := GoVariantEnv(f); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown server %q (want go, go+NAME=value[+NAME=value…], floor, floor+, node or clusterN, N = 1…%d)", f, MaxClusterNodes)
		}
		dup := false
		for _, o := range out {
			dup = dup || o == f
		}
		if !dup {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no servers in %q", s)
	}
	return out, nil
}

// WithCluster adds the kind for an n-node cluster to servers, and the one
// node (go) it is measured against, each unless already there; n = 0 leaves
// servers alone.
func WithCluster(servers []string, n int) ([]string, error) {
	if n == 0 {
		return servers, nil
	}
	if n < 1 || n > MaxClusterNodes {
		return nil, fmt.Errorf("-cluster %d: want 1…%d nodes", n, MaxClusterNodes)
	}
	out := append([]string(nil), servers...)
	if !slices.Contains(out, KindGo) {
		out = append([]string{KindGo}, out...)
	}
	if k := ClusterKind(n); !slices.Contains(out, k) {
		out = append(out, k)
	}
	return out, nil
}
