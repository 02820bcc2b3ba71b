package cluster

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// Recoverable ingest sessions (the relay's sessions.go): a client that
// reconnects to another node presents only its private session id (pid).
// The binding lives with its match, in m:{code}:sessions (pid → the
// relay's binding), and sess:{pid} names the match; both expire with the
// match's keys. A pid is a credential: these keys are as private as the
// match's secret beside them.

func sessionKey(pid string) string { return prefix + "sess:" + pid }

// PutSession stores a session's binding with its match.
func (n *Node) PutSession(ctx context.Context, code, pid string, binding []byte) error {
	p := n.rdb.TxPipeline()
	p.HSet(ctx, key(code, "sessions"), pid, binding)
	p.PExpire(ctx, key(code, "sessions"), n.cfg.KeyTTL)
	p.Set(ctx, sessionKey(pid), code, n.cfg.KeyTTL)
	_, err := p.Exec(ctx)
	return err
}

// Session finds a session's match (its code and secret) and binding. ok is
// false when the pid is unknown or its match is no longer live.
func (n *Node) Session(ctx context.Context, pid string) (code, secret string, binding []byte, ok bool, err error) {
	code, err = n.rdb.Get(ctx, sessionKey(pid)).Result()
	if errors.Is(err, redis.Nil) {
		return "", "", nil, false, nil
	}
	if err != nil {
		return "", "", nil, false, err
	}
	p := n.rdb.Pipeline()
	sec := p.HGet(ctx, key(code, "meta"), "secret")
	b := p.HGet(ctx, key(code, "sessions"), pid)
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return "", "", nil, false, err
	}
	if sec.Err() != nil || b.Err() != nil {
		return "", "", nil, false, nil // the match ended (meta deleted) or expired
	}
	return code, sec.Val(), []byte(b.Val()), true, nil
}
