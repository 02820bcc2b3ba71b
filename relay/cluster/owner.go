package cluster

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Seq orders the states of one group code across owners: a later match
// of the code (Start), a later owner of the match (Token), a later state
// of that owner (Version).
type Seq struct {
	Start   int64
	Token   int64
	Version uint64
}

// Less reports whether s is older than o.
func (s Seq) Less(o Seq) bool {
	if s.Start != o.Start {
		return s.Start < o.Start
	}
	if s.Token != o.Token {
		return s.Token < o.Token
	}
	return s.Version < o.Version
}

// Owner is this node's ownership of one match.
type Owner struct {
	n      *Node
	Code   string
	Start  int64 // the match's start (ms), part of every Seq
	mu     sync.Mutex
	token  int64
	lost   func(error) // ErrFenced or ErrLost, from the renewal
	closed bool
}

// Token is the current fencing token.
func (o *Owner) Token() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.token
}

func (o *Owner) tok() string { return strconv.FormatInt(o.Token(), 10) }

var createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local t = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('HSET', KEYS[1], 'secret', ARGV[1], 'logon', ARGV[2], 'start', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('DEL', KEYS[5], KEYS[6])
redis.call('SET', KEYS[3], ARGV[4] .. ':' .. t, 'PX', ARGV[5])
redis.call('ZADD', KEYS[4], tonumber(ARGV[7]) + tonumber(ARGV[5]), ARGV[8])
return t`)

// Create registers a new match owned by this node; ErrTaken when the
// group code is live in the cluster. lost is called (once, from the
// renewal) when the ownership ends without Release.
func (n *Node) Create(ctx context.Context, code, secret string, logon []byte, start int64, lost func(error)) (*Owner, error) {
	r, err := createScript.Run(ctx, n.rdb,
		[]string{key(code, "meta"), key(code, "token"), key(code, "lease"), liveKey, key(code, "events"), key(code, "state")},
		secret, logon, start, n.cfg.NodeID, ms(n.cfg.LeaseTTL), ms(n.cfg.KeyTTL), time.Now().UnixMilli(), code).Int64()
	if err != nil {
		return nil, fmt.Errorf("cluster: create %q: %w", code, err)
	}
	if r < 0 {
		return nil, ErrTaken
	}
	return n.own(code, start, r, lost), nil
}

func (n *Node) own(code string, start, token int64, lost func(error)) *Owner {
	o := &Owner{n: n, Code: code, Start: start, token: token, lost: lost}
	n.ownMu.Lock()
	n.owners[code] = o
	n.ownMu.Unlock()
	n.subscribe(inChannel(code))
	return o
}

var takeoverScript = redis.NewScript(`
local s = redis.call('HGET', KEYS[1], 'secret')
if not s then return -1 end
if s ~= ARGV[1] then return -2 end
local t = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('SET', KEYS[3], ARGV[2] .. ':' .. t, 'PX', ARGV[3])
redis.call('ZADD', KEYS[4], tonumber(ARGV[5]) + tonumber(ARGV[3]), ARGV[6])
return t`)

// Snapshot is what a new owner rebuilds a match from.
type Snapshot struct {
	Secret string
	Logon  []byte
	Start  int64
	Events []Entry
	// Full: the stream hit its cap, later events are missing.
	Full bool
}

// Entry is one accepted event.
type Entry struct {
	TS  int64 // ms, the time the owner applied it at
	Raw string
}

// Takeover makes this node the owner of a live match whose observer
// presented secret: the token moves first (so the old owner's appends
// fail from here on), then the stream is read whole. ErrNoMatch when
// Redis has none, ErrTaken when the secret is wrong.
func (n *Node) Takeover(ctx context.Context, code, secret string, lost func(error)) (*Owner, Snapshot, error) {
	var snap Snapshot
	r, err := takeoverScript.Run(ctx, n.rdb,
		[]string{key(code, "meta"), key(code, "token"), key(code, "lease"), liveKey},
		secret, n.cfg.NodeID, ms(n.cfg.LeaseTTL), ms(n.cfg.KeyTTL), time.Now().UnixMilli(), code).Int64()
	if err != nil {
		return nil, snap, fmt.Errorf("cluster: takeover %q: %w", code, err)
	}
	switch r {
	case -1:
		return nil, snap, ErrNoMatch
	case -2:
		return nil, snap, ErrTaken
	}
	meta, err := n.rdb.HGetAll(ctx, key(code, "meta")).Result()
	if err != nil {
		return nil, snap, fmt.Errorf("cluster: takeover %q: meta: %w", code, err)
	}
	snap.Secret, snap.Logon = meta["secret"], []byte(meta["logon"])
	snap.Start, _ = strconv.ParseInt(meta["start"], 10, 64)
	// Read in pages: a long match has tens of thousands of events.
	from := "-"
	for {
		page, err := n.rdb.XRangeN(ctx, key(code, "events"), from, "+", 2000).Result()
		if err != nil {
			return nil, snap, fmt.Errorf("cluster: takeover %q: stream: %w", code, err)
		}
		for _, m := range page {
			ts, _ := strconv.ParseInt(fmt.Sprint(m.Values["t"]), 10, 64)
			raw, _ := m.Values["e"].(string)
			snap.Events = append(snap.Events, Entry{TS: ts, Raw: raw})
		}
		if len(page) < 2000 {
			break
		}
		from = "(" + page[len(page)-1].ID
	}
	snap.Full = int64(len(snap.Events)) >= n.cfg.StreamMaxLen
	return n.own(code, snap.Start, r, lost), snap, nil
}

var appendScript = redis.NewScript(`
local t = redis.call('GET', KEYS[1])
if not t then return -2 end
if t ~= ARGV[1] then return 0 end
if redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[4]) then return 2 end
redis.call('XADD', KEYS[2], '*', 't', ARGV[2], 'e', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return 1`)

func fenceErr(r int64) error {
	switch r {
	case 0:
		return ErrFenced
	case -2:
		return ErrLost
	case 2:
		return ErrStreamFull
	}
	return nil
}

// Append adds one accepted event to the match's stream if this node still
// owns the match. Call it before applying the event: ErrFenced means the
// event must not be applied here.
func (o *Owner) Append(ctx context.Context, ts int64, raw string) error {
	r, err := appendScript.Run(ctx, o.n.rdb, []string{key(o.Code, "token"), key(o.Code, "events"), key(o.Code, "meta")},
		o.tok(), ts, raw, o.n.cfg.StreamMaxLen, ms(o.n.cfg.KeyTTL)).Int64()
	if err != nil {
		return fmt.Errorf("cluster: append to %q: %w", o.Code, err)
	}
	return fenceErr(r)
}

var publishScript = redis.NewScript(`
local t = redis.call('GET', KEYS[1])
if not t then return -2 end
if t ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1`)

// seqHeaderLen is the fixed header before a published packet: start,
// token and version as 16 hex digits each.
const seqHeaderLen = 48

func appendSeq(dst []byte, s Seq) []byte {
	for _, v := range [3]uint64{uint64(s.Start), uint64(s.Token), s.Version} {
		var b [16]byte
		x := strconv.AppendUint(b[:0], v, 16)
		for i := len(x); i < 16; i++ {
			dst = append(dst, '0')
		}
		dst = append(dst, x...)
	}
	return dst
}

func parseSeq(b []byte) (Seq, bool) {
	if len(b) < seqHeaderLen {
		return Seq{}, false
	}
	var v [3]uint64
	for i := range v {
		x, err := strconv.ParseUint(string(b[i*16:i*16+16]), 16, 64)
		if err != nil {
			return Seq{}, false
		}
		v[i] = x
	}
	return Seq{Start: int64(v[0]), Token: int64(v[1]), Version: v[2]}, true
}

// Publish sends one match_data packet to every node's subscribers of the
// match and keeps it as the match's latest state, if this node still owns
// the match. One call per send: the receiving nodes fan it out.
func (o *Owner) Publish(ctx context.Context, version uint64, pkt []byte) error {
	tok := o.Token()
	msg := appendSeq(make([]byte, 0, seqHeaderLen+len(pkt)), Seq{Start: o.Start, Token: tok, Version: version})
	msg = append(msg, pkt...)
	r, err := publishScript.Run(ctx, o.n.rdb, []string{key(o.Code, "token"), key(o.Code, "state")},
		strconv.FormatInt(tok, 10), outChannel(o.Code), msg, ms(o.n.cfg.KeyTTL)).Int64()
	if err != nil {
		return fmt.Errorf("cluster: publish %q: %w", o.Code, err)
	}
	return fenceErr(r)
}

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('ZREM', KEYS[5], ARGV[2])
if ARGV[3] ~= '' then redis.call('SREM', KEYS[6], ARGV[2]) end
return 1`)

