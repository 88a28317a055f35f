// Package workerproc runs a benchmark's workload in a worker process: the
// harness's own program started again with an environment variable that
// holds what to do, as JSON. A process of its own keeps the workload's CPU
// apart from the harness's and gives the sensor one initiator to attribute
// the work to.
//
// The protocol, one JSON line each on the worker's stdout: after set-up,
// {"ready":true}; then, once the harness writes a line to its stdin, the
// result. Either may be {"error":"..."} instead.
package workerproc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
)

type status struct {
	Ready bool   `json:"ready,omitempty"`
	Error string `json:"error,omitempty"`
}

// Serve is the worker's main: it decodes the variable's value (spec, a
// JSON object) into spec, runs setup, says it is ready, waits for the
// harness's word, runs what setup returned and writes its result. It
// returns the exit code.
func Serve(spec string, into any, setup func() (run func() (any, error), done func(), err error)) int {
	enc := json.NewEncoder(os.Stdout)
	fail := func(err error) int {
		enc.Encode(status{Error: err.Error()})
		return 1
	}
	if err := json.Unmarshal([]byte(spec), into); err != nil {
		return fail(fmt.Errorf("worker spec: %w", err))
	}
	run, done, err := setup()
	if err != nil {
		return fail(err)
	}
	if done != nil {
		defer done()
	}
	if err := enc.Encode(status{Ready: true}); err != nil {
		return 1
	}
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fail(fmt.Errorf("wait for the start: %w", err))
	}
	result, err := run()
	if err != nil {
		return fail(err)
	}
	if err := enc.Encode(result); err != nil {
		return 1
	}
	return 0
}

// Proc is a worker process, seen from the harness.
type Proc struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *json.Decoder
	done bool
}

// Start starts this program again as a worker, with envVar set to spec's
// JSON, in dir ("": the harness's), killed if the harness dies, and waits
// until it is ready.
func Start(envVar string, spec any, dir string) (*Proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), envVar+"="+string(b))
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	p := &Proc{cmd: cmd, in: in, out: json.NewDecoder(out)}
	var st status
	if err := p.read(&st); err != nil {
		return nil, errors.Join(fmt.Errorf("set-up: %w", err), p.wait())
	}
	if !st.Ready {
		return nil, errors.Join(fmt.Errorf("worker (pid %d): no ready line", p.Pid()), p.wait())
	}
	return p, nil
}

// Pid is the worker's process ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Begin tells the worker to start its run.
func (p *Proc) Begin() error {
	if _, err := io.WriteString(p.in, "go\n"); err != nil {
		return errors.Join(fmt.Errorf("start the worker's run: %w", err), p.wait())
	}
	return nil
}

// Result reads the run's result into v and waits for the worker to exit.
func (p *Proc) Result(v any) error {
	if err := p.read(v); err != nil {
		return errors.Join(err, p.wait())
	}
	return p.wait()
}

// read decodes the next line into v, unless it is an error.
func (p *Proc) read(v any) error {
	var raw json.RawMessage
	if err := p.out.Decode(&raw); err != nil {
		return fmt.Errorf("worker (pid %d): %w", p.Pid(), err)
	}
	var st status
	if err := json.Unmarshal(raw, &st); err == nil && st.Error != "" {
		return fmt.Errorf("worker (pid %d): %s", p.Pid(), st.Error)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("worker (pid %d): %w", p.Pid(), err)
	}
	return nil
}

// wait reaps the worker, once.
func (p *Proc) wait() error {
	if p.done {
		return nil
	}
	p.done = true
	p.in.Close()
	if err := p.cmd.Wait(); err != nil {
		return fmt.Errorf("worker (pid %d): %w", p.Pid(), err)
	}
	return nil
}

// Kill ends the worker if it still runs, and reaps it.
func (p *Proc) Kill() {
	if !p.done {
		p.cmd.Process.Kill()
		p.wait()
	}
}
