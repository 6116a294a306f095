package condocert_test

import (
	"testing"
	"time"

	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condotest"
)

// TestStorageCitus runs the storage conformance suite, locks included,
// against a Citus coordinator: the storage's tables are plain local tables
// of the coordinator, which every Condo instance connects to.
func TestStorageCitus(t *testing.T) {
	t.Parallel()
	db := condotest.NewCitusDatabase(t, nil)
	key, _ := condocert.ParseKey(condocert.NewKey())
	s, err := condocert.NewStorage(db.Pool, &condocert.StorageConfig{EncryptionKey: key, LockPollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	storageSuite(t, s)
}

// TestClusterCitus is TestCluster against a Citus coordinator: two
// instances (two pools) share the certificate storage there, issue once
// and serve the same certificate.
func TestClusterCitus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "citus", pebbleOpts{})
	e.db = condotest.NewCitusDatabase(t, nil)
	testCluster(t, e)
}
