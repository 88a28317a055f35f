package probes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/cilium/ebpf"

	"github.com/otel-sensor/otel-sensor/internal/event"
	"github.com/otel-sensor/otel-sensor/internal/probes/policy"
)

// The provider modes of the configuration (provider: auto | ebpf | netlink).
const (
	ModeAuto    = "auto"
	ModeEBPF    = "ebpf"
	ModeNetlink = "netlink"
)

// Constructors make the providers Select may start. Each is called at most
// once, and only for the provider Select tries.
type Constructors struct {
	EBPF    func() Provider
	Netlink func() Provider
	// Policy, when set, returns the kernel support policy's verdict for
	// this host (policy.Evaluate(policy.Gather(...))); Select consults it
	// before it loads anything. Nil: no policy, the load alone decides.
	Policy func() policy.Verdict
}

// Select starts the provider mode asks for, delivering to h, and returns it
// with the reason it is the one (for the log, health and metrics):
//
//   - "ebpf" starts the eBPF provider; when it cannot start, Select fails:
//     the configuration asked for eBPF, so there is no fallback. A kernel
//     on the policy's deny list fails before anything is loaded; on a
//     kernel the policy advises against for any other reason (below the
//     distribution's minimum, a feature missing) the programs are still
//     loaded, and the reason says so.
//   - "netlink" starts the netlink provider.
//   - "auto" consults the policy first: when it denies eBPF, the netlink
//     provider starts and the eBPF programs are not even loaded. Otherwise
//     it starts the eBPF provider, and when that fails because this kernel
//     cannot run it (Unsupported), the netlink provider instead. Any other
//     eBPF failure is an error: a fault to fix, not a kernel to work around.
func Select(ctx context.Context, mode string, h Handler, c Constructors) (Provider, string, error) {
	var verdict *policy.Verdict
	if c.Policy != nil && (mode == ModeAuto || mode == ModeEBPF) {
		v := c.Policy()
		verdict = &v
	}
	switch mode {
	case ModeEBPF:
		if verdict != nil && verdict.DenyListed {
			return nil, "", fmt.Errorf("kernel support policy: %s; the eBPF programs are not loaded (provider %q or %q use the netlink proc connector)", verdict.Reason, ModeAuto, ModeNetlink)
		}
		p, err := start(ctx, c.EBPF, h)
		if err != nil {
			return nil, "", fmt.Errorf("%w (provider %q is configured, so there is no fallback; %q falls back to netlink)", err, ModeEBPF, ModeAuto)
		}
		if verdict != nil && !verdict.EBPF {
			return p, fmt.Sprintf("configured: %s, although the kernel support policy advises against it (%s)", ModeEBPF, verdict.Reason), nil
		}
		return p, "configured: " + ModeEBPF, nil
	case ModeNetlink:
		p, err := start(ctx, c.Netlink, h)
		if err != nil {
			return nil, "", err
		}
		return p, "configured: " + ModeNetlink, nil
	case ModeAuto:
	default:
		return nil, "", fmt.Errorf("unknown provider mode %q (want %s, %s or %s)", mode, ModeAuto, ModeEBPF, ModeNetlink)
	}

	if verdict != nil && !verdict.EBPF {
		reason := fmt.Sprintf("auto: %s; using the netlink proc connector (eBPF not loaded)", verdict.Reason)
		p, err := start(ctx, c.Netlink, h)
		if err != nil {
			return nil, "", fmt.Errorf("%w (the fallback after the kernel support policy denied eBPF: %s)", err, verdict.Reason)
		}
		return p, reason, nil
	}
	p, err := start(ctx, c.EBPF, h)
	if err == nil {
		return p, "auto: eBPF programs loaded and attached", nil
	}
	if !Unsupported(err) {
		return nil, "", err
	}
	reason := fmt.Sprintf("auto: this kernel cannot run the eBPF programs (%v); using the netlink proc connector", err)
	p, nerr := start(ctx, c.Netlink, h)
	if nerr != nil {
		return nil, "", fmt.Errorf("%w (the fallback after: %v)", nerr, err)
	}
	return p, reason, nil
}

// start makes a provider and starts it; on failure it is closed (Close is
// safe after a failed Start).
func start(ctx context.Context, newProvider func() Provider, h Handler) (Provider, error) {
	p := newProvider()
	if err := p.Start(ctx, h); err != nil {
		p.Close()
		return nil, fmt.Errorf("start %s provider: %w", p.Name(), err)
	}
	return p, nil
}

// Unsupported reports whether err, from starting the eBPF provider, means
// that this kernel or its policy will not run the programs. These are the
// failures on which "auto" falls back to netlink:
//
//   - ebpf.ErrNotSupported: a kernel feature the programs need is missing
//     (BTF, the ring buffer, a program or map type, a helper, a tracepoint
//     to attach to), as cilium/ebpf detects it;
//   - *ebpf.VerifierError: this kernel's verifier rejects the programs (its
//     limits and checks differ between versions);
//   - os.ErrPermission (EPERM, EACCES): loading or attaching is refused —
//     lockdown, an LSM, kernel.unprivileged_bpf_disabled, or missing
//     capabilities (CAP_BPF, CAP_PERFMON, CAP_SYS_RESOURCE).
func Unsupported(err error) bool {
	var verr *ebpf.VerifierError
	return errors.Is(err, ebpf.ErrNotSupported) ||
		errors.As(err, &verr) ||
		errors.Is(err, os.ErrPermission)
}

// Handoff is a Handler that holds what a provider delivers until the
// handler for it exists, then passes everything on in order: a provider is
// selected by starting it, and the pipeline that takes its events needs to
// know which one it is. It holds at most a bound; beyond, it drops and
// counts (Drops). Safe for concurrent use.
type Handoff struct {
	mu      sync.Mutex
	next    Handler
	held    []*event.Event
	max     int
	dropped map[event.Kind]uint64
}

// NewHandoff returns a Handoff that holds at most max events.
func NewHandoff(max int) *Handoff {
	return &Handoff{max: max, dropped: make(map[event.Kind]uint64)}
}

// Handle passes ev on, or holds it until Connect.
func (h *Handoff) Handle(ev *event.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.next != nil:
		h.next.Handle(ev)
	case len(h.held) < h.max:
		h.held = append(h.held, ev)
	default:
		h.dropped[ev.Kind]++
		ev.Release()
	}
}

// Connect passes the held events to next, then every later one.
func (h *Handoff) Connect(next Handler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range h.held {
		next.Handle(ev)
	}
	h.held = nil
	h.next = next
}

// Drops returns the events dropped because more than the bound arrived
// before Connect: stage "queue", reason "not_connected".
func (h *Handoff) Drops() []Drop {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Drop
	for _, k := range event.Kinds() {
		if n := h.dropped[k]; n > 0 {
			out = append(out, Drop{Stage: "queue", Reason: "not_connected", EventName: k.Name(), Count: n})
		}
	}
	return out
}
