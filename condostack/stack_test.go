package condostack

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condotest"
)

var tenantFS = fstest.MapFS{
	"0001_hotels.sql": {Data: []byte("CREATE TABLE hotel (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);")},
}

// TestOpenPooler opens the stack straight to PostgreSQL, through
// PgBouncer in transaction mode without and with a direct URL, and
// through a statement pooler, which it refuses.
func TestOpenPooler(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	ctx := t.Context()
	cfg := func(url, direct string) *Config {
		return &Config{DatabaseURL: url, DirectDatabaseURL: direct, PoolSize: 4, TenantMigrations: tenantFS, Logger: condotest.Logger(t)}
	}

	st, err := Open(ctx, cfg(db.URL, ""))
	if err != nil {
		t.Fatal(err)
	}
	if st.Pooler.Mode != condo.PoolerNone || st.Direct != st.Pool || st.RequireDirect() != nil || st.listenConnConfig() != nil {
		t.Errorf("direct: pooler %s, Direct is Pool: %v", st.Pooler, st.Direct == st.Pool)
	}
	st.Close()

	bouncer := condotest.NewPgBouncer(t, db, nil)
	st, err = Open(ctx, cfg(bouncer.URL, ""))
	if err != nil {
		t.Fatal(err)
	}
	if st.Pooler.Mode != condo.PoolerTransaction || st.Direct != nil || !errors.Is(st.RequireDirect(), ErrNoDirectURL) {
		t.Errorf("pooler without direct URL: pooler %s, Direct %v, RequireDirect %v", st.Pooler, st.Direct, st.RequireDirect())
	}
	if err := st.Serve(ctx, condohttp.Handlers{}); !errors.Is(err, ErrNoDirectURL) {
		t.Errorf("Serve behind a transaction pooler without a direct URL: got %v, want ErrNoDirectURL", err)
	}
	st.Close()

	st, err = Open(ctx, cfg(bouncer.URL, db.URL))
	if err != nil {
		t.Fatal(err)
	}
	if st.Direct == nil || st.Direct == st.Pool || st.RequireDirect() != nil || st.listenConnConfig() == nil {
		t.Errorf("pooler with direct URL: Direct %v, RequireDirect %v", st.Direct, st.RequireDirect())
	}
	st.Close()

	statement := condotest.NewPgBouncer(t, db, &condotest.PgBouncerOpts{PoolMode: "statement"})
	if _, err := Open(ctx, cfg(statement.URL, "")); !errors.Is(err, condo.ErrStatementPooler) {
		t.Errorf("statement pooler: got %v, want ErrStatementPooler", err)
	}
}

// TestConfigValidate: every problem at once, before any connection.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	_, err := Open(t.Context(), &Config{PoolSize: 2, TenantPools: 3, Serve: ServeConfig{HTTPSAddr: ":0"}})
	if err == nil {
		t.Fatal("Open with a bad config: got nil error")
	}
	if !errors.Is(err, ErrNoDatabase) {
		t.Errorf("got %v, want ErrNoDatabase among the errors", err)
	}
	for _, want := range []string{"tenant pools: want 0 (off) to the pool size (2), got 3", "HTTPS needs certificates"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to say %q", err, want)
		}
	}
	_, err = Open(t.Context(), &Config{DatabaseURL: "postgres://x@127.0.0.1:1/x", PoolSize: 2, TenantPools: 1,
		RuntimeDatabaseURL: "postgres://y@127.0.0.1:1/x", RuntimeShardURLs: []string{"postgres://z@127.0.0.1:1/x"}, Provisioners: -1, PendingTenants: -2, RoleReserve: -3})
	for _, want := range []string{"give them or a runtime database url, not both", "leave tenant pools at 0", "provisioners: want 0 to 1024, got -1",
		"pending tenants: want 0 (off) or more, got -2", "role reserve: want 0 (off) or more, got -3"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("runtime shards: got %v, want it to say %q", err, want)
		}
	}
}
