package replaylog

// Reading a replay file back after a restart (the relay's recover.go
// rebuilds its matches from it). An event's time is the timestamp it was
// stamped with when received; a damaged last line (the process died
// inside a write, or the machine crashed) is cut off; damage before the
// last line makes the file unreadable.

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"spectra-relay/relay/match"
	"spectra-relay/relay/replayfile"
)

// ScanResult is what Scan learnt about one replay file.
type ScanResult struct {
	Header  replayfile.Header
	Events  int   // events handed to apply
	Invalid int   // JSON values the ingest would not have accepted (skipped)
	GoodEnd int64 // end of the header or of the last complete element
	LastTs  int64 // latest event timestamp, 0 without events
	// Torn is the error of a damaged last line that was dropped.
	Torn error
}

// Scan reads a replay file of size bytes, hands its header to
// onHeader and every event, in file order and with its timestamp, to apply
// until apply reports stop (either may be nil). A damaged last line is
// dropped (scan.Torn says why); any other damage fails the scan.
func Scan(src io.ReaderAt, size int64, onHeader func(replayfile.Header) error,
	apply func(ev *match.Event, ts int64) (stop bool)) (ScanResult, error) {
	var sc ScanResult
	rd, err := replayfile.NewReader(io.NewSectionReader(src, 0, size))
	if err != nil {
		return sc, err
	}
	sc.Header = rd.Header()
	if onHeader != nil {
		if err := onHeader(sc.Header); err != nil {
			return sc, fmt.Errorf("header: %w", err)
		}
	}
	sc.GoodEnd = rd.Offset()
	ts := sc.Header.LogStartTime
	for {
		raw, _, err := rd.NextRaw()
		if err == io.EOF {
			return sc, nil
		}
		if err != nil {
			if tornTail(io.NewSectionReader(src, sc.GoodEnd, size-sc.GoodEnd)) {
				sc.Torn = err
				return sc, nil
			}
			return sc, err
		}
		sc.GoodEnd = rd.Offset()
		// The same check the ingest ran before the event was logged.
		ev, err := match.ParseEvent(raw)
		if err != nil {
			sc.Invalid++
			continue
		}
		if ev.Timestamp > 0 {
			ts = ev.Timestamp
		}
		sc.LastTs = max(sc.LastTs, ts)
		sc.Events++
		if apply != nil && apply(&ev, ts) {
			return sc, nil
		}
	}
}

// tornTail reports whether what follows the last complete element is a
// cut-off last line: a prefix of ",\n" plus one line, possibly followed by
// the zero bytes a machine crash can leave at the end of a file.
func tornTail(r io.Reader) bool {
	// A last line is one event; an event is at most MaxValueSize bytes.
	b, err := io.ReadAll(io.LimitReader(r, replayfile.DefaultMaxValueSize+3))
	if err != nil || len(b) > replayfile.DefaultMaxValueSize+2 {
		return false
	}
	b = bytes.TrimRight(b, "\x00")
	sep := []byte(",\n")
	n := min(len(b), len(sep))
	if !bytes.Equal(b[:n], sep[:n]) {
		return false
	}
	return bytes.IndexByte(b[n:], '\n') < 0
}

// ReadHeader reads the header of the replay file at path.
func ReadHeader(path string) (replayfile.Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return replayfile.Header{}, err
	}
	defer f.Close()
	rd, err := replayfile.NewReader(f)
	if err != nil {
		return replayfile.Header{}, err
	}
	return rd.Header(), nil
}
