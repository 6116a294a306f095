package condo

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo/condomigrate"
)

// OnTenantCreatedFunc runs inside the creating transaction, after the
// schema is migrated, with search_path set to the tenant's schema alone and
// the application's own role (so it may also write shared tables,
// schema-qualified). Returning an error undoes the whole creation.
//
// For a [TierDatabase] tenant the schema is in another database, which
// no transaction of the registry's database can write: tx is then the
// registry's own transaction, the one that inserts the tenant's registry
// row, with search_path empty. Shared tables (schema-qualified) are
// written there atomically with the tenant's existence, as in the schema
// tier. The tenant's own tables are reached with [Registry.InTx] (t is
// complete, its database migrated and committed): that commits on its
// own, and an error of the hook still undoes the whole creation, the
// tenant's database included. A hook that serves both tiers checks
// t.Tier, or writes only shared tables (the hotels signup does).
type OnTenantCreatedFunc func(ctx context.Context, tx pgx.Tx, t *Tenant) error

// RegistryConfig configures a [Registry]. A nil *RegistryConfig is valid.
type RegistryConfig struct {
	// Reserved labels can't be slugs. Defaults to [DefaultReserved]().
	Reserved []string
	// RolePrefix starts every tenant role name. Defaults to the connecting
	// user's name followed by "_", so applications sharing a cluster under
	// different users never collide. At most 40 bytes of [a-z0-9_].
	RolePrefix string
	// OnTenantCreated, when set, runs for every tenant created (see
	// [OnTenantCreatedFunc]).
	OnTenantCreated OnTenantCreatedFunc
	// TenantPool, when set, runs tenant transactions ([Registry.InTx],
	// [Registry.InTenantTx], [Registry.QueryTenant]) instead of the
	// registry's pool, which keeps creating, changing and purging tenants.
	// Connect it as a runtime login role that owns nothing, prepared with
	// [GrantRuntime] (after which every registry's [Registry.Create]
	// grants it each new tenant role): SQL that leaves a tenant role then
	// holds only that role's rights (see the README's blast-radius
	// section). Defaults to the registry's pool: one role, the weaker mode.
	TenantPool *pgxpool.Pool
	// TenantPools, when set, runs each tenant's transactions and queries on
	// its own pool of the set (tenant-affine, [TenantPools.For]) instead
	// of TenantPool. On Citus, where every tenant role holds worker
	// connections of its own in each coordinator backend that ran it, this
	// bounds the workers' connections by the number of tenants instead of
	// tenants × backends (README, "Scaling out"); there, give each pool
	// one connection.
	TenantPools *TenantPools
	// StatementTimeout, when positive, bounds every statement of tenant
	// transactions and queries ([Registry.InTx], [Registry.QueryTenant]):
	// PostgreSQL cancels one that runs longer, and the call returns
	// [ErrStatementTimeout]. It is set per transaction (SET LOCAL), so it
	// works through a transaction pooler and never leaks to other work on
	// the connection. Zero leaves the server's setting. Whole milliseconds.
	StatementTimeout time.Duration
	// AcquireTimeout, when positive, bounds how long a tenant transaction
	// or query waits for a pooled connection; then it returns
	// [ErrDatabaseUnavailable] instead of queueing behind an exhausted pool
	// (or a database that does not answer) for as long as ctx allows. Zero
	// waits as long as ctx.
	AcquireTimeout time.Duration
	// Files, when set, is what a tenant stores outside its schema (package
	// condofiles): [Registry.Delete] purges it with the tenant, and
	// [Registry.Export] and [Registry.Import] carry it. Nil: none.
	Files TenantFiles
	// Servers names the PostgreSQL servers database-tier tenants may live
	// on ([CreateParams].Server), each as a config that connects as a
	// role that may administer it (CREATEDB and CREATEROLE: the owner
	// role, usually), to a database that exists (postgres). Tenant pools
	// connect to the same host with the tenant's role, password and
	// database. [MainServer] is the registry's own server; it defaults
	// to the registry pool's config, which is right unless that pool
	// goes through a transaction pooler: then give MainServer the direct
	// address (database-tier tenants connect directly, README "Tiers").
	// Credentials come from the application's configuration (condocli:
	// $CONDO_SERVERS or --servers-file), never from flags.
	Servers map[string]*pgxpool.Config
	// SecretKey is the 32-byte AES-256 key that seals database-tier
	// tenants' login passwords in the registry: the certificate
	// storage's key (condocert.LoadKey) serves. Without it (or with a key
	// of another length) database-tier operations return
	// [ErrNoSecretKey]; the schema tier needs none.
	SecretKey []byte
	// TierPoolConns is the size of each database-tier tenant's pool.
	// Defaults to 2.
	TierPoolConns int32
	// TierMaxConns caps the connections of all database-tier tenants'
	// pools together (see [Registry.Close]). Defaults to 100.
	TierMaxConns int
	// TierIdleTime closes a database-tier tenant's pool unused this long.
	// Defaults to 5 minutes.
	TierIdleTime time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// TenantFiles is a tenant's storage outside its schema, which the
// registry keeps in step with the tenant's life: condofiles.Files
// implements it. The tenant is explicit: these are operations, not tenant
// code.
type TenantFiles interface {
	// Purge removes every file of t.
	Purge(ctx context.Context, t *Tenant) error
	// Export writes t's files to w; Import reads what Export wrote into
	// t's files (to its end, and no further).
	Export(ctx context.Context, t *Tenant, w io.Writer) error
	Import(ctx context.Context, t *Tenant, r io.Reader) error
}

// Registry is the tenant registry in the shared schema: it creates, finds,
// changes and deletes tenants, and runs tenant transactions.
type Registry struct {
	pool     *pgxpool.Pool
	tpool    *pgxpool.Pool // tenant transactions; nil: pool
	tpools   *TenantPools  // tenant-affine pools; nil: tpool
	migrator *condomigrate.Migrator
	reserved []string
	hook     OnTenantCreatedFunc
	files    TenantFiles
	logger   *slog.Logger
	named    bool // QueryTenant may prepare statements (no transaction pooler)
	limits   atomic.Pointer[queryLimits]
	claimed  chan struct{} // a pending tenant was claimed: wakes a PendingPool
	// reserveTaken: a creation took a reserved role; wakes a RoleReserve.
	reserveTaken chan struct{}
	tier         *tierState
	// movePoint, when set, is called at named points of a tier move
	// (tests kill a move there).
	movePoint func(ctx context.Context, point string)

	prefixMu   sync.Mutex
	rolePrefix string
	serverNum  int    // server_version_num, read with the prefix
	citus      string // citus extension version, "" when not on Citus
	citusRead  bool   // citus is known
}

// NewRegistry returns a registry over pool. Tenant creation applies the
// migrator's tenant line. It panics if migrator is nil (a programmer error).
func NewRegistry(pool *pgxpool.Pool, migrator *condomigrate.Migrator, cfg *RegistryConfig) *Registry {
	if migrator == nil {
		panic("condo: NewRegistry needs a migrator")
	}
	if cfg == nil {
		cfg = &RegistryConfig{}
	}
	r := &Registry{
		pool:         pool,
		tpool:        cfg.TenantPool,
		tpools:       cfg.TenantPools,
		migrator:     migrator,
		reserved:     cfg.Reserved,
		hook:         cfg.OnTenantCreated,
		files:        cfg.Files,
		logger:       cmp.Or(cfg.Logger, slog.Default()),
		rolePrefix:   cfg.RolePrefix,
		claimed:      make(chan struct{}, 1),
		reserveTaken: make(chan struct{}, 1),
	}
	if r.reserved == nil {
		r.reserved = DefaultReserved()
	}
	// Tenant queries run on the tenant pool: its pooler mode counts.
	if cfg.TenantPools != nil {
		r.named = cfg.TenantPools.named
	} else if tp := r.tenantPool(); tp != nil {
		r.named = namedStatements(tp.Config().ConnConfig.DefaultQueryExecMode)
	}
	r.SetTimeouts(cfg.StatementTimeout, cfg.AcquireTimeout)
	r.tier = newTierState(pool, cfg)
	return r
}

// Close closes the pools of database-tier tenants, which the registry
// opens on first use; the pools given to [NewRegistry] and in the config
// stay the caller's to close. Tenant transactions of database-tier tenants
// fail with [ErrDatabaseUnavailable] after Close.
func (r *Registry) Close() { r.tier.pools.close() }

// SetTimeouts changes the registry's StatementTimeout and AcquireTimeout
// (see [RegistryConfig]), for programs that configure a registry after it
// was built (the CLI's serve flags). It is safe to call at any time.
func (r *Registry) SetTimeouts(statement, acquire time.Duration) {
	r.limits.Store(&queryLimits{statement: statement, acquire: acquire})
}

// TenantPool returns the pool tenant transactions run on:
// [RegistryConfig.TenantPool], or the registry's pool.
func (r *Registry) TenantPool() *pgxpool.Pool { return r.tenantPool() }

// Migrator returns the registry's migrator.
func (r *Registry) Migrator() *condomigrate.Migrator { return r.migrator }

// Reserved returns the reserved labels.
func (r *Registry) Reserved() []string { return r.reserved }

// ValidateSlug checks slug against the naming rules and this registry's
// reserved labels. See [ValidateSlug].
func (r *Registry) ValidateSlug(slug string) error { return ValidateSlug(slug, r.reserved) }

func (r *Registry) prefix(ctx context.Context, q pgx.Tx) (string, error) {
	r.prefixMu.Lock()
	defer r.prefixMu.Unlock()
	if r.serverNum == 0 {
		if err := q.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&r.serverNum); err != nil {
			return "", fmt.Errorf("read server version: %w", err)
		}
	}
	if r.rolePrefix != "" {
		return r.rolePrefix, nil
	}
	var user string
	if err := q.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil {
		return "", fmt.Errorf("read current user: %w", err)
	}
	var b strings.Builder
	for _, c := range strings.ToLower(user) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	p := b.String()
	if len(p) > 40 {
		p = p[:40]
	}
	r.rolePrefix = p + "_"
	return r.rolePrefix, nil
}

