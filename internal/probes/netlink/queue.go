package netlink

import (
	"sync"
	"time"
)

// queued is a message with the time the sensor read it.
type queued struct {
	m        message
	observed time.Time
}

// later counts the messages about one process that are still queued
// behind the one being handled: what the process did after it.
type later struct {
	exec, uid, gid, sid int
}

// queue is the bounded FIFO between the socket reader and the worker that
// reads /proc. It lets the reader keep the socket drained while the worker
// is slow, and lets the worker see what a process did after the event it
// handles (a second exec, a credentials change), which /proc may already
// show. One goroutine pushes, one pops.
type queue struct {
	mu      sync.Mutex
	items   []queued // ring buffer
	head, n int
	closed  bool
	pending map[uint32]later // by process id

	ready chan struct{} // signalled after a push and by close
	space chan struct{} // signalled after a pop and by close
}

func newQueue(size int) *queue {
	return &queue{
		items:   make([]queued, size),
		pending: make(map[uint32]later),
		ready:   make(chan struct{}, 1),
		space:   make(chan struct{}, 1),
	}
}

// push appends it, waiting while the queue is full. It returns false once
// the queue is closed.
func (q *queue) push(it queued) bool {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return false
		}
		if q.n < len(q.items) {
			q.items[(q.head+q.n)%len(q.items)] = it
			q.n++
			q.count(it.m, 1)
			q.mu.Unlock()
			signal(q.ready)
			return true
		}
		q.mu.Unlock()
		<-q.space
	}
}

// pop removes the oldest item. ok is false when the queue is empty; done is
// true when it is also closed.
func (q *queue) pop() (it queued, ok, done bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return queued{}, false, q.closed
	}
	it = q.items[q.head]
	q.items[q.head] = queued{}
	q.head = (q.head + 1) % len(q.items)
	q.n--
	q.count(it.m, -1)
	signal(q.space)
	return it, true, false
}

// later returns what is queued about process pid.
func (q *queue) later(pid uint32) later {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending[pid]
}

// close makes push fail; pop drains what is left.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	signal(q.ready)
	signal(q.space)
}

// count adds d to the pending messages of m's process that the worker
// looks ahead for: execs, the leader's uid and gid changes, and setsid by
// any thread (the session is the process's).
func (q *queue) count(m message, d int) {
	l := q.pending[m.tgid]
	switch {
	case m.what == procEventExec:
		l.exec += d
	case m.what == procEventUID && m.leader():
		l.uid += d
	case m.what == procEventGID && m.leader():
		l.gid += d
	case m.what == procEventSID:
		l.sid += d
	default:
		return
	}
	if l == (later{}) {
		delete(q.pending, m.tgid)
		return
	}
	q.pending[m.tgid] = l
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
