// Package heap is the state backend that keeps working state in Go maps on
// the task's heap: the fastest backend, bounded by memory. Like every
// backend, it is working state only; snapshots go to checkpoint storage.
package heap

import (
	"fmt"

	"github.com/weirstream/weir/internal/invariant"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
)

// Backend holds keyed state in maps, one per state and key group, so the
// state of a key-group range can be cut out for rescaling.
type Backend struct {
	groups keygroup.Range
	states []*state
	byName map[string]statebackend.StateID

	key []byte // current key; owned by the backend
	kg  int    // current key group, relative to groups.Start
}

var _ statebackend.KeyedBackend = (*Backend)(nil)

type state struct {
	name string
	kind statebackend.Kind
	// values holds KindValue and KindList state, indexed by key group - groups.Start.
	values []map[string]*[]byte
	// maps holds KindMap state, indexed likewise, from key to user key to
	// value. Values sit behind pointers, in both, so that updating an
	// existing key overwrites in place: assigning to m[string(key)] would
	// allocate the key string on every update.
	maps []map[string]map[string]*[]byte
}

// New returns an empty backend for the key groups in r.
func New(r keygroup.Range) *Backend {
	return &Backend{groups: r, byName: map[string]statebackend.StateID{}, kg: -1}
}

func (b *Backend) Register(name string, kind statebackend.Kind) (statebackend.StateID, error) {
	if id, ok := b.byName[name]; ok {
		if b.states[id].kind != kind {
			return 0, fmt.Errorf("%w: %q is %s, not %s", statebackend.ErrKindMismatch, name, b.states[id].kind, kind)
		}
		return id, nil
	}
	st := &state{name: name, kind: kind}
	n := b.groups.Len()
	if kind == statebackend.KindMap {
		st.maps = make([]map[string]map[string]*[]byte, n)
	} else {
		st.values = make([]map[string]*[]byte, n)
	}
	id := statebackend.StateID(len(b.states))
	b.states = append(b.states, st)
	b.byName[name] = id
	return id, nil
}

func (b *Backend) SetCurrentKey(key []byte, kg int) {
	if !b.groups.Contains(kg) {
		_ = invariant.Failf("heap: key group %d outside the backend's range %s", kg, b.groups)
	}
	b.key = append(b.key[:0], key...)
	b.kg = kg - b.groups.Start
}

func (b *Backend) valueMap(s statebackend.StateID, create bool) map[string]*[]byte {
	st := b.states[s]
	m := st.values[b.kg]
	if m == nil && create {
		m = map[string]*[]byte{}
		st.values[b.kg] = m
	}
	return m
}

func (b *Backend) Get(s statebackend.StateID) ([]byte, bool) {
	v, ok := b.valueMap(s, false)[string(b.key)]
	if !ok {
		return nil, false
	}
	return *v, true
}

func (b *Backend) Put(s statebackend.StateID, value []byte) {
	m := b.valueMap(s, true)
	if v, ok := m[string(b.key)]; ok {
		*v = append((*v)[:0], value...)
		return
	}
	v := append(make([]byte, 0, len(value)), value...)
	m[string(b.key)] = &v
}

func (b *Backend) Append(s statebackend.StateID, elem []byte) {
	m := b.valueMap(s, true)
	if v, ok := m[string(b.key)]; ok {
		*v = statebackend.AppendListElement(*v, elem)
		return
	}
	v := statebackend.AppendListElement(nil, elem)
	m[string(b.key)] = &v
}

func (b *Backend) Delete(s statebackend.StateID) {
	st := b.states[s]
	if st.kind == statebackend.KindMap {
		delete(st.maps[b.kg], string(b.key))
		return
	}
	delete(st.values[b.kg], string(b.key))
}

func (b *Backend) userMap(s statebackend.StateID, create bool) map[string]*[]byte {
	st := b.states[s]
	m := st.maps[b.kg]
	if m == nil {
		if !create {
			return nil
		}
		m = map[string]map[string]*[]byte{}
		st.maps[b.kg] = m
	}
	um := m[string(b.key)]
	if um == nil && create {
		um = map[string]*[]byte{}
		m[string(b.key)] = um
	}
	return um
}

func (b *Backend) MapGet(s statebackend.StateID, userKey []byte) ([]byte, bool) {
	v, ok := b.userMap(s, false)[string(userKey)]
	if !ok {
		return nil, false
	}
	return *v, true
}

func (b *Backend) MapPut(s statebackend.StateID, userKey, value []byte) {
	um := b.userMap(s, true)
	if v, ok := um[string(userKey)]; ok {
		*v = append((*v)[:0], value...)
		return
	}
	v := append(make([]byte, 0, len(value)), value...)
	um[string(userKey)] = &v
}

func (b *Backend) MapDelete(s statebackend.StateID, userKey []byte) {
	um := b.userMap(s, false)
	if um == nil {
		return
	}
	delete(um, string(userKey))
	if len(um) == 0 {
		delete(b.states[s].maps[b.kg], string(b.key))
	}
}

func (b *Backend) MapRange(s statebackend.StateID, fn func(userKey, value []byte) bool) {
	for k, v := range b.userMap(s, false) {
		if !fn([]byte(k), *v) {
			return
		}
	}
}

func (b *Backend) Close() error {
	b.states = nil
	return nil
}

// Snapshot encodes the backend's state. It copies every entry: the cost is
// a pause proportional to the state size on the task goroutine.
func (b *Backend) Snapshot() ([]byte, error) {
	descs := make([]statebackend.StateDesc, len(b.states))
	for i, st := range b.states {
		descs[i] = statebackend.StateDesc{Name: st.name, Kind: st.kind}
	}
	e := statebackend.NewSnapshotEncoder(descs)
	for kg := 0; kg < b.groups.Len(); kg++ {
		for i, st := range b.states {
			if st.kind == statebackend.KindMap {
				for k, um := range st.maps[kg] {
					for uk, v := range um {
						e.Add(b.groups.Start+kg, i, []byte(k), []byte(uk), *v)
					}
				}
				continue
			}
			for k, v := range st.values[kg] {
				e.Add(b.groups.Start+kg, i, []byte(k), nil, *v)
			}
		}
	}
	return e.Finish(), nil
}

// Restore loads a canonical snapshot, keeping the backend's key groups.
func (b *Backend) Restore(snapshot []byte) error {
	var ids []statebackend.StateID
	return statebackend.DecodeSnapshot(snapshot, func(descs []statebackend.StateDesc) error {
		for _, d := range descs {
			id, err := b.Register(d.Name, d.Kind)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	}, func(e statebackend.Entry) error {
		if !b.groups.Contains(e.KeyGroup) {
			return nil
		}
		b.SetCurrentKey(e.Key, e.KeyGroup)
		id := ids[e.State]
		if b.states[id].kind == statebackend.KindMap {
			b.MapPut(id, e.UserKey, e.Value)
		} else {
			b.Put(id, e.Value)
		}
		return nil
	})
}
