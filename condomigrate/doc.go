// Package condomigrate applies versioned SQL migrations to the shared schema
// and to every tenant schema.
//
// # Lines
//
// There are three lines of migrations, each a set of files named
// NNNN_description.sql in an [io/fs.FS] (usually embedded):
//
//   - "condo": Condo's own shared tables (the tenant registry, domains,
//     certificates). Built in.
//   - "shared": the application's shared tables, in the public schema.
//   - "tenant": the application's tenant tables, applied to each tenant
//     schema with search_path set to that schema alone.
//
// Every applied migration is recorded with a SHA-256 checksum of its text;
// a migration whose file changed after it was applied is refused with
// [ErrChecksumMismatch].
//
// # One statement per query string
//
// A migration file is split into its statements when it is loaded
// (internal/sqlsplit understands quotes, E'…' strings, dollar quotes,
// comments and BEGIN ATOMIC bodies), and they are sent as one query string
// each, all of a tenant's pending migrations and their records in one round
// trip (internal/pgexec). On Citus, which forwards the text of some DDL to
// its workers, a file sent whole would fail ("cannot insert multiple
// commands into a prepared statement"). On Citus, MigrateShared also does
// the owner role's one-time set-up ([CitusOwnerSetUpSQL]), and a tenant
// migration's foreign key to a shared table that is not a reference table
// fails naming that table.
//
// # Fleet runs
//
// [Migrator.MigrateTenants] asks the tenant registry (a [TenantStore],
// implemented by condo.Registry) which tenants are behind, migrates them in
// parallel (each tenant all-or-nothing in one transaction in which the
// registry also records the new version), holds an advisory lock so that
// two runs never overlap, and reports per-tenant failures in a
// [*PartialError] without stopping the others unless asked to. A run that
// was interrupted is resumed by running it again.
//
// # Who owns what
//
// condomigrate owns the migration history: public.condo_migrations (every
// line's catalog, with checksums) and each tenant schema's slim table of
// the same name ([HistoryTable]). It does not own the tables its "condo"
// line creates, only their DDL:
//
//   - condo_tenants, condo_domains, condo_runtime_roles,
//     condo_provisioners, condo_role_reserve: package condo. Only condo.Registry (and condo's
//     GrantRuntime and Provision) reads or writes them,
//     and only it sends on their notification channel; condomigrate reaches
//     them through [TenantStore], condocert through Registry methods. A test
//     in package condo fails if SQL elsewhere names them.
//   - condo_cert_storage, condo_cert_locks: package condocert.
//
// The DDL stays in this line, though, because databases already record its
// files as line "condo", versions 1, 10 and 20, with their checksums:
// moving them to a line of their own would make every existing database
// report [ErrUnknownVersion], and the registry's tables must exist before
// the application's shared line, which may refer to them (foreign keys to
// condo_tenants), is applied.
package condomigrate
