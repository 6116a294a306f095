package main

import (
	"os"

	"github.com/condo-dev/condo/condocli"
)

func main() {
	os.Exit(condocli.Main(newConfig(&options{stateDir: defaultStateDir})))
}
