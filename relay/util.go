package relay

import (
	"crypto/rand"
	"strconv"
	"strings"

	"spectra-relay/internal/shardhash"
)

// ServerVersion is the version of the existing server this one replaces; it
// appears in version-mismatch reasons and in replay headers.
const ServerVersion = "0.3.4"

// fnv1a is the shard hash of group codes and ids.
func fnv1a(s string) uint32 { return shardhash.FNV1a(s) }

const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newGroupSecret returns 12 characters of A-Z0-9 from crypto/rand. Bytes
// at or above 252 are rejected so each character is uniform over the 36.
func newGroupSecret() string {
	var out [12]byte
	var buf [32]byte
	n := 0
	for n < len(out) {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails (Go 1.24+)
		for _, b := range buf {
			if b >= 252 {
				continue
			}
			out[n] = secretAlphabet[b%36]
			n++
			if n == len(out) {
				break
			}
		}
	}
	return string(out[:])
}

// compatibleVersion reports whether v satisfies the semver range
// ">=0.3.3 <0.3.25" the way node-semver's satisfies does with default
// options: surrounding whitespace and one leading "v" are accepted, build
// metadata is ignored, and a prerelease never matches because neither
// bound of the range has one.
func compatibleVersion(v string) bool {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "v")
	if len(v) > 256 {
		return false
	}
	if i := strings.IndexByte(v, '+'); i >= 0 {
		if !validIdents(v[i+1:], false) {
			return false
		}
		v = v[:i]
	}
	if i := strings.IndexByte(v, '-'); i >= 0 {
		if !validIdents(v[i+1:], true) {
			return false
		}
		return false
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return false
	}
	var n [3]uint64
	for i, p := range parts {
		if !numericIdent(p) {
			return false
		}
		x, err := strconv.ParseUint(p, 10, 64)
		if err != nil || x > 1<<53-1 {
			return false
		}
		n[i] = x
	}
	cmp := func(a [3]uint64, b [3]uint64) int {
		for i := range a {
			if a[i] != b[i] {
				if a[i] < b[i] {
					return -1
				}
				return 1
			}
		}
		return 0
	}
	return cmp(n, [3]uint64{0, 3, 3}) >= 0 && cmp(n, [3]uint64{0, 3, 25}) < 0
}

// numericIdent: digits without a leading zero (except "0" itself).
func numericIdent(s string) bool {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validIdents checks dot-separated prerelease or build identifiers.
func validIdents(s string, prerelease bool) bool {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		digits := true
		for i := 0; i < len(id); i++ {
			c := id[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				digits = false
			default:
				return false
			}
		}
		if prerelease && digits && !numericIdent(id) {
			return false
		}
	}
	return true
}
