-- Requests served per tenant per day, flushed from each server's counters:
-- the platform admin's "requests per tenant" chart.
CREATE TABLE tenant_requests (
    tenant_id bigint NOT NULL REFERENCES condo_tenants (id) ON DELETE CASCADE,
    day       date   NOT NULL,
    requests  bigint NOT NULL,
    PRIMARY KEY (tenant_id, day)
);
CREATE INDEX tenant_requests_day_idx ON tenant_requests (day);
