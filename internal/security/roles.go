package security

import (
	"crypto/x509"
	"fmt"
)

// Role is what a certificate of the cluster CA says its holder is: the
// organizational unit (OU) of the certificate's subject.
type Role int

const (
	// RoleJobManager is the jobmanager: it deploys tasks on taskmanagers.
	RoleJobManager Role = iota + 1
	// RoleTaskManager is a taskmanager: it registers with the jobmanager and
	// exchanges data with other taskmanagers.
	RoleTaskManager
	// RoleClient is a user: a client certificate grants admin access to the
	// job API.
	RoleClient
)

var roleNames = map[Role]string{RoleJobManager: "jobmanager", RoleTaskManager: "taskmanager", RoleClient: "client"}

func (r Role) String() string {
	if n, ok := roleNames[r]; ok {
		return n
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// RoleOf returns the role of a verified certificate: the one of its
// subject's organizational units that names a role. A certificate that
// names none, or more than one, has no role (0).
func RoleOf(c *x509.Certificate) Role {
	var found Role
	for _, ou := range c.Subject.OrganizationalUnit {
		for r, n := range roleNames {
			if ou == n {
				if found != 0 && found != r {
					return 0
				}
				found = r
			}
		}
	}
	return found
}

// Access is what a user may do with the job API. Higher includes lower.
type Access int

const (
	// AccessViewer lists and reads jobs, checkpoints and the cluster.
	AccessViewer Access = iota + 1
	// AccessAdmin also submits, cancels and stops jobs and triggers
	// savepoints.
	AccessAdmin
)

func (a Access) String() string {
	switch a {
	case AccessViewer:
		return "viewer"
	case AccessAdmin:
		return "admin"
	}
	return fmt.Sprintf("Access(%d)", int(a))
}

// parseAccess reads a role name of the tokens file.
func parseAccess(s string) (Access, bool) {
	switch s {
	case "admin":
		return AccessAdmin, true
	case "viewer":
		return AccessViewer, true
	}
	return 0, false
}
