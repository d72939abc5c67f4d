// Package checkpoint defines how snapshots are laid out in checkpoint
// storage and encoded: the directory layout, the state objects that
// subtasks write, and the _metadata object that commits a checkpoint or
// savepoint (DESIGN invariant 4). docs/checkpoints.md describes the formats.
//
// The codecs here are pure; storage access goes through objstore.Store.
package checkpoint
