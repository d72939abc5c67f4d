package pebble

import "github.com/cockroachdb/pebble/v2/vfs"

// noSyncFS is the file system of a backend's database and of its native
// snapshots' directories: every sync returns at once. Pebble syncs to
// survive a crash of the machine, and nothing here is read after one. The
// database is working state that is never reopened (doc.go); a snapshot
// directory is read back by Persist from the page cache, and one kept for
// local recovery is verified against the manifest's sizes and CRC-32Cs
// before use, its small files coming from the manifest. The syncs Pebble
// would do — each flushed or compacted SST, the MANIFEST, the write-ahead
// log, a checkpoint's copies and directories — would guard nothing Weir
// reads, and those of a checkpoint would lengthen the barrier's pause.
type noSyncFS struct{ vfs.FS }

func (fs noSyncFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return noSync(fs.FS.Create(name, c))
}

func (fs noSyncFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	return noSync(fs.FS.Open(name, opts...))
}

func (fs noSyncFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return noSync(fs.FS.OpenReadWrite(name, c, opts...))
}

func (fs noSyncFS) OpenDir(name string) (vfs.File, error) { return noSync(fs.FS.OpenDir(name)) }

// ReuseForWrite hands Pebble a recycled write-ahead log emptied: Pebble
// recycles a log to spare the syncs of a growing file, which noSyncFS
// does not do, and a recycled log kept its old length. A native snapshot
// copies the live logs whole at the barrier, so a stale tail (up to a
// memtable's worth, 5 MB at the default budget) would be copied at every
// checkpoint, on the task goroutine, and uploaded.
func (fs noSyncFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if err := fs.FS.Rename(oldname, newname); err != nil {
		return nil, err
	}
	return noSync(fs.FS.Create(newname, c))
}

func (fs noSyncFS) Unwrap() vfs.FS { return fs.FS }

func noSync(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}

type noSyncFile struct{ vfs.File }

func (noSyncFile) Sync() error                { return nil }
func (noSyncFile) SyncData() error            { return nil }
func (noSyncFile) SyncTo(int64) (bool, error) { return true, nil }
