package eioclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// pollingTransport is HTTP long-polling: one GET in flight to receive, one
// POST at a time to send.
type pollingTransport struct {
	c *Conn

	pauseOnce sync.Once
	pauseReq  chan struct{} // closed to ask the poll loop to stop
	paused    chan struct{} // closed by the poll loop when it has stopped
	abortOnce sync.Once
}

func (c *Conn) newPolling() *pollingTransport {
	return &pollingTransport{c: c, pauseReq: make(chan struct{}), paused: make(chan struct{})}
}

func (p *pollingTransport) name() string { return TransportPolling }

// abort stops the poll loop; in-flight requests die with the connection's
// context when the connection ends.
func (p *pollingTransport) abort() {
	p.abortOnce.Do(func() { p.pauseOnce.Do(func() { close(p.pauseReq) }) })
}

// pause asks the poll loop to stop after its current request and returns a
// channel closed when it has.
func (p *pollingTransport) pause() <-chan struct{} {
	p.pauseOnce.Do(func() { close(p.pauseReq) })
	return p.paused
}

// openPolling performs the polling handshake.
func (c *Conn) openPolling(ctx context.Context) (*pollingTransport, error) {
	p := c.newPolling()
	body, err := p.get(ctx, c.endpoint("transport", TransportPolling, "t", nextT()).String())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	var rest []packet
	first := true
	err = decodePayload(body, func(pk packet) error {
		if first {
			first = false
			if pk.Type != typeOpen {
				return fmt.Errorf("%w: first packet is type %q, want open", ErrHandshake, pk.Type)
			}
			hs, err := parseOpen(pk.Data)
			if err != nil {
				return err
			}
			c.hs = hs
			return nil
		}
		rest = append(rest, pk)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	for _, pk := range rest {
		if err := c.handle(pk); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *pollingTransport) url() string {
	return p.c.endpoint("transport", TransportPolling, "sid", p.c.hs.SID, "t", nextT()).String()
}

// get performs one GET and returns the body.
func (p *pollingTransport) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	p.addHeaders(req)
	resp, err := p.c.httpc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := p.readBody(resp)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", redact(u), resp.StatusCode, truncate(body, 200))
	}
	return body, nil
}

func (p *pollingTransport) addHeaders(req *http.Request) {
	for k, vs := range p.c.opts.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
}

// readBody reads at most MaxMessageSize bytes, growing as they arrive.
func (p *pollingTransport) readBody(resp *http.Response) ([]byte, error) {
	limit := p.c.opts.MaxMessageSize
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(resp.Body, limit+1))
	p.c.stats.bytesRead.Add(n)
	if err != nil {
		return nil, fmt.Errorf("reading response body: %w", err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: polling response exceeds %d bytes", ErrMessageTooBig, limit)
	}
	return buf.Bytes(), nil
}

// redact drops the query, which only holds protocol noise.
func redact(u string) string {
	if i := bytes.IndexByte([]byte(u), '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// pollLoop receives until paused or the connection ends.
func (p *pollingTransport) pollLoop() {
	defer close(p.paused)
	c := p.c
	for {
		select {
		case <-p.pauseReq:
			return
		case <-c.ctx.Done():
			return
		default:
		}
		body, err := p.get(c.ctx, p.url())
		if err != nil {
			if c.ctx.Err() == nil {
				c.fail(fmt.Errorf("%w: poll: %v", ErrTransport, err))
			}
			return
		}
		err = decodePayload(body, func(pk packet) error {
			c.stats.framesRead.Add(1)
			return c.handle(pk)
		})
		if err != nil {
			c.fail(err)
			return
		}
	}
}

// write sends the batch in as few POSTs as the server's maxPayload allows.
func (p *pollingTransport) write(batch []outItem) error {
	c := p.c
	limit := int(c.hs.MaxPayload)
	if limit <= 0 {
		limit = 1e6
	}
	var body []byte
	count := 0
	for _, it := range batch {
		if it.control != 0 {
			continue // WebSocket control frames do not exist on polling
		}
		n := recordLen(it.pkt)
		if count > 0 && len(body)+1+n > limit {
			if err := p.post(body, count); err != nil {
				return err
			}
			body, count = body[:0], 0
		}
		if count > 0 {
			body = append(body, recordSeparator)
		}
		body = appendRecord(body, it.pkt)
		count++
	}
	if count == 0 {
		return nil
	}
	return p.post(body, count)
}

func (p *pollingTransport) post(body []byte, records int) error {
	c := p.c
	req, err := http.NewRequestWithContext(c.ctx, http.MethodPost, p.url(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	p.addHeaders(req)
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := c.httpc.Do(req)
	if err != nil {
		if c.ctx.Err() != nil {
			return errors.Join(ErrClosed, err)
		}
		return err
	}
	defer resp.Body.Close()
	c.stats.bytesWritten.Add(int64(len(body)))
	c.stats.framesWritten.Add(int64(records))
	rb, err := p.readBody(resp)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST: HTTP %d: %s", resp.StatusCode, truncate(rb, 200))
	}
	return nil
}
