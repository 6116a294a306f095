package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condocli"
	"github.com/condo-dev/condo/examples/hotels/web"
)

func newDirectoryCmd(cli *condocli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "directory on|off SLUG",
		Short: "Publish or withdraw a tenant's public hotel list (GET /hotels/)",
		Long: `Publish (on) or withdraw (off) the hotel list of tenant SLUG at
/hotels/ on its host, as JSON, for anyone. It is off for every new tenant;
its owner can also switch it on the workspace's Settings page.`,
		Args:      condocli.Args("on|off", "SLUG"),
		ValidArgs: []string{"on", "off"},
		RunE: func(cmd *cobra.Command, args []string) error {
			var on bool
			switch args[0] {
			case "on":
				on = true
			case "off":
			default:
				return fmt.Errorf("want on or off, got %q", args[0])
			}
			ctx := cmd.Context()
			st, err := cli.Open(ctx)
			if err != nil {
				return err
			}
			err = web.SetDirectory(ctx, st.Registry, args[1], on)
			if errors.Is(err, condo.ErrTenantNotFound) {
				return fmt.Errorf("no tenant %q", args[1])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "directory of %s: %s\n", args[1], args[0])
			return nil
		},
	}
}
