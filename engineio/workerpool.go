package engineio

import (
	"sync/atomic"
	"time"
)

// workerPool runs short tasks (read a ready connection, flush a queue) on a
// bounded set of reusable goroutines, so that neither reads nor writes cost
// a goroutine per message or per idle connection.
type workerPool struct {
	tasks   chan func()
	max     int32
	workers atomic.Int32
}

// workerIdle is how long an idle worker waits before it exits.
const workerIdle = 10 * time.Second

func newWorkerPool(max int) *workerPool {
	return &workerPool{tasks: make(chan func()), max: int32(max)}
}

// schedule runs fn on an idle worker, a new worker while under the bound,
// and otherwise on a goroutine of its own: it never blocks, because tasks
// schedule other tasks and a full pool must not deadlock.
func (p *workerPool) schedule(fn func()) {
	select {
	case p.tasks <- fn:
		return
	default:
	}
	if p.workers.Add(1) <= p.max {
		go p.worker(fn)
		return
	}
	p.workers.Add(-1)
	go fn()
}

func (p *workerPool) worker(fn func()) {
	defer p.workers.Add(-1)
	fn()
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		select {
		case fn := <-p.tasks:
			fn()
			// Since Go 1.23 Reset also drops a pending expiry.
			t.Reset(workerIdle)
		case <-t.C:
			return
		}
	}
}
