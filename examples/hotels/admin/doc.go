// Package admin is the reference app's platform admin, served on the
// reserved admin host (admin.example.com) as [condohttp.Handlers].Reserved
// ["admin"]. Platform admins are their own accounts (made with the CLI's
// "admin create-user"), not tenant users, and sign in here only.
//
// # Pages
//
//	GET  /                         counts, signups per week, requests per tenant (top 10)
//	GET  /tenants                  search (?q=), filters (?status=, ?trial=, ?paid=expired), pages
//	GET  /tenants/new, POST        create a tenant (optionally inviting its owner)
//	GET  /tenants/{slug}           size, row counts, members; actions:
//	POST /tenants/{slug}/suspend, /resume, /restore, /extend, /delete (typed confirmation)
//
// Every change goes through [condo.Registry], which announces it on
// PostgreSQL's LISTEN/NOTIFY channel: every running server instance drops
// its cached copy of the tenant at once, so a suspension is in force
// everywhere within a second.
//
// # Charts
//
// The charts are inline SVG drawn by the templates from numbers computed
// here, each with a data table for screen readers: no script, no chart
// library, nothing fetched from elsewhere.
package admin