// Release ends the ownership. With ended (game_end, inactivity) the match
// is gone from the cluster: its meta, lease and stream are deleted; the
// token and the latest state stay until they expire, so a later match of
// the same code still orders after this one. matchID is the game's id to
// unindex ("" for none).
func (o *Owner) Release(ctx context.Context, ended bool, matchID string) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true
	o.mu.Unlock()
	n := o.n
	n.ownMu.Lock()
	if n.owners[o.Code] == o {
		delete(n.owners, o.Code)
	}
	n.ownMu.Unlock()
	n.unsubscribe(inChannel(o.Code))
	if !ended {
		return
	}
	err := releaseScript.Run(ctx, n.rdb,
		[]string{key(o.Code, "token"), key(o.Code, "meta"), key(o.Code, "lease"), key(o.Code, "events"), liveKey, midKey(matchID)},
		o.tok(), o.Code, matchID).Err()
	if err != nil {
		n.log.Warn("cluster: match keys not deleted (they expire)", "groupCode", o.Code, "err", err)
	}
}

// IndexMatchID records that the match observes the game matchID, for
// auxiliary clients logging on to other nodes.
func (o *Owner) IndexMatchID(ctx context.Context, old, id string) error {
	p := o.n.rdb.TxPipeline()
	if old != "" {
		p.SRem(ctx, midKey(old), o.Code)
	}
	if id != "" {
		p.SAdd(ctx, midKey(id), o.Code)
		p.PExpire(ctx, midKey(id), o.n.cfg.KeyTTL)
	}
	_, err := p.Exec(ctx)
	return err
}

