package file

import "os"

// RefuseLinks makes PutFile's hard links fail with err, as on a file
// system without them, until the returned function restores them.
func RefuseLinks(err error) (restore func()) {
	link = func(string, string) error { return err }
	return func() { link = os.Link }
}
