package condotest

import (
	"fmt"
	"slices"
	"testing"
)

// exampleTB lets the helpers serve Example functions, which have no
// *testing.T: failures panic, cleanups run when the example calls close.
type exampleTB struct {
	testing.TB // nil: only the methods below are used
	cleanups   []func()
}

func (e *exampleTB) Helper()                         {}
func (e *exampleTB) Log(args ...any)                 {}
func (e *exampleTB) Logf(format string, args ...any) {}
func (e *exampleTB) Cleanup(f func())                { e.cleanups = append(e.cleanups, f) }
func (e *exampleTB) Errorf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
func (e *exampleTB) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// ExampleDatabase is [NewDatabaseInfo] for Example functions: it panics on
// failure, and close drops the database.
func ExampleDatabase() (db *Database, close func()) {
	tb := &exampleTB{}
	db = NewDatabaseInfo(tb, nil)
	return db, func() {
		for _, f := range slices.Backward(tb.cleanups) {
			f()
		}
	}
}
