package condostack_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"testing/fstest"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condostack"
)

// An application's main: the stack from one config, the application's
// handlers on it, and what it flushes once the server has drained. It
// needs a database and the network, so it only compiles.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := condostack.Open(ctx, &condostack.Config{
		DatabaseURL:      os.Getenv("DATABASE_URL"),
		TenantMigrations: fstest.MapFS{"0001_note.sql": {Data: []byte("CREATE TABLE note (body text)")}},
		Serve:            condostack.ServeConfig{HTTPAddr: ":8080", BaseDomains: []string{"example.com"}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer st.Close()
	if _, err := st.Migrator.MigrateShared(ctx, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, _ := condo.TenantFromContext(r.Context())
		fmt.Fprintf(w, "hello, %s\n", t.Name)
	})
	err = st.Serve(ctx, condohttp.Handlers{Tenant: app})
	// Every request has finished and the database is still open: flush
	// what the handlers buffered here.
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}
