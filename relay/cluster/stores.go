package cluster

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RunID is the Redis server's run_id: it changes when Redis restarts.
func (n *Node) RunID(ctx context.Context) (string, error) {
	info, err := n.rdb.Info(ctx, "server").Result()
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			return v, nil
		}
	}
	return "", errors.New("cluster: no run_id in INFO server")
}

// LiveCount is the number of matches whose owner's lease is current.
func (n *Node) LiveCount(ctx context.Context) (int, error) {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	c, err := n.rdb.ZCount(ctx, liveKey, now, "+inf").Result()
	if err == nil && c == 0 {
		// Old entries of dead owners: drop them now and then.
		_ = n.rdb.ZRemRangeByScore(ctx, liveKey, "-inf", now).Err()
	}
	return int(c), err
}

// PutTeamInfo keeps a finished match's team info for ttl.
func (n *Node) PutTeamInfo(ctx context.Context, code string, info []byte, ttl time.Duration) error {
	return n.rdb.Set(ctx, teamInfoKey(code), info, ttl).Err()
}

// TeamInfo returns it, ok false when there is none.
func (n *Node) TeamInfo(ctx context.Context, code string) ([]byte, bool, error) {
	return n.get(ctx, teamInfoKey(code))
}

// PutPreview keeps a preview document for ttl.
func (n *Node) PutPreview(ctx context.Context, code string, doc []byte, ttl time.Duration) error {
	return n.rdb.Set(ctx, previewKey(code), doc, ttl).Err()
}

// Preview returns it, ok false when there is none.
func (n *Node) Preview(ctx context.Context, code string) ([]byte, bool, error) {
	return n.get(ctx, previewKey(code))
}

func (n *Node) get(ctx context.Context, k string) ([]byte, bool, error) {
	b, err := n.rdb.Get(ctx, k).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}
