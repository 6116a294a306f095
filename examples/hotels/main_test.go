package main

import (
	"os"
	"testing"

	"github.com/condo-dev/condo/condotest"
)

// runMainEnv, when set, makes the test binary run the command instead of
// the tests: the dev test starts it as a subprocess to stop it with a real
// SIGINT, as Ctrl-C does.
const runMainEnv = "HOTELS_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	condotest.Main(m)
}
