// Package cluster is the Redis side of running several relay nodes as one:
// match ownership (a lease with a fencing token), the per-match event
// stream a new owner rebuilds from, the match_data channel every node with
// overlays of a match subscribes to, the channel that carries auxiliary
// data to the owner, and the stores every node answers the HTTP extras
// from. It knows Redis keys and byte strings, not matches: the relay
// decides what an event or a state is.
//
// Keys (all under the prefix "spectra:"; {code} is the group code):
//
//	m:{code}:meta     hash: secret, logon (raw obs_logon payload), start (ms)
//	m:{code}:token    the fencing token: INCR on every change of owner
//	m:{code}:lease    "node:token", PX LeaseTTL, renewed by the owner
//	m:{code}:events   stream of accepted events (t = ms, e = payload), capped
//	m:{code}:state    the latest published match_data (header + packet)
//	mid:{matchId}     set of the group codes observing that game
//	live              sorted set: group code -> lease expiry (ms), /status
//	teaminfo:{code}   finished-match team info, PX TeamInfoTTL
//	preview:{code}    preview document, PX PreviewTTL
//
// Channels: m:{code}:out (match_data from the owner), m:{code}:in
// (auxiliary data and disconnects forwarded to the owner).
//
// The fence: every write an owner makes for a match (append, publish,
// renew, release) runs as a Lua script that first compares the match's
// token with the owner's. Another node taking the match over increments
// the token, so a paused or partitioned old owner's next write fails, and
// the old owner stops.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

const prefix = "spectra:"

// Defaults of Config.
const (
	DefaultLeaseTTL     = 6 * time.Second
	DefaultStreamMaxLen = 200_000
	DefaultKeyTTL       = 30 * time.Minute
)

// Errors of the ownership calls.
var (
	// ErrTaken: the group code is live (another secret, or created by
	// another node first).
	ErrTaken = errors.New("cluster: group code is live")
	// ErrNoMatch: Redis has no match for the group code.
	ErrNoMatch = errors.New("cluster: no match for the group code")
	// ErrFenced: another node owns the match now; this owner must stop.
	ErrFenced = errors.New("cluster: match owned by another node (fenced)")
	// ErrLost: Redis no longer has the match's keys (restarted without
	// persistence, or flushed); the owner may restore them.
	ErrLost = errors.New("cluster: match keys lost in Redis")
	// ErrStreamFull: the event stream reached its cap; the event is
	// applied but a rebuild will not see it.
	ErrStreamFull = errors.New("cluster: event stream full")
)

// Config configures a Node.
type Config struct {
	// URL is a redis:// or rediss:// URL (go-redis ParseURL).
	URL string
	// NodeID names this node in leases and logs; default host:pid.
	NodeID string
	// LeaseTTL is how long a lease lives unrenewed; renewal runs every
	// third of it. It bounds how long /status still counts the match of a
	// dead owner; takeover by the observer's reconnect does not wait for it.
	LeaseTTL time.Duration
	// StreamMaxLen caps one match's event stream (entries).
	StreamMaxLen int64
	// KeyTTL is the expiry of a match's keys, renewed by every event: the
	// relay's inactivity timeout.
	KeyTTL time.Duration
	Logger *slog.Logger
}

// Node is one relay node's connection to the cluster.
type Node struct {
	cfg Config
	rdb *redis.Client
	log *slog.Logger

	ps      *redis.PubSub
	psMu    sync.Mutex
	onOut   func(code string, seq Seq, pkt []byte)
	onIn    func(code string, kind byte, payload []byte)
	ownMu   sync.Mutex
	owners  map[string]*Owner
	stop    chan struct{}
	stopped sync.Once
	wg      sync.WaitGroup
}

// Handlers receive what arrives on the channels; set them before
// subscribing. They run on the node's single receive goroutine.
type Handlers struct {
	// Out gets a match_data packet published by the owner of code.
	Out func(code string, seq Seq, pkt []byte)
	// In gets a forwarded auxiliary message for a match this node owns.
	In func(code string, kind byte, payload []byte)
}

// New connects to Redis (one PING to fail early) and starts the lease
// renewal and the channel receiver.
func New(ctx context.Context, cfg Config, h Handlers) (*Node, error) {
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.StreamMaxLen <= 0 {
		cfg.StreamMaxLen = DefaultStreamMaxLen
	}
	if cfg.KeyTTL <= 0 {
		cfg.KeyTTL = DefaultKeyTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NodeID == "" {
		host, _ := os.Hostname()
		cfg.NodeID = host + "-" + strconv.Itoa(os.Getpid())
	}
	opt, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("cluster: redis URL: %w", err)
	}
	// Fail fast while Redis is away: an ingest call must not hang.
	opt.DialTimeout = time.Second
	opt.ReadTimeout = 2 * time.Second
	opt.WriteTimeout = 2 * time.Second
	opt.MaxRetries = 1
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("cluster: redis at %s: %w", opt.Addr, err)
	}
	n := &Node{cfg: cfg, rdb: rdb, log: cfg.Logger.With("node", cfg.NodeID),
		onOut: h.Out, onIn: h.In, owners: make(map[string]*Owner), stop: make(chan struct{})}
	n.ps = rdb.Subscribe(context.Background())
	n.wg.Add(2)
	go n.receive()
	go n.renewLoop()
	n.log.Info("cluster mode on", "redis", opt.Addr, "leaseTTL", cfg.LeaseTTL, "streamMaxLen", cfg.StreamMaxLen)
	return n, nil
}

// ID is the node's name in leases.
func (n *Node) ID() string { return n.cfg.NodeID }

// Close stops the loops and the connections. Owned matches keep their
// keys: another node may take them over.
func (n *Node) Close() {
	n.stopped.Do(func() { close(n.stop) })
	n.psMu.Lock()
	_ = n.ps.Close()
	n.psMu.Unlock()
	n.wg.Wait()
	_ = n.rdb.Close()
}

func key(code, what string) string   { return prefix + "m:" + code + ":" + what }
func outChannel(code string) string  { return key(code, "out") }
func inChannel(code string) string   { return key(code, "in") }
func midKey(id string) string        { return prefix + "mid:" + id }
func teamInfoKey(code string) string { return prefix + "teaminfo:" + code }
func previewKey(code string) string  { return prefix + "preview:" + code }

const liveKey = prefix + "live"

func ms(d time.Duration) int64 { return d.Milliseconds() }
