package coordinator_test

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/weirstream/weir/internal/coordinator"
)

// TestDataDriven runs the scenarios in testdata/*.txt. Each command feeds the
// coordinator events and prints the effects that follow, one per line, in a
// fixed order (complete, notify, abort, failed, discard, fail-job, trigger,
// write), each kind sorted by checkpoint ID.
//
// If this test fails after an intended change, run
//
//	go test ./internal/coordinator -run TestDataDriven -rewrite
//
// and review the diff of testdata like code.
//
// Commands:
//
//	init tasks=(src/0,src/1,sink/0) sources=(src) [interval= timeout= min-pause=
//	     max-concurrent= tolerable= retained= attempt=1 next=1]
//	tick [n=1]
//	ack cp=1 from=(src/0,...)|from=* [attempt=current]
//	decline cp=1 from=src/0 reason=why [attempt=current]
//	persisted cp=1 [err=why]
//	savepoint req=7
//	final
//	restart attempt=2
//	state
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var e *env
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "init" {
				e = newEnv(t, d)
				return "ok\n"
			}
			if e == nil {
				d.Fatalf(t, "%s before init", d.Cmd)
			}
			return e.run(t, d)
		})
	})
}

// env drives one coordinator and names subtasks "vertex/subtask", numbering
// vertices in the order the init command lists them.
type env struct {
	c       *coordinator.Coordinator
	vertex  map[string]int32
	names   []string
	tasks   []coordinator.SubtaskID
	attempt int32
	handles map[coordinator.ID]map[coordinator.SubtaskID]coordinator.Handle
}

func newEnv(t *testing.T, d *datadriven.TestData) *env {
	e := &env{vertex: map[string]int32{}, attempt: 1, handles: map[coordinator.ID]map[coordinator.SubtaskID]coordinator.Handle{}}
	arg, ok := d.Arg("tasks")
	if !ok {
		d.Fatalf(t, "init needs tasks=(...)")
	}
	for _, v := range arg.Vals {
		name, _, _ := strings.Cut(v, "/")
		if _, ok := e.vertex[name]; !ok {
			e.vertex[name] = int32(len(e.names))
			e.names = append(e.names, name)
		}
		e.tasks = append(e.tasks, e.subtask(t, d, v))
	}
	var sources []coordinator.SubtaskID
	arg, ok = d.Arg("sources")
	if !ok {
		d.Fatalf(t, "init needs sources=(...)")
	}
	for _, name := range arg.Vals {
		for _, st := range e.tasks {
			if e.names[st.Vertex] == name {
				sources = append(sources, st)
			}
		}
	}
	var cfg coordinator.Config
	scanTick := func(key string, dst *coordinator.Tick) {
		var n int64
		if d.MaybeScanArgs(t, key, &n) {
			*dst = coordinator.Tick(n)
		}
	}
	scanTick("interval", &cfg.Interval)
	scanTick("timeout", &cfg.Timeout)
	scanTick("min-pause", &cfg.MinPause)
	d.MaybeScanArgs(t, "max-concurrent", &cfg.MaxConcurrent)
	d.MaybeScanArgs(t, "tolerable", &cfg.TolerableFailures)
	d.MaybeScanArgs(t, "retained", &cfg.NumRetained)
	d.MaybeScanArgs(t, "attempt", &e.attempt)
	next := int64(1)
	d.MaybeScanArgs(t, "next", &next)
	e.c = coordinator.New(cfg, e.attempt, sources, e.tasks, coordinator.ID(next))
	return e
}

