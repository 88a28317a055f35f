package netlink

import (
	"time"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// An exec's program is read from /proc after the exec event; if the process
// has meanwhile exec'd again, /proc shows the later program. The kernel
// queues the later exec's event only at the end of that exec, some time
// after /proc switched to the new program, so it may not be queued yet when
// the first is read. The worker therefore holds an exec event, and the
// events of that process that follow it, until the process's next exec
// shows whether the read could have seen the later program, or until that
// could no longer happen.
const (
	// settleMargin bounds the time from the moment /proc shows a new
	// program to the kernel's exec event (the rest of the exec: mapping
	// the program and its interpreter, setting up the stack).
	settleMargin = 10 * time.Millisecond
	// settleTime is how long an exec event is held: past settleMargin,
	// so a later exec that could have been seen is queued by then.
	settleTime = 2 * settleMargin
)

// hold is an exec event held with the events of its process that followed.
type hold struct {
	pid      uint32
	events   []*event.Event
	readEnd  uint64 // CLOCK_MONOTONIC nanoseconds when /proc had been read
	deadline time.Time
}

// settle takes the event built from m. It returns the events to emit now,
// in order.
func (p *Provider) settle(m message, ev *event.Event, readEnd uint64, now time.Time) []*event.Event {
	pid := m.pid
	if m.what == procEventFork {
		pid = m.parentTgid // a fork is its parent's action
	}
	var out []*event.Event
	if h := p.holds[pid]; h != nil {
		if m.what != procEventExec {
			if ev != nil {
				h.events = append(h.events, ev)
			}
			if m.what == procEventExit {
				out = p.releaseHold(h, out) // no exec can follow
			}
			return out
		}
		// The next exec: the held read may have seen it if its event
		// came soon enough after the read.
		if m.time < h.readEnd+uint64(settleMargin) {
			p.unsettled(h)
		}
		out = p.releaseHold(h, out)
	}
	if ev == nil {
		return out
	}
	if readEnd == 0 {
		return append(out, ev)
	}
	h := &hold{pid: pid, events: []*event.Event{ev}, readEnd: readEnd, deadline: now.Add(settleTime)}
	p.holds[pid] = h
	p.holdOrder = append(p.holdOrder, h)
	return out
}

// due releases the holds whose time is up, unless an exec of the process is
// queued: its handling decides.
func (p *Provider) due(now time.Time, out []*event.Event) []*event.Event {
	for len(p.holdOrder) > 0 && !p.holdOrder[0].deadline.After(now) {
		h := p.holdOrder[0]
		p.holdOrder[0] = nil
		p.holdOrder = p.holdOrder[1:]
		if p.holds[h.pid] != h || p.q.later(h.pid).exec > 0 {
			continue
		}
		out = p.releaseHold(h, out)
	}
	return out
}

// releaseAll releases every hold, oldest first (at the end: no exec can
// follow any more).
func (p *Provider) releaseAll(out []*event.Event) []*event.Event {
	for _, h := range p.holdOrder {
		if p.holds[h.pid] == h {
			out = p.releaseHold(h, out)
		}
	}
	p.holdOrder = nil
	for _, h := range p.holds {
		out = p.releaseHold(h, out)
	}
	return out
}

// nextDeadline is when the oldest hold is due; zero when there is none.
func (p *Provider) nextDeadline() time.Time {
	if len(p.holdOrder) == 0 {
		return time.Time{}
	}
	return p.holdOrder[0].deadline
}

func (p *Provider) releaseHold(h *hold, out []*event.Event) []*event.Event {
	delete(p.holds, h.pid)
	return append(out, h.events...)
}

// unsettled marks a hold whose read may have seen a later program: the
// program-specific values of its events are unknown, and so is what
// children forked meanwhile inherited.
func (p *Provider) unsettled(h *hold) {
	for _, ev := range h.events {
		pr := &ev.Process
		names := []string{event.AttrExecutablePath, attrComm}
		pr.ExecutablePath, pr.Comm = "", ""
		ev.ForgetView(event.AttrExecutablePath)
		switch ev.Kind {
		case event.KindExec:
			if ev.Exec != nil {
				ev.Exec.Args, ev.Exec.ArgsCount, ev.Exec.WorkingDirectory = nil, -1, ""
				ev.ForgetView(event.AttrWorkingDirectory)
				ev.Truncated = nil
				names = append(names, event.AttrCommandArgs, attrArgsCount, event.AttrWorkingDirectory)
			}
		case event.KindFork:
			pr.ParentExecutablePath = ""
			ev.ForgetView(event.AttrParentExecutablePath)
			names = append(names, event.AttrParentExecutablePath)
			if e, ok := p.cache.Lookup(pr.PID, 0); ok {
				e.ExecutablePath, e.Comm = "", ""
				p.cache.Put(e)
			}
		}
		ev.Incomplete = dedupe(append(ev.Incomplete, names...))
	}
}
