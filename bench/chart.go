package bench

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

type chartPoint struct {
	x       int // index into the overlay counts
	matches int
	res     Result
}

type series struct {
	server  string
	kind    string // step kind: storm steps are their own line
	matches int    // 0: all
	pts     []chartPoint
}

// chartPanel is one plot of the chart: a figure of each result against
// overlays.
type chartPanel struct {
	title     string
	value     func(Result) (float64, bool) // false: no point
	log       bool
	lo, hi    float64 // the y range; log panels widen it to their data
	ticks     []float64
	tickLabel func(float64) string
	label     func(float64) string // a point's value label
	refs      []chartRef
	crosses   bool // failed steps get a cross on the bottom line
	x, y      int  // top-left corner
}

// chartRef is a horizontal reference line with its note.
type chartRef struct {
	v     float64
	text  string
	color string
}

var serverColors = map[string]string{KindGo: "#1565c0", KindGoUnpinned: "#64b5f6", KindFloor: "#2e7d32", KindFloorPlus: "#81c784", KindNode: "#e65100"}

// Chart draws, against overlays, one line per server (and per step kind,
// and per match count when the run has several overlay counts for one match
// count): delivered %, p99 latency with the 100 ms send-interval floor,
// server CPU per delivered match_data and RSS per overlay, as a standalone
// SVG.
func Chart(r *Report) string {
	// A step run several times (-runs) is drawn as its medians.
	merged := *r
	merged.Results = Merged(r.Results)
	r = &merged
	var xs []int
	perMatches := map[int]map[int]bool{}
	for _, x := range r.Results {
		if !slices.Contains(xs, x.Overlays) {
			xs = append(xs, x.Overlays)
		}
		if perMatches[x.Matches] == nil {
			perMatches[x.Matches] = map[int]bool{}
		}
		perMatches[x.Matches][x.Overlays] = true
	}
	slices.Sort(xs)
	byMatches := false
	for _, set := range perMatches {
		if len(set) > 1 {
			byMatches = true
		}
	}
	var ss []*series
	find := func(server, kind string, m int) *series {
		for _, s := range ss {
			if s.server == server && s.kind == kind && s.matches == m {
				return s
			}
		}
		s := &series{server: server, kind: kind, matches: m}
		ss = append(ss, s)
		return s
	}
	for _, x := range r.Results {
		m := 0
		if byMatches {
			m = x.Matches
		}
		s := find(x.Server, x.Kind, m)
		s.pts = append(s.pts, chartPoint{x: slices.Index(xs, x.Overlays), matches: x.Matches, res: x})
	}
	for _, s := range ss {
		slices.SortFunc(s.pts, func(a, b chartPoint) int { return a.x - b.x })
	}
	serverOrder := func(k string) int {
		switch k {
		case KindGo:
			return 0
		case KindGoUnpinned:
			return 1
		case KindFloor:
			return 2
		case KindFloorPlus:
			return 3
		case KindNode:
			return 4
		}
		return 5
	}
	slices.SortFunc(ss, func(a, b *series) int {
		if a.server != b.server {
			if d := serverOrder(a.server) - serverOrder(b.server); d != 0 {
				return d
			}
			return strings.Compare(a.server, b.server)
		}
		if a.kind != b.kind {
			return strings.Compare(a.kind, b.kind)
		}
		return a.matches - b.matches
	})

	const (
		W                 = 1100
		panelW, gap, left = 440, 110, 80
		plotH             = 280
		rowGap            = 110 // x labels of one row, title of the next
		bottom            = 60
		notes             = 3 // footnote lines
	)
	// The legend's rows decide where the panels start.
	legendRows, rowX := 1, left
	for _, s := range ss {
		rowX += 60 + 8*len(seriesLabel(s))
		if rowX > W-250 {
			rowX, legendRows = left, legendRows+1
		}
	}
	if rowX == left && legendRows > 1 {
		legendRows--
	}
	top := 56 + 20*legendRows + 36
	H := top + 2*plotH + rowGap + bottom + 18*notes + 16
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Arial, sans-serif">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	pin := ""
	if r.ServerCPUs != "" || r.HarnessCPUs != "" {
		pin = fmt.Sprintf(", server on CPU %s, harness on CPU %s", orAll(r.ServerCPUs), orAll(r.HarnessCPUs))
	}
	fmt.Fprintf(&b, `<text x="%d" y="28" font-size="20" font-weight="bold">spectra-bench — %s on %s (%d CPUs%s)</text>`+"\n", left, esc(r.Date), esc(r.Host), r.CPUs, esc(pin))

	dashes := []string{"", "8 4", "2 4", "12 4 2 4"}
	var matchesList []int
	for m := range perMatches {
		matchesList = append(matchesList, m)
	}
	slices.Sort(matchesList)
	dashFor := func(s *series) string {
		i := 0
		if s.matches != 0 {
			i = slices.Index(matchesList, s.matches)
		}
		if s.kind == StepStorm {
			i += 1
		}
		return dashes[i%len(dashes)]
	}
	colorOf := func(server string) string {
		if c := serverColors[server]; c != "" {
			return c
		}
		if IsCluster(server) {
			return "#6a1b9a"
		}
		return "#444"
	}
	// Legend.
	lx, ly := left, 56
	for _, s := range ss {
		c := colorOf(s.server)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3" stroke-dasharray="%s"/>`, lx, ly, lx+34, ly, c, dashFor(s))
		fmt.Fprintf(&b, `<circle cx="%d" cy="%d" r="4" %s/>`, lx+17, ly, markerStyle(s, c))
		name := seriesLabel(s)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="14" dominant-baseline="middle">%s</text>`+"\n", lx+42, ly, esc(name))
		lx += 60 + 8*len(name)
		if lx > W-250 {
			lx, ly = left, ly+20
		}
	}

	// xSub is a second label line: with one step per overlay count, how
	// many matches it has.
	xSub := func(i int) string {
		if byMatches {
			return ""
		}
		for _, x := range r.Results {
			if x.Overlays == xs[i] {
				if x.Matches == 1 {
					return "1 match"
				}
				return fmt.Sprintf("%d matches", x.Matches)
			}
		}
		return ""
	}

	row2 := top + plotH + rowGap
	panels := []*chartPanel{
		{
			title: "delivered match_data (% of expected)", x: left, y: top,
			value: func(x Result) (float64, bool) { return x.DeliveredPct, x.Measured() },
			lo:    0, hi: 110, ticks: []float64{0, 25, 50, 75, 100},
			tickLabel: func(v float64) string { return fmt.Sprintf("%.0f%%", v) },
			label:     func(v float64) string { return fmt.Sprintf("%.1f%%", v) },
			refs:      []chartRef{{MinDeliveredPct, "ok ≥ 99.5 %", "#9e9e9e"}},
			crosses:   true,
		},
		{
			title: "p99 ingest→overlay latency (ms, log scale)", x: left + panelW + gap, y: top,
			value: func(x Result) (float64, bool) { return x.LatencyP99ms, x.Measured() && x.LatencySamples > 0 },
			log:   true, lo: 10, hi: 10000,
			tickLabel: msLabel, label: msLabel,
			refs: []chartRef{{SendIntervalMs, "100 ms send interval (floor)", "#c62828"}},
		},
		{
			title: "server CPU per delivered match_data (µs)", x: left, y: row2,
			value: func(x Result) (float64, bool) {
				return x.ServerCPUPerMsgUs, x.Measured() && x.ServerCPUPerMsgUs > 0
			},
			tickLabel: func(v float64) string { return trimFloat(v) },
			label:     func(v float64) string { return fmt.Sprintf("%.1f", v) },
		},
		{
			title: "server RSS per connected overlay (KiB)", x: left + panelW + gap, y: row2,
			value: func(x Result) (float64, bool) {
				return x.RSSPerConnKiB, x.Measured() && x.Connected > 0
			},
			tickLabel: func(v float64) string { return trimFloat(v) },
			label:     func(v float64) string { return fmt.Sprintf("%.1f", v) },
		},
	}
	var labels []chartLabel
	for pi, p := range panels {
		// The y range: log panels widen to their data, linear ones without a
		// fixed range start at 0 and end at a round number above the data.
		var vals []float64
		for _, x := range r.Results {
			if v, ok := p.value(x); ok {
				vals = append(vals, v)
			}
		}
		if !p.log && p.hi == 0 && len(vals) > 1 {
			// Figures an order of magnitude apart (the Node baseline beside
			// the Go servers) go on a log scale, or the small ones are flat.
			lo, hi := slices.Min(vals), slices.Max(vals)
			if lo > 0 && hi/lo > 10 {
				p.log, p.title = true, p.title+", log scale"
				p.lo, p.hi = math.Pow(10, math.Floor(math.Log10(lo))), 1
			}
		}
		switch {
		case p.log:
			for _, v := range vals {
				p.hi = math.Max(p.hi, math.Pow(10, math.Ceil(math.Log10(math.Max(v, 1)))))
				p.lo = math.Min(p.lo, math.Pow(10, math.Floor(math.Log10(math.Max(v, 1)))))
			}
			for t := p.lo; t <= p.hi*1.001; t *= 10 {
				p.ticks = append(p.ticks, t)
			}
		case p.hi == 0:
			top := 0.0
			for _, v := range vals {
				top = math.Max(top, v)
			}
			p.hi = niceCeil(top * 1.1)
			for i := range 5 {
				p.ticks = append(p.ticks, p.hi*float64(i)/4)
			}
			p.hi *= 1.05
		}
		yOf := func(v float64) float64 {
			if p.log {
				v = math.Max(p.lo, math.Min(v, p.hi))
				return float64(p.y) + plotH*(1-(math.Log10(v)-math.Log10(p.lo))/(math.Log10(p.hi)-math.Log10(p.lo)))
			}
			v = math.Max(p.lo, math.Min(v, p.hi))
			return float64(p.y) + plotH*(1-(v-p.lo)/(p.hi-p.lo))
		}
		xOf := func(i int) float64 {
			if len(xs) == 1 {
				return float64(p.x) + panelW/2
			}
			return float64(p.x) + 50 + float64(i)*float64(panelW-100)/float64(len(xs)-1)
		}
		axes(&b, p.x, p.y, panelW, plotH, p.title)
		for _, t := range p.ticks {
			y := yOf(t)
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`, p.x, y, p.x+panelW, y, gridColor(false))
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="13" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", p.x-6, y, p.tickLabel(t))
		}
		for _, ref := range p.refs {
			if ref.v <= p.lo || ref.v >= p.hi {
				continue
			}
			y := yOf(ref.v)
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="1.5" stroke-dasharray="6 3"/>`, p.x, y, p.x+panelW, y, ref.color)
			// Above the line, where the points are not: mid-panel when they
			// sit at the sides, at the left when they sit in the middle.
			tx, anchor := p.x+panelW/2, "middle"
			if len(xs) == 1 {
				tx, anchor = p.x+8, "start"
			}
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="12" fill="%s" text-anchor="%s">%s</text>`+"\n", tx, y-5, ref.color, anchor, esc(ref.text))
		}
		for i := range xs {
			x := xOf(i)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#555"/>`, x, p.y+plotH, x, p.y+plotH+5)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="13" text-anchor="middle">%d</text>`+"\n", x, p.y+plotH+20, xs[i])
			if sub := xSub(i); sub != "" {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="12" fill="#555" text-anchor="middle">%s</text>`+"\n", x, p.y+plotH+36, esc(sub))
			}
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="14" text-anchor="middle">overlays (all matches)</text>`+"\n", p.x+panelW/2, p.y+plotH+54)

		// At each overlay count the highest point's label goes above it,
		// the others' below, so that close values stay legible.
		topAt := map[int]float64{}
		for _, s := range ss {
			for _, pt := range s.pts {
				if v, ok := p.value(pt.res); ok {
					topAt[pt.x] = math.Max(topAt[pt.x], v)
				}
			}
		}
		// The series with a point at each overlay count, in order: they are
		// drawn side by side around it, so that points of equal value stay
		// apart.
		group := map[int][]*series{}
		for _, s := range ss {
			for _, pt := range s.pts {
				group[pt.x] = append(group[pt.x], s)
			}
		}
		for _, s := range ss {
			c := colorOf(s.server)
			var line []string
			for _, pt := range s.pts {
				const step = 14.0
				n, rank := len(group[pt.x]), slices.Index(group[pt.x], s)
				half := float64(n-1) / 2 * step
				shift := float64(rank)*step - half
				x := xOf(pt.x) + shift
				// Labels beside the group, not between its points: the left
				// half's to the left, the right half's to the right (at the
				// rightmost count all to the left, inside the panel).
				lx, anchor := half-shift+7, "start"
				if float64(rank) < float64(n-1)/2 || pt.x == len(xs)-1 && len(xs) > 1 {
					lx, anchor = -half-shift-7, "end"
				}
				v, ok := p.value(pt.res)
				if !ok {
					if p.crosses && !pt.res.Measured() {
						// Failed, aborted or skipped: a cross on the bottom line.
						y := yOf(p.lo)
						fmt.Fprintf(&b, `<path d="M%.1f %.1fl8 8m0 -8l-8 8" transform="translate(-4 -4)" stroke="%s" stroke-width="2.5"/>`, x, y, c)
						fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="%s" text-anchor="middle">%s</text>`+"\n", x, y-10, c, "failed")
					}
					continue
				}
				y := yOf(v)
				line = append(line, fmt.Sprintf("%.1f,%.1f", x, y))
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="5" %s/>`, x, y, markerStyle(s, c))
				dy := 19.0
				if v >= topAt[pt.x] || y+dy > float64(p.y+plotH-4) {
					dy = -9
				}
				labels = append(labels, chartLabel{panel: pi, x: pt.x, px: x + lx, y: y + dy, text: p.label(v), color: c, anchor: anchor})
			}
			if len(line) > 1 {
				fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2.5" stroke-dasharray="%s"/>`+"\n", strings.Join(line, " "), c, dashFor(s))
			}
		}
	}
	drawLabels(&b, labels)
	noteY := row2 + plotH + 80
	for i, line := range []string{
		"Red dashed line: the 100 ms send interval. A server sends each match's state at most every 100 ms, so a change waits up to",
		"100 ms for the next send; a p99 near 100 ms is the floor any server has, and what tells servers apart is the distance above it.",
		"CPU per match_data: server CPU time in the window / match_data delivered. RSS per overlay: RSS growth from before the overlays connected.",
	} {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" fill="#333">%s</text>`+"\n", left, noteY+18*i, esc(line))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// markerStyle: storm steps get hollow points.
func markerStyle(s *series, color string) string {
	if s.kind == StepStorm {
		return fmt.Sprintf(`fill="white" stroke="%s" stroke-width="2.5"`, color)
	}
	return fmt.Sprintf(`fill="%s"`, color)
}

func orAll(list string) string {
	if list == "" {
		return "any"
	}
	return list
}

// niceCeil is the smallest 1, 2 or 5 × 10^k at or above v (1 for v ≤ 0).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

func trimFloat(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func seriesLabel(s *series) string {
	name := map[string]string{KindGo: "Go spectra-server", KindGoUnpinned: "Go spectra-server unpinned", KindFloor: "floor server", KindFloorPlus: "floor+ (deltaflate, io_uring)", KindNode: "Node socket.io baseline"}[s.server]
	if name == "" {
		name = s.server
	}
	if s.kind == StepStorm {
		name += ", storm"
	}
	if s.matches > 0 {
		name += fmt.Sprintf(", %d match", s.matches)
		if s.matches != 1 {
			name += "es"
		}
	}
	return name
}

// chartLabel is a value label, drawn after every line so it stays on top.
type chartLabel struct {
	panel, x    int
	px, y       float64
	text, color string
	anchor      string
}

// drawLabels writes the labels, leaving out a repeat of the same text and
// colour at the same point and moving a label down past the ones already
// placed there, so that close values stay legible.
func drawLabels(b *strings.Builder, labels []chartLabel) {
	type at struct{ panel, x int }
	placed := map[at][]chartLabel{}
	for _, l := range labels {
		k := at{l.panel, l.x}
		dup := false
		for _, o := range placed[k] {
			if o.text == l.text && o.color == l.color {
				dup = true
			}
		}
		if dup {
			continue
		}
		// At most one pass per placed label: a y so large that adding 14
		// does not change it (a value that blew up) must not spin for ever.
		for moved, pass := true, 0; moved && pass <= len(placed[k]); pass++ {
			moved = false
			for _, o := range placed[k] {
				if math.Abs(o.y-l.y) < 14 {
					l.y = o.y + 14
					moved = true
				}
			}
		}
		placed[k] = append(placed[k], l)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="13" font-weight="bold" fill="%s" text-anchor="%s">%s</text>`+"\n", l.px, l.y, l.color, l.anchor, esc(l.text))
	}
}

func axes(b *strings.Builder, x, y, w, h int, title string) {
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#fafafa" stroke="#999"/>`+"\n", x, y, w, h)
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="15" font-weight="bold">%s</text>`+"\n", x, y-10, esc(title))
}

func gridColor(strong bool) string {
	if strong {
		return "#9e9e9e"
	}
	return "#e0e0e0"
}

func msLabel(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.0f s", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.1f s", v/1000)
	}
	return fmt.Sprintf("%.0f ms", v)
}

func esc(s string) string { return html.EscapeString(s) }
