// Package migrations holds the reference app's SQL migrations: the shared
// line (users, memberships, sessions, in the public schema) and the tenant
// line (hotels and rooms, in every tenant's schema).
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed shared/*.sql tenant/*.sql
var files embed.FS

// Shared returns the shared migrations.
func Shared() fs.FS { return sub("shared") }

// Tenant returns the tenant migrations.
func Tenant() fs.FS { return sub("tenant") }

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return f
}
