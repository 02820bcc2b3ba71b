package match

import (
	"encoding/json"
	"fmt"
)

// Logon is a parsed obs_logon payload (also the header of a replay file).
type Logon struct {
	Type          string
	ClientVersion string
	ObsName       string
	Key           string
	GroupCode     string
	GroupSecret   string
	LeftTeam      AuthTeam
	RightTeam     AuthTeam
	// ToolsData is the raw toolsData JSON; the match keeps every member of
	// it, known or not, because the overlays receive it unchanged.
	ToolsData json.RawMessage
	// IsSupporter is decided by the key check, never by the client.
	IsSupporter bool

	raw jv
}

// AuthTeam is one team of the logon.
type AuthTeam struct {
	Name        string
	Tricode     string
	URL         string
	AttackStart bool

	raw jv // the object as sent, echoed by FinishedTeamInfo
}

// ParseLogon parses an obs_logon payload. Only JSON syntax and the object
// shape are checked here; the type / version / key checks are the caller's.
func ParseLogon(raw []byte) (Logon, error) {
	var l Logon
	v, err := parseJSON(raw)
	if err != nil {
		return l, fmt.Errorf("parse logon: %w", err)
	}
	if v.k != kObject {
		return l, fmt.Errorf("parse logon: payload is %s, not an object", v.typeName())
	}
	l.raw = v
	str := func(key string) string {
		x, _ := v.obj.get(key)
		if x.k == kString {
			return x.s
		}
		return ""
	}
	l.Type = str("type")
	l.ClientVersion = str("clientVersion")
	l.ObsName = str("obsName")
	l.Key = str("key")
	l.GroupCode = str("groupCode")
	l.GroupSecret = str("groupSecret")
	l.LeftTeam = authTeamFrom(v.obj, "leftTeam")
	l.RightTeam = authTeamFrom(v.obj, "rightTeam")
	if td, ok := v.obj.get("toolsData"); ok {
		l.ToolsData = appendJV(nil, td)
	}
	return l, nil
}

func authTeamFrom(o *jobj, key string) AuthTeam {
	x, _ := o.get(key)
	t := AuthTeam{raw: x}
	if x.k != kObject {
		return t
	}
	get := func(k string) string {
		y, _ := x.obj.get(k)
		if y.k == kString {
			return y.s
		}
		return ""
	}
	t.Name, t.Tricode, t.URL = get("name"), get("tricode"), get("url")
	as, _ := x.obj.get("attackStart")
	t.AttackStart = as.truthy()
	return t
}

// value is the team object as the existing server sees it.
func (t AuthTeam) value() jv {
	if t.raw.k != kUndefined {
		return t.raw
	}
	o := newObj()
	o.obj.set("name", jsStr(t.Name))
	o.obj.set("tricode", jsStr(t.Tricode))
	o.obj.set("url", jsStr(t.URL))
	o.obj.set("attackStart", jsBool(t.AttackStart))
	return o
}
