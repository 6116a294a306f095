package condocli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
)

func newMigrateCmd(c *CLI) *cobra.Command {
	var (
		sharedOnly, tenantsOnly, dryRun, stopOnError bool
		slug                                         string
	)
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply shared and tenant migrations",
		Long: `Apply pending migrations: first the shared line (Condo's registry and the
application's shared tables), then every tenant that is behind, in parallel.
Each tenant is migrated all-or-nothing; failures are reported at the end and
do not stop the others (unless --stop-on-error). Run it again to resume.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if sharedOnly && tenantsOnly {
				return errors.New("--shared and --tenants exclude each other")
			}
			if c.parallel < 0 {
				return fmt.Errorf("--parallel must be at least 1, got %d", c.parallel)
			}
			ctx := cmd.Context()
			st, err := c.Open(ctx)
			if err != nil {
				return err
			}
			// The run's lock is a session's, and DDL may be long.
			if err := st.RequireDirect(); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !tenantsOnly && slug == "" {
				start := time.Now()
				res, err := st.Migrator.MigrateShared(ctx, &condomigrate.SharedOpts{DryRun: dryRun})
				if err != nil {
					return fmt.Errorf("shared migrations: %w", err)
				}
				verb := "applied"
				if dryRun {
					verb = "would apply"
				}
				for _, m := range res.Applied {
					fmt.Fprintf(out, "shared: %s %s %d_%s\n", verb, m.Line, m.Version, m.Name)
				}
				fmt.Fprintf(out, "shared: %d migration(s) %s in %s\n", len(res.Applied), verb, time.Since(start).Round(time.Millisecond))
				if st.Jobs != nil && !dryRun {
					jr, err := st.MigrateJobs(ctx)
					if err != nil {
						return fmt.Errorf("jobs: %w", err)
					}
					fmt.Fprintf(out, "jobs: River's tables installed (%d migration(s) applied)\n", len(jr.Applied))
				}
				// On Citus, tenants made before it was installed join the
				// cluster (Registry.DistributeTenants).
				if !dryRun {
					brought, err := st.Registry.DistributeTenants(ctx)
					for _, s := range brought {
						fmt.Fprintf(out, "citus: distributed tenant %s (made before Citus)\n", s)
					}
					if err != nil && !errors.Is(err, condo.ErrNotCitus) {
						return fmt.Errorf("citus: %w", err)
					}
				}
			}
			if !dryRun {
				if err := c.hardenIfSuperuser(ctx, st, out); err != nil {
					return err
				}
			}
			if sharedOnly {
				return nil
			}
			start := time.Now()
			opts := &condomigrate.TenantOpts{Slug: slug, Parallel: c.parallel, StopOnError: stopOnError, DryRun: dryRun}
			var bar *progressbar.ProgressBar
			opts.Progress = progressFunc(cmd.ErrOrStderr(), &bar)
			res, err := st.Migrator.MigrateTenants(ctx, st.Registry, opts)
			if bar != nil {
				_ = bar.Finish()
				fmt.Fprintln(cmd.ErrOrStderr())
			}
			// A summary only for a run that happened: not before an error
			// that stopped it (an unknown --tenant, a checksum mismatch).
			var partial *condomigrate.PartialError
			if res != nil && (err == nil || errors.As(err, &partial)) {
				if dryRun {
					for _, p := range res.Pending {
						fmt.Fprintf(out, "tenants: would migrate %s from %d to %d\n", p.Slug, p.Version, res.Latest)
					}
					fmt.Fprintf(out, "tenants: %d behind, %d up to date (latest %d)\n", len(res.Pending), res.UpToDate, res.Latest)
				} else {
					fmt.Fprintf(out, "tenants: %d migrated, %d failed, %d already up to date (latest %d) in %s\n",
						len(res.Migrated), len(res.Failed), res.UpToDate, res.Latest, time.Since(start).Round(time.Millisecond))
					for _, f := range res.Failed {
						fmt.Fprintf(cmd.ErrOrStderr(), "  %v\n", f)
					}
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&sharedOnly, "shared", false, "only the shared migrations")
	f.BoolVar(&tenantsOnly, "tenants", false, "only the tenant migrations")
	f.StringVar(&slug, "tenant", "", "only this tenant")
	f.IntVar(&c.parallel, "parallel", 0, "tenants migrated at once (default: number of CPUs)")
	f.BoolVar(&dryRun, "dry-run", false, "show what would be done, change nothing")
	f.BoolVar(&stopOnError, "stop-on-error", false, "stop at the first tenant that fails")
	return cmd
}

// progressFunc renders fleet progress: a bar on a terminal, otherwise a
// plain line at most once a second (and at the end), which reads well in CI
// logs.
func progressFunc(w io.Writer, bar **progressbar.ProgressBar) func(condomigrate.Progress) {
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		return func(p condomigrate.Progress) {
			if *bar == nil {
				*bar = progressbar.NewOptions(p.Total, progressbar.OptionSetWriter(w),
					progressbar.OptionSetDescription("migrating tenants"), progressbar.OptionShowCount(),
					progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond))
			}
			_ = (*bar).Set(p.Done)
		}
	}
	var last time.Time
	return func(p condomigrate.Progress) {
		if p.Done == p.Total || time.Since(last) >= time.Second {
			last = time.Now()
			fmt.Fprintf(w, "tenants: %d/%d done, %d failed\n", p.Done, p.Total, p.Failed)
		}
	}
}
