package security

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"strings"
	"sync"
)

// MinTokenLength is the shortest bearer token a tokens file may hold.
const MinTokenLength = 16

// Tokens is a bearer tokens file (security.auth.tokens-file): one
// "token role" pair per line, role admin or viewer; blank lines and lines
// starting with # are ignored. The file is read again when it changes; a
// changed file that does not parse leaves the previous tokens in force and
// is logged.
type Tokens struct {
	path string
	log  *slog.Logger
	mu   struct {
		sync.Mutex
		stamp   fileStamp
		entries []tokenEntry
		lastErr string // why the file as it is now cannot be used, once logged
	}
}

// tokenEntry holds a token's SHA-256 digest, so that lookups compare
// fixed-length values in constant time.
type tokenEntry struct {
	digest [sha256.Size]byte
	access Access
}

// LoadTokens reads a tokens file. The error names the file and line.
func LoadTokens(path string, log *slog.Logger) (*Tokens, error) {
	if log == nil {
		log = slog.Default()
	}
	data, st, err := readSmall(path)
	if err != nil {
		return nil, fmt.Errorf("security.auth.tokens-file: %w", err)
	}
	entries, err := parseTokens(data)
	if err != nil {
		return nil, fmt.Errorf("security.auth.tokens-file %s: %w", path, err)
	}
	t := &Tokens{path: path, log: log}
	t.mu.stamp, t.mu.entries = st, entries
	return t, nil
}

// parseTokens parses the lines of a tokens file.
func parseTokens(data []byte) ([]tokenEntry, error) {
	var out []tokenEntry
	seen := map[[sha256.Size]byte]bool{}
	for i, line := range bytes.Split(data, []byte("\n")) {
		l := strings.TrimSpace(string(line))
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want \"token role\", got %d fields", i+1, len(f))
		}
		if len(f[0]) < MinTokenLength {
			return nil, fmt.Errorf("line %d: token has %d characters, want at least %d", i+1, len(f[0]), MinTokenLength)
		}
		a, ok := parseAccess(f[1])
		if !ok {
			return nil, fmt.Errorf("line %d: role %q: want admin or viewer", i+1, f[1])
		}
		d := sha256.Sum256([]byte(f[0]))
		if seen[d] {
			return nil, fmt.Errorf("line %d: token listed twice", i+1)
		}
		seen[d] = true
		out = append(out, tokenEntry{digest: d, access: a})
	}
	return out, nil
}

// Lookup returns the access a token grants. Every entry is compared, in
// constant time, whatever matches.
func (t *Tokens) Lookup(token string) (Access, bool) {
	entries := t.current()
	d := sha256.Sum256([]byte(token))
	var access Access
	for _, e := range entries {
		if subtle.ConstantTimeCompare(d[:], e.digest[:]) == 1 {
			access = e.access
		}
	}
	return access, access != 0
}

// current returns the entries of the file as it is now, reading it again if
// it changed since it was last read.
func (t *Tokens) current() []tokenEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, err := stamp(t.path)
	if err == nil && st == t.mu.stamp {
		return t.mu.entries
	}
	var entries []tokenEntry
	if err == nil {
		var data []byte
		if data, st, err = readSmall(t.path); err == nil {
			if entries, err = parseTokens(data); err == nil {
				t.mu.stamp, t.mu.entries, t.mu.lastErr = st, entries, ""
				t.log.Info("tokens file reloaded", "file", t.path, "tokens", len(entries))
				return entries
			}
		}
	}
	if msg := err.Error(); msg != t.mu.lastErr {
		t.mu.lastErr = msg
		t.log.Warn("tokens file changed but cannot be used; keeping the tokens read before", "file", t.path, "err", err)
	}
	return t.mu.entries
}
