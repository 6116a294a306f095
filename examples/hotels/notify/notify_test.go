package notify

import (
	"testing"
	"time"
)

// TestNightly: the report's schedule is the next 02:00 UTC, strictly
// after the time given.
func TestNightly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, now, want string }{
		{"before", "2026-11-30T01:59:59Z", "2026-11-30T02:00:00Z"},
		{"at", "2026-11-30T02:00:00Z", "2026-12-01T02:00:00Z"},
		{"after", "2026-11-30T13:00:00Z", "2026-12-01T02:00:00Z"},
		{"other zone", "2026-11-30T03:30:00+02:00", "2026-11-30T02:00:00Z"},
		{"year end", "2026-12-31T23:00:00Z", "2027-01-01T02:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now, _ := time.Parse(time.RFC3339, tc.now)
			want, _ := time.Parse(time.RFC3339, tc.want)
			if got := (at{hour: 2}).Next(now); !got.Equal(want) {
				t.Errorf("Next(%s) = %s, want %s", tc.now, got, want)
			}
		})
	}
}
