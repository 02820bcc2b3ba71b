package relay

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"spectra-relay/internal/jsontext"
	"spectra-relay/socketio"
)

// maxPreviewBody is body-parser's default limit, which the existing
// server's JSON endpoints run with.
const maxPreviewBody = 100 << 10

// extrasHandler serves the HTTP extras of SPEC §9 and nothing else: the
// public port answers exactly the existing server's endpoints (the
// operator's are on the admin listener, admin.go). Routing follows
// Express's defaults: case-insensitive paths, an optional trailing slash,
// HEAD answered by GET routes, and CORS "*" on every answer.
func (srv *Server) extrasHandler() http.Handler {
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
			b := append([]byte(`{"status":"UP","matchesRunning":`), strconv.Itoa(srv.matchesRunning())...)
			writeJSON(w, http.StatusOK, append(b, '}'))
		case lower == "/getteaminfoforcode" && get:
			srv.getTeamInfo(w, r)
		case lower == "/createpreview" && r.Method == http.MethodPut:
			srv.createPreview(w, r)
		case strings.HasPrefix(lower, "/preview/") && get && !strings.Contains(path[len("/preview/"):], "/"):
			srv.getPreview(w, path[len("/preview/"):])
		default:
			writeError(w, http.StatusNotFound, "Not found")
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b := append([]byte(`{"error":`), nil...)
	b = socketio.AppendString(b, msg)
	writeJSON(w, status, append(b, '}'))
}

func (srv *Server) getTeamInfo(w http.ResponseWriter, r *http.Request) {
	// Express hands a repeated parameter over as an array, which the
	// existing server refuses like a missing one.
	vals := r.URL.Query()["groupCode"]
	if len(vals) != 1 || vals[0] == "" {
		writeError(w, http.StatusBadRequest, "Group code is required")
		return
	}
	info, ok := srv.teamInfo(vals[0])
	if !ok {
		writeError(w, http.StatusNotFound, "Group code not found")
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (srv *Server) createPreview(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPreviewBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "Payload too large")
			return
		}
		writeError(w, http.StatusBadRequest, "Invalid preview data")
		return
	}
	ms, err := jsontext.Members(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "Invalid JSON body")
		return
	}
	key, hasKey := jsontext.Find(ms, "key")
	if !hasKey || !jsTruthy(key) {
		writeError(w, http.StatusBadRequest, "Missing or invalid key in preview data")
		return
	}
	var keyStr string
	if key[0] == '"' {
		keyStr = jsString(key, true)
	}
	if !srv.validKey(keyStr) || (srv.cfg.RequireAuthKey && key[0] != '"') {
		writeError(w, http.StatusForbidden, "Invalid or expired key")
		return
	}
	code := ""
	if pc, ok := jsontext.Find(ms, "previewCode"); ok && len(pc) > 0 && pc[0] == '"' {
		if s := jsString(pc, true); utf16Len(s) == 6 {
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
		writeJSON(w, http.StatusBadRequest, append(b, '}'))
		return
	}
	if !srv.putPreview(code, doc) {
		writeError(w, http.StatusServiceUnavailable, "Too many previews")
		return
	}
	b := socketio.AppendString([]byte(`{"previewCode":`), code)
	writeJSON(w, http.StatusOK, append(b, '}'))
	srv.log.Info("preview created", "previewCode", code)
}

func (srv *Server) getPreview(w http.ResponseWriter, code string) {
	if utf16Len(code) != 6 {
		writeError(w, http.StatusBadRequest, "Invalid preview code format")
		return
	}
	doc, ok := srv.preview(code)
	if !ok {
		writeError(w, http.StatusNotFound, "Preview not found")
		return
	}
	writeJSON(w, http.StatusOK, doc)
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
