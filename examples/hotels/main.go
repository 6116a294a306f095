// Command hotels is Condo's reference SaaS: a public signup site, a tenant
// app for hotels and rooms, and a platform admin, with Condo's command line
// (migrate, tenants, serve, ...) built in.
//
//	go run ./examples/hotels dev      # private PostgreSQL, demo data, http://localhost:8080
//	DATABASE_URL=postgres://... go run ./examples/hotels migrate
//	DATABASE_URL=postgres://... go run ./examples/hotels serve --base-domain example.com
//	go run ./examples/hotels admin create-user ops@example.com
//
// Without DATABASE_URL (or --database-url) every command uses the
// development cluster under ./.condo, the one "dev" makes: the running one
// when "dev" is up, else it is started for the command and stopped after.
package main

import (
	"os"

	"github.com/condo-dev/condo/condocli"
)

func main() {
	os.Exit(condocli.Main(newConfig(&options{stateDir: defaultStateDir})))
}
