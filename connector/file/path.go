package file

import (
	"errors"
	"net/url"
	"strings"
)

// localPath returns the local path that a path or file:// URI names.
func localPath(p string) (string, error) {
	if p == "" {
		return "", errors.New("must not be empty")
	}
	if !strings.Contains(p, "://") {
		return p, nil
	}
	u, err := url.Parse(p)
	if err != nil {
		return "", err
	}
	if u.Scheme != "file" {
		return "", errors.New("unsupported scheme " + u.Scheme + "://; want a local path or file:// URI")
	}
	if u.Host != "" && u.Host != "localhost" {
		return "", errors.New("file:// URI names host " + u.Host + "; want file:///path")
	}
	if u.Path == "" {
		return "", errors.New("file:// URI has no path")
	}
	return u.Path, nil
}
