// Package operator serves the relay's operator surface on the admin
// listener: the live status page and its JSON, /metrics (the Prometheus
// registry of the ports, the connection limits and whatever collectors the
// relay adds), /healthz, /readyz and pprof. It reads the relay through
// Source and imports nothing of the relay root.
package operator

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"strings"

	"spectra-relay/relay/extras"
)

// Source is what the operator surface reads of the relay.
type Source interface {
	// Status is the status page's document, built when asked.
	Status() StatusDoc
	// Draining reports whether the relay shuts down (/readyz fails).
	Draining() bool
}

// Config is what the operator surface takes of the relay's configuration.
type Config struct {
	// AdminToken guards everything but the health checks; empty = the
	// host must be named by an IP address or localhost.
	AdminToken string
	// Pprof serves /debug/pprof/.
	Pprof bool
}

type handler struct {
	src     Source
	metrics http.Handler
	cfg     Config
}

// adminRealm names the admin surface in the 401 challenges.
const adminRealm = `realm="spectra-relay admin"`

// Handler serves the operator's endpoints, which the public extras
// port does not: the status page (/) and its JSON (/status/matches, every
// live match's group code and match id), /metrics, /healthz, /readyz and,
// with Config.Pprof, /debug/pprof/. It is meant for a private listener
// (ADMIN_BIND, loopback by default).
//
// /healthz and /readyz answer anyone: they tell only whether the process
// serves and whether it drains, and an orchestrator's probe cannot send a
// token. Everything else needs, when Config.AdminToken is set, that token
// as "Authorization: Bearer TOKEN" or as the password of HTTP Basic auth
// (any user name: a browser asks for it on the 401, and sends it again
// with the status page's own requests). Without a token the listener is
// loopback-only (spectra-server refuses anything else), and a request
// must name the host by an IP address or "localhost": a web page the
// operator visits cannot rebind its own domain name to 127.0.0.1 and
// read the group codes as a same-origin page. No answer carries CORS.
func Handler(src Source, metrics http.Handler, cfg Config) http.Handler {
	srv := &handler{src: src, metrics: metrics, cfg: cfg}
	var want [sha256.Size]byte
	if srv.cfg.AdminToken != "" {
		want = sha256.Sum256([]byte(srv.cfg.AdminToken))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		if len(path) > 1 {
			path = strings.TrimSuffix(path, "/")
		}
		lower := strings.ToLower(path)
		get := r.Method == http.MethodGet || r.Method == http.MethodHead
		w.Header().Set("Cache-Control", "no-store")
		switch {
		case get && lower == "/healthz":
			// Answering at all is the health: the process serves HTTP.
			extras.WriteJSON(w, http.StatusOK, []byte(`{"status":"UP"}`))
			return
		case get && lower == "/readyz":
			if srv.src.Draining() {
				extras.WriteJSON(w, http.StatusServiceUnavailable, []byte(`{"status":"DRAINING"}`))
				return
			}
			extras.WriteJSON(w, http.StatusOK, []byte(`{"status":"READY"}`))
			return
		}
		if srv.cfg.AdminToken == "" {
			if !literalHost(r.Host) {
				extras.WriteError(w, http.StatusForbidden, "Use an IP address or localhost as the host, or set ADMIN_TOKEN")
				return
			}
		} else if !adminAuthorized(r, &want) {
			h := w.Header()
			h.Add("WWW-Authenticate", "Basic "+adminRealm+`, charset="UTF-8"`)
			h.Add("WWW-Authenticate", "Bearer "+adminRealm)
			extras.WriteError(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		if !srv.serveObservability(w, r, path, lower) {
			extras.WriteError(w, http.StatusNotFound, "Not found")
		}
	})
}

// adminAuthorized reports whether r carries the admin token (whose
// SHA-256 is want) as a bearer token or a Basic password. The digests are
// compared in constant time, so neither the token's bytes nor its length
// show in the answer's timing.
func adminAuthorized(r *http.Request, want *[sha256.Size]byte) bool {
	var got string
	auth := r.Header.Get("Authorization")
	if scheme, rest, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
		got = strings.TrimSpace(rest)
	} else if _, pass, ok := r.BasicAuth(); ok {
		got = pass
	} else {
		return false
	}
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}

// literalHost reports whether a request's Host names an IP address or
// localhost, with or without a port.
func literalHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.EqualFold(host, "localhost") || net.ParseIP(host) != nil
}
