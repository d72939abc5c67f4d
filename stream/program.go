package stream

import (
	"fmt"
	"sort"
	"sync"
)

// Program is a job builder compiled into the jobmanager: `weir run NAME
// args...` runs Build with the arguments on the jobmanager, which submits
// the graph it builds. Built-in examples are programs; so are a user's jobs
// in a binary that registers them.
type Program struct {
	Name        string
	Description string
	Usage       string // flags, one line
	// Build adds the job's operators to env. args are the job's own flags.
	// A bad argument is an error naming it.
	Build func(env *Env, args []string) error
}

var programs struct {
	sync.RWMutex
	m map[string]Program
}

// RegisterProgram makes p runnable by name. Call it in an init function.
func RegisterProgram(p Program) {
	programs.Lock()
	defer programs.Unlock()
	if programs.m == nil {
		programs.m = map[string]Program{}
	}
	if _, dup := programs.m[p.Name]; dup {
		panic(fmt.Sprintf("stream: program %q registered twice", p.Name))
	}
	programs.m[p.Name] = p
}

// LookupProgram returns the program registered as name.
func LookupProgram(name string) (Program, bool) {
	programs.RLock()
	defer programs.RUnlock()
	p, ok := programs.m[name]
	return p, ok
}

// Programs returns every registered program, sorted by name.
func Programs() []Program {
	programs.RLock()
	defer programs.RUnlock()
	ps := make([]Program, 0, len(programs.m))
	for _, p := range programs.m {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	return ps
}

// BuildProgram runs the program registered as name with args and returns its
// validated graph.
func BuildProgram(name string, args []string, parallelism int) (*Env, error) {
	p, ok := LookupProgram(name)
	if !ok {
		return nil, fmt.Errorf("unknown job %q", name)
	}
	env := NewEnv()
	env.SetJobName(name)
	if parallelism > 0 {
		env.SetParallelism(parallelism)
	}
	if err := p.Build(env, args); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return env, nil
}
