package contract

import (
	"fmt"
	"log/slog"
)

// Mask replaces a secret wherever options are printed or logged.
const Mask = "******"

// Options configures the stores that need it (today only s3). See
// objstore.Options.
type Options struct {
	Endpoint        string
	Region          string
	AccessKey       string
	SecretKey       string
	PathStyleAccess bool
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	return Mask
}

// String prints the options with AccessKey and SecretKey masked. It is also
// what %v and %+v print.
func (o Options) String() string {
	return fmt.Sprintf("{Endpoint:%q Region:%q AccessKey:%q SecretKey:%q PathStyleAccess:%t}",
		o.Endpoint, o.Region, mask(o.AccessKey), mask(o.SecretKey), o.PathStyleAccess)
}

// GoString is what %#v prints: masked like String.
func (o Options) GoString() string {
	return fmt.Sprintf("objstore.Options{Endpoint:%q, Region:%q, AccessKey:%q, SecretKey:%q, PathStyleAccess:%t}",
		o.Endpoint, o.Region, mask(o.AccessKey), mask(o.SecretKey), o.PathStyleAccess)
}

// LogValue makes slog log the options as a group with the secrets masked.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", o.Endpoint),
		slog.String("region", o.Region),
		slog.String("access_key", mask(o.AccessKey)),
		slog.String("secret_key", mask(o.SecretKey)),
		slog.Bool("path_style_access", o.PathStyleAccess),
	)
}
