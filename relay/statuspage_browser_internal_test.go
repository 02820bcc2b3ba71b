package relay

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"spectra-relay/internal/testenv"
	"spectra-relay/relay/replayfile"

	"spectra-relay/relay/operator"
)

// chromiumPath finds a Chromium binary on PATH; missing, the test fails
// under CI=true (scripts/ensure-chromium.sh installs it there) and skips
// elsewhere.
func chromiumPath(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("chromium-browser"); err == nil {
		return p
	}
	return testenv.NeedTool(t, "chromium")
}

// runChromium runs headless Chromium with args and returns its stdout.
func runChromium(t testing.TB, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("chromium timed out; stderr: %s", lastBytes(stderr.String(), 2000))
	}
	if err != nil {
		t.Fatalf("chromium %v: %v; stderr: %s", args, err, lastBytes(stderr.String(), 2000))
	}
	return string(out)
}

var (
	tagRE   = regexp.MustCompile(`(?s)<script.*?</script>|<style.*?</style>|<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// visibleText is the text of a DOM dump with tags, scripts and styles
// removed and white space collapsed.
func visibleText(dom string) string {
	return strings.TrimSpace(spaceRE.ReplaceAllString(html.UnescapeString(tagRE.ReplaceAllString(dom, " ")), " "))
}

// TestStatusPageInBrowser loads the status page in headless Chromium while
// a match is being replayed and checks what an operator reads: the match's
// group code, team names and tricodes, score, round, observer, overlays
// and aux clients, and the hint for overlays waiting on a code with no
// match. The page fills itself from /status/matches with JavaScript; the
// HTML served has none of this text.
func TestStatusPageInBrowser(t *testing.T) {
	bin := chromiumPath(t)
	ts := newTServer(t, nil)
	r := loadReplay(t, "short_3rounds")
	obs, _ := logonObserver(t, ts, r.logon("LIVE42", tKey, tVersion))
	sendObs(t, obs, r, "LIVE42", untilRound(3))
	// A second match whose team name is markup: the page must show it as
	// text, not run it.
	evil := r.logon("XSS001", tKey, tVersion)
	var team map[string]any
	mustUnmarshalT(t, evil.LeftTeam, &team)
	team["name"] = `<img src=x onerror="document.title='pwned'">Evil`
	evil.LeftTeam = mustMarshal(t, team)
	logonObserver(t, ts, evil)
	auxes := logonAuxClients(t, ts, r, 2)
	for i := 0; i < 3; i++ {
		overlay(t, ts, "LIVE42")
	}
	for i := 0; i < 2; i++ {
		overlay(t, ts, "TYPO42")
	}
	var doc operator.StatusDoc
	_, body := httpGet(t, ts.admin+"/status/matches")
	mustUnmarshalT(t, []byte(body), &doc)
	if len(doc.Matches) != 2 || doc.Matches[0].GroupCode != "LIVE42" {
		t.Fatalf("status has matches %+v", doc.Matches)
	}
	m := doc.Matches[0]

	// Keep the replay going while the browser looks: round 3 up to its
	// score, at a live pace, so rounds and phases move but the score does not.
	replaying := make(chan struct{})
	go func() {
		defer close(replaying)
		started := false
		for i := range r.events {
			e := &r.events[i]
			round, phase, ok := e.RoundInfo()
			started = started || ok && round == 3 && phase == "shopping"
			if !started || e.Kind() != replayfile.KindObserver {
				continue
			}
			if e.Type == "score" || ok && phase == "end" {
				return
			}
			p, err := e.Payload("LIVE42")
			if err != nil || obs.Emit("obs_data", string(p)) != nil {
				return
			}
			time.Sleep(5 * time.Millisecond) // pacing of a live game, not synchronisation
		}
	}()
	t.Cleanup(func() { <-replaying })

	page := ts.admin + "/"
	if _, body := httpGet(t, page); strings.Contains(body, "LIVE42") {
		t.Fatal("the served HTML already holds match data: the test would not exercise the page's script")
	}
	// One browser run dumps the DOM and takes a screenshot for people
	// checking the layout (kept with STATUS_SCREENSHOT_DIR=<dir>).
	shot := filepath.Join(t.TempDir(), "status.png")
	dom := runChromium(t, bin, "--virtual-time-budget=5000", "--window-size=1280,800", "--hide-scrollbars",
		"--screenshot="+shot, "--dump-dom", page)
	text := visibleText(dom)
	t.Logf("page text: %s", text)

	var lt, rt struct{ Name, Tricode string }
	mustUnmarshalT(t, r.header.LeftTeam, &lt)
	mustUnmarshalT(t, r.header.RightTeam, &rt)
	score := strconv.FormatFloat(m.Teams[0].RoundsWon, 'f', -1, 64) + " : " + strconv.FormatFloat(m.Teams[1].RoundsWon, 'f', -1, 64)
	if !regexp.MustCompile(`Round (2 · end|3 · (shopping|combat))`).MatchString(text) {
		t.Error("page shows no round 2 end or round 3 shopping/combat")
	}
	want := []string{
		"LIVE42", lt.Name, rt.Name, lt.Tricode, rt.Tricode, score,
		"Observer connected",
		"Overlays watching 3",
		"Aux clients (" + strconv.Itoa(len(auxes)) + ")",
		"live matches 2",
		`<img src=x onerror="document.title='pwned'">Evil`,
		// The waiting hint.
		"2 overlays are waiting for a group code with no live match",
		"TYPO42 2 overlays waiting (no match with this code is live)",
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	// As text the name's "<" is escaped in the dump; as markup its onerror
	// would have renamed the document.
	if !strings.Contains(dom, "&lt;img src=x onerror=") || strings.Contains(dom, "pwned</title>") {
		t.Error("a team name was inserted as markup")
	}
	if !strings.Contains(dom, `id="waiting-hint"`) {
		t.Error("no waiting hint block")
	}
	if strings.Contains(text, "Cannot reach the relay") && !strings.Contains(dom, `id="error" class="banner error" hidden`) {
		t.Error("page shows the connection error")
	}
	st, err := os.Stat(shot)
	if err != nil || st.Size() < 10<<10 {
		t.Fatalf("screenshot %s: %v (%v bytes)", shot, err, st)
	}
	if dir := os.Getenv("STATUS_SCREENSHOT_DIR"); dir != "" {
		b, _ := os.ReadFile(shot)
		_ = os.WriteFile(filepath.Join(dir, "status.png"), b, 0o644)
	}
}

func mustUnmarshalT(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %.200s", err, b)
	}
}

func lastBytes(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// TestStatusPageWaitingCapInBrowser: past the cap the waiting hint lists
// the codes with the most overlays and a line counting the rest, and its
// total counts every waiting overlay.
func TestStatusPageWaitingCapInBrowser(t *testing.T) {
	bin := chromiumPath(t)
	ts := newTServer(t, func(c *Config) { c.waitingShown = 2 })
	for code, n := range map[string]int{"TYPO01": 3, "TYPO02": 2, "TYPO03": 1, "TYPO04": 1} {
		for range n {
			overlay(t, ts, code)
		}
	}
	var doc operator.StatusDoc
	_, body := httpGet(t, ts.admin+"/status/matches")
	mustUnmarshalT(t, []byte(body), &doc)
	if len(doc.Waiting) != 2 || doc.WaitingMore != 2 || doc.WaitingMoreOverlays != 2 {
		t.Fatalf("waiting %+v, more %d with %d overlays", doc.Waiting, doc.WaitingMore, doc.WaitingMoreOverlays)
	}
	text := visibleText(runChromium(t, bin, "--virtual-time-budget=5000", "--dump-dom", ts.admin+"/"))
	t.Logf("page text: %s", text)
	for _, w := range []string{
		"7 overlays are waiting for a group code with no live match",
		"TYPO01 3 overlays waiting",
		"TYPO02 2 overlays waiting",
		"and 2 more group codes with 2 overlays (the list shows the 2 with the most overlays)",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	for _, w := range []string{"TYPO03", "TYPO04"} {
		if strings.Contains(text, w) {
			t.Errorf("page lists %s, beyond the cap", w)
		}
	}
}
