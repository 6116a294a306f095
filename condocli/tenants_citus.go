package condocli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condostack"
)

// tenantsNodesCmd prints where each tenant lives on a Citus cluster.
func tenantsNodesCmd(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "nodes",
		Short: "Show the Citus nodes and the node of each tenant",
		Args:  cobra.NoArgs,
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, _ []string) error {
			info, err := st.Registry.Cluster(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "NODE\tROLE\tTENANTS\tWAL_LEVEL\n")
			for _, n := range info.Nodes {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", n.Node, n.Role, n.Tenants, n.WALLevel)
			}
			fmt.Fprintf(tw, "\nTENANT\tSCHEMA\tNODE\n")
			after := ""
			for {
				page, err := st.Registry.List(ctx, condo.ListParams{After: after, Limit: 500})
				if err != nil {
					return err
				}
				nodes, err := st.Registry.Nodes(ctx, page.Tenants)
				if err != nil {
					return err
				}
				for _, t := range page.Tenants {
					where := "-" // not distributed (made before Citus)
					if n, ok := nodes[t.Schema]; ok {
						where = n.String()
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Slug, t.Schema, where)
				}
				if page.Next == "" {
					break
				}
				after = page.Next
			}
			return tw.Flush()
		}),
	}
}

// tenantsRebalanceCmd spreads the tenants over the Citus workers by size.
// It prints; Registry.Rebalance plans and moves.
func tenantsRebalanceCmd(c *CLI) *cobra.Command {
	var opts condo.RebalanceOpts
	cmd := &cobra.Command{
		Use:   "rebalance [--dry-run]",
		Short: "Spread the tenants over the Citus workers by size, moving them online one at a time",
		Args:  cobra.NoArgs,
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, _ []string) error {
			res, err := st.Registry.Rebalance(ctx, &opts)
			if res != nil {
				printRebalance(cmd.OutOrStdout(), res, opts.DryRun)
			}
			return err
		}),
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print the moves without making them")
	return cmd
}

func printRebalance(w io.Writer, res *condo.RebalanceResult, dryRun bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "WORKER\tBEFORE\tAFTER\n")
	nodes := slices.SortedFunc(maps.Keys(res.Before), func(a, b condo.Node) int { return strings.Compare(a.String(), b.String()) })
	for _, n := range nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", n, humanBytes(res.Before[n]), humanBytes(res.After[n]))
	}
	_ = tw.Flush()
	if len(res.Moves) == 0 {
		fmt.Fprintln(w, "balanced: nothing to move")
		return
	}
	verb := "moved"
	if dryRun {
		verb = "would move"
	}
	for i, m := range res.Moves {
		if !dryRun && i >= res.Done {
			fmt.Fprintf(w, "not moved %s (%s) %s -> %s\n", m.Slug, humanBytes(m.Bytes), m.From, m.To)
			continue
		}
		fmt.Fprintf(w, "%s %s (%s) %s -> %s\n", verb, m.Slug, humanBytes(m.Bytes), m.From, m.To)
	}
}

func parseNode(s string) (condo.Node, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return condo.Node{}, fmt.Errorf("--node: want HOST:PORT, got %q", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return condo.Node{}, fmt.Errorf("--node: bad port in %q", s)
	}
	return condo.Node{Host: host, Port: p}, nil
}

// humanBytes is n in B, KiB, MiB or GiB, one decimal past KiB.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
