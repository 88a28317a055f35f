package ebpf

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/ringbuf"
)

// brokenReader fails every read, as a ring buffer that can no longer be
// read would.
type brokenReader struct{}

func (brokenReader) ReadInto(*ringbuf.Record) error { return errors.New("mmap gone") }
func (brokenReader) SetDeadline(time.Time)          {}
func (brokenReader) Close() error                   { return nil }

// A reader that keeps failing makes the provider report itself failed,
// once, with the cause, and counts the failed reads.
func TestReaderFailureIsReported(t *testing.T) {
	p := New(Options{})
	p.reader = brokenReader{}
	p.wg.Add(1)
	go p.readLoop()
	select {
	case err := <-p.Failed():
		if !strings.Contains(err.Error(), "mmap gone") {
			t.Errorf("failure %v does not name the cause", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a reader failing every read was not reported")
	}
	p.wg.Wait() // the loop has stopped
	var reads uint64
	for _, d := range p.Drops() {
		if d.Reason == "read_error" {
			reads = d.Count
		}
	}
	if reads != maxReadErrors {
		t.Errorf("read errors counted %d, want %d", reads, maxReadErrors)
	}
}
