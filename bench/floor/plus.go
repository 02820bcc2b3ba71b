package floor

import (
	"syscall"
	"time"

	"spectra-relay/internal/deltaflate"
	"spectra-relay/internal/uring"
)

// The "floor+" variant (Config.Plus): the floor with the two things
// spectra-server has beyond it, so that the relay can be judged against the
// best minimal server and not only the plainest one. The shared context is
// compressed with internal/deltaflate (the relay's encoder) instead of
// compress/flate, and a broadcast's writes to idle overlays go out in
// io_uring submissions of up to ringEntries sends (internal/uring, as
// engineio's batched writes do) instead of one write(2) each. A send the
// socket does not take whole goes on through the connection's pending tail
// exactly like a short write(2).

// ringEntries bounds one submission, as engineio's batches do.
const ringEntries = 128

// plusState is a match's floor+ machinery; only the match's loop uses it.
type plusState struct {
	dz    *deltaflate.Encoder
	zout  []byte
	ring  *uring.Ring // nil: io_uring unavailable, one write(2) per overlay
	conns []*conn     // the batch being submitted, each with wmu held
	bufs  [][]byte
}

func newPlus(s *Server) *plusState {
	p := &plusState{dz: deltaflate.NewEncoder()}
	r, err := uring.New(ringEntries)
	if err != nil {
		s.ringOnce.Do(func() { s.log.Warn("floor+: no io_uring, one write(2) per overlay", "err", err) })
		return p
	}
	p.ring = r
	return p
}

func (p *plusState) close() {
	if p != nil && p.ring != nil {
		p.ring.Close()
		p.ring = nil
	}
}

// compress is frame's compression with deltaflate: msg against the
// match's history, as a compressed WebSocket frame.
func (p *plusState) compress(msg []byte) []byte {
	p.dz.Write(msg)
	p.zout = p.dz.Flush(p.zout[:0])
	return compressedFrame(p.zout)
}

// RingSends is how many sends floor+ made through io_uring.
func (s *Server) RingSends() int64 { return s.ringSends.Load() }

// broadcast sends f to every overlay of ovs that is not draining, in
// io_uring batches where it can; it reports whether any overlay took f.
func (m *match) broadcast(ovs []*conn, f *sendFrame) bool {
	p := m.plus
	if p == nil || p.ring == nil {
		sent := false
		for _, c := range ovs {
			if m.sendTo(c, f) {
				sent = true
			}
		}
		return sent
	}
	sent := false
	for i := 0; i < len(ovs); {
		for ; i < len(ovs) && len(p.conns) < ringEntries; i++ {
			c := ovs[i]
			c.wmu.Lock()
			b, ok := m.frameFor(c, f)
			if !ok {
				c.wmu.Unlock()
				continue
			}
			sent = true
			// Only sockets the poller holds have their descriptor at
			// hand; close takes wmu before closing it, so it stays valid
			// until the batch is reaped.
			if c.fd < 0 || !p.ring.PrepSend(c.fd, b, uint64(len(p.conns))) {
				c.writeLocked(b)
				c.wmu.Unlock()
				continue
			}
			p.conns = append(p.conns, c)
			p.bufs = append(p.bufs, b)
		}
		m.submit()
	}
	return sent
}

// submit sends the batch, settles each send's result and lets the
// connections go.
func (m *match) submit() {
	p := m.plus
	if len(p.conns) == 0 {
		return
	}
	// The relay's batch waits 50 ms for its completions (engineio.batchWait).
	if _, err := p.ring.Submit(50 * time.Millisecond); err != nil {
		// What the kernel did with each send is unknown: the streams of
		// these overlays cannot be trusted any more.
		m.s.log.Warn("floor+: io_uring submission failed", "err", err, "sends", len(p.conns))
		p.ring.Reap(func(uint64, int32) {})
		for _, c := range p.conns {
			c.dead = true
			go c.close()
		}
	} else {
		p.ring.Reap(func(ud uint64, res int32) {
			if j := int(ud); j < len(p.conns) {
				settle(p.conns[j], p.bufs[j], res)
			}
			m.s.ringSends.Add(1)
		})
	}
	for i, c := range p.conns {
		c.wmu.Unlock()
		p.conns[i], p.bufs[i] = nil, nil
	}
	p.conns, p.bufs = p.conns[:0], p.bufs[:0]
}

// settle applies one send's result (bytes sent or -errno) like
// writeLocked applies a write(2)'s: a tail the socket did not take is
// drained by a goroutine; an error ends the connection. Under c.wmu.
func settle(c *conn, b []byte, res int32) {
	switch {
	case int(res) == len(b):
	case res >= 0:
		c.pending = append([]byte(nil), b[res:]...)
		go c.drain()
	case syscall.Errno(-res) == syscall.EAGAIN || syscall.Errno(-res) == syscall.EINTR:
		c.pending = append([]byte(nil), b...)
		go c.drain()
	default:
		c.dead = true
		go c.close()
	}
}
