package bench

import (
	"fmt"
	"time"
)

// How long a run of steps takes, before it starts. The model is fitted to
// one measurement, make bench-quick on the quiet 2-core dev VM
// (2026-12-06): 15 step runs of storm:10x2000 with 8 s windows took
// 2 min 57 s, 11.8 s each: the window, the settle pause, about 1 s to
// start a server and its observers and to stop them, and the storm's
// connections at about 2 500 per second. A ramp step connects at -ramp.
// Since then the window's end waits edgeDrain (1 s) for the last sends.
// Large storms and TLS handshakes may connect slower than that; the
// estimate is a guide, the progress lines say how it goes.
const (
	estimateStepFixed = time.Second // server start, observers, teardown
	estimateStormRate = 2500.0      // overlays per second in a storm
)

// estimateStepRun is one step run's expected wall-clock time.
func estimateStepRun(cfg *Config, st Step) time.Duration {
	connect := float64(st.Overlays) / max(cfg.RampRate, 1)
	if st.Kind == StepStorm {
		connect = float64(st.Overlays) / estimateStormRate
	}
	return cfg.Duration + cfg.Settle + estimateStepFixed + edgeDrain + time.Duration(connect*float64(time.Second))
}

// StepRuns is how many step runs Run makes: every step, every server
// (with go-unpinned), -runs times.
func StepRuns(cfg *Config) int {
	return len(cfg.Steps) * len(stepServers(cfg)) * max(cfg.Runs, 1)
}

// EstimateSteps is the expected wall-clock time of Run (the steps, not the
// capacity searches: see CapacityPlanText), -stop-after-fail aside.
func EstimateSteps(cfg *Config) time.Duration {
	var d time.Duration
	for _, st := range cfg.Steps {
		d += estimateStepRun(cfg, st) * time.Duration(len(stepServers(cfg))*max(cfg.Runs, 1))
	}
	return d
}

// progressNote is the tail of a step run's progress line: how many of all
// are done, the time so far and what is left at the pace so far.
func progressNote(done, total int, elapsed time.Duration) string {
	note := fmt.Sprintf("step run %d/%d, %s", done, total, elapsed.Round(time.Second))
	if done > 0 && done < total {
		left := time.Duration(float64(elapsed) / float64(done) * float64(total-done))
		note += fmt.Sprintf(", ~%s left", left.Round(time.Second))
	}
	return note
}
