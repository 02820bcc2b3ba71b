package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"spectra-relay/bench"
)

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		err     string // part of plan's error; "" for none
		servers []string
		steps   []bench.Step
		caps    []int
		outDir  string
	}{
		{name: "defaults", servers: []string{"go", "floor"}, steps: []bench.Step{{Matches: 10, Overlays: 1000}},
			outDir: filepath.Join("bench", "out")},
		{name: "bench-goals", args: []string{"-servers", "go,go+INSECURE=false,go+URING=false,floor,floor+", "-steps", "10x2000,50x5000,storm:50x10000",
			"-duration", "20s", "-runs", "3", "-update-results"},
			servers: []string{"go", "go+INSECURE=false", "go+URING=false", "floor", "floor+"},
			steps:   []bench.Step{{Matches: 10, Overlays: 2000}, {Matches: 50, Overlays: 5000}, {Kind: bench.StepStorm, Matches: 50, Overlays: 10000}},
			outDir:  filepath.Join("bench", "results")},
		{name: "capacity alone runs no steps", args: []string{"-capacity", "10,50"}, servers: []string{"go", "floor"}, caps: []int{10, 50},
			outDir: filepath.Join("bench", "out")},
		{name: "capacity with steps", args: []string{"-capacity", "10", "-steps", "1x100", "-out", "x"}, servers: []string{"go", "floor"},
			steps: []bench.Step{{Matches: 1, Overlays: 100}}, caps: []int{10}, outDir: "x"},
		{name: "cluster adds go", args: []string{"-servers", "floor", "-cluster", "3"}, servers: []string{"go", "floor", "cluster3"},
			steps: []bench.Step{{Matches: 10, Overlays: 1000}}, outDir: filepath.Join("bench", "out")},
		{name: "bad server", args: []string{"-servers", "gopher"}, err: "-servers"},
		{name: "bad capacity", args: []string{"-capacity", "ten"}, err: "bad match count"},
		{name: "capacity without go or floor", args: []string{"-servers", "node", "-capacity", "10"}, err: "has neither"},
		{name: "bad resolution", args: []string{"-capacity", "10", "-capacity-resolution", "150%"}, err: "-capacity-resolution"},
		{name: "bad growth", args: []string{"-capacity", "10", "-capacity-growth", "1"}, err: "-capacity-growth"},
		{name: "no runs", args: []string{"-runs", "0"}, err: "-runs"},
		{name: "polling share", args: []string{"-polling", "2"}, err: "-polling"},
		{name: "sample share", args: []string{"-sample", "-0.1"}, err: "-sample"},
		{name: "no window", args: []string{"-duration", "0s"}, err: "-duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(tc.args)
			if err != nil {
				t.Fatalf("parseFlags: %v", err)
			}
			err = plan(o, "root")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("plan error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cfg := o.cfg
			if !slices.Equal(cfg.Servers, tc.servers) || !slices.Equal(cfg.Steps, tc.steps) || !slices.Equal(cfg.Capacity, tc.caps) || o.outDir != tc.outDir {
				t.Errorf("servers %v, steps %v, capacity %v, out %s; want %v, %v, %v, %s", cfg.Servers, cfg.Steps, cfg.Capacity, o.outDir,
					tc.servers, tc.steps, tc.caps, tc.outDir)
			}
			if cfg.WorkDir != "root" || cfg.BaselineDir != filepath.Join("root", "bench", "baseline") || cfg.MaxServerRSS != 4096<<20 {
				t.Errorf("work dir %s, baseline %s, max RSS %d", cfg.WorkDir, cfg.BaselineDir, cfg.MaxServerRSS)
			}
		})
	}
}

func TestParseFlagsRejects(t *testing.T) {
	if _, err := parseFlags([]string{"-no-such-flag"}); err == nil {
		t.Error("an unknown flag was accepted")
	}
	if _, err := parseFlags([]string{"-runs", "three"}); err == nil {
		t.Error("-runs three was accepted")
	}
}

func TestCapacityMax(t *testing.T) {
	for _, tc := range []struct {
		ports int
		limit uint64
		want  int
	}{
		{0, 0, 40000},           // nothing known: the cap
		{28232, 1 << 20, 26232}, // Linux's default port range
		{60000, 20000, 15904},   // the file limit bounds it
		{1500, 0, 1000},         // never under 1 000
		{0, 1 << 30, 40000},
	} {
		if got := capacityMax(tc.ports, tc.limit); got != tc.want {
			t.Errorf("capacityMax(%d, %d) = %d, want %d", tc.ports, tc.limit, got, tc.want)
		}
	}
}

func TestReportBase(t *testing.T) {
	start := time.Date(2026, 12, 6, 8, 5, 0, 0, time.UTC)
	for _, tc := range []struct {
		taken []string
		want  string
	}{
		{nil, filepath.Join("out", "2026-12-06-0805-vm")},
		{[]string{filepath.Join("out", "2026-12-06-0805-vm.json")}, filepath.Join("out", "2026-12-06-0805-vm-2")},
		{[]string{filepath.Join("out", "2026-12-06-0805-vm.json"), filepath.Join("out", "2026-12-06-0805-vm-2.json")}, filepath.Join("out", "2026-12-06-0805-vm-3")},
	} {
		got := reportBase("out", start, "vm", func(p string) bool { return slices.Contains(tc.taken, p) })
		if got != tc.want {
			t.Errorf("with %v taken: %s, want %s", tc.taken, got, tc.want)
		}
	}
}

func TestParseShare(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		err  bool
	}{
		{"10%", 0.1, false}, {"0.25", 0.25, false}, {" 5% ", 0.05, false},
		{"100%", 0, true}, {"-1%", 0, true}, {"ten", 0, true},
	} {
		got, err := parseShare(tc.in)
		if (err != nil) != tc.err || !tc.err && got != tc.want {
			t.Errorf("parseShare(%q) = %v, %v", tc.in, got, err)
		}
	}
}
