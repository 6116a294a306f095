package condocli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/condo-dev/condo/condostack"
)

// tenantsReserveCmd shows the tenant role reserve and, with --size, brings
// it to that size once: what serve --role-reserve keeps doing in the
// background, for operators (e.g. dropping it with --size 0, which serve's
// 0, "off", does not do).
func tenantsReserveCmd(c *CLI) *cobra.Command {
	size := -1
	cmd := &cobra.Command{
		Use:   "reserve",
		Short: "Show the tenant role reserve (roles made ahead, taken on creation); --size fills or shrinks it once",
		Args:  cobra.NoArgs,
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, _ []string) error {
			out := cmd.OutOrStdout()
			if size >= 0 {
				res, err := st.Registry.ReserveRoles(ctx, size)
				fmt.Fprintf(out, "reserved tenant roles: %d made, %d dropped\n", res.Made, res.Dropped)
				if err != nil {
					return err
				}
			}
			s, err := st.Registry.RoleShares(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "reserved tenant roles: %d\n", s.Reserved)
			return nil
		}),
	}
	cmd.Flags().IntVar(&size, "size", -1, "make or drop reserved tenant roles until there are this many, once (0 drops them all)")
	return cmd
}
