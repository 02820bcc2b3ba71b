package match

// Lookup tables of in-game internal names. They mirror the translator tables
// the overlays were built against, so the display names must stay as they are
// (including the oddities, e.g. "Piazza " with a trailing space).

// agentNames maps internal agent / killfeed names to display names.
var agentNames = func() map[string]string {
	m := map[string]string{"": "No Agent selected"}
	// internal base name, display name, value used for the killfeed entry
	for _, a := range [...][3]string{
		{"Clay", "Raze", "Clay"},
		{"Pandemic", "Viper", "Pandemic"},
		{"Wraith", "Omen", "Wraith"},
		{"Hunter", "Sova", "Hunter"},
		{"Thorne", "Sage", "Thorne"},
		{"Phoenix", "Phoenix", "Phoenix"},
		{"Wushu", "Jett", "Wushu"},
		{"Gumshoe", "Cypher", "Gumshoe"},
		{"Sarge", "Brimstone", "Sarge"},
		{"Breach", "Breach", "Breach"},
		{"Vampire", "Reyna", "Vampire"},
		{"Killjoy", "Killjoy", "Killjoy"},
		{"Guide", "Skye", "Guide"},
		{"Stealth", "Yoru", "Stealth"},
		{"Rift", "Astra", "Rift"},
		{"Grenadier", "KAYO", "Grenadier"},
		{"Deadeye", "Chamber", "Deadeye"},
		{"Sprinter", "Neon", "Sprinter"},
		{"BountyHunter", "Fade", "BountyHunter"},
		{"Mage", "Harbor", "Mage"},
		{"Aggrobot", "Gekko", "Aggrobot"},
		{"Cable", "Deadlock", "Cable"},
		{"Sequoia", "Iso", "Sequoia"},
		{"Smonk", "Clove", "Smonk"},
		{"Nox", "Vyse", "Nox"},
		{"Cashew", "Tejo", "Cashew"},
		{"Terra", "Waylay", "Terra"},
		{"Pine", "Veto", "Pine"},
		{"Iris", "Miks", "Miks"},
	} {
		m[a[0]+"_PC_C"] = a[1]
		m[a[0]] = a[1]
		kf := a[1]
		if a[0] == "Iris" {
			kf = "Iris" // the killfeed key of this agent uses the internal name
		}
		m["TX_Killfeed_"+kf] = a[2]
	}
	return m
}()

const (
	agentAstra  = "Astra"
	agentCypher = "Cypher"
	agentClove  = "Clove"
	agentVeto   = "Veto"

	suffixAstraTargeting = "Targeting"
	suffixCloveUltimate  = "NotDeadYet"
	suffixCypherCam      = "Cam"
	suffixVetoUltimate   = "Evolution"
)

