package condocli_test

import (
	"github.com/spf13/cobra"

	"github.com/condo-dev/condo/condocli"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condostack"
)

// testApp is what an application adds to the CLI, as
// examples/hotels/main.go does: its own serve command, on the stack the
// command line's flags describe, with its handlers.
type testApp struct {
	// handlers builds the handlers on the opened stack; nil serves
	// Condo's default pages.
	handlers func(st *condostack.Stack) condohttp.Handlers
	// stopped runs once Serve has returned, before the stack closes.
	stopped func()
}

// newCLI is condocli.New(cfg) with app's serve command.
func newCLI(cfg *condocli.Config, app *testApp) *condocli.CLI {
	if app == nil {
		app = &testApp{}
	}
	c := condocli.New(cfg)
	cmd := &cobra.Command{Use: "serve", Short: "Run the HTTP(S) server", Long: condocli.ServeLong, Args: cobra.NoArgs}
	flags := c.ServeFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		sc, err := c.StackConfig(ctx)
		if err != nil {
			return err
		}
		if err := flags.Apply(sc); err != nil {
			return err
		}
		st, err := condostack.Open(ctx, sc)
		if err != nil {
			return err
		}
		defer st.Close()
		var h condohttp.Handlers
		if app.handlers != nil {
			h = app.handlers(st)
		}
		err = st.Serve(ctx, h)
		if app.stopped != nil {
			app.stopped()
		}
		return err
	}
	c.Command().AddCommand(cmd)
	return c
}
