package export

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otel-sensor/otel-sensor/internal/event"
	"github.com/otel-sensor/otel-sensor/internal/probes"
)

// Pipeline defaults.
const (
	DefaultQueueSize = 8192
	DefaultMaxBatch  = 512
	// DefaultMaxBatchBytes keeps a request at half the 4 MiB a gRPC
	// server (a Collector's otlp receiver among them) accepts by default,
	// whatever export.max_batch says: 512 file.open records are about
	// 0.55 MiB, so it bounds batches of 1,900 and more.
	DefaultMaxBatchBytes   = 2 << 20
	DefaultFlushInterval   = 200 * time.Millisecond
	DefaultMetricsInterval = 60 * time.Second
)

// DefaultExports is how many batches are exported at once by default.
const DefaultExports = 1

// When the batcher finds fewer than gatherBelow events queued, it waits
// gatherFor before it looks again, so that events arriving one by one are
// taken in groups instead of each waking it (measured: fewer drops at
// 100,000 events/s when the CPUs are short; docs/performance.md). An event
// waits that much longer; the flush interval bounds the wait anyway.
const (
	gatherBelow = 64
	gatherFor   = 500 * time.Microsecond
)

// Drop stages and reasons the pipeline itself counts. The provider counts
// its own (stage kernel or decode).
const (
	stageQueue         = "queue"
	stageExport        = "export"
	reasonQueueFull    = "queue_full"
	reasonShutdown     = "shutdown"
	reasonExportFailed = "export_failed"
)

// PipelineConfig configures a Pipeline. A zero or negative number or
// duration means its default.
type PipelineConfig struct {
	// QueueSize is how many events wait for export before new ones are
	// dropped (default DefaultQueueSize).
	QueueSize int
	// MaxBatch is the most log records in one export (default
	// DefaultMaxBatch).
	MaxBatch int
	// MaxBatchBytes bounds the size of one export in OTLP protobuf bytes
	// (default DefaultMaxBatchBytes): a batch ends before the record that
	// would take it over. A record larger than this goes alone.
	MaxBatchBytes int
	// Exports is how many batches are exported at once (default
	// DefaultExports). More than one keeps a receiver busy while an answer
	// is on its way, at the cost of the order between batches: they may
	// arrive in another order than they were made.
	Exports int
	// FlushInterval is the longest an event waits in a partial batch
	// (default DefaultFlushInterval).
	FlushInterval time.Duration
	// MetricsInterval is the time between metrics exports (default
	// DefaultMetricsInterval). Metrics are exported once more at Shutdown.
	MetricsInterval time.Duration

	// Provider is the name of the active provider, reported by
	// sensor.provider.status; empty leaves that metric out.
	Provider string
	// Drops returns the provider's cumulative drop counts; nil means none.
	Drops func() []probes.Drop
	// Syscalls returns the provider's cumulative syscall counts; nil means
	// none.
	Syscalls func() []probes.SyscallCount
	// Excluded returns the cumulative counts of events excluded by
	// configuration, by reason; nil means none.
	Excluded func() map[string]uint64
}

