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
	matches int // 0: all
	pts     []chartPoint
}

// Chart draws delivered % and p99 latency against overlays, one line per
// server (and per match count when the run has several overlay counts for
// one match count), as a standalone SVG.
func Chart(r *Report) string {
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
	find := func(server string, m int) *series {
		for _, s := range ss {
			if s.server == server && s.matches == m {
				return s
			}
		}
		s := &series{server: server, matches: m}
		ss = append(ss, s)
		return s
	}
	for _, x := range r.Results {
		m := 0
		if byMatches {
			m = x.Matches
		}
		s := find(x.Server, m)
		s.pts = append(s.pts, chartPoint{x: slices.Index(xs, x.Overlays), matches: x.Matches, res: x})
	}
	for _, s := range ss {
		slices.SortFunc(s.pts, func(a, b chartPoint) int { return a.x - b.x })
	}
	slices.SortFunc(ss, func(a, b *series) int {
		if a.server != b.server {
			return strings.Compare(a.server, b.server)
		}
		return a.matches - b.matches
	})

	const (
		W                 = 1100
		bottom            = 70
		panelW, gap, left = 440, 110, 80
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
	H := top + 354 + bottom
	plotH := float64(H - top - bottom)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Arial, sans-serif">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="%d" y="28" font-size="20" font-weight="bold">spectra-bench — %s on %s (%d CPUs)</text>`+"\n", left, esc(r.Date), esc(r.Host), r.CPUs)

	colors := map[string]string{KindGo: "#1565c0", KindNode: "#e65100"}
	dashes := []string{"", "8 4", "2 4", "12 4 2 4"}
	var matchesList []int
	for m := range perMatches {
		matchesList = append(matchesList, m)
	}
	slices.Sort(matchesList)
	dashFor := func(m int) string {
		if m == 0 {
			return ""
		}
		return dashes[slices.Index(matchesList, m)%len(dashes)]
	}
	seriesName := seriesLabel
	// Legend.
	lx, ly := left, 56
	for _, s := range ss {
		c := colors[s.server]
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3" stroke-dasharray="%s"/>`, lx, ly, lx+34, ly, c, dashFor(s.matches))
		fmt.Fprintf(&b, `<circle cx="%d" cy="%d" r="4" fill="%s"/>`, lx+17, ly, c)
		name := seriesName(s)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="14" dominant-baseline="middle">%s</text>`+"\n", lx+42, ly, esc(name))
		lx += 60 + 8*len(name)
		if lx > W-250 {
			lx, ly = left, ly+20
		}
	}

	xpos := func(px0 int, i int) float64 {
		if len(xs) == 1 {
			return float64(px0) + panelW/2
		}
		return float64(px0) + 30 + float64(i)*float64(panelW-60)/float64(len(xs)-1)
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

	// Panel 1: delivered %, linear 0–110.
	p1 := left
	yDel := func(v float64) float64 {
		v = math.Max(0, math.Min(v, 110))
		return float64(top) + plotH*(1-v/110)
	}
	axes(&b, p1, top, panelW, int(plotH), "delivered match_data (% of expected)")
	for _, t := range []float64{0, 25, 50, 75, 100} {
		y := yDel(t)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`, p1, y, p1+panelW, y, gridColor(t == 100))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="13" text-anchor="end" dominant-baseline="middle">%.0f%%</text>`+"\n", p1-6, y, t)
	}
	// Panel 2: p99 latency, log scale.
	p2 := left + panelW + gap
	lo, hi := 10.0, 10000.0
	for _, x := range r.Results {
		if x.LatencySamples > 0 {
			hi = math.Max(hi, math.Pow(10, math.Ceil(math.Log10(x.LatencyP99ms))))
			lo = math.Min(lo, math.Pow(10, math.Floor(math.Log10(math.Max(x.LatencyP99ms, 1)))))
		}
	}
	yLat := func(v float64) float64 {
		v = math.Max(lo, math.Min(v, hi))
		return float64(top) + plotH*(1-(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo)))
	}
	axes(&b, p2, top, panelW, int(plotH), "p99 ingest→overlay latency (ms, log scale)")
	for t := lo; t <= hi*1.001; t *= 10 {
		y := yLat(t)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`, p2, y, p2+panelW, y, gridColor(false))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="13" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", p2-6, y, msLabel(t))
	}
	// The 100 ms goal.
	if lo < 100 && hi > 100 {
		y := yLat(100)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#2e7d32" stroke-width="1.5" stroke-dasharray="6 3"/>`, p2, y, p2+panelW, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="12" fill="#2e7d32" text-anchor="end">goal ≤ 100 ms</text>`+"\n", p2+panelW-6, y+36)
	}
	for _, px := range []int{p1, p2} {
		for i := range xs {
			x := xpos(px, i)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#555"/>`, x, top+int(plotH), x, top+int(plotH)+5)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="13" text-anchor="middle">%d</text>`+"\n", x, top+int(plotH)+20, xs[i])
			if sub := xSub(i); sub != "" {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="12" fill="#555" text-anchor="middle">%s</text>`+"\n", x, top+int(plotH)+36, esc(sub))
			}
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="14" text-anchor="middle">overlays (all matches)</text>`+"\n", px+panelW/2, H-12)
	}

	// Series. At each overlay count the highest point's label goes above
	// it, the others' below, so that close values stay legible.
	topDel := map[int]float64{}
	topLat := map[int]float64{}
	for _, s := range ss {
		for _, p := range s.pts {
			if p.res.WindowSeconds > 0 {
				topDel[p.x] = math.Max(topDel[p.x], p.res.DeliveredPct)
				if p.res.LatencySamples > 0 {
					topLat[p.x] = math.Max(topLat[p.x], p.res.LatencyP99ms)
				}
			}
		}
	}
	place := func(v, top float64) float64 {
		if v >= top {
			return -9
		}
		return 19
	}
	var labels []chartLabel
	for _, s := range ss {
		c := colors[s.server]
		if c == "" {
			c = "#444"
		}
		var del, lat []string
		for _, p := range s.pts {
			measured := p.res.WindowSeconds > 0
			// The rightmost labels go to the left of their points.
			lx, anchor := 7.0, "start"
			if p.x == len(xs)-1 && len(xs) > 1 {
				lx, anchor = -7, "end"
			}
			x1 := xpos(p1, p.x)
			x2 := xpos(p2, p.x)
			if !measured {
				// Failed or skipped: a cross on the zero line.
				y := yDel(0)
				fmt.Fprintf(&b, `<path d="M%.1f %.1fl8 8m0 -8l-8 8" transform="translate(-4 -4)" stroke="%s" stroke-width="2.5"/>`, x1, y, c)
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="%s" text-anchor="middle">%s</text>`+"\n", x1, y-10, c, "failed")
				continue
			}
			y := yDel(p.res.DeliveredPct)
			del = append(del, fmt.Sprintf("%.1f,%.1f", x1, y))
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="5" fill="%s"/>`, x1, y, c)
			labels = append(labels, chartLabel{panel: 1, x: p.x, px: x1 + lx, y: y + place(p.res.DeliveredPct, topDel[p.x]),
				text: fmt.Sprintf("%.0f%%", p.res.DeliveredPct), color: c, anchor: anchor})
			if p.res.LatencySamples > 0 {
				yl := yLat(p.res.LatencyP99ms)
				lat = append(lat, fmt.Sprintf("%.1f,%.1f", x2, yl))
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="5" fill="%s"/>`, x2, yl, c)
				labels = append(labels, chartLabel{panel: 2, x: p.x, px: x2 + lx, y: yl + place(p.res.LatencyP99ms, topLat[p.x]),
					text: msLabel(p.res.LatencyP99ms), color: c, anchor: anchor})
			}
		}
		for _, pl := range [][]string{del, lat} {
			if len(pl) > 1 {
				fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2.5" stroke-dasharray="%s"/>`+"\n", strings.Join(pl, " "), c, dashFor(s.matches))
			}
		}
	}
	drawLabels(&b, labels)
	b.WriteString("</svg>\n")
	return b.String()
}

func seriesLabel(s *series) string {
	name := map[string]string{KindGo: "Go spectra-server", KindNode: "Node socket.io baseline"}[s.server]
	if name == "" {
		name = s.server
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
		for moved := true; moved; {
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
