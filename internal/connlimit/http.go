package connlimit

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

type connKey struct{}

// ConnContext is for http.Server.ConnContext: it lets Handler find the
// request's connection (also under TLS).
func (l *Limiter) ConnContext(ctx context.Context, c net.Conn) context.Context {
	// crypto/tls's Conn, and a transport under it that wraps the accepted
	// connection in turn (engineio's TLS fast path), give what they wrap.
	for i := 0; i < 4; i++ {
		nc, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = nc.NetConn()
	}
	if lc, ok := c.(*Conn); ok && lc.l == l {
		return context.WithValue(ctx, connKey{}, lc)
	}
	return ctx
}

// Handler wraps the handler of a Socket.IO port: handshakes over the rate
// of their address get a 503, and a WebSocket request through a trusted
// proxy charges its connection to the client's address (503 when that
// address is at its cap).
func (l *Limiter) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(connKey{}).(*Conn)
		var peer netip.Addr
		var via bool
		if c != nil {
			peer, via = c.peer, c.via
		} else {
			if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
				peer = ap.Addr().Unmap()
			}
			via = l.trusted(peer)
		}
		client := peer
		if via {
			client = l.ClientAddr(peer, r.Header.Values("X-Forwarded-For"))
		}
		key := Key(client)
		if isHandshake(r) && !l.allowHandshake(key) {
			l.refuse(ReasonHandshakeRate)
			refuseHTTP(w, via)
			return
		}
		if via && c != nil && client != peer && isWebSocket(r) && !l.attribute(c, key) {
			l.refuse(ReasonMaxConnsPerIP)
			refuseHTTP(w, via)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuseHTTP answers 503 with no body; a direct client's connection is
// closed after it, a proxy's is kept (it carries other clients).
func refuseHTTP(w http.ResponseWriter, viaProxy bool) {
	h := w.Header()
	h.Set("Retry-After", "1")
	if !viaProxy {
		h.Set("Connection", "close")
	}
	w.WriteHeader(http.StatusServiceUnavailable)
}

// isHandshake reports whether r opens an Engine.IO session: a GET under
// /socket.io/ without a sid.
func isHandshake(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/socket.io/") && !hasSID(r.URL.RawQuery)
}

// hasSID reports whether the raw query has a non-empty sid parameter,
// without decoding the whole query.
func hasSID(q string) bool {
	for q != "" {
		var p string
		p, q, _ = strings.Cut(q, "&")
		if v, ok := strings.CutPrefix(p, "sid="); ok && v != "" {
			return true
		}
	}
	return false
}

// isWebSocket reports whether r asks for a WebSocket upgrade.
func isWebSocket(r *http.Request) bool {
	for _, v := range r.Header.Values("Upgrade") {
		if strings.EqualFold(strings.TrimSpace(v), "websocket") {
			return true
		}
	}
	return false
}
