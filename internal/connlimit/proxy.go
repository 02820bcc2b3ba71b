package connlimit

import (
	"net/netip"
	"strings"
)

// ClientAddr is the address a request from peer was made from: peer
// itself unless peer is a trusted proxy; then the right-most entry of the
// X-Forwarded-For values xff (in header order) that is not a trusted proxy.
// When every entry is trusted it is the left-most; when an entry cannot be
// read, or the chain is longer than 32 entries, it is the last trusted hop
// before it (what the proxies wrote cannot be read further back).
func (l *Limiter) ClientAddr(peer netip.Addr, xff []string) netip.Addr {
	peer = peer.Unmap()
	if !l.trusted(peer) {
		return peer
	}
	hop := peer // the nearest trusted hop so far
	seen := 0
	for i := len(xff) - 1; i >= 0; i-- {
		v := xff[i]
		for v != "" {
			var entry string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				entry, v = v[j+1:], v[:j]
			} else {
				entry, v = v, ""
			}
			if seen++; seen > maxForwardedHops {
				return hop // empty entries count too: the work is bounded
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue // "a,,b" and trailing commas carry nothing
			}
			a, ok := parseForwarded(entry)
			if !ok {
				return hop
			}
			if !l.trusted(a) {
				return a
			}
			hop = a
		}
	}
	return hop
}

// parseForwarded reads one X-Forwarded-For entry: an IPv4 or IPv6
// address, optionally with a port ("1.2.3.4:80", "[::1]:80") or in
// brackets; the zone is dropped and IPv4-mapped IPv6 unmapped.
func parseForwarded(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		switch {
		case perr == nil:
			a = ap.Addr()
		case len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']':
			if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil {
				return netip.Addr{}, false
			}
		default:
			return netip.Addr{}, false
		}
	}
	return a.Unmap().WithZone(""), true
}

// ParseTrustedProxies reads a list of addresses and CIDR prefixes
// separated by commas or spaces ("10.0.0.0/8, 192.168.1.5, fd00::/8").
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		var p netip.Prefix
		if strings.Contains(f, "/") {
			var err error
			if p, err = netip.ParsePrefix(f); err != nil {
				return nil, &ParseError{Entry: f}
			}
		} else {
			a, err := netip.ParseAddr(f)
			if err != nil || a.Zone() != "" {
				return nil, &ParseError{Entry: f}
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		p = p.Masked()
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p)
	}
	return out, nil
}

// ParseError names an entry of a trusted-proxy list that is neither an
// address nor a CIDR prefix.
type ParseError struct{ Entry string }

func (e *ParseError) Error() string {
	return "not an address or CIDR prefix: " + strings.TrimSpace(e.Entry)
}
