package match

import (
	"fmt"
	"math"
)

// buildTools reproduces `Object.assign(new ToolsData(), toolsData)` followed
// by resetting both timeout counters to the maximum.
func buildTools(raw []byte) (jv, error) {
	t := newObj()
	o := t.obj
	obj := func(kv ...any) jv {
		x := newObj()
		for i := 0; i < len(kv); i += 2 {
			x.obj.set(kv[i].(string), kv[i+1].(jv))
		}
		return x
	}
	o.set("seriesInfo", obj("needed", jsNum(1), "wonLeft", jsNum(0), "wonRight", jsNum(0), "mapInfo", newArr(nil)))
	o.set("seedingInfo", obj("left", jsStr(""), "right", jsStr("")))
	o.set("tournamentInfo", obj("name", jsStr(""), "logoUrl", jsStr(""), "backdropUrl", jsStr("")))
	o.set("timeoutDuration", jsNum(60))
	o.set("timeoutCounter", obj("max", jsNum(2), "left", jsNum(2), "right", jsNum(2)))
	o.set("timeoutCancellationGracePeriod", jsNum(10))
	o.set("sponsorInfo", obj("enabled", jsBool(false), "duration", jsNum(5), "sponsors", newArr(nil)))
	o.set("watermarkInfo", obj("spectraWatermark", jsTrue, "customTextEnabled", jsBool(false), "customText", jsStr("")))
	o.set("playercamsInfo", obj("enable", jsBool(false), "removeTricodes", jsBool(false), "identifier", jsStr(""),
		"secret", jsStr(""), "endTime", jsNum(0), "enabledPlayers", newArr(nil)))
	o.set("nameOverrides", obj("overrides", jsStr("[]")))
	o.set("roundWinBox", obj("type", jsStr("disabled"), "sponsors", newArr(nil)))

	if len(raw) > 0 {
		init, err := parseJSON(raw)
		if err != nil {
			return undef, fmt.Errorf("toolsData: %w", err)
		}
		switch init.k {
		case kObject:
			for i, k := range init.obj.keys {
				if k != "__proto__" {
					o.set(k, init.obj.vals[i])
				}
			}
		case kNull, kBool, kNumber:
			// Object.assign ignores these sources.
		default:
			return undef, fmt.Errorf("toolsData is %s, not an object", init.typeName())
		}
	}
	tc, _ := o.get("timeoutCounter")
	max, err := getProp(tc, "max")
	if err != nil {
		return undef, fmt.Errorf("toolsData.timeoutCounter: %w", err)
	}
	if err := setProp(tc, "left", max); err != nil {
		return undef, fmt.Errorf("toolsData.timeoutCounter: %w", err)
	}
	if err := setProp(tc, "right", max); err != nil {
		return undef, fmt.Errorf("toolsData.timeoutCounter: %w", err)
	}
	return t, nil
}

// applySupporterRules enforces the licence rules for organisations without
// Spectra Plus (every organisation of this server): the Spectra logo joins
// the sponsors, the watermark stays on, custom text is off and the round-win
// box keeps one sponsor shown for every ceremony and team.
func (m *Match) applySupporterRules() error {
	sup := m.orgIsSupporter
	si, _ := m.tools.obj.get("sponsorInfo")
	enabled, err := getProp(si, "enabled")
	if err != nil {
		return fmt.Errorf("toolsData.sponsorInfo: %w", err)
	}
	if enabled.truthy() && !sup {
		sp, _ := getProp(si, "sponsors")
		if sp.k != kArray {
			return fmt.Errorf("toolsData.sponsorInfo.sponsors is %s: %w", sp.typeName(), errTypeError)
		}
		sp.arr.elems = append(sp.arr.elems, jsStr(spectraLogo))
	}

	wm, _ := m.tools.obj.get("watermarkInfo")
	sw, err := getProp(wm, "spectraWatermark")
	if err != nil {
		return fmt.Errorf("toolsData.watermarkInfo: %w", err)
	}
	if !sw.truthy() {
		sw = jsBool(!sup)
	}
	if err := setProp(wm, "spectraWatermark", sw); err != nil {
		return fmt.Errorf("toolsData.watermarkInfo: %w", err)
	}
	ct, _ := getProp(wm, "customTextEnabled")
	if ct.truthy() {
		ct = jsBool(sup)
	}
	if err := setProp(wm, "customTextEnabled", ct); err != nil {
		return fmt.Errorf("toolsData.watermarkInfo: %w", err)
	}

	rwb, _ := m.tools.obj.get("roundWinBox")
	typ, err := getProp(rwb, "type")
	if err != nil {
		return fmt.Errorf("toolsData.roundWinBox: %w", err)
	}
	if typ.k == kString && typ.s == "sponsors" {
		sps, _ := getProp(rwb, "sponsors")
		n, err := getProp(sps, "length")
		if err != nil {
			return fmt.Errorf("toolsData.roundWinBox.sponsors: %w", err)
		}
		if n.toNumber() > 1 && !sup {
			first, _ := getProp(sps, "0")
			if err := setProp(rwb, "sponsors", newArr([]jv{first})); err != nil {
				return fmt.Errorf("toolsData.roundWinBox: %w", err)
			}
			if err := setProp(first, "roundCeremony", newArr([]jv{jsStr("all")})); err != nil {
				return fmt.Errorf("toolsData.roundWinBox.sponsors[0]: %w", err)
			}
			if err := setProp(first, "wonTeam", jsStr("all")); err != nil {
				return fmt.Errorf("toolsData.roundWinBox.sponsors[0]: %w", err)
			}
		}
	}
	return nil
}
func (m *Match) setCounter(tc jv, side string, v jv) error {
	m.toolsDirty = true
	return setProp(tc, side, v)
}

// jsMin / jsMax follow Math.min / Math.max: NaN wins.
func jsMin(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return math.Min(a, b)
}

func jsMax(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return math.Max(a, b)
}

func (m *Match) toolNumber(key string) float64 {
	v, _ := m.tools.obj.get(key)
	return v.toNumber()
}
