// Package condocli is Condo's command line, built with cobra, for
// applications to embed: the manage.py migrate_schemas experience, and
// more.
//
//	func main() {
//		os.Exit(condocli.Main(&condocli.Config{
//			Name:             "hotels",
//			SharedMigrations: migrations.Shared,
//			TenantMigrations: migrations.Tenant,
//		}))
//	}
//
// Commands: migrate, tenants (create, list, show, update, suspend, resume,
// rename, domains, delete, export, import, exec), serve, proxy-config,
// certs and doctor (checks a deployment: server version, the login role's
// privileges, connections against the instances' pools, pending
// migrations, the certificate key, clock skew). The database comes from
// --database-url or DATABASE_URL. Behind a transaction pooler (detected,
// or said with --pooler/CONDO_POOLER), migrate and serve also need
// --direct-database-url or CONDO_DIRECT_DATABASE_URL, straight to
// PostgreSQL, for the migration lock, long DDL and LISTEN
// ([ErrNoDirectURL]). Errors go to standard error and make the exit code
// non-zero.
package condocli
