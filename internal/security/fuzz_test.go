package security

import "testing"

// FuzzParseTokens parses tokens files: an error that names the line, or
// entries, never a panic.
func FuzzParseTokens(f *testing.F) {
	f.Add([]byte("# tokens\n0123456789abcdef0123 admin\nfedcba9876543210fedc viewer\n"))
	f.Add([]byte("short admin\n"))
	f.Add([]byte("\r\n\t 0123456789abcdef0123   viewer  \r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := parseTokens(b)
		if err == nil && len(entries) > len(b)/(MinTokenLength+1)+1 {
			t.Fatalf("%d entries from %d bytes", len(entries), len(b))
		}
	})
}
