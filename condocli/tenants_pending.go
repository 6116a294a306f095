package condocli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condostack"
)

// tenantsPendingCmd shows the pool of pending tenants and, with --size,
// fills or shrinks it once: what serve --pending-tenants keeps doing in
// the background, for operators (e.g. purging the pool with --size 0).
func tenantsPendingCmd(c *CLI) *cobra.Command {
	size := -1
	cmd := &cobra.Command{
		Use:   "pending",
		Short: "Show the pending tenants (ready-made, claimed on signup); --size fills or shrinks the pool once",
		Args:  cobra.NoArgs,
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, _ []string) error {
			out := cmd.OutOrStdout()
			if size >= 0 {
				res, err := condo.NewPendingPool(st.Registry, &condo.PendingPoolConfig{Size: size, Logger: c.Logger()}).Fill(ctx)
				fmt.Fprintf(out, "pending tenants: %d made, %d purged\n", res.Made, res.Purged)
				if err != nil {
					return err
				}
			}
			s, err := st.Registry.PendingStats(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "pending tenants: %d, %d ready (at tenant migration version %d)\n", s.Total, s.Ready, s.Version)
			return nil
		}),
	}
	cmd.Flags().IntVar(&size, "size", -1, "fill or shrink the pool to this many pending tenants, once (0 purges them all)")
	return cmd
}

// checkPending is doctor's line on the pending tenants: how many, how
// many ready. Pending tenants behind the latest migration are not claimed
// until `migrate --tenants` (whose check fails meanwhile) brings them up.
func checkPending(ctx context.Context, st *condostack.Stack) checkResult {
	const name = "pending tenants"
	s, err := st.Registry.PendingStats(ctx)
	switch {
	case err != nil:
		return failf(name, "cannot count them: %v", err)
	case s.Total == 0:
		return okf(name, "none (signup runs the tenant's DDL; serve --pending-tenants N keeps N ready)")
	case s.Ready < s.Total:
		return warnf(name, "%d, %d ready at version %d; the others are not claimed until `migrate --tenants` brings them up to date", s.Total, s.Ready, s.Version)
	default:
		return okf(name, "%d, all ready at version %d (signup claims one)", s.Total, s.Version)
	}
}
