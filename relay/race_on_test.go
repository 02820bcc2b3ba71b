//go:build race

package relay

// raceEnabled: the race detector makes each connection ~10× as costly.
const raceEnabled = true
