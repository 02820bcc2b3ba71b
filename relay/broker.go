package relay

import (
	"time"

	"spectra-relay/relay/extras"
	"spectra-relay/relay/match"
)

// broker is everything the controller, the ingest and the extras do with
// other nodes: a match's ownership and its event stream, overlays and
// auxiliary clients of matches owned elsewhere, the ingest session
// bindings and the stores every node answers from (finished-team info,
// previews). The controller calls it unconditionally; which one runs is
// the server's mode:
//
//   - localBroker (this file): one node alone. Nothing is owned elsewhere
//     and nothing leaves the process; previews live in memory.
//   - clusterGlue (cluster_glue.go, cluster_owner.go, cluster_remote.go,
//     cluster_sessions.go, on relay/cluster): Redis, set by
//     Server.JoinCluster before the listeners open.
//
// Each method says what the controller is about to do or has done; the
// comments give the local answer, the cluster one is beside its code.
type broker interface {
	// takeover takes a match another node had over for an observer
	// logon; handled false means there is none (create one). Local:
	// never handled.
	takeover(l match.Logon) (res logonResult, handled bool, err error)
	// claim makes a new match's group code this node's in the whole
	// cluster. Local: always free.
	claim(lm *liveMatch, raw []byte, start time.Time) error
	// beforeApply runs before an event is applied to lm; the event is
	// applied only without an error, and done runs after the apply.
	// Local: nothing to do.
	beforeApply(lm *liveMatch, raw string, now time.Time) (done func(), err error)
	// published follows each broadcast of lm (lm.sendMu held). Local:
	// nothing.
	published(lm *liveMatch, v uint64, pkt []byte)
	// released follows lm's removal. Local: nothing.
	released(lm *liveMatch, why string)
	// subscribeUnowned joins an overlay to a group code no match here
	// has. It is called with sh.mu read-locked and must unlock it. Local:
	// join under the lock, so that a match created meanwhile broadcasts
	// only after the overlay is in the room.
	subscribeUnowned(sh *shard, code string, join func() error, emit func(*snapshot) error) error
	// auxLogonRemote accepts an auxiliary client of a match no node here
	// has (matchID non-empty). Local: refused (no such match).
	auxLogonRemote(ic *ingestConn, matchID, playerID string) bool
	// rememberRemoteAux keeps such a client's binding. Local: never
	// called.
	rememberRemoteAux(ic *ingestConn)
	// forwardAux takes the event of an auxiliary client whose match is
	// elsewhere; false for any other connection. Local: false.
	forwardAux(ic *ingestConn, ev *match.Event, payload string) bool
	// auxClosed follows the close of any ingest connection. Local:
	// nothing.
	auxClosed(ic *ingestConn)
	// putSession shares a new ingest session binding. Local: nothing
	// (the secret sidecar keeps it).
	putSession(code string, b sessionBinding)
	// lookupSession and restoreSession find a binding this node does not
	// hold. Local: none.
	lookupSession(pid string) (sessionBinding, bool)
	restoreSession(ic *ingestConn, pid string) (*liveMatch, sessionBinding, bool)
	// putTeamInfo shares a finished match's team info; teamInfo finds
	// one finished elsewhere. Local: the controller's own is all.
	putTeamInfo(code string, info []byte)
	teamInfo(code string) ([]byte, bool)
	// liveCount counts the live matches of the whole relay. Local: the
	// controller's.
	liveCount() int
	// putPreview and preview keep the previews, for ttl.
	putPreview(code string, doc []byte, ttl time.Duration) bool
	preview(code string) ([]byte, bool)
	// close leaves; the controller is closed already.
	close()
}

var (
	_ broker = (*localBroker)(nil)
	_ broker = (*clusterGlue)(nil)
)

// localBroker is the broker of a relay that runs alone.
type localBroker struct {
	c        *controller
	previews extras.Previews
}

func newLocalBroker(c *controller, previewTTL time.Duration) *localBroker {
	return &localBroker{c: c, previews: extras.NewMemoryPreviews(previewTTL)}
}

func (*localBroker) takeover(match.Logon) (logonResult, bool, error) {
	return logonResult{}, false, nil
}
func (*localBroker) claim(*liveMatch, []byte, time.Time) error         { return nil }
func (*localBroker) published(*liveMatch, uint64, []byte)              {}
func (*localBroker) released(*liveMatch, string)                       {}
func (*localBroker) auxLogonRemote(*ingestConn, string, string) bool   { return false }
func (*localBroker) rememberRemoteAux(*ingestConn)                     {}
func (*localBroker) forwardAux(*ingestConn, *match.Event, string) bool { return false }
func (*localBroker) auxClosed(*ingestConn)                             {}
func (*localBroker) putSession(string, sessionBinding)                 {}
func (*localBroker) lookupSession(string) (sessionBinding, bool)       { return sessionBinding{}, false }
func (*localBroker) putTeamInfo(string, []byte)                        {}
func (*localBroker) teamInfo(string) ([]byte, bool)                    { return nil, false }
func (*localBroker) close()                                            {}

func (*localBroker) beforeApply(*liveMatch, string, time.Time) (func(), error) {
	return func() {}, nil
}

func (*localBroker) subscribeUnowned(sh *shard, _ string, join func() error, _ func(*snapshot) error) error {
	err := join()
	sh.mu.RUnlock()
	return err
}

func (*localBroker) restoreSession(*ingestConn, string) (*liveMatch, sessionBinding, bool) {
	return nil, sessionBinding{}, false
}

func (b *localBroker) liveCount() int { return b.c.Count() }

func (b *localBroker) putPreview(code string, doc []byte, _ time.Duration) bool {
	return b.previews.Put(code, doc)
}

func (b *localBroker) preview(code string) ([]byte, bool) { return b.previews.Get(code) }
