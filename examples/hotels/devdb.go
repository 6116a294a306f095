package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condocli"
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

// defaultDatabase is the CLI's database when none is given: the
// development cluster "dev" made in stateDir, the running one if dev (or
// another command) has it up, else started for this command (stop stops
// it). A relative stateDir is looked for in the current directory and then
// in each parent, so a command run in a subdirectory of the repository
// finds the cluster dev made at its root. It never makes a cluster: a
// command that silently ran initdb somewhere new would then fail on a
// missing table; it says how to get a database instead.
func defaultDatabase(ctx context.Context, stateDir string) (url string, stop func(), err error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", nil, err
	}
	dir, err := findStateDir(wd, stateDir)
	if err != nil {
		return "", nil, err
	}
	pid, port, err := pgcluster.Running(clusterDir(dir))
	if err != nil {
		return "", nil, err
	}
	if pid != 0 && port != 0 {
		return devURL(port), nil, nil
	}
	c, url, err := startDevCluster(ctx, dir)
	if err != nil {
		return "", nil, err
	}
	return url, c.Stop, nil
}

// findStateDir returns the state directory holding a development
// cluster: stateDir itself when absolute, else stateDir under from or the
// nearest parent of from that has one. It returns an error wrapping
// [condocli.ErrNoDatabase] when there is none.
func findStateDir(from, stateDir string) (string, error) {
	dirs := []string{stateDir}
	if !filepath.IsAbs(stateDir) {
		dirs = dirs[:0]
		for d := from; ; d = filepath.Dir(d) {
			dirs = append(dirs, filepath.Join(d, stateDir))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, d := range dirs {
		if fi, err := os.Stat(clusterDir(d)); err == nil && fi.IsDir() {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: no development cluster in %s (nor in a parent directory); run `hotels dev` (go run ./examples/hotels dev) in the repository's root first, or set DATABASE_URL", condocli.ErrNoDatabase, stateDir)
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
