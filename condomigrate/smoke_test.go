package condomigrate_test

import (
	"testing"

	"github.com/condo-dev/condo/condotest"
)

func TestSmoke(t *testing.T) {
	t.Parallel()
	pool := condotest.NewDatabase(t)
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM public.condo_tenants").Scan(&n); err != nil {
		t.Fatal(err)
	}
}
