package relay

// The HTTP surfaces live in their own packages and import nothing of this
// one: relay/extras (the public extras and previews) and relay/operator
// (the admin listener: status page, metrics, health, pprof). Each names
// the little it reads of the relay as an interface; the adapters here
// hand the Server to them.

import "spectra-relay/relay/operator"

// publicSource is the relay as relay/extras reads it.
type publicSource struct{ srv *Server }

func (p publicSource) MatchesRunning() int                 { return p.srv.matchesRunning() }
func (p publicSource) TeamInfo(code string) ([]byte, bool) { return p.srv.teamInfo(code) }
func (p publicSource) ValidKey(key string) bool            { return p.srv.validKey(key) }

// previewsOf is the preview store of the relay: this node's, or the
// cluster's in cluster mode.
type previewsOf struct{ srv *Server }

func (p previewsOf) Put(code string, doc []byte) bool { return p.srv.putPreview(code, doc) }
func (p previewsOf) Get(code string) ([]byte, bool)   { return p.srv.preview(code) }

// operatorSource is the relay as relay/operator reads it.
type operatorSource struct{ srv *Server }

func (o operatorSource) Status() operator.StatusDoc { return o.srv.statusDoc() }
func (o operatorSource) Draining() bool             { return o.srv.draining.Load() }
