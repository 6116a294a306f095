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
// migrations, the certificate key, clock skew). The database comes from --database-url or DATABASE_URL. Errors go
// to standard error and make the exit code non-zero.
package condocli
