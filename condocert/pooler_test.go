package condocert_test

import (
	"testing"
	"time"

	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condotest"
)

// TestStoragePgBouncer runs the storage conformance suite, locks
// included, through PgBouncer in transaction mode: the storage keeps no
// state on a server connection between transactions (its locks are rows
// with a lease, not session advisory locks).
func TestStoragePgBouncer(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	bouncer := condotest.NewPgBouncer(t, db, &condotest.PgBouncerOpts{PoolSize: 2})
	key, _ := condocert.ParseKey(condocert.NewKey())
	s, err := condocert.NewStorage(bouncer.Pool(t, 4), &condocert.StorageConfig{EncryptionKey: key, LockPollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	storageSuite(t, s)
}
