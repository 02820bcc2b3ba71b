package relay

import (
	"encoding/json"

	"spectra-relay/socketio"
)

// loggedOn marks an overlay socket (its Data) once its first logon was
// handled.
type loggedOn struct{}

func (srv *Server) onOutputConnection(s *socketio.Socket) {
	// One handler value for every overlay, made once in NewServer, rather
	// than a closure and a flag allocated for each of thousands of idle
	// overlays.
	s.On("logon", srv.overlayLogonFn)
}

// overlayLogon handles an overlay's logon. Handlers of one connection run
// one at a time, so the Data check needs no lock of its own.
func (srv *Server) overlayLogon(s *socketio.Socket, e *socketio.Event) {
	// Only the first logon counts, as with the existing server's once().
	if s.Data() != nil {
		return
	}
	s.SetData(loggedOn{})
	srv.ctrl.overlayLoggingOn()
	payload, err := e.String(0)
	if err != nil {
		srv.log.Warn("output logon: not a JSON string", "err", err)
		return
	}
	var req struct {
		GroupCode json.RawMessage `json:"groupCode"`
	}
	if err := json.Unmarshal([]byte(payload), &req); err != nil {
		srv.log.Warn("output logon: malformed", "err", err)
		return
	}
	// The ingest's rule for group codes. A refused logon gets no answer,
	// as when the existing server fails to parse one: no room, no
	// logon_success, and the log names the code's size, not the code.
	code, err := decodeGroupCode(req.GroupCode)
	if err != nil {
		srv.log.Warn("output logon refused", "err", err, "groupCodeBytes", len(req.GroupCode), "remote", s.Handshake().Address)
		return
	}
	ack := make([]byte, 0, 64+2*len(code))
	ack = append(ack, `{"groupCode":`...)
	ack = socketio.AppendString(ack, code)
	ack = append(ack, `,"msg":`...)
	ack = socketio.AppendString(ack, "Logon succeeded for group code "+code)
	ack = append(ack, '}')
	err = srv.ctrl.subscribe(code,
		func() error {
			if err := s.Join(code); err != nil {
				return err
			}
			return s.Emit("logon_success", string(ack))
		},
		func(snap *snapshot) error {
			if err := s.SendPrepared(snap.prepared(s.Namespace())); err != nil {
				return err
			}
			if snap.mark != 0 {
				s.MarkHas(snap.mark)
			}
			return nil
		})
	if err != nil {
		srv.log.Info("output logon failed", "groupCode", code, "err", err)
		return
	}
	srv.log.Info("overlay logged on", "groupCode", code, "remote", s.Handshake().Address)
}