func (c PipelineConfig) withDefaults() PipelineConfig {
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if c.Exports <= 0 {
		c.Exports = DefaultExports
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.MetricsInterval <= 0 {
		c.MetricsInterval = DefaultMetricsInterval
	}
	return c
}

// Pipeline sits between a provider and an Exporter: a bounded queue that
// drops and counts when full, a batcher that turns events into log records,
// and the sensor's own metrics. It implements probes.Handler.
//
// The batcher goroutine takes events off the queue and maps each into the
// batch being built; the senders (Exports goroutines) export full batches
// and the metrics. So the next batch is mapped while others are exported.
// Batches go round Exports+1 reused slots: besides the queue, the pipeline
// holds at most one batch being mapped and Exports being exported (or
// waiting to be), each bounded by MaxBatch records and MaxBatchBytes.
type Pipeline struct {
	res atomic.Pointer[Resource] // replaced by SetProvider
	// provider is the active provider's name (sensor.provider.status).
	provider atomic.Pointer[string]
	exp      Exporter
	cfg      PipelineConfig
	start    time.Time // when counting began; start time of the cumulative sums
	queue    chan *event.Event

	// gate is held shared by Handle and exclusively to change started or
	// closed, so once Shutdown has set closed no event can enter the queue.
	gate    sync.RWMutex
	started bool
	closed  bool

	stop   chan struct{} // closed by Shutdown: the batcher drains and returns
	done   chan struct{} // closed when the senders have returned
	cancel context.CancelFunc

	// free holds the batches not in use; full the batches the batcher
	// hands to the senders, closed when the batcher returns.
	free, full chan *logsBatch
	mapper     eventMapper // the batcher's

	accepted     kindCounts // sensor.events
	queueFull    kindCounts // dropped: queue, queue_full
	afterClose   kindCounts // dropped: queue, shutdown
	exportFailed kindCounts // dropped: export, export_failed
	rejected     kindCounts // dropped: export, rejected (a batch refused whole)
	diskFull     kindCounts // dropped: queue, persistent_queue_full
	diskError    kindCounts // dropped: queue, persistent_queue_error

	errMu   sync.Mutex
	lastErr error
}

var _ probes.Handler = (*Pipeline)(nil)

// NewPipeline returns a pipeline that exports to exp with res as the
// resource. The pipeline owns exp: its Shutdown shuts exp down. Events
// handed over before Start wait in the queue.
func NewPipeline(res Resource, exp Exporter, cfg PipelineConfig) *Pipeline {
	cfg = cfg.withDefaults()
	p := &Pipeline{
		exp:   exp,
		cfg:   cfg,
		start: time.Now(),
		queue: make(chan *event.Event, cfg.QueueSize),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		free:  make(chan *logsBatch, cfg.Exports+1),
		full:  make(chan *logsBatch, cfg.Exports+1),
	}
	// One batch being mapped while the others are exported.
	for range cfg.Exports + 1 {
		p.free <- newLogsBatch()
	}
	p.res.Store(&res)
	p.provider.Store(&cfg.Provider)
	return p
}

// SetProvider records that another provider now delivers the events: the
// resource attribute sensor.provider of what is exported from now on, and
// sensor.provider.status. Safe while the pipeline runs.
func (p *Pipeline) SetProvider(name string) {
	res := *p.res.Load()
	attrs := make([]Attribute, 0, len(res.Attributes)+1)
	for _, a := range res.Attributes {
		if a.Key != "sensor.provider" {
			attrs = append(attrs, a)
		}
	}
	res.Attributes = append(attrs, Attribute{Key: "sensor.provider", Value: name})
	p.res.Store(&res)
	p.provider.Store(&name)
}

// Handle queues ev for export without blocking. When the queue is full, or
// the pipeline is shut down, ev is dropped and counted. The pipeline is the
// last handler of ev: it releases ev (event.Event.Release) once it has
// mapped or dropped it.
func (p *Pipeline) Handle(ev *event.Event) {
	p.gate.RLock()
	defer p.gate.RUnlock()
	if p.closed {
		p.afterClose.add(ev.Kind)
		ev.Release()
		return
	}
	select {
	case p.queue <- ev:
		p.accepted.add(ev.Kind)
	default:
		p.queueFull.add(ev.Kind)
		ev.Release()
	}
}

// Start starts the batching and sending goroutines. ctx is used only while
// starting; the goroutines run until Shutdown.
func (p *Pipeline) Start(ctx context.Context) error {
	p.gate.Lock()
	defer p.gate.Unlock()
	switch {
	case p.closed:
		return errors.New("start pipeline: already shut down")
	case p.started:
		return errors.New("start pipeline: already started")
	}
	p.launch(ctx)
	return nil
}

// launch starts the goroutines; p.gate is held.
func (p *Pipeline) launch(ctx context.Context) {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	p.started = true
	go p.batch(runCtx)
	go p.send(runCtx)
}

// cancelGrace is how long Shutdown past its deadline waits for the
// cancelled exports to return.
const cancelGrace = time.Second

// Shutdown stops accepting events, exports every queued event, exports the
// metrics a last time and shuts the Exporter down. When ctx ends first, the
// exports in flight are cancelled and the events not yet exported are
// counted as dropped at the export stage; Shutdown then returns ctx's error.
// It is idempotent and safe without Start.
func (p *Pipeline) Shutdown(ctx context.Context) error {
	p.gate.Lock()
	if p.closed {
		p.gate.Unlock()
		return nil
	}
	p.closed = true
	if !p.started {
		// What was queued before Start is exported all the same.
		p.launch(ctx)
	}
	p.gate.Unlock()

	var err error
	close(p.stop)
	select {
	case <-p.done:
	case <-ctx.Done():
		err = fmt.Errorf("drain pipeline: %w", ctx.Err())
		// The exports still in flight are cancelled and count their
		// events as dropped on the way out; wait a moment for that, so
		// that Status has every drop.
		p.cancel()
		select {
		case <-p.done:
		case <-time.After(cancelGrace):
		}
	}
	p.cancel()
	if serr := p.exp.Shutdown(ctx); serr != nil {
		err = errors.Join(err, fmt.Errorf("shut down exporter: %w", serr))
	}
	return err
}

// Status is a snapshot of the pipeline's counters, for health reporting.
type Status struct {
	// EventsTotal is the sum of sensor.events: events accepted into the
	// queue.
	EventsTotal uint64
	// DroppedTotal is the sum of sensor.events.dropped: the pipeline's
	// drops and the provider's.
	DroppedTotal uint64
	// Queued is the number of events waiting in the queue; QueueCapacity
	// its size.
	Queued, QueueCapacity int
	// PersistentQueued is the bytes held by the exporter's persistent
	// queue (batches waiting or being sent), PersistentCapacity its bound;
	// both 0 without one.
	PersistentQueued, PersistentCapacity int64
	// LastError is the error of the last export, nil when it succeeded.
	LastError error
	// Drops are the non-zero series of sensor.events.dropped.
	Drops []probes.Drop
	// Retrying is the error of an export attempt that failed and is being
	// retried (RetryReporter), when the exporter reports one.
	Retrying string
}

// Status returns the pipeline's current totals.
func (p *Pipeline) Status() Status {
	var dropped uint64
	var drops []probes.Drop
	for _, d := range p.drops() {
		dropped += d.Count
		if d.Count > 0 {
			drops = append(drops, d)
		}
	}
	p.errMu.Lock()
	lastErr := p.lastErr
	p.errMu.Unlock()
	st := Status{
		EventsTotal:   p.accepted.total(),
		DroppedTotal:  dropped,
		Queued:        len(p.queue),
		QueueCapacity: cap(p.queue),
		LastError:     lastErr,
		Drops:         drops,
	}
	if rr, ok := p.exp.(RetryReporter); ok {
		st.Retrying, _ = rr.Retrying()
	}
	if qr, ok := p.exp.(QueueReporter); ok {
		if size, capacity, ok := qr.QueueBytes(); ok {
			st.PersistentQueued, st.PersistentCapacity = size, capacity
		}
	}
	return st
}

// batch maps queued events into batches and hands them to send, until
// Shutdown closes stop; then it maps what is left in the queue, hands over
// the last batch and closes full.
func (p *Pipeline) batch(ctx context.Context) {
	defer close(p.full)
	flush := time.NewTimer(p.cfg.FlushInterval)
	flush.Stop()
	defer flush.Stop()

	var cur *logsBatch // the batch being built; nil when none is
	handOff := func() {
		flush.Stop()
		if cur != nil && cur.len() > 0 {
			cur.setResource(p.res.Load())
			p.full <- cur
			cur = nil
		}
	}
	add := func(ev *event.Event) {
		// After a Shutdown deadline, what is left is counted without
		// being mapped for an export that cannot happen.
		if ctx.Err() != nil {
			p.exportFailed.add(ev.Kind)
			ev.Release()
			return
		}
		l := p.mapper.mapAttrs(ev)
		size := recordSize(ev, l)
		if cur != nil && cur.len() > 0 && cur.size()+size > p.cfg.MaxBatchBytes {
			handOff()
		}
		if cur == nil {
			// ev did not fit: wait for the other batch to be free.
			cur = <-p.free
			cur.setResource(p.res.Load())
		}
		cur.add(ev, l, size)
		// The record holds copies of what it needs of ev (strings are
		// shared, not the Event): the provider may reuse ev.
		ev.Release()
		switch {
		case cur.len() >= p.cfg.MaxBatch || cur.size() >= p.cfg.MaxBatchBytes:
			handOff()
		case cur.len() == 1:
			flush.Reset(p.cfg.FlushInterval)
		}
	}

	// drain maps what is in the queue now, until it is empty or the batch
	// was handed over; it returns how many events it took.
	drain := func() int {
		n := 0
		for cur != nil {
			select {
			case ev := <-p.queue:
				add(ev)
				n++
			default:
				return n
			}
		}
		return n
	}

	for {
		if cur == nil {
			// A batch to map into before an event is taken: while all
			// are in use, the events wait in the queue.
			cur = <-p.free
			cur.setResource(p.res.Load())
		}
		select {
		case ev := <-p.queue:
			add(ev)
			if n := 1 + drain(); n < gatherBelow && cur != nil && cur.len() > 0 {
				// Events trickle in: let them gather for a moment
				// rather than wake for each one.
				time.Sleep(gatherFor)
			}
		case <-flush.C:
			handOff()
		case <-p.stop:
			// Handle no longer adds to the queue.
			for {
				select {
				case ev := <-p.queue:
					add(ev)
				default:
					handOff()
					return
				}
			}
		}
	}
}

// send exports the batches batch hands over, Exports at a time (in order
// when one), and the metrics every MetricsInterval. When batch is done it
// flushes the Exporter when it is a Flusher, then exports the metrics,
// which so count what the flush lost.
func (p *Pipeline) send(ctx context.Context) {
	defer close(p.done)
	var others sync.WaitGroup
	for range p.cfg.Exports - 1 {
		others.Go(func() {
			for b := range p.full {
				p.exportLogs(ctx, b)
			}
		})
	}
	metrics := time.NewTicker(p.cfg.MetricsInterval)
	defer metrics.Stop()
	for {
		select {
		case b, ok := <-p.full:
			if !ok {
				others.Wait()
				if f, ok := p.exp.(Flusher); ok {
					f.Flush(ctx)
				}
				p.exportMetrics(ctx)
				return
			}
			p.exportLogs(ctx, b)
		case <-metrics.C:
			p.exportMetrics(ctx)
		}
	}
}

// exportLogs exports b and returns it to the free batches. A failed export
// drops the whole batch and counts every event: as rejected when the
// receiver refused it (ErrRejected), at the queue stage when a persistent
// queue refused it (ErrPersistentQueueFull, ErrPersistentQueue), else as
// export_failed. Retrying is the Exporter's business: an error here is
// final.
func (p *Pipeline) exportLogs(ctx context.Context, b *logsBatch) {
	err := ctx.Err()
	reuse := true
	if err == nil {
		ld := b.finish()
		err = p.exp.ExportLogs(ctx, ld)
		// An exporter that marked it read-only may share it: not ours to
		// reuse any more.
		reuse = !ld.IsReadOnly()
	}
	p.setLastError(err)
	if err != nil {
		counts := &p.exportFailed
		switch {
		case errors.Is(err, ErrRejected):
			counts = &p.rejected
		case errors.Is(err, ErrPersistentQueueFull):
			counts = &p.diskFull
		case errors.Is(err, ErrPersistentQueue):
			counts = &p.diskError
		}
		for _, k := range b.kinds {
			counts.add(k)
		}
	}
	if !reuse {
		b = newLogsBatch()
	}
	b.reset()
	p.free <- b
}

func (p *Pipeline) exportMetrics(ctx context.Context) {
	p.setLastError(p.exp.ExportMetrics(ctx, p.metrics(time.Now())))
}

func (p *Pipeline) setLastError(err error) {
	p.errMu.Lock()
	p.lastErr = err
	p.errMu.Unlock()
}

// kindCounts counts events by kind. Kind is a uint8, so an array covers
// every value without a map or a lock.
type kindCounts [256]atomic.Uint64

func (c *kindCounts) add(k event.Kind) { c[k].Add(1) }

func (c *kindCounts) total() uint64 {
	var n uint64
	for i := range c {
		n += c[i].Load()
	}
	return n
}

// byName returns the non-zero counts keyed by event name (kinds without a
// name of their own share "unknown").
func (c *kindCounts) byName() map[string]uint64 {
	var m map[string]uint64
	for i := range c {
		n := c[i].Load()
		if n == 0 {
			continue
		}
		if m == nil {
			m = make(map[string]uint64)
		}
		m[event.Kind(i).Name()] += n
	}
	return m
}
