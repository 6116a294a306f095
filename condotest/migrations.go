package condotest

import "testing/fstest"

// HotelMigrations is the reference app's tenant line in its first form
// (hotels and their rooms), the one WORKLOADS.md's W1 and W2 migrate: the
// tenant migrations of tests that need real tables but not the app.
func HotelMigrations() fstest.MapFS {
	return fstest.MapFS{
		"0001_hotels.sql": {Data: []byte(`
CREATE TABLE hotel (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       varchar(100) NOT NULL,
    city       varchar(100) NOT NULL,
    stars      smallint NOT NULL CHECK (stars BETWEEN 1 AND 5),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE room (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hotel_id bigint NOT NULL REFERENCES hotel (id) ON DELETE CASCADE,
    number   varchar(10) NOT NULL,
    beds     smallint NOT NULL,
    price    numeric(8,2) NOT NULL
);`)},
	}
}