const tenantColumns = `t.id, t.slug, t.name, t.schema_name, t.role_name, t.status, t.paid_until, t.on_trial,
	t.created_on, t.migration_version, t.tier, COALESCE(t.server, ''), COALESCE(t.database_name, ''), t.role_password,
	COALESCE((SELECT json_agg(json_build_object('host', d.host, 'primary', d.is_primary,
		'verified', d.verified_at IS NOT NULL, 'verify_token', COALESCE(d.verify_token, ''))
		ORDER BY d.is_primary DESC, d.host) FROM public.condo_domains d WHERE d.tenant_id = t.id), '[]')`

func scanTenant(row pgx.Row) (*Tenant, error) {
	t := &Tenant{}
	var paid *time.Time
	var domains []byte
	if err := row.Scan(&t.ID, &t.Slug, &t.Name, &t.Schema, &t.Role, &t.Status, &paid, &t.OnTrial,
		&t.CreatedOn, &t.MigrationVersion, &t.Tier, &t.Server, &t.Database, &t.SealedPassword, &domains); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrTenantNotFound
		}
		return nil, err
	}
	t.PaidUntil = paid
	if err := json.Unmarshal(domains, &t.Domains); err != nil {
		return nil, fmt.Errorf("decode domains: %w", err)
	}
	return t, nil
}

