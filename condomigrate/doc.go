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
// # Fleet runs
//
// [Migrator.MigrateTenants] finds the tenants that are behind with one
// indexed query, migrates them in parallel (each tenant all-or-nothing in
// one transaction that also records the new version in the registry), holds
// an advisory lock so that two runs never overlap, and reports per-tenant
// failures in a [*PartialError] without stopping the others unless asked
// to. A run that was interrupted is resumed by running it again.
package condomigrate
