package objstore

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrOutsidePrefixes marks a storage location that is not under any of the
// allowed prefixes (security.storage.allowed-prefixes).
var ErrOutsidePrefixes = errors.New("objstore: storage location outside the allowed prefixes")

// Location is a storage URI taken apart the way Open reads it: the scheme
// (memory, file or s3; s3a and s3p are s3), the bucket or memory store name,
// and the path within it without a trailing slash.
type Location struct {
	Scheme string
	Host   string // bucket (s3) or store name (memory); empty for file
	Path   string // "/dir/sub" for file, "prefix/sub" (no leading slash) for s3 and memory
}

func (l Location) String() string {
	if l.Scheme == "file" {
		return "file://" + l.Path
	}
	if l.Path == "" {
		return l.Scheme + "://" + l.Host
	}
	return l.Scheme + "://" + l.Host + "/" + l.Path
}

// ParseLocation parses a storage URI as Open reads it and refuses what
// could name a place other than it seems to: "." and ".." segments
// (also percent-encoded), credentials, backslashes and control characters.
func ParseLocation(uri string) (Location, error) {
	bad := func(why string) (Location, error) {
		return Location{}, fmt.Errorf("objstore: storage location %q %s", redactURI(uri), why)
	}
	if uri == "" {
		return bad("is empty")
	}
	for _, r := range uri {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return bad(fmt.Sprintf("contains %q", r))
		}
	}
	var l Location
	switch {
	case strings.HasPrefix(uri, "/"):
		l = Location{Scheme: "file", Path: uri}
	case strings.HasPrefix(uri, "memory://"):
		name, rest, _ := strings.Cut(strings.TrimPrefix(uri, "memory://"), "/")
		if name == "" {
			return bad("names no memory store")
		}
		l = Location{Scheme: "memory", Host: name, Path: rest}
	default:
		u, err := url.Parse(uri)
		if err != nil || u.Scheme == "" {
			return bad("is not an absolute path or a memory://, file:// or s3:// URI")
		}
		if u.User != nil {
			return bad("must not contain credentials")
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return bad("must not have a query or fragment")
		}
		switch u.Scheme {
		case "file":
			if u.Host != "" && u.Host != "localhost" {
				return bad("names a host; file:// URIs name local directories")
			}
			l = Location{Scheme: "file", Path: u.Path}
		case "s3", "s3a", "s3p":
			if u.Host == "" {
				return bad("names no bucket")
			}
			l = Location{Scheme: "s3", Host: u.Host, Path: strings.TrimPrefix(u.Path, "/")}
		default:
			return bad(fmt.Sprintf("has unknown scheme %q (want memory, file or s3)", u.Scheme))
		}
	}
	for _, seg := range strings.Split(strings.Trim(l.Path, "/"), "/") {
		if seg == "." || seg == ".." {
			return bad(fmt.Sprintf("has a %q segment", seg))
		}
	}
	if l.Scheme == "file" && !strings.HasPrefix(l.Path, "/") {
		return bad("is not an absolute path")
	}
	l.Path = strings.TrimRight(l.Path, "/")
	if l.Scheme == "file" && l.Path == "" {
		l.Path = "/"
	}
	return l, nil
}

// Within reports whether l is prefix or lies below it: same scheme, same
// bucket or store, and a path that is prefix's or continues it at a '/'.
func (l Location) Within(prefix Location) bool {
	if l.Scheme != prefix.Scheme || l.Host != prefix.Host {
		return false
	}
	if prefix.Path == "" || prefix.Path == "/" || l.Path == prefix.Path {
		return true
	}
	return strings.HasPrefix(l.Path, prefix.Path+"/")
}

// Confine checks that uri is a well-formed storage location under one of
// prefixes. The error names uri and wraps ErrOutsidePrefixes when it is well
// formed but elsewhere.
func Confine(uri string, prefixes []Location) error {
	l, err := ParseLocation(uri)
	if err != nil {
		return err
	}
	for _, p := range prefixes {
		if l.Within(p) {
			return nil
		}
	}
	if len(prefixes) == 0 {
		return fmt.Errorf("%w: %s: the cluster allows no storage locations of jobs (set security.storage.allowed-prefixes, or state.checkpoints.dir and state.savepoints.dir of the cluster)",
			ErrOutsidePrefixes, l)
	}
	names := make([]string, len(prefixes))
	for i, p := range prefixes {
		names[i] = p.String()
	}
	return fmt.Errorf("%w: %s is not under %s (security.storage.allowed-prefixes)", ErrOutsidePrefixes, l, strings.Join(names, ", "))
}

// redactURI hides the user information of a URI, if it parses as one.
func redactURI(uri string) string {
	if u, err := url.Parse(uri); err == nil && u.User != nil {
		return u.Redacted()
	}
	return uri
}
