package workerproc

import (
	"errors"
	"os"
	"strings"
	"testing"
)

const testVar = "WORKERPROC_TEST_WORKER"

type spec struct {
	N         int
	SetupFail string
	RunFail   string
}

type result struct {
	Double int
	Dir    string
}

// The test binary is the worker when testVar is set.
func TestMain(m *testing.M) {
	if v, ok := os.LookupEnv(testVar); ok {
		var s spec
		os.Exit(Serve(v, &s, func() (func() (any, error), func(), error) {
			if s.SetupFail != "" {
				return nil, nil, errors.New(s.SetupFail)
			}
			return func() (any, error) {
				if s.RunFail != "" {
					return nil, errors.New(s.RunFail)
				}
				wd, _ := os.Getwd()
				return result{Double: 2 * s.N, Dir: wd}, nil
			}, nil, nil
		}))
	}
	os.Exit(m.Run())
}

func TestWorker(t *testing.T) {
	dir := t.TempDir()
	p, err := Start(testVar, spec{N: 21}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Pid() <= 0 {
		t.Errorf("pid %d", p.Pid())
	}
	if err := p.Begin(); err != nil {
		t.Fatal(err)
	}
	var r result
	if err := p.Result(&r); err != nil {
		t.Fatal(err)
	}
	if r.Double != 42 || r.Dir != dir {
		t.Errorf("result %+v, want 42 in %s", r, dir)
	}
	p.Kill() // after the exit: nothing to do
}

func TestWorkerErrors(t *testing.T) {
	if _, err := Start(testVar, spec{SetupFail: "no such workload"}, ""); err == nil || !strings.Contains(err.Error(), "no such workload") {
		t.Errorf("set-up failure: %v", err)
	}
	p, err := Start(testVar, spec{RunFail: "iteration 7: EPERM"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Begin(); err != nil {
		t.Fatal(err)
	}
	var r result
	if err := p.Result(&r); err == nil || !strings.Contains(err.Error(), "iteration 7: EPERM") {
		t.Errorf("run failure: %v", err)
	}
	// A worker killed before its run.
	p, err = Start(testVar, spec{N: 1}, "")
	if err != nil {
		t.Fatal(err)
	}
	p.Kill()
	if err := p.Result(&r); err == nil {
		t.Error("a result from a killed worker")
	}
}
