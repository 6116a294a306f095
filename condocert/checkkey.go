package condocert

import (
	"context"
	"fmt"
)

// CheckKey reports whether the values stored encrypted in s's table (by
// any instance) decrypt with s's key: it opens the most recently written
// one. It returns how many encrypted values are stored, and an error
// wrapping [ErrWrongKey] when the newest does not decrypt (a deployment
// given another key than the one its certificates were stored with, which
// would otherwise show only at the next renewal). With no encrypted value
// stored there is nothing to check: 0, nil.
func (s *Storage) CheckKey(ctx context.Context) (int, error) {
	var (
		n   int
		key *string
	)
	err := s.pool.QueryRow(ctx, `SELECT count(*),
		(SELECT key FROM public.condo_cert_storage WHERE encrypted ORDER BY modified DESC LIMIT 1)
		FROM public.condo_cert_storage WHERE encrypted`).Scan(&n, &key)
	if err != nil {
		return 0, fmt.Errorf("check certificate storage key: %w", err)
	}
	if key == nil {
		return 0, nil
	}
	if _, err := s.Load(ctx, *key); err != nil {
		return n, err
	}
	return n, nil
}
