// Package usage counts requests per tenant, for the platform admin's
// "requests per tenant" chart.
//
// Counting is an atomic add in memory, so it costs the request path
// nothing measurable; a [Counter] running with [Counter.Start] adds its
// counts to the shared table tenant_requests (one row per tenant per day)
// every few seconds and once more when it stops. Every server instance
// counts its own requests; the table holds the sum.
package usage
