package condotest

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// ExampleDatabase is [NewDatabaseInfo] for Example functions, which have
// no testing.TB: it panics on failure, and close drops the database.
func ExampleDatabase() (db *Database, close func()) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, cleanup, err := newDatabase(ctx, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		_ = cleanup()
		panic("condotest: " + err.Error())
	}
	return db, func() {
		if err := cleanup(); err != nil {
			panic("condotest: cleanup: " + err.Error())
		}
	}
}