var restoreScript = redis.NewScript(`
local t = redis.call('GET', KEYS[2])
if t and t ~= ARGV[10] then return 0 end
redis.call('SET', KEYS[2], ARGV[9], 'PX', ARGV[6])
redis.call('HSET', KEYS[1], 'secret', ARGV[1], 'logon', ARGV[2], 'start', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('DEL', KEYS[5])
redis.call('SET', KEYS[3], ARGV[4] .. ':' .. ARGV[9], 'PX', ARGV[5])
redis.call('ZADD', KEYS[4], tonumber(ARGV[7]) + tonumber(ARGV[5]), ARGV[8])
return 1`)

// Restore writes the keys of a match Redis lost (ErrLost), or whose
// stream missed events while Redis was unreachable, back from what the
// owner has: its meta and every event it applied (from its replay file);
// the stream is replaced. The token continues above the owner's, so
// states published from here on order after the ones before. ErrFenced
// when another node owns the code meanwhile.
func (o *Owner) Restore(ctx context.Context, secret string, logon []byte, events []Entry, matchID string) error {
	n := o.n
	o.mu.Lock()
	cur := o.token
	next := cur + 1
	o.mu.Unlock()
	r, err := restoreScript.Run(ctx, n.rdb,
		[]string{key(o.Code, "meta"), key(o.Code, "token"), key(o.Code, "lease"), liveKey, key(o.Code, "events")},
		secret, logon, o.Start, n.cfg.NodeID, ms(n.cfg.LeaseTTL), ms(n.cfg.KeyTTL), time.Now().UnixMilli(), o.Code, next, cur).Int64()
	if err != nil {
		return fmt.Errorf("cluster: restore %q: %w", o.Code, err)
	}
	if r == 0 {
		return ErrFenced
	}
	o.mu.Lock()
	o.token = next
	o.mu.Unlock()
	for i := 0; i < len(events); i += 500 {
		p := n.rdb.Pipeline()
		for _, e := range events[i:min(i+500, len(events))] {
			p.XAdd(ctx, &redis.XAddArgs{Stream: key(o.Code, "events"), Values: []any{"t", e.TS, "e", e.Raw}})
		}
		p.PExpire(ctx, key(o.Code, "events"), n.cfg.KeyTTL)
		if _, err := p.Exec(ctx); err != nil {
			return fmt.Errorf("cluster: restore %q: stream: %w", o.Code, err)
		}
	}
	if matchID != "" {
		if err := o.IndexMatchID(ctx, "", matchID); err != nil {
			return fmt.Errorf("cluster: restore %q: match id: %w", o.Code, err)
		}
	}
	// The subscription to the input channel died with the connection
	// only if the node's pub/sub connection did; go-redis resubscribes.
	return nil
}

