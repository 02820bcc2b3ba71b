package replayfile

import (
	"fmt"
	"strconv"
	"strings"

	"spectra-relay/internal/jsontext"
)

// The server's side of the format: file naming and the bytes it appends.
// The server (package relay) buffers and writes them; a file it writes is
// what Reader reads.

// FileName is the name of a match's replay file,
// Match_<groupCode>_<startMs>.replay, with the group code made safe for a
// file name.
func FileName(groupCode string, startMs int64) string {
	return "Match_" + fileSafe(groupCode) + "_" + strconv.FormatInt(startMs, 10) + ".replay"
}

// IsFileName reports whether name has the form FileName gives.
func IsFileName(name string) bool {
	return strings.HasPrefix(name, "Match_") && strings.HasSuffix(name, ".replay")
}

// SecretPath is the sidecar file beside a replay that holds its match's
// group secret: same stem, suffix .secret.
func SecretPath(replayPath string) string {
	return strings.TrimSuffix(replayPath, ".replay") + ".secret"
}

// fileSafe keeps a group code usable as part of a file name: a code is
// client input, and "../x" must not leave the replay directory.
func fileSafe(s string) string {
	if s == "" {
		return "_"
	}
	ok := true
	for i := 0; i < len(s); i++ {
		if !isFileSafe(s[i]) {
			ok = false
			break
		}
	}
	if ok && len(s) <= 64 {
		return s
	}
	b := []byte(s)
	if len(b) > 64 {
		b = b[:64]
	}
	for i, c := range b {
		if !isFileSafe(c) {
			b[i] = '_'
		}
	}
	return string(b)
}

func isFileSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// AppendHeader appends the header of a replay file: serverVersion, the
// observer's logon as received without key and type (keys in the order
// sent), then logStartTime.
func AppendHeader(dst []byte, serverVersion string, logon []byte, startMs int64) ([]byte, error) {
	ms, err := jsontext.Members(logon)
	if err != nil {
		return nil, fmt.Errorf("replay header: %w", err)
	}
	dst = append(dst, `{"serverVersion":`...)
	dst = jsontext.AppendString(dst, serverVersion)
	dst = jsontext.AppendMembers(dst, ms, true, func(k string) bool {
		return k == "key" || k == "type" || k == "serverVersion" || k == "logStartTime"
	})
	dst = append(dst, `,"logStartTime":`...)
	dst = strconv.AppendInt(dst, startMs, 10)
	return append(dst, '}'), nil
}

// AppendEvent appends one event: ",\n" then the payload as the client sent
// it, compacted, with "timestamp" set to ts, the server's receipt time, as
// the existing server records it.
func AppendEvent(dst []byte, raw string, ts int64) []byte {
	dst = append(dst, ',', '\n')
	if !strings.Contains(raw, `"timestamp"`) {
		n := len(dst)
		dst = jsontext.Compact(dst, raw)
		if len(dst) > n && dst[len(dst)-1] == '}' {
			dst = dst[:len(dst)-1]
			if len(dst) > n+1 { // not "{}"
				dst = append(dst, ',')
			}
			dst = append(dst, `"timestamp":`...)
			dst = strconv.AppendInt(dst, ts, 10)
			return append(dst, '}')
		}
		return dst
	}
	// A payload with its own timestamp: the server's value replaces it in
	// place, as the existing server's assignment does.
	ms, err := jsontext.Members([]byte(raw))
	if err != nil {
		return jsontext.Compact(dst, raw)
	}
	stamp := []byte(strconv.FormatInt(ts, 10))
	found := false
	for i := range ms {
		if ms[i].Key == "timestamp" {
			ms[i].Val, found = stamp, true
		}
	}
	if !found {
		ms = append(ms, jsontext.Member{Key: "timestamp", Val: stamp})
	}
	dst = append(dst, '{')
	dst = jsontext.AppendMembers(dst, ms, false, nil)
	return append(dst, '}')
}
