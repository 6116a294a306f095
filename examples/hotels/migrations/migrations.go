// Package migrations holds the reference app's SQL migrations: the shared
// line (users, memberships, sessions, in the public schema) and the tenant
// line (hotels and rooms, in every tenant's schema).
package migrations

import (
	"embed"
	"io/fs"

	"github.com/condo-dev/condo"
)

//go:embed shared/*.sql tenant/*.sql
var files embed.FS

// Shared returns the shared migrations.
func Shared() fs.FS { return sub("shared") }

// Tenant returns the tenant migrations.
func Tenant() fs.FS { return sub("tenant") }

// RuntimeGrants are the privileges the app's request path needs on the
// shared tables, granted to the runtime role with split roles (serve
// --runtime-database-url, runtime-grant): what an SQL injection in the
// accounts or usage code reaches. Not listed, so owner only: app_secrets
// (the CSRF key, loaded at start), admin_users writes (the admin command)
// and login_handoffs inserts (signup's tenant-creating transaction).
// Keep it next to the migrations: a new table or query that needs more
// fails loudly in TestSplitRolesApp.
func RuntimeGrants() []condo.TableGrant {
	return []condo.TableGrant{
		{Table: "users", Privileges: []string{"SELECT", "INSERT", "UPDATE"}},                 // sign-in; invitation accepted; password reset, e-mail verified
		{Table: "memberships", Privileges: []string{"SELECT", "INSERT"}},                     // roles; invitation accepted
		{Table: "admin_users", Privileges: []string{"SELECT"}},                               // admin sign-in
		{Table: "sessions", Privileges: []string{"SELECT", "INSERT", "DELETE"}},              // sign-in, sign-out, expiry
		{Table: "login_handoffs", Privileges: []string{"SELECT", "DELETE"}},                  // redeemed on the tenant's host
		{Table: "throttle", Privileges: []string{"SELECT", "INSERT", "UPDATE", "DELETE"}},    // sign-in throttling
		{Table: "login_known", Privileges: []string{"SELECT", "INSERT", "UPDATE", "DELETE"}}, // networks signed in from
		{Table: "invitations", Privileges: []string{"SELECT", "INSERT", "UPDATE"}},           // invite, accept (FOR UPDATE)
		{Table: "user_tokens", Privileges: []string{"SELECT", "INSERT", "UPDATE"}},           // password reset and verification links
		{Table: "tenant_requests", Privileges: []string{"SELECT", "INSERT", "UPDATE"}},       // request counts (ON CONFLICT DO UPDATE)
	}
}

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return f
}
