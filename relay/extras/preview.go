package extras

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"spectra-relay/internal/jsontext"
	"spectra-relay/relay/match"
	"spectra-relay/socketio"
)

// maxPreviews bounds the store: previews need no live match, only a key,
// which may not be required at all.
const maxPreviews = 10000

// memoryPreviews is one node's preview store.
type memoryPreviews struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]previewEntry
}

type previewEntry struct {
	doc     []byte
	expires time.Time
}

// NewMemoryPreviews is a store in this process's memory, each preview
// kept for ttl, at most maxPreviews of them.
func NewMemoryPreviews(ttl time.Duration) Previews {
	return &memoryPreviews{ttl: ttl, m: make(map[string]previewEntry)}
}

// Put stores a preview for ttl; storing a code again restarts its time.
func (ps *memoryPreviews) Put(code string, doc []byte) bool {
	now := time.Now()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if _, exists := ps.m[code]; !exists && len(ps.m) >= maxPreviews {
		for k, e := range ps.m {
			if now.After(e.expires) {
				delete(ps.m, k)
			}
		}
		if len(ps.m) >= maxPreviews {
			return false
		}
	}
	ps.m[code] = previewEntry{doc: doc, expires: now.Add(ps.ttl)}
	return true
}

// Get returns a preview stored less than ttl ago.
func (ps *memoryPreviews) Get(code string) ([]byte, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	e, ok := ps.m[code]
	if !ok {
		return nil, false
	}
	if time.Now().After(e.expires) {
		delete(ps.m, code)
		return nil, false
	}
	return e.doc, true
}

// previewCodeAlphabet leaves out I and O, as the existing server does.
const previewCodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"

func newPreviewCode() string {
	var b [6]byte
	for i := range b {
		b[i] = previewCodeAlphabet[rand.IntN(len(previewCodeAlphabet))]
	}
	return string(b[:])
}

// buildPreview renders the existing server's PreviewMatch for a
// createPreview body: fixed demo players around the two teams and the
// tools. Errors are where that server's constructor throws.
func buildPreview(body []jsontext.Member) ([]byte, error) {
	left, _ := jsontext.Find(body, "leftTeam")
	right, _ := jsontext.Find(body, "rightTeam")
	lt, err := previewTeam(left, leftPreviewPlayers)
	if err != nil {
		return nil, err
	}
	rt, err := previewTeam(right, rightPreviewPlayers)
	if err != nil {
		return nil, err
	}
	td, _ := jsontext.Find(body, "toolsData")
	tools, err := previewTools(td)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 4096)
	b = append(b, `{"groupCode":"PREVIEW","isRunning":true,"map":"Sunset","ranksEnabled":false,"roundNumber":1,`+
		`"roundPhase":"combat","spikeState":{"planted":false,"defused":false,"detonated":false},"switchRound":6,"teams":[`...)
	b = append(b, lt...)
	b = append(b, ',')
	b = append(b, rt...)
	b = append(b, `],"timeoutState":{"leftTeam":false,"rightTeam":false,"techPause":false,"timeRemaining":0},"tools":`...)
	b = append(b, tools...)
	return append(b, '}'), nil
}

var (
	leftPreviewPlayers  = [5][2]string{{"Voodoo One", "Vampire"}, {"Twoperator", "Killjoy"}, {"ThreeOfLife", "Guide"}, {"FourceField", "Stealth"}, {"FIVEbyFIVE", "Smonk"}}
	rightPreviewPlayers = [5][2]string{{"AlpacaHoarder", "Grenadier"}, {"BeeSting", "Terra"}, {"CowTipper", "Sprinter"}, {"DodoDaniel", "BountyHunter"}, {"Eeliminator", "Mage"}}
)

func previewTeam(raw json.RawMessage, players [5][2]string) ([]byte, error) {
	if len(raw) == 0 || string(raw) == "null" {
		what := "undefined"
		if len(raw) > 0 {
			what = "null"
		}
		return nil, errors.New("Cannot read properties of " + what + " (reading 'name')")
	}
	var team []jsontext.Member
	if raw[0] == '{' {
		var err error
		if team, err = jsontext.Members(raw); err != nil {
			return nil, err
		}
	}
	b := []byte{'{'}
	comma := false
	field := func(key, from string) {
		v, ok := jsontext.Find(team, from)
		if !ok {
			return
		}
		if comma {
			b = append(b, ',')
		}
		comma = true
		b = append(b, '"')
		b = append(b, key...)
		b = append(b, '"', ':')
		b = jsontext.Compact(b, v)
	}
	field("teamName", "name")
	field("teamTricode", "tricode")
	field("teamUrl", "url")
	field("isAttacking", "attackStart")
	if comma {
		b = append(b, ',')
	}
	b = append(b, `"roundsWon":0,"spentThisRound":10350,"roundRecord":[],"players":[`...)
	for i, p := range players {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPreviewPlayer(b, p[0], p[1])
	}
	return append(b, `],"hasDuplicateAgents":false}`...), nil
}

