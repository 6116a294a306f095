package schemacopy

import "context"

// SetHook makes m call f at its named points (e.g. "copy:level",
// "finish:locked"): the tests kill a phase there.
func SetHook(m *Mover, f func(ctx context.Context, point string)) { m.hook = f }
