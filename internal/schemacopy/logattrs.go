package schemacopy

import (
	"log/slog"
	"time"
)

func slogSchema(s string) slog.Attr       { return slog.String("schema", s) }
func slogDur(d time.Duration) slog.Attr   { return slog.Duration("duration", d) }
func slogRows(n int64) slog.Attr          { return slog.Int64("rows", n) }
func slogPause(d time.Duration) slog.Attr { return slog.Duration("write_pause", d) }
