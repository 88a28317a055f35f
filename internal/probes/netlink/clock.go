package netlink

import (
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// clock converts the kernel's times to wall-clock time. The proc connector
// stamps events with ktime_get_ns(), CLOCK_MONOTONIC, which stops while the
// machine is suspended; process start times (task->start_boottime, /proc's
// starttime, the process cache) are CLOCK_BOOTTIME, which does not. Event
// times are converted to boot time first, so that one process's start time
// is the same wall-clock time in every event.
type clock struct {
	// bootWall is the wall-clock time at which CLOCK_BOOTTIME was zero.
	bootWall time.Time
	// suspended is CLOCK_BOOTTIME - CLOCK_MONOTONIC in nanoseconds: the
	// time spent suspended since boot.
	suspended atomic.Int64
}

func newClock() (*clock, error) {
	bootWall, err := measure(unix.CLOCK_BOOTTIME, unix.CLOCK_REALTIME)
	if err != nil {
		return nil, err
	}
	c := &clock{bootWall: time.Unix(0, bootWall)}
	return c, c.resync()
}

// resync measures the suspended time again; it changes only across a
// suspend, and is updated only when it changed by more than a millisecond
// so that the conversion is stable between suspends.
func (c *clock) resync() error {
	d, err := measure(unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME)
	if err != nil {
		return err
	}
	if old := c.suspended.Load(); d-old > int64(time.Millisecond) || old-d > int64(time.Millisecond) || old == 0 {
		c.suspended.Store(d)
	}
	return nil
}

// boot converts CLOCK_MONOTONIC nanoseconds to CLOCK_BOOTTIME nanoseconds.
func (c *clock) boot(mono uint64) uint64 {
	return mono + uint64(c.suspended.Load())
}

// wall converts CLOCK_BOOTTIME nanoseconds to wall-clock time; 0 is unknown.
func (c *clock) wall(boot uint64) time.Time {
	if boot == 0 {
		return time.Time{}
	}
	return c.bootWall.Add(time.Duration(boot))
}

// measure returns the offset to clock "to" from clock "from" (to - from, in
// nanoseconds), taking the tightest of a few readings of from, to, from.
func measure(from, to int32) (int64, error) {
	best, off := int64(-1), int64(0)
	for range 5 {
		var a, b, c unix.Timespec
		for _, r := range []struct {
			id int32
			ts *unix.Timespec
		}{{from, &a}, {to, &b}, {from, &c}} {
			if err := unix.ClockGettime(r.id, r.ts); err != nil {
				return 0, fmt.Errorf("read clock %d: %w", r.id, err)
			}
		}
		if spread := c.Nano() - a.Nano(); best < 0 || spread < best {
			best = spread
			off = b.Nano() - (a.Nano()+c.Nano())/2
		}
	}
	return off, nil
}
