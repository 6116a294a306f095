package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/condo-dev/condo/condocli"
	"github.com/condo-dev/condo/condostack"
	"github.com/condo-dev/condo/examples/hotels/migrations"
)

func main() {
	os.Exit(newCLI(&options{stateDir: defaultStateDir}).Main())
}

// stackConfig is the app's part of Condo's configuration; the database
// and the edge come from the command line.
func stackConfig() *condostack.Config {
	return &condostack.Config{
		SharedMigrations: migrations.Shared(),
		TenantMigrations: migrations.Tenant(),
		RuntimeGrants:    migrations.RuntimeGrants(),
	}
}

// newCLI is the whole command line: Condo's operations commands over the
// app's migrations, and the app's own serve, dev, admin and directory.
func newCLI(o *options) *condocli.CLI {
	stack := stackConfig()
	if err := setFiles(stack, o.getenv, o.stateDir); err != nil {
		panic(err) // filepath.Abs fails only without a working directory
	}
	cfg := &condocli.Config{
		Name:   "hotels",
		Short:  "Condo's reference multi-tenant SaaS: hotels and rooms",
		Stack:  stack,
		Getenv: o.getenv,
		Logger: o.logger,
		DefaultDatabase: func(ctx context.Context) (string, func(), error) {
			return defaultDatabase(ctx, o.stateDir)
		},
	}
	if o.stdout != nil {
		cfg.Stdout = o.stdout
	}
	if o.stderr != nil {
		cfg.Stderr = o.stderr
	}
	cli := condocli.New(cfg)
	cli.Command().AddCommand(newServeCmd(cli, o), newDevCmd(cli, o), newAdminCmd(cli), newDirectoryCmd(cli))
	return cli
}

// newServeCmd is "hotels serve": the stack from the command line's flags
// and environment, the app's handlers on it.
func newServeCmd(cli *condocli.CLI, o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP(S) server",
		Long:  condocli.ServeLong,
		Args:  cobra.NoArgs,
	}
	flags := cli.ServeFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		cfg, err := cli.StackConfig(ctx)
		if err != nil {
			return err
		}
		if err := flags.Apply(cfg); err != nil {
			return err
		}
		st, err := condostack.Open(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		a, err := newApp(ctx, st, o)
		if err != nil {
			return err
		}
		a.usage.Start(context.WithoutCancel(ctx))
		err = st.Serve(ctx, a.handlers)
		// Every request has finished: the counts of those that finished
		// during the shutdown are written too, before the pools close.
		a.usage.Stop()
		return err
	}
	return cmd
}
