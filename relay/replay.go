package relay

import "spectra-relay/relay/replaylog"

// DefaultReplayMaxBytes caps one replay file unless Config.ReplayMaxBytes
// says otherwise (replaylog.DefaultMaxBytes).
const DefaultReplayMaxBytes = replaylog.DefaultMaxBytes

// replayWriteThrough turns the write of each applied event on the ingest
// path on (replaylog's durability note; a variable for the benchmark that
// compares both).
var replayWriteThrough = true