// Get returns the tenant with that slug, in any status but pending.
// Returns [ErrTenantNotFound] if there is none.
func (r *Registry) Get(ctx context.Context, slug string) (*Tenant, error) {
	t, err := scanTenant(r.pool.QueryRow(ctx, "SELECT "+tenantColumns+" FROM public.condo_tenants t WHERE t.slug = $1 AND t.status <> 'pending'", slug))
	if err != nil {
		return nil, fmt.Errorf("get tenant %q: %w", slug, err)
	}
	return t, nil
}

// GetByID returns the tenant with that id, unless it is pending. Returns
// [ErrTenantNotFound].
func (r *Registry) GetByID(ctx context.Context, id int64) (*Tenant, error) {
	t, err := scanTenant(r.pool.QueryRow(ctx, "SELECT "+tenantColumns+" FROM public.condo_tenants t WHERE t.id = $1 AND t.status <> 'pending'", id))
	if err != nil {
		return nil, fmt.Errorf("get tenant %d: %w", id, err)
	}
	return t, nil
}

// GetByHost returns the tenant owning the verified custom domain host (in
// any status). host must already be normalised ([NormalizeHost]). Returns
// [ErrTenantNotFound] if no tenant has verified that host.
func (r *Registry) GetByHost(ctx context.Context, host string) (*Tenant, error) {
	t, err := scanTenant(r.pool.QueryRow(ctx, "SELECT "+tenantColumns+
		" FROM public.condo_domains d0 JOIN public.condo_tenants t ON t.id = d0.tenant_id WHERE d0.host = $1 AND d0.verified_at IS NOT NULL", host))
	if err != nil {
		return nil, fmt.Errorf("get tenant by host %q: %w", host, err)
	}
	return t, nil
}