func (e *env) run(t *testing.T, d *datadriven.TestData) string {
	var out strings.Builder
	switch d.Cmd {
	case "tick":
		n := 1
		d.MaybeScanArgs(t, "n", &n)
		// Print each tick's effects under its logical time, so that a
		// multi-tick command shows when things happened.
		for range n {
			e.c.Tick()
			if eff := e.c.Ready(); !eff.Empty() {
				fmt.Fprintf(&out, "t=%d\n", e.c.Now())
				e.printEffects(&out, eff, "  ")
			}
		}
		if out.Len() == 0 {
			fmt.Fprintf(&out, "t=%d ok\n", e.c.Now())
		}
		return out.String()
	case "ack":
		id := e.scanID(t, d)
		attempt := e.scanAttempt(t, d)
		for _, st := range e.scanFrom(t, d) {
			h := fmt.Sprintf("h%d:%s", id, e.name(st))
			res := e.c.Ack(id, st, attempt, h)
			if res == coordinator.AckAccepted || res == coordinator.AckCompletedPending {
				if e.handles[id] == nil {
					e.handles[id] = map[coordinator.SubtaskID]coordinator.Handle{}
				}
				e.handles[id][st] = h
			}
			fmt.Fprintf(&out, "%s %s\n", e.name(st), res)
		}
		e.printWaiting(&out, id)
	case "decline":
		id := e.scanID(t, d)
		attempt := e.scanAttempt(t, d)
		var from, reason string
		d.ScanArgs(t, "from", &from)
		d.ScanArgs(t, "reason", &reason)
		st := e.subtask(t, d, from)
		fmt.Fprintf(&out, "%s %s\n", from, e.c.Decline(id, st, attempt, reason))
	case "persisted":
		id := e.scanID(t, d)
		var err error
		if d.HasArg("err") {
			var msg string
			d.ScanArgs(t, "err", &msg)
			err = errors.New(msg)
		}
		e.c.Persisted(id, err)
	case "savepoint":
		var req int64
		d.ScanArgs(t, "req", &req)
		fmt.Fprintf(&out, "cp=%d\n", e.c.TriggerSavepoint(req))
	case "final":
		if id, ok := e.c.TriggerFinal(); ok {
			fmt.Fprintf(&out, "cp=%d\n", id)
		} else {
			fmt.Fprintf(&out, "waiting for the pending checkpoints\n")
		}
	case "restart":
		d.ScanArgs(t, "attempt", &e.attempt)
		e.c.Restart(e.attempt)
	case "state":
		e.printState(&out)
		return out.String()
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
	e.printEffects(&out, e.c.Ready(), "")
	if out.Len() == 0 {
		return "ok\n"
	}
	return out.String()
}

func (e *env) printEffects(out *strings.Builder, eff coordinator.Effects, indent string) {
	var lines []string
	add := func(id coordinator.ID, format string, args ...any) {
		lines = append(lines, fmt.Sprintf("%s%s cp=%d%s", indent, format, id, fmt.Sprint(args...)))
	}
	req := func(k coordinator.Kind, r int64) string {
		if k == coordinator.KindSavepoint {
			return " req=" + strconv.FormatInt(r, 10)
		}
		return ""
	}
	section := func() { slices.SortStableFunc(lines, byID); out.WriteString(strings.Join(lines, "")); lines = nil }

	for _, c := range eff.Completed {
		add(c.ID, "complete", " ", c.Kind, req(c.Kind, c.Request), " took=", int64(c.Duration), "\n")
	}
	section()
	for _, id := range eff.Notify {
		add(id, "notify", "\n")
	}
	section()
	for _, a := range eff.Abort {
		add(a.ID, "abort", " ", a.Kind, " reason=", a.Reason, "\n")
	}
	section()
	for _, f := range eff.Failed {
		add(f.ID, "failed", " ", f.Kind, req(f.Kind, f.Request), " reason=", f.Reason, "\n")
	}
	section()
	for _, id := range eff.Discard {
		add(id, "discard", "\n")
	}
	section()
	if eff.FailJob != "" {
		fmt.Fprintf(out, "%sfail-job: %s\n", indent, eff.FailJob)
	}
	for _, tr := range eff.Trigger {
		add(tr.ID, "trigger", " ", tr.Kind, " at=", int64(tr.Timestamp), " to=", e.list(tr.To), "\n")
	}
	section()
	for _, w := range eff.Write {
		var acks []coordinator.SubtaskID
		for st, h := range w.Acks {
			acks = append(acks, st)
			if want := e.handles[w.ID][st]; h != want {
				lines = append(lines, fmt.Sprintf("%sBAD HANDLE cp=%d %s: %v, want %v\n", indent, w.ID, e.name(st), h, want))
			}
		}
		add(w.ID, "write", " ", w.Kind, " acks=", e.list(acks), "\n")
	}
	section()
}

// byID orders effect lines by the number after "cp=".
func byID(a, b string) int {
	id := func(s string) int {
		_, rest, _ := strings.Cut(s, "cp=")
		n, _ := strconv.Atoi(strings.FieldsFunc(rest, func(r rune) bool { return r < '0' || r > '9' })[0])
		return n
	}
	return id(a) - id(b)
}

func (e *env) printWaiting(out *strings.Builder, id coordinator.ID) {
	for _, p := range e.c.Pending() {
		if p.ID == id && !p.Writing {
			fmt.Fprintf(out, "waiting=%s\n", e.list(p.Waiting))
		}
	}
}

func (e *env) printState(out *strings.Builder) {
	fmt.Fprintf(out, "t=%d\n", e.c.Now())
	for _, p := range e.c.Pending() {
		fmt.Fprintf(out, "pending cp=%d %s at=%d acked=%d", p.ID, p.Kind, int64(p.Triggered), p.Acked)
		if p.Writing {
			out.WriteString(" writing\n")
		} else {
			fmt.Fprintf(out, " waiting=%s\n", e.list(p.Waiting))
		}
	}
	fmt.Fprintf(out, "completed=%v", e.c.Completed())
	if id, ok := e.c.Latest(); ok {
		fmt.Fprintf(out, " latest=%d", id)
	}
	out.WriteString("\n")
}

func (e *env) list(sts []coordinator.SubtaskID) string {
	sts = slices.Clone(sts)
	slices.SortFunc(sts, func(a, b coordinator.SubtaskID) int {
		if a.Vertex != b.Vertex {
			return int(a.Vertex - b.Vertex)
		}
		return int(a.Subtask - b.Subtask)
	})
	names := make([]string, len(sts))
	for i, st := range sts {
		names[i] = e.name(st)
	}
	return "(" + strings.Join(names, ",") + ")"
}

func (e *env) name(st coordinator.SubtaskID) string {
	return fmt.Sprintf("%s/%d", e.names[st.Vertex], st.Subtask)
}

// subtask parses "vertex/subtask". An unknown vertex name gets a new vertex
// number, so that it can stand for a subtask the job lacks.
func (e *env) subtask(t *testing.T, d *datadriven.TestData, s string) coordinator.SubtaskID {
	name, idx, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(idx)
	if !ok || err != nil {
		d.Fatalf(t, "bad subtask %q, want vertex/subtask", s)
	}
	v, ok := e.vertex[name]
	if !ok {
		v = int32(len(e.names))
		e.vertex[name] = v
		e.names = append(e.names, name)
	}
	return coordinator.SubtaskID{Vertex: v, Subtask: int32(n)}
}

func (e *env) scanFrom(t *testing.T, d *datadriven.TestData) []coordinator.SubtaskID {
	arg, ok := d.Arg("from")
	if !ok {
		d.Fatalf(t, "missing argument: from")
	}
	if len(arg.Vals) == 1 && arg.Vals[0] == "*" {
		return e.tasks
	}
	var sts []coordinator.SubtaskID
	for _, v := range arg.Vals {
		sts = append(sts, e.subtask(t, d, v))
	}
	return sts
}

func (e *env) scanID(t *testing.T, d *datadriven.TestData) coordinator.ID {
	var id int64
	d.ScanArgs(t, "cp", &id)
	return coordinator.ID(id)
}

func (e *env) scanAttempt(t *testing.T, d *datadriven.TestData) int32 {
	a := e.attempt
	d.MaybeScanArgs(t, "attempt", &a)
	return a
}
