package stream

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/statebackend"
)

// StateTTL gives a state a time to live, as Flink's StateTtlConfig: a
// value (a list element, a map entry) expires TTL after it was last
// written, or last read or written with OnReadAndWrite. Expired values are
// never returned. They are removed when a read or an iteration meets them
// and left out of every snapshot, on the heap and on Pebble alike.
//
// Time is processing time, from the task's clock, in milliseconds. Each
// stored value carries its 8-byte last-access time ahead of the encoded
// value, so a state cannot gain or lose a TTL across a savepoint.
type StateTTL struct {
	TTL    time.Duration
	Update TTLUpdate // OnCreateAndWrite if zero
}

// TTLUpdate says which accesses renew a value's time to live.
type TTLUpdate int

const (
	// OnCreateAndWrite renews on writes only (Flink's default).
	OnCreateAndWrite TTLUpdate = iota + 1
	// OnReadAndWrite renews on reads too.
	OnReadAndWrite
)

// StateOption configures a state when it is declared.
type StateOption func(*stateOptions)

type stateOptions struct {
	ttl *StateTTL
}

// WithTTL gives a state a time to live.
func WithTTL(cfg StateTTL) StateOption {
	return func(o *stateOptions) { o.ttl = &cfg }
}

// ttlHeader is the length of the last-access time ahead of a value.
const ttlHeader = 8

// ttl is the runtime side of a state with a time to live.
type ttl struct {
	millis int64
	onRead bool
	clock  clock.Clock
}

// declare registers a state with its options: nil ttl for a state without
// one.
func (c *OpenContext) declare(name string, kind statebackend.Kind, opts []StateOption) (statebackend.StateID, *ttl, error) {
	id, err := c.register(name, kind)
	if err != nil {
		return 0, nil, err
	}
	var o stateOptions
	for _, f := range opts {
		f(&o)
	}
	if o.ttl == nil {
		return id, nil, nil
	}
	switch {
	case o.ttl.TTL < time.Millisecond:
		return 0, nil, fmt.Errorf("stream: state %q: TTL %s must be at least 1ms", name, o.ttl.TTL)
	case o.ttl.Update != 0 && o.ttl.Update != OnCreateAndWrite && o.ttl.Update != OnReadAndWrite:
		return 0, nil, fmt.Errorf("stream: state %q: TTL update %d is neither OnCreateAndWrite nor OnReadAndWrite", name, o.ttl.Update)
	}
	t := &ttl{millis: o.ttl.TTL.Milliseconds(), onRead: o.ttl.Update == OnReadAndWrite, clock: c.Clock}
	if t.clock == nil {
		t.clock = clock.Real{}
	}
	if c.chain != nil {
		if c.chain.ttl == nil {
			c.chain.ttl = map[string]*ttl{}
		}
		c.chain.ttl[name] = t
	}
	return id, t, nil
}

func (t *ttl) now() int64 { return t.clock.Now().UnixMilli() }

// stamp appends the last-access time now to dst.
func (t *ttl) stamp(dst []byte, now int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(now))
}

// open splits a stored value into the user's value and whether it has
// expired at now.
func (t *ttl) open(stored []byte, now int64) ([]byte, bool, error) {
	if len(stored) < ttlHeader {
		return nil, false, fmt.Errorf("stream: a state value with a TTL has %d bytes, less than its %d-byte timestamp", len(stored), ttlHeader)
	}
	last := int64(binary.BigEndian.Uint64(stored))
	return stored[ttlHeader:], last+t.millis <= now, nil
}

// expired reports whether a stored value has expired at now; malformed
// values count as live, for the reader to report.
func (t *ttl) expired(stored []byte, now int64) bool {
	_, exp, err := t.open(stored, now)
	return err == nil && exp
}

// dropExpired returns snap without the values of TTL states that have
// expired at now: the cleanup of full snapshots. Lists keep their live
// elements; a list or value left empty is dropped.
func dropExpired(snap []byte, ttls map[string]*ttl, now int64) ([]byte, error) {
	var (
		enc    *statebackend.SnapshotEncoder
		byIdx  []*ttl
		kinds  []statebackend.Kind
		list   []byte
		nStale int
	)
	err := statebackend.DecodeSnapshot(snap, func(descs []statebackend.StateDesc) error {
		enc = statebackend.NewSnapshotEncoder(descs)
		for _, d := range descs {
			byIdx = append(byIdx, ttls[d.Name])
			kinds = append(kinds, d.Kind)
		}
		return nil
	}, func(e statebackend.Entry) error {
		t := byIdx[e.State]
		switch {
		case t == nil:
		case kinds[e.State] == statebackend.KindList:
			list = list[:0]
			if err := statebackend.RangeList(e.Value, func(elem []byte) bool {
				if t.expired(elem, now) {
					nStale++
				} else {
					list = statebackend.AppendListElement(list, elem)
				}
				return true
			}); err != nil {
				return err
			}
			if len(list) == 0 {
				return nil
			}
			e.Value = list
		case t.expired(e.Value, now):
			nStale++
			return nil
		}
		enc.Add(e.KeyGroup, e.State, e.Key, e.UserKey, e.Value)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if nStale == 0 {
		return snap, nil
	}
	return enc.Finish(), nil
}

// ttlSnapshot is a captured snapshot whose encoding leaves out the values
// of TTL states expired at now, the time of the capture.
type ttlSnapshot struct {
	statebackend.CapturedSnapshot
	ttls map[string]*ttl
	now  int64
}

func (s ttlSnapshot) AppendEncoded(dst []byte) ([]byte, error) {
	start := len(dst)
	out, err := s.CapturedSnapshot.AppendEncoded(dst)
	if err != nil {
		return nil, err
	}
	// The snapshot itself if nothing expired, else a new one to put in
	// its place.
	kept, err := dropExpired(out[start:], s.ttls, s.now)
	if err != nil {
		return nil, err
	}
	return append(out[:start], kept...), nil
}
