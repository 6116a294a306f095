// Command hotels is Condo's reference SaaS: a public signup site, a tenant
// app for hotels and rooms, and a platform admin, with Condo's command line
// (migrate, tenants, serve, ...) built in.
//
//	go run ./examples/hotels dev      # private PostgreSQL, demo data, http://localhost:8080
//	DATABASE_URL=postgres://... go run ./examples/hotels migrate
package main

import (
	"os"

	"github.com/condo-dev/condo/condocli"
	"github.com/condo-dev/condo/examples/hotels/migrations"
)

func main() {
	os.Exit(condocli.Main(&condocli.Config{
		Name:             "hotels",
		Short:            "Condo's reference multi-tenant SaaS: hotels and rooms",
		SharedMigrations: migrations.Shared(),
		TenantMigrations: migrations.Tenant(),
	}))
}
