package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/internal/pgcluster"
)

// The development cluster's application role and database. The role is
// not a superuser, as in production: it owns the database and its public
// schema and may create roles (the tenants'), so tenant roles and the
// walls between tenants work exactly as they will in production.
const (
	devRole     = "hotels"
	devDatabase = "hotels"
)

func clusterDir(stateDir string) string { return filepath.Join(stateDir, "postgres") }

func devURL(port int) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", devRole, port, devDatabase)
}

// defaultDatabase is the CLI's database when none is given: the development
// cluster in stateDir, the running one if "dev" (or another command) has it
// up, else started for this command (stop stops it).
func defaultDatabase(ctx context.Context, stateDir string) (url string, stop func(), err error) {
	pid, port, err := pgcluster.Running(clusterDir(stateDir))
	if err != nil {
		return "", nil, err
	}
	if pid != 0 && port != 0 {
		return devURL(port), nil, nil
	}
	c, url, err := startDevCluster(ctx, stateDir)
	if err != nil {
		return "", nil, err
	}
	return url, c.Stop, nil
}

// startDevCluster starts the cluster in stateDir (made on first use) and
// makes sure the application role and database exist.
func startDevCluster(ctx context.Context, stateDir string) (*pgcluster.Cluster, string, error) {
	// The state folder stays enterable: when we run as root, PostgreSQL
	// runs as another user and must reach its directory inside. The
	// cluster's own directory is private to that user.
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, "", fmt.Errorf("development database: %w", err)
	}
	c, err := pgcluster.Start(ctx, pgcluster.Config{Dir: clusterDir(stateDir)})
	if err != nil {
		return nil, "", fmt.Errorf("development database: %w", err)
	}
	if err := bootstrap(ctx, c); err != nil {
		c.Stop()
		return nil, "", fmt.Errorf("development database: %w", err)
	}
	return c, devURL(c.Port()), nil
}

// bootstrap makes the application role and database when missing, as
// tests and the benchmark make theirs (pgcluster.CreateDatabase), and
// hardens the database as production operators do once (hotels harden):
// tenant roles can't call set_config, so one injected statement can't
// leave them.
func bootstrap(ctx context.Context, c *pgcluster.Cluster) error {
	return pgcluster.CreateDatabase(ctx, c.URL(pgcluster.Superuser, "postgres"), pgcluster.DatabaseParams{
		Name:  devDatabase,
		Owner: devRole,
		Setup: func(ctx context.Context, conn *pgx.Conn) error { return condo.Harden(ctx, conn, devRole) },
	})
}

// errClusterBusy explains a cluster that another process already runs.
func errClusterBusy(err error) error {
	var re *pgcluster.RunningError
	if errors.As(err, &re) {
		return fmt.Errorf("%w: is another \"hotels dev\" running? Stop it (Ctrl-C), or point this one elsewhere with --state-dir", err)
	}
	return err
}
