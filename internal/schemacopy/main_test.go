package schemacopy_test

import (
	"testing"

	"github.com/condo-dev/condo/condotest"
)

func TestMain(m *testing.M) { condotest.Main(m) }
