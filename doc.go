// Package condo is the core of Condo, a framework for subdomain-based
// multi-tenant SaaS on PostgreSQL: every customer (tenant) gets its own
// subdomain, its own PostgreSQL schema and its own database role, while the
// public schema holds what all tenants share (the registry, domains, users).
//
// # Registry
//
// [Registry] keeps tenants and their domains in the shared schema and
// manages their lifecycle: [Registry.Create] makes the registry row, the
// domains, the schema, the role and applies every tenant migration in one
// transaction; [Registry.Suspend], [Registry.Rename], [Registry.Delete] and
// the domain methods change them, each announcing the change on
// [NotifyChannel] so that every server instance sees it at once.
//
// The registry is the one owner of Condo's tables (condo_tenants,
// condo_domains, condo_runtime_roles, condo_provisioners,
// condo_role_reserve) and of their
// notifications: no other package reads or writes them. The fleet
// migrator asks it through
// condomigrate's TenantStore ([Registry.TenantsBehind],
// [Registry.LockTenantVersionTx]); condocert through [Registry.Domain],
// [Registry.ConfirmDomain] and [Registry.ActiveDomainTenant];
// dashboards through [Registry.Counts] and [Registry.CreatedPerWeek].
//
// A [PendingPool] keeps ready-made (pending) tenants, which
// [Registry.Create] claims in one short transaction instead of running the
// DDL; they are hidden from lookups, listings and counts, and migrated
// like any tenant.
//
// A [RoleReserve] keeps tenant roles made ahead in batches
// ([Registry.ReserveRoles]), which [Registry.Create] takes with their id
// instead of making a role: every commit that changes the role catalogs
// makes every backend recompute its role memberships on its next SET
// ROLE, and a batch pays that once rather than once per signup (README,
// "Tenant roles at scale"). Reserved roles are granted and revoked with
// the tenants' ([GrantRuntime]) and counted by [Registry.RoleShares].
//
// # Tenant transactions
//
// Tenant code runs only inside [Registry.InTenantTx] (or [Registry.InTx]):
// a transaction that begins with SET LOCAL search_path and SET LOCAL ROLE,
// sent with BEGIN in one round trip. Nothing is set on the session, so a
// pooled connection never leaks one tenant's settings into another request,
// and the tenant's role can use its own schema and nothing else: the
// database refuses reads of other tenants and of the registry. Without a
// tenant in the context the API fails with [ErrNoTenant].
//
// # Blast radius
//
// SQL injected into tenant code should not leave the tenant role, and what
// it reaches if it does should be small. [HardenSQL] (run once per
// database by a superuser; [CheckHardening] reports it) takes set_config
// from tenant roles, so one statement can't leave them; the tx that
// [Registry.InTx] hands out refuses strings of several statements. With
// split roles ([RegistryConfig.TenantPool], [GrantRuntime]) tenant
// transactions run as a runtime role that owns nothing and reaches tenant
// roles only by SET ROLE, while the registry's pool (the owner) creates
// and purges tenants. The application's own queries on its shared tables
// run on the same pool through a [SharedPool], as the runtime role's
// NOLOGIN shared role ([SharedRoleName]), which holds only the grants the
// application declares ([GrantRuntimeOpts].Tables) and can't call
// set_config or become a tenant. Statements that do leave a role (the
// simple protocol, chosen explicitly) then reach the other tenants and the
// shared role's grants, never the owner's: secrets, the registry, DDL.
// The README's blast-radius table lists what each set-up reaches.
//
// # Tiers
//
// A tenant lives in a schema of the registry's database ([TierSchema], the
// default) or in a database of its own ([TierDatabase]), on the registry's
// server or on one of [RegistryConfig].Servers, with the same schema name
// in it so that application code is the same. A database-tier tenant's
// transactions run on a pool of its own that logs in as its role (the
// password sealed in the registry with [RegistryConfig].SecretKey), so
// injected SQL has no other role to become and no other database to name.
// Those pools are made on first use, closed when idle and share a global
// cap; [Registry.Close] closes them. The fleet migrator reaches such a
// tenant through [Registry.InTenantDatabaseTx]; [Registry.OrphanDatabases]
// finds the databases a creation or purge that died midway left behind.
//
// [Registry.MoveTier] moves a tenant between tiers and servers while it
// is served (the engine is internal/schemacopy): writes pause for a
// verified switch, the move is recorded at every phase so that
// [Registry.ResumeMove] and [Registry.RollbackMove] finish or undo a
// killed one, fleet migrations wait for it ([ErrMoveInProgress]), and
// [Registry.CleanupMoves] drops the fenced old copy after a grace period.
// A tenant transaction that meets the old copy runs again at the new
// place (see [Registry.InTx]).
//
// # Names
//
// Tenant slugs are DNS labels ([ValidateSlug]); hosts are normalised by
// [NormalizeHost]; schema and role names are derived from the tenant's id
// and only reach SQL validated and quoted. Bad names get a [*NameError] that
// says what is wrong.
//
// # Hosts and the resolver
//
// [Resolver] maps a request's Host header to a tenant: subdomains of the
// configured base domains by slug, other hosts by verified custom domain,
// with a bounded cache (misses included) kept right by LISTEN/NOTIFY.
// [Registry.QueryTenant] runs a read-only tenant query in one round trip,
// and [TenantPools] keeps tenant-affine connections for many-tenant
// deployments.
//
// # The HTTP edge
//
// This package holds no HTTP code and imports no net/http server nor
// Prometheus. Package condohttp is the edge, built on the resolver: its
// router dispatches each request to the application's handlers (public
// site, tenant app, reserved hosts) with the tenant in the request context
// ([WithTenant], [TenantFromContext]), and its server runs the listeners,
// believes forwarded headers only from trusted proxies, and exports
// metrics. The dependency goes one way: condohttp imports condo.
//
// # Connection poolers
//
// Behind a transaction pooler (PgBouncer's pool_mode = transaction) each
// transaction may run on another server connection. [ConfigurePool] sets a
// pool up for it (no named prepared statements; [Registry.QueryTenant] and
// [TenantPools] follow the pool's mode and stay one round trip), the
// resolver's LISTEN takes a direct connection's settings
// ([ResolverConfig].ListenConnConfig), and so should the migrator (its
// advisory lock is a session's). [DetectPooler] tells what is in front of a
// URL; a statement pooler is refused ([ErrStatementPooler]).
//
// # Database faults
//
// Tenant transactions and queries mark a database that is away for a
// moment (restarting, refusing or dropping connections, out of slots, no
// pooled connection within [RegistryConfig].AcquireTimeout) with
// [ErrDatabaseUnavailable], and a statement cancelled by the per-transaction
// [RegistryConfig].StatementTimeout with [ErrStatementTimeout].
// [IsTemporary] reports both, and the driver errors they stand for;
// condohttp's ErrorStatusCode maps them to 503, and its Server adds
// Retry-After to every 503, so clients retry instead of seeing a 500 or
// waiting.
//
// # Migrations
//
// Package condomigrate applies the shared and tenant migration lines; the
// fleet runner migrates thousands of tenants in parallel, each
// all-or-nothing.
package condo
