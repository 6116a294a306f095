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
//
// # Layout
//
// main.go and app.go are the wiring: they build the packages below over one
// database and hand them to Condo's command line. dev.go, devdb.go and
// seed.go are the dev command; admincmd.go is "admin create-user".
//
//   - site: the public site on the base domains (landing, signup)
//   - tenantapp: the tenant app on slug.base (hotels, rooms, members)
//   - admin: the platform admin on admin.base
//   - accounts: users, admins, sessions, CSRF, throttling, invitations
//   - usage: request counts per tenant for the admin's chart
//   - ui: layout, style sheet and form fields shared by the three sites
//   - web: the JSON directory (GET /hotels/), a per-tenant setting, off by
//     default ("hotels directory on|off SLUG" or the owner's Settings
//     page); the benchmarks turn it on for their tenants
//   - migrations: the shared and tenant SQL migrations
package main
