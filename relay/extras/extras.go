// Package extras serves the relay's public HTTP extras (SPEC §9), the
// existing server's endpoints on port 5101 and nothing else: /status,
// /getTeamInfoForCode and the previews (/createPreview, /preview/<code>).
// It reads the relay through Source and keeps previews in a Previews
// store (NewMemoryPreviews on one node; the relay hands the cluster's
// store in cluster mode), and imports nothing of the relay root.
package extras

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"spectra-relay/internal/jsontext"
	"spectra-relay/relay/match"
	"spectra-relay/socketio"
)

// Source is what the extras read of the relay.
type Source interface {
	// MatchesRunning counts the live matches (of the cluster, in cluster
	// mode).
	MatchesRunning() int
	// TeamInfo is the team info of a match finished within its TTL.
	TeamInfo(groupCode string) ([]byte, bool)
	// ValidKey is the key check of logons, which previews share.
	ValidKey(key string) bool
}

// Previews keeps the previews for their TTL.
type Previews interface {
	// Put stores doc under code, again restarting its time; false when
	// the store is full.
	Put(code string, doc []byte) bool
	Get(code string) ([]byte, bool)
}

// Config is what the extras take of the relay's configuration.
type Config struct {
	// BodyTimeout bounds the read of a request body.
	BodyTimeout time.Duration
	// RequireAuthKey makes previews present the key as a JSON string.
	RequireAuthKey bool
	Logger         *slog.Logger
}

type handler struct {
	src      Source
	previews Previews
	cfg      Config
	log      *slog.Logger
}

// maxPreviewBody is body-parser's default limit, which the existing
// server's JSON endpoints run with.
const maxPreviewBody = 100 << 10

// Handler serves the HTTP extras of SPEC §9 and nothing else: the public
// port answers exactly the existing server's endpoints (the operator's are
// on the admin listener, relay/operator). Routing follows
// Express's defaults: case-insensitive paths, an optional trailing slash,
// HEAD answered by GET routes, and CORS "*" on every answer.
func Handler(src Source, previews Previews, cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	srv := &handler{src: src, previews: previews, cfg: cfg, log: cfg.Logger}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Body != http.NoBody {
			// A body that is announced and never sent would otherwise hold
			// the connection for ever: reads here, and net/http's drain of
			// an unread body after the handler, end at the deadline. The
			// next request on the connection starts without it (net/http
			// resets the read deadline per request).
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(srv.cfg.BodyTimeout))
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE")
			if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
				h.Set("Access-Control-Allow-Headers", rh)
				h.Add("Vary", "Access-Control-Request-Headers")
			}
			h.Set("Content-Length", "0")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		path := r.URL.Path
		if len(path) > 1 {
			path = strings.TrimSuffix(path, "/")
		}
		get := r.Method == http.MethodGet || r.Method == http.MethodHead
		lower := strings.ToLower(path)
		switch {
		case lower == "/status" && get:
			b := append([]byte(`{"status":"UP","matchesRunning":`), strconv.Itoa(srv.src.MatchesRunning())...)
			WriteJSON(w, http.StatusOK, append(b, '}'))
		case lower == "/getteaminfoforcode" && get:
			srv.getTeamInfo(w, r)
		case lower == "/createpreview" && r.Method == http.MethodPut:
			srv.createPreview(w, r)
		case strings.HasPrefix(lower, "/preview/") && get && !strings.Contains(path[len("/preview/"):], "/"):
			srv.getPreview(w, path[len("/preview/"):])
		default:
			WriteError(w, http.StatusNotFound, "Not found")
		}
	})
}

// WriteJSON answers with a JSON body.
func WriteJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// WriteError answers {"error": msg}, the existing server's error shape.
func WriteError(w http.ResponseWriter, status int, msg string) {
	b := append([]byte(`{"error":`), nil...)
	b = socketio.AppendString(b, msg)
	WriteJSON(w, status, append(b, '}'))
}

func (srv *handler) getTeamInfo(w http.ResponseWriter, r *http.Request) {
	// Express hands a repeated parameter over as an array, which the
	// existing server refuses like a missing one.
	vals := r.URL.Query()["groupCode"]
	if len(vals) != 1 || vals[0] == "" {
		WriteError(w, http.StatusBadRequest, "Group code is required")
		return
	}
	info, ok := srv.src.TeamInfo(vals[0])
	if !ok {
		WriteError(w, http.StatusNotFound, "Group code not found")
		return
	}
	WriteJSON(w, http.StatusOK, info)
}

func (srv *handler) createPreview(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPreviewBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			WriteError(w, http.StatusRequestEntityTooLarge, "Payload too large")
			return
		}
		WriteError(w, http.StatusBadRequest, "Invalid preview data")
		return
	}
	ms, err := jsontext.Members(body)
	if err != nil {
		WriteError(w, http.StatusBadRequest, "Invalid JSON body")
		return
	}
	key, hasKey := jsontext.Find(ms, "key")
	if !hasKey || !jsTruthy(key) {
		WriteError(w, http.StatusBadRequest, "Missing or invalid key in preview data")
		return
	}
	var keyStr string
	if key[0] == '"' {
		keyStr = match.TemplateString(key, true)
	}
	if !srv.src.ValidKey(keyStr) || (srv.cfg.RequireAuthKey && key[0] != '"') {
		WriteError(w, http.StatusForbidden, "Invalid or expired key")
		return
	}
	code := ""
	if pc, ok := jsontext.Find(ms, "previewCode"); ok && len(pc) > 0 && pc[0] == '"' {
		if s := match.TemplateString(pc, true); utf16Len(s) == 6 {
			code = s
		}
	}
	if code == "" {
		code = newPreviewCode()
	}
	doc, err := buildPreview(ms)
	if err != nil {
		b := []byte(`{"error":"Invalid preview data","details":`)
		b = socketio.AppendString(b, err.Error())
		WriteJSON(w, http.StatusBadRequest, append(b, '}'))
		return
	}
	if !srv.previews.Put(code, doc) {
		WriteError(w, http.StatusServiceUnavailable, "Too many previews")
		return
	}
	b := socketio.AppendString([]byte(`{"previewCode":`), code)
	WriteJSON(w, http.StatusOK, append(b, '}'))
	srv.log.Info("preview created", "previewCode", code)
}

func (srv *handler) getPreview(w http.ResponseWriter, code string) {
	if utf16Len(code) != 6 {
		WriteError(w, http.StatusBadRequest, "Invalid preview code format")
		return
	}
	doc, ok := srv.previews.Get(code)
	if !ok {
		WriteError(w, http.StatusNotFound, "Preview not found")
		return
	}
	WriteJSON(w, http.StatusOK, doc)
}

// utf16Len is JavaScript's String.prototype.length.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xFFFF {
			n++
		}
	}
	return n
}

// jsTruthy is JavaScript truthiness of a JSON value.
func jsTruthy(v []byte) bool {
	switch s := string(v); {
	case s == "" || s == "null" || s == "false" || s == `""`:
		return false
	case s[0] == '-' || s[0] >= '0' && s[0] <= '9':
		f, err := strconv.ParseFloat(s, 64)
		return err != nil || f != 0
	}
	return true
}
