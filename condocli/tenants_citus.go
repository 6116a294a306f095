package condocli

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condostack"
)

// tenantsMoveCmd moves a tenant to another node of a Citus cluster. It
// parses and prints; Registry.Move does the work.
func tenantsMoveCmd(c *CLI) *cobra.Command {
	var node string
	cmd := &cobra.Command{
		Use:   "move SLUG --node HOST:PORT",
		Short: "Move a tenant to another Citus node, online (reads and writes are served throughout)",
		Args:  Args("SLUG"),
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, args []string) error {
			to, err := parseNode(node)
			if err != nil {
				return err
			}
			if err := st.Registry.Move(ctx, args[0], to); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "moved %s to %s\n", args[0], to)
			return nil
		}),
	}
	cmd.Flags().StringVar(&node, "node", "", "the target node, as the cluster names it (pg_dist_node): HOST:PORT")
	_ = cmd.MarkFlagRequired("node")
	return cmd
}

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
