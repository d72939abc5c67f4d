//go:build !invariants

package invariant

// Enabled reports whether the binary was built with -tags invariants.
const Enabled = false