// ListParams filters and pages [Registry.List]. The zero value lists the
// first 50 tenants that are not deleted, by slug.
type ListParams struct {
	// Status filters by status. Empty means active and suspended.
	// [StatusPending] lists the pending tenants, which no other value
	// shows.
	Status Status
	// AllStatuses includes deleted tenants too (Status must be empty), not
	// pending ones.
	AllStatuses bool
	// OnTrial, when set, filters by trial.
	OnTrial *bool
	// PaidBefore, when set, keeps tenants whose paid_until is before it
	// (or unset).
	PaidBefore *time.Time
	// Search matches slug, name or a domain, case-insensitively.
	Search string
	// After is the cursor: list slugs after it (ListResult.Next).
	After string
	// Limit defaults to 50; at most 1000.
	Limit int
}

// ListResult is one page.
type ListResult struct {
	Tenants []*Tenant
	// Next is the cursor for the next page, "" on the last page.
	Next string
}

// List returns a page of tenants ordered by slug.
func (r *Registry) List(ctx context.Context, p ListParams) (*ListResult, error) {
	limit := cmp.Or(p.Limit, 50)
	if limit < 1 || limit > 1000 {
		return nil, fmt.Errorf("list tenants: limit %d out of range 1..1000", p.Limit)
	}
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	switch {
	case p.Status != "":
		where = append(where, "t.status = "+arg(string(p.Status)))
	case !p.AllStatuses:
		where = append(where, "t.status NOT IN ('deleted', 'pending')")
	default:
		where = append(where, "t.status <> 'pending'")
	}
	if p.OnTrial != nil {
		where = append(where, "t.on_trial = "+arg(*p.OnTrial))
	}
	if p.PaidBefore != nil {
		where = append(where, "(t.paid_until IS NULL OR t.paid_until < "+arg(p.PaidBefore.Format(time.DateOnly))+"::date)")
	}
	if p.Search != "" {
		pat := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(p.Search) + "%"
		a := arg(pat)
		where = append(where, "(t.slug ILIKE "+a+" OR t.name ILIKE "+a+
			" OR EXISTS (SELECT 1 FROM public.condo_domains d WHERE d.tenant_id = t.id AND d.host ILIKE "+a+"))")
	}
	if p.After != "" {
		where = append(where, "t.slug > "+arg(p.After))
	}
	q := "SELECT " + tenantColumns + " FROM public.condo_tenants t"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY t.slug LIMIT " + arg(limit+1)
	rows, err := r.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	defer rows.Close()
	res := &ListResult{}
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
		res.Tenants = append(res.Tenants, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	if len(res.Tenants) > limit {
		res.Tenants = res.Tenants[:limit]
		res.Next = res.Tenants[limit-1].Slug
	}
	return res, nil
}

// lockTenant locks the registry row of slug for the rest of tx. A
// pending tenant is not found, as [Registry.Get] does not find it: a
// command given its "~pending-N" slug (rename, suspend, update, a
// domain…) would otherwise hand a customer's name or domain to a tenant
// the pool may give to someone else.
func lockTenant(ctx context.Context, tx pgx.Tx, slug string) (*Tenant, error) {
	return scanTenant(tx.QueryRow(ctx, "SELECT "+tenantColumns+" FROM public.condo_tenants t WHERE t.slug = $1 AND t.status <> 'pending' FOR UPDATE OF t", slug))
}

// lockAnyTenant locks the registry row of slug, pending or not, for the
// rest of tx.
func lockAnyTenant(ctx context.Context, tx pgx.Tx, slug string) (*Tenant, error) {
	return scanTenant(tx.QueryRow(ctx, "SELECT "+tenantColumns+" FROM public.condo_tenants t WHERE t.slug = $1 FOR UPDATE OF t", slug))
}

// lockPending locks the registry row of pending tenant slug for the rest
// of tx (the pool's purge of its surplus).
func lockPending(ctx context.Context, tx pgx.Tx, slug string) (*Tenant, error) {
	return scanTenant(tx.QueryRow(ctx, "SELECT "+tenantColumns+" FROM public.condo_tenants t WHERE t.slug = $1 AND t.status = 'pending' FOR UPDATE OF t", slug))
}

func hostsOf(t *Tenant) []string {
	hs := make([]string, len(t.Domains))
	for i, d := range t.Domains {
		hs[i] = d.Host
	}
	return hs
}