var weaponNames = map[string]string{
	"TX_Hud_Pistol_Classic": "Classic", "TX_Hud_Pistol_Glock_S": "Classic",
	"TX_Hud_Pistol_Slim": "Shorty", "TX_Hud_Pistol_SawedOff_S": "Shorty",
	"TX_Hud_Pistol_AutoPistol": "Frenzy", "TX_Hud_AutoPistol": "Frenzy",
	"TX_Hud_Pistol_Luger": "Ghost", "TX_Hud_Pistol_Luger_S": "Ghost",
	"TX_Hud_Pistol_Sheriff": "Sheriff", "TX_Hud_Pistol_Revolver_S": "Sheriff",
	"TX_Hud_Pistol_Compact": "Bandit", "TX_Hud_Pistol_Compact_S": "Bandit",
	"TX_Hud_Shotguns_Pump": "Bucky", "TX_Hud_Pump": "Bucky",
	"TX_Hud_Shotguns_Persuader": "Judge", "TX_Hud_Shotguns_Spas12_S": "Judge",
	"TX_Hud_SMGs_Vector": "Stinger", "TX_Hud_Vector": "Stinger",
	"TX_Hud_SMGs_Ninja": "Spectre", "TX_Hud_SMG_MP5_S": "Spectre",
	"TX_Hud_Rifles_Burst": "Bulldog", "TX_Hud_Burst": "Bulldog",
	"TX_Hud_Rifles_DMR": "Guardian", "tx_hud_dmr": "Guardian",
	"TX_Hud_Rifles_Ghost": "Phantom", "TX_Hud_Assault_AR10A2_S": "Phantom",
	"TX_Hud_Rifles_Volcano": "Vandal", "TX_Hud_Volcano": "Vandal",
	"TX_Hud_Sniper_Bolt": "Marshal", "TX_Hud_Sniper_BoltAction_S": "Marshal",
	"TX_Hud_Sniper_Operater": "Operator", "TX_Hud_Operator": "Operator",
	"TX_Hud_Sniper_DoubleSniper": "Outlaw", "TX_Hud_DoubleSniper": "Outlaw",
	"TX_Hud_LMG": "Ares",
	"TX_Hud_HMG": "Odin",
	"knife":      "Knife", "TX_Hud_Knife_Standard_S": "Knife",
	"unknown": "Unknown",

	"TX_Breach_FusionBlast":        "Aftershock",
	"TX_Sarge_MolotovLauncher":     "Incendiary",
	"TX_Sarge_OrbitalStrike":       "Orbital Strike (ULT)",
	"TX_Pheonix_FireWall":          "Blaze",
	"TX_Pheonix_Molotov":           "Hot Hands",
	"TX_Hunter_ShockArrow":         "Shock Bolt",
	"TX_Hunter_BowBlast":           "Hunters Fury",
	"TX_Hud_Deadeye_Q_Pistol":      "Headhunter",
	"TX_Hud_Deadeye_X_GiantSlayer": "Tour de Force (ULT)",
	"TX_Cable_FishingHook":         "Annihilation (ULT)",
	"TX_Hud_Wushu_X_Dagger":        "Blade Storm (ULT)",
	"TX_Neon_Ult":                  "Overdrive (ULT)",
	"TX_Thorne_Heal":               "Resurrection (ULT)",
	"TX_Gumshoe_Tripwire":          "Trapwire",
	"TX_Gren_Icon":                 "Frag/ment",
	"TX_Aggrobot_Bubbles":          "Mosh Pit",
	"TX_KJ_Bees":                   "Nanoswarm",
	"tx_KJ_turret":                 "Turret",
	"TX_Clay_Boomba":               "Boom bot",
	"TX_Clay_ClusterBomb":          "Paint Shells",
	"TX_Clay_RocketLauncher":       "Show stopper (ULT)",
	"TX_Guide4":                    "Trail blazer",
	"TX_Pandemic_AcidLauncher":     "Snake bite",
}

var mapNames = map[string]string{
	"Infinityy":  "Abyss",
	"Triad":      "Haven",
	"Duality":    "Bind",
	"Bonsai":     "Split",
	"Ascent":     "Ascent",
	"Port":       "Icebox",
	"Foxtrot":    "Breeze",
	"Canyon":     "Fracture",
	"Pitt":       "Pearl",
	"Jam":        "Lotus",
	"Juliett":    "Sunset",
	"Range":      "Practice Range",
	"HURM_Alley": "District",
	"HURM_Yard":  "Piazza ",
	"HURM_Bowl":  "Kasbah",
	"HURM_Helix": "Drift",
	"Rook":       "Corrode",
}

// newestMap is shown for map names the table does not know yet.
const newestMap = "Corrode"

var armorNames = [...]string{"None", "Light", "Heavy", "None", "Regen"}

// armorName indexes the armor table like JS does: numbers and numeric
// strings naming an in-range integer index hit, anything else is undefined.
func armorName(v jv) (string, bool) {
	var key string
	switch v.k {
	case kNumber:
		key = string(appendJSNumberString(nil, v.n))
	case kString:
		key = v.s
	default:
		key = v.toPropertyKey()
	}
	if i, ok := arrayIndex(key); ok && int(i) < len(armorNames) {
		return armorNames[i], true
	}
	return "", false
}
