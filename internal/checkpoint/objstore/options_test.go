package objstore_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/checkpoint/objstore"
)

func TestOptionsMaskSecrets(t *testing.T) {
	opts := objstore.Options{
		Endpoint:        "https://minio.example:9000",
		Region:          "eu-west-1",
		AccessKey:       "AKIAACCESSKEYVALUE",
		SecretKey:       "wJalrXUtnFEMI/SECRETKEYVALUE",
		PathStyleAccess: true,
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("open", "opts", opts)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("open", "opts", opts)
	for name, out := range map[string]string{
		"String": opts.String(),
		"%v":     fmt.Sprintf("%v", opts),
		"%+v":    fmt.Sprintf("%+v", opts),
		"%#v":    fmt.Sprintf("%#v", opts),
		"%s ptr": fmt.Sprintf("%s", &opts),
		"slog":   logs.String(),
	} {
		if strings.Contains(out, "ACCESSKEYVALUE") || strings.Contains(out, "SECRETKEYVALUE") {
			t.Errorf("%s leaks a secret: %s", name, out)
		}
		if !strings.Contains(out, "******") || !strings.Contains(out, "minio.example") {
			t.Errorf("%s = %s, want the endpoint and masked keys", name, out)
		}
	}
	if s := (objstore.Options{}).String(); strings.Contains(s, "******") {
		t.Errorf("empty options print %s: an unset key should show as empty, not masked", s)
	}
}
