package cluster

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

func (n *Node) subscribe(ch string) {
	n.psMu.Lock()
	defer n.psMu.Unlock()
	if err := n.ps.Subscribe(context.Background(), ch); err != nil {
		n.log.Warn("cluster: subscribe", "channel", ch, "err", err)
	}
}

func (n *Node) unsubscribe(ch string) {
	n.psMu.Lock()
	defer n.psMu.Unlock()
	if err := n.ps.Unsubscribe(context.Background(), ch); err != nil {
		n.log.Debug("cluster: unsubscribe", "channel", ch, "err", err)
	}
}

// SubscribeOut starts receiving the match_data of code (Handlers.Out).
func (n *Node) SubscribeOut(code string) { n.subscribe(outChannel(code)) }

// UnsubscribeOut stops it.
func (n *Node) UnsubscribeOut(code string) { n.unsubscribe(outChannel(code)) }

// LatestState is the match's latest published state, for an overlay
// logging on to a node that has not received one yet.
func (n *Node) LatestState(ctx context.Context, code string) (Seq, []byte, bool, error) {
	b, err := n.rdb.Get(ctx, key(code, "state")).Bytes()
	if errors.Is(err, redis.Nil) {
		return Seq{}, nil, false, nil
	}
	if err != nil {
		return Seq{}, nil, false, err
	}
	s, ok := parseSeq(b)
	if !ok {
		return Seq{}, nil, false, nil
	}
	return s, b[seqHeaderLen:], true, nil
}

// Forward kinds on the input channel.
const (
	InData     byte = 'd' // an aux_data payload
	InAuxGone  byte = 'g' // a player's auxiliary client disconnected
	inKindsLen      = 1
)

// Forward sends an auxiliary message to the owner of code; it reports
// whether a node received it (0 receivers: no owner right now, lost).
func (n *Node) Forward(ctx context.Context, code string, kind byte, payload string) (bool, error) {
	msg := make([]byte, 0, inKindsLen+len(payload))
	msg = append(append(msg, kind), payload...)
	r, err := n.rdb.Publish(ctx, inChannel(code), msg).Result()
	return r > 0, err
}

// CodesOfMatchID are the group codes observing the game matchID.
func (n *Node) CodesOfMatchID(ctx context.Context, matchID string) ([]string, error) {
	return n.rdb.SMembers(ctx, midKey(matchID)).Result()
}

func (n *Node) receive() {
	defer n.wg.Done()
	ch := n.ps.Channel(redis.WithChannelSize(1024))
	for {
		select {
		case <-n.stop:
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			n.dispatch(m)
		}
	}
}

func (n *Node) dispatch(m *redis.Message) {
	rest, ok := strings.CutPrefix(m.Channel, prefix+"m:")
	if !ok {
		return
	}
	switch {
	case strings.HasSuffix(rest, ":out"):
		code := strings.TrimSuffix(rest, ":out")
		b := []byte(m.Payload)
		s, ok := parseSeq(b)
		if !ok || n.onOut == nil {
			return
		}
		n.onOut(code, s, b[seqHeaderLen:])
	case strings.HasSuffix(rest, ":in"):
		code := strings.TrimSuffix(rest, ":in")
		if len(m.Payload) < inKindsLen || n.onIn == nil {
			return
		}
		n.onIn(code, m.Payload[0], []byte(m.Payload[inKindsLen:]))
	}
}
