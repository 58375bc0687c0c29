package ra

import (
	"slices"
	"strings"
)

// Role is what an officer may be: an officer holds one or more.
type Role string

// The officer roles.
const (
	RoleRegistrar Role = "registrar" // registers subscribers, submits requests, revokes and suspends
	RoleApprover  Role = "approver"  // approves or rejects requests (never their own)
	RoleAuditor   Role = "auditor"   // reads the audit log and reports
	RoleAdmin     Role = "admin"     // manages officers
)

// Roles lists every role, in the order they are shown.
func Roles() []Role { return []Role{RoleRegistrar, RoleApprover, RoleAuditor, RoleAdmin} }

// Action is one thing an officer asks the service to do.
type Action string

// The actions of the officer API.
const (
	ActWhoami             Action = "whoami"
	ActSubscriberRegister Action = "subscriber.register"
	ActSubscriberRead     Action = "subscriber.read"
	ActRequestSubmit      Action = "request.submit"
	ActRequestRead        Action = "request.read"
	ActRequestApprove     Action = "request.approve"
	ActRequestReject      Action = "request.reject"
	ActCertRead           Action = "cert.read"
	ActCertRevoke         Action = "cert.revoke"
	ActCertSuspend        Action = "cert.suspend"
	ActCertResume         Action = "cert.resume"
	ActOfficerAdd         Action = "officer.add"
	ActOfficerList        Action = "officer.list"
	ActOfficerDeactivate  Action = "officer.deactivate"
	ActAuditRead          Action = "audit.read"
	ActAuditVerify        Action = "audit.verify"
)

// anyRole marks an action every active officer may take.
const anyRole Role = "*"

// Permissions is the one role × action table: the roles that may take each
// action. Every call of the Service is checked against it and nowhere else.
// Four eyes (an approver never decides their own request) is on top of it,
// in Approve and Reject, and in the database.
func Permissions() map[Action][]Role {
	read := []Role{RoleRegistrar, RoleApprover, RoleAuditor}
	return map[Action][]Role{
		ActWhoami:             {anyRole},
		ActSubscriberRegister: {RoleRegistrar},
		ActSubscriberRead:     read,
		ActRequestSubmit:      {RoleRegistrar},
		ActRequestRead:        read,
		ActRequestApprove:     {RoleApprover},
		ActRequestReject:      {RoleApprover},
		ActCertRead:           read,
		ActCertRevoke:         {RoleRegistrar},
		ActCertSuspend:        {RoleRegistrar},
		ActCertResume:         {RoleRegistrar},
		ActOfficerAdd:         {RoleAdmin},
		ActOfficerList:        {RoleAdmin},
		ActOfficerDeactivate:  {RoleAdmin},
		ActAuditRead:          {RoleAuditor},
		ActAuditVerify:        {RoleAuditor},
	}
}

// Allowed reports whether an officer with roles may take action. An
// action missing from the table is allowed to nobody.
func Allowed(roles []string, action Action) bool {
	need, ok := Permissions()[action]
	if !ok {
		return false
	}
	if slices.Contains(need, anyRole) {
		return len(roles) > 0
	}
	for _, r := range roles {
		if slices.Contains(need, Role(r)) {
			return true
		}
	}
	return false
}

// rolesFor names the roles that may take action, for refusals.
func rolesFor(action Action) string {
	var out []string
	for _, r := range Permissions()[action] {
		out = append(out, string(r))
	}
	return strings.Join(out, " or ")
}

// ParseRoles checks and sorts a role list.
func ParseRoles(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, fieldErr("roles", "at least one role is required (registrar, approver, auditor, admin)")
	}
	var out []string
	for _, r := range in {
		r = strings.TrimSpace(r)
		if !slices.Contains(Roles(), Role(r)) {
			return nil, fieldErr("roles", "%q is not a role (registrar, approver, auditor, admin)", r)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out, nil
}
