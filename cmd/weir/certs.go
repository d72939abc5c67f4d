package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/weirstream/weir/internal/security"
)

func newCertsCmd(c *cli) *cobra.Command {
	var out string
	var hosts []string
	var force, shared bool
	cmd := &cobra.Command{
		Use:   "certs --out DIR",
		Short: "Write a development CA, certificates and tokens for a TLS cluster",
		Long: `certs writes into DIR a new CA (ca.pem, ca-key.pem), certificates and keys
for the jobmanager, the taskmanagers and a client (the role is the
certificate's OU), and a tokens file with one admin and one viewer token
(also in admin.token and viewer.token). They are for development and test
clusters: the CA's key is kept beside them.

Configure the processes with
  security.ssl.enabled: true
  security.ssl.cert: DIR/jobmanager.pem (or taskmanager.pem)
  security.ssl.key: DIR/jobmanager-key.pem (or taskmanager-key.pem)
  security.ssl.ca: DIR/ca.pem
  security.ssl.client-auth: required
  security.auth.tokens-file: DIR/tokens
and the CLI with WEIR_TLS_CA=DIR/ca.pem and WEIR_TOKEN=$(cat DIR/admin.token).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("missing --out DIR (usage: %s)", usageLine(cmd))
			}
			o := security.DevCertsOptions{Hosts: hosts, Force: force}
			if shared {
				o.FileMode = 0o644
			}
			if err := security.WriteDevCerts(out, o); err != nil {
				return err
			}
			if len(hosts) == 0 {
				hosts = security.DevHosts
			}
			fmt.Fprintf(c.stdout, "wrote %s into %s (hosts %s)\n", strings.Join(security.DevFiles, ", "), out, strings.Join(hosts, ", "))
			fmt.Fprintf(c.stdout, "client: export WEIR_TLS_CA=%s WEIR_TOKEN=$(cat %s)\n", filepath.Join(out, "ca.pem"), filepath.Join(out, "admin.token"))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write into (created if missing)")
	cmd.Flags().StringSliceVar(&hosts, "host", nil, "DNS name or IP address of the jobmanager and taskmanagers (repeatable; default "+strings.Join(security.DevHosts, ",")+")")
	cmd.Flags().BoolVar(&force, "force", false, "replace files that exist")
	cmd.Flags().BoolVar(&shared, "readable", false, "make keys and tokens readable by every user (for containers that run as another user); default owner only")
	return cmd
}