func appendPreviewPlayer(b []byte, name, agent string) []byte {
	num := func(key string, n int) {
		b = append(b, `,"`...)
		b = append(b, key...)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, int64(n), 10)
	}
	between := func(lo, hi int) int { return lo + rand.IntN(hi-lo+1) }
	b = append(b, `{"name":`...)
	b = socketio.AppendString(b, name)
	b = append(b, `,"agentInternal":`...)
	b = socketio.AppendString(b, agent)
	b = append(b, `,"isAlive":true,"hasSpike":false,"isObserved":false,"health":100,"abilities":{"ability1":1,"ability2":1,"grenade":0}`...)
	num("kills", between(0, 20))
	num("deaths", between(0, 20))
	num("assists", between(0, 20))
	ult := between(2, 8)
	num("currUltPoints", ult)
	num("maxUltPoints", 8)
	b = append(b, `,"ultReady":`...)
	b = strconv.AppendBool(b, ult >= 8)
	num("money", between(0, 9)*1000)
	num("moneySpent", between(0, 2)*1000)
	return append(b, `,"armorName":"None","highestWeapon":"Ghost","scoreboardAvailable":false,`+
		`"auxiliaryAvailable":{"abilities":true,"health":true,"scoreboard":false},"iconNameSuffix":""}`...)
}

// previewTools is `new ToolsData(toolsData)`: the defaults, the sent
// members assigned over them, both timeout counters reset to the maximum.
// The playercams secret and end time are left out, as from match_data.
func previewTools(raw json.RawMessage) ([]byte, error) {
	tools := []jsontext.Member{
		{Key: "seriesInfo", Val: json.RawMessage(`{"needed":1,"wonLeft":0,"wonRight":0,"mapInfo":[]}`)},
		{Key: "seedingInfo", Val: json.RawMessage(`{"left":"","right":""}`)},
		{Key: "tournamentInfo", Val: json.RawMessage(`{"name":"","logoUrl":"","backdropUrl":""}`)},
		{Key: "timeoutDuration", Val: json.RawMessage(`60`)},
		{Key: "timeoutCounter", Val: json.RawMessage(`{"max":2,"left":2,"right":2}`)},
		{Key: "timeoutCancellationGracePeriod", Val: json.RawMessage(`10`)},
		{Key: "sponsorInfo", Val: json.RawMessage(`{"enabled":false,"duration":5,"sponsors":[]}`)},
		{Key: "watermarkInfo", Val: json.RawMessage(`{"spectraWatermark":true,"customTextEnabled":false,"customText":""}`)},
		{Key: "playercamsInfo", Val: json.RawMessage(`{"enable":false,"removeTricodes":false,"identifier":"","secret":"","endTime":0,"enabledPlayers":[]}`)},
		{Key: "nameOverrides", Val: json.RawMessage(`{"overrides":"[]"}`)},
		{Key: "roundWinBox", Val: json.RawMessage(`{"type":"disabled","sponsors":[]}`)},
	}
	set := func(ms []jsontext.Member, key string, v json.RawMessage) []jsontext.Member {
		for i := range ms {
			if ms[i].Key == key {
				ms[i].Val = v
				return ms
			}
		}
		return append(ms, jsontext.Member{Key: key, Val: v})
	}
	if len(raw) > 0 && raw[0] == '{' {
		init, err := jsontext.Members(raw)
		if err != nil {
			return nil, err
		}
		for _, m := range init {
			if m.Key != "__proto__" {
				tools = set(tools, m.Key, m.Val)
			}
		}
	}
	tc, _ := jsontext.Find(tools, "timeoutCounter")
	switch {
	case string(tc) == "null":
		return nil, errors.New("Cannot set properties of null (setting 'left')")
	case tc[0] == '{':
		counter, err := jsontext.Members(tc)
		if err != nil {
			return nil, err
		}
		max, ok := jsontext.Find(counter, "max")
		if !ok {
			// left = right = undefined: JSON leaves them out.
			out := counter[:0]
			for _, m := range counter {
				if m.Key != "left" && m.Key != "right" {
					out = append(out, m)
				}
			}
			counter = out
		} else {
			counter = set(counter, "left", max)
			counter = set(counter, "right", max)
		}
		tools = set(tools, "timeoutCounter", append(jsontext.AppendMembers([]byte{'{'}, counter, false, nil), '}'))
	case tc[0] != '[':
		return nil, errors.New("Cannot create property 'left' on " + jsTypeName(tc) + " '" + match.TemplateString(tc, true) + "'")
	}
	b := []byte{'{'}
	comma := false
	for _, m := range tools {
		if comma {
			b = append(b, ',')
		}
		comma = true
		b = socketio.AppendString(b, m.Key)
		b = append(b, ':')
		if m.Key == "playercamsInfo" && len(m.Val) > 0 && m.Val[0] == '{' {
			pc, err := jsontext.Members(m.Val)
			if err != nil {
				return nil, err
			}
			b = append(b, '{')
			b = jsontext.AppendMembers(b, pc, false, func(k string) bool { return k == "secret" || k == "endTime" })
			b = append(b, '}')
			continue
		}
		b = jsontext.Compact(b, m.Val)
	}
	return append(b, '}'), nil
}

func jsTypeName(v json.RawMessage) string {
	switch v[0] {
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	}
	return "number"
}
