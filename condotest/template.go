package condotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/internal/pgcluster"
)

// template returns the name of the test server's migrated template: a
// database with Condo's shared migrations applied and hardened, made once
// per test process by the first test that needs it. Test databases are
// copies of it (CREATE DATABASE … TEMPLATE), which is cheaper than
// migrating each one; the copy's tables are handed to the test's own
// role (see [pgcluster.CreateDatabase]), so a copy is exactly what
// migrating it would have made.
func template(ctx context.Context, admin string) (string, error) {
	server.tmplOnce.Do(func() {
		var b [5]byte
		_, _ = rand.Read(b[:])
		// ct_tmpl_…: not a prefix of any test database's name (ct_ and
		// ten hex digits), so dropping a test's roles leaves its role.
		name := "ct_tmpl_" + hex.EncodeToString(b[:])
		server.tmpl, server.tmplErr = name, makeTemplate(ctx, admin, name)
	})
	if server.tmplErr != nil {
		return "", fmt.Errorf("migrated template: %w", server.tmplErr)
	}
	return server.tmpl, nil
}

func makeTemplate(ctx context.Context, admin, name string) error {
	err := pgcluster.CreateDatabase(ctx, admin, pgcluster.DatabaseParams{
		Name:  name,
		Setup: func(ctx context.Context, conn *pgx.Conn) error { return condo.Harden(ctx, conn, name) },
	})
	if err != nil {
		return err
	}
	pool, err := newPool(ctx, admin, name, name, 1)
	if err != nil {
		return err
	}
	err = migrateShared(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	pool.Close()
	if err != nil {
		return err
	}
	return pgcluster.OwnTemplate(ctx, admin, name)
}

// dropTemplate drops the template, if one was made, on a server the tests
// did not start (CONDO_TEST_DATABASE_URL); a throwaway one goes whole.
func dropTemplate() {
	if server.tmpl == "" || server.cluster != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = pgcluster.DropDatabase(ctx, server.url, server.tmpl)
}