var renewScript = redis.NewScript(`
local t = redis.call('GET', KEYS[1])
if not t then return -2 end
if t ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2] .. ':' .. t, 'PX', ARGV[3])
redis.call('ZADD', KEYS[3], tonumber(ARGV[4]) + tonumber(ARGV[3]), ARGV[5])
return 1`)

// Renew renews the lease now: nil while this node owns the match,
// ErrFenced or ErrLost otherwise.
func (o *Owner) Renew(ctx context.Context) error {
	r, err := renewScript.Run(ctx, o.n.rdb, []string{key(o.Code, "token"), key(o.Code, "lease"), liveKey},
		o.tok(), o.n.cfg.NodeID, ms(o.n.cfg.LeaseTTL), time.Now().UnixMilli(), o.Code).Int64()
	if err != nil {
		return fmt.Errorf("cluster: renew %q: %w", o.Code, err)
	}
	return fenceErr(r)
}

// renewLoop renews every owned lease each third of LeaseTTL, in one
// pipeline, and tells the owners that lost theirs.
func (n *Node) renewLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.LeaseTTL / 3)
	defer t.Stop()
	var owners []*Owner
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		owners = owners[:0]
		n.ownMu.Lock()
		for _, o := range n.owners {
			owners = append(owners, o)
		}
		n.ownMu.Unlock()
		if len(owners) == 0 {
			continue
		}
		now := time.Now().UnixMilli()
		for _, o := range owners {
			// One call each, not a pipeline: Script.Run reloads a script a
			// restarted Redis lost only outside pipelines.
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaseTTL/3)
			r, err := renewScript.Run(ctx, n.rdb, []string{key(o.Code, "token"), key(o.Code, "lease"), liveKey},
				o.tok(), n.cfg.NodeID, ms(n.cfg.LeaseTTL), now, o.Code).Int64()
			cancel()
			if err != nil {
				// Redis away: the lease may lapse; the fence decides later.
				n.log.Debug("cluster: lease renewal failed", "groupCode", o.Code, "err", err)
				continue
			}
			if ferr := fenceErr(r); ferr != nil {
				o.notifyLost(ferr)
			}
		}
	}
}

func (o *Owner) notifyLost(err error) {
	o.mu.Lock()
	closed := o.closed
	o.mu.Unlock()
	if closed || o.lost == nil {
		return
	}
	o.lost(err)
}
