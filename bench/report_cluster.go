package bench

import (
	"fmt"
	"slices"
	"strings"
)

// RedisCost is what a cluster costs over one node at one step: the extra
// p99 latency and CPU per delivered match_data when most match_data cross
// Redis, and the part of that CPU redis-server itself burns.
type RedisCost struct {
	Step Step
	// P99Delta: cluster p99 − one node's p99 (all probes), in ms.
	P99Delta    float64
	HasP99Delta bool
	// CrossDelta: p99 of the probes on the other nodes − p99 of those on
	// node 0 in the same cluster run: the latency of the hop through Redis
	// itself, free of the run-to-run noise of two separate steps.
	CrossDelta    float64
	HasCrossDelta bool
	// CPUDeltaUs: cluster − one node, µs of CPU per delivered match_data;
	// CPURatio the same as a ratio.
	CPUDeltaUs float64
	CPURatio   float64
	HasCPU     bool
	RedisUs    float64 // redis-server's µs per delivered match_data
	RedisCores float64
}

// ClusterCost computes RedisCost from a comparison of a cluster kind (A)
// with the one node (B) at the same step.
func ClusterCost(c Comparison) RedisCost {
	a, b := c.A, c.B
	rc := RedisCost{Step: c.Step}
	if !a.Measured() {
		return rc
	}
	rc.P99Delta, rc.HasP99Delta = c.P99Delta, c.HasP99Delta
	if a.LocalSamples > 0 && a.RemoteSamples > 0 {
		rc.CrossDelta, rc.HasCrossDelta = a.RemoteP99ms-a.LocalP99ms, true
	}
	if c.CPUPerMsg.HasRat {
		rc.CPUDeltaUs, rc.CPURatio, rc.HasCPU = a.ServerCPUPerMsgUs-b.ServerCPUPerMsgUs, c.CPUPerMsg.R, true
	}
	rc.RedisUs, rc.RedisCores = a.RedisCPUPerMsgUs, a.RedisCores
	return rc
}

// Sentence states the cost in words, for the report.
func (rc RedisCost) Sentence() string {
	var parts []string
	if rc.HasCrossDelta {
		parts = append(parts, fmt.Sprintf("p99 %+.0f ms through Redis (other nodes' probes against node 0's)", rc.CrossDelta))
	}
	if rc.HasP99Delta {
		parts = append(parts, fmt.Sprintf("p99 %+.0f ms against one node", rc.P99Delta))
	}
	if rc.HasCPU {
		parts = append(parts, fmt.Sprintf("CPU %+.1f µs per delivered match_data against one node (×%.2f)", rc.CPUDeltaUs, rc.CPURatio))
	}
	parts = append(parts, fmt.Sprintf("redis-server itself %.1f µs per delivered match_data (%.2f cores)", rc.RedisUs, rc.RedisCores))
	return fmt.Sprintf("%s: %s.", rc.Step, strings.Join(parts, "; "))
}

// serverKinds lists the server kinds among the results that keep accepts,
// each once, in order of first appearance.
func serverKinds(results []Result, keep func(kind string) bool) []string {
	var out []string
	for _, x := range results {
		if keep(x.Server) && !slices.Contains(out, x.Server) {
			out = append(out, x.Server)
		}
	}
	return out
}

// clusterMarkdown is the report's section on each cluster kind beside one
// node.
func clusterMarkdown(b *strings.Builder, results []Result) {
	for _, k := range serverKinds(results, IsCluster) {
		cs := Compare(results, k, KindGo)
		if len(cs) == 0 {
			continue
		}
		n, _ := ClusterNodes(k)
		fmt.Fprintf(b, "## %s: %d nodes on Redis beside one node\n\n", k, n)
		fmt.Fprintf(b, "Each cell is %s / go (one node) from the same run, same load. The cluster's figures sum its %d "+
			"spectra-server nodes and redis-server (all on the server CPUs); the observers are on node 0, the overlays "+
			"and probes round-robin over the nodes, so %d of %d of them get their match_data through Redis. "+
			"**p99 via Redis** compares the probes on the other nodes with those on node 0 in the same cluster run.\n\n", k, n, n-1, n)
		b.WriteString("| step | delivered | p99 ms (Δ) | p99 ms node 0 / other nodes (Δ via Redis) | µs CPU / match_data (Δ) | redis-server cores, µs / match_data |\n")
		b.WriteString("|---|---|---|---|---|---|\n")
		var costs []string
		for _, c := range cs {
			rc := ClusterCost(c)
			a := c.A
			la, lb := a.Measured() && a.LatencySamples > 0, c.B.Measured() && c.B.LatencySamples > 0
			p99 := ratio(a.LatencyP99ms, c.B.LatencyP99ms, la, lb).cell(f0, "")
			if rc.HasP99Delta {
				p99 += fmt.Sprintf(" (Δ %+.0f)", rc.P99Delta)
			}
			cross := dash
			if rc.HasCrossDelta {
				cross = fmt.Sprintf("%.0f / %.0f (Δ %+.0f)", a.LocalP99ms, a.RemoteP99ms, rc.CrossDelta)
			}
			cpu := c.CPUPerMsg.cell(f1, "")
			if rc.HasCPU {
				cpu += fmt.Sprintf(" (Δ %+.1f)", rc.CPUDeltaUs)
			}
			red := dash
			if a.Measured() {
				red = fmt.Sprintf("%.2f, %.1f", a.RedisCores, a.RedisCPUPerMsgUs)
			}
			step := c.Step.String()
			if c.HarnessFull {
				step += " ‡"
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", step, c.Delivered.cell(f1, "%"), p99, cross, cpu, red)
			if a.Measured() {
				costs = append(costs, "- "+rc.Sentence())
			}
		}
		if len(costs) > 0 {
			b.WriteString("\n**Cost of a message crossing Redis** (" + k + " against one node):\n\n" + strings.Join(costs, "\n") + "\n")
		}
		b.WriteString("\n")
	}
}
