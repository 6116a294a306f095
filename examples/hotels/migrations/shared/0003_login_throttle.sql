-- Failed logins (and other throttled actions) per key: "user:<email>",
-- "addr:<ip>", "signup:<ip>". A key that reaches its limit within the
-- window is blocked until blocked_until.
CREATE TABLE throttle (
    key           text        PRIMARY KEY,
    hits          integer     NOT NULL,
    window_start  timestamptz NOT NULL,
    blocked_until timestamptz
);
CREATE INDEX throttle_window_idx ON throttle (window_start);
