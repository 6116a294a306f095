// Package sqlsplit splits a PostgreSQL script into its statements, so that
// each one can reach the server as a query string of its own.
//
// # Why
//
// A distributed engine may forward a statement's query string to other
// servers: Citus sends the text of some DDL (CREATE INDEX, ALTER TABLE) to
// its workers, and a string holding several statements then fails there
// ("cannot insert multiple commands into a prepared statement"). Migrations
// are written as files of several statements, so Condo splits them and sends
// the pieces together in one batch: one round trip, one statement per query
// string.
//
// # What it understands
//
// The lexical rules of PostgreSQL that can hide a semicolon: single-quoted
// strings (with doubled quotes), E'…' strings (with backslash escapes),
// quoted identifiers, dollar-quoted strings ($$ and $tag$), line comments
// (--), nested block comments (/* */), and SQL-standard function bodies
// (BEGIN ATOMIC … END, with CASE … END inside), as psql does.
// standard_conforming_strings is assumed on (the default since
// PostgreSQL 9.1): a backslash escapes only inside E'…' strings.
package sqlsplit
