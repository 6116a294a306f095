package condo

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/internal/pgident"
)

// exportMagic starts every export file.
const exportMagic = "CONDO-EXPORT 1\n"

// exportHeader is the JSON line after the magic. Table data follows in
// header order, each in COPY text format and ended by a line `\.`, which
// COPY's text format cannot produce as data.
type exportHeader struct {
	Slug       string            `json:"slug"`
	Name       string            `json:"name"`
	PaidUntil  *string           `json:"paid_until,omitempty"`
	OnTrial    bool              `json:"on_trial"`
	Version    int64             `json:"migration_version"`
	Checksums  map[int64]string  `json:"checksums"`
	ExportedAt time.Time         `json:"exported_at"`
	Tables     []exportTable     `json:"tables"`
	Sequences  []exportSequence  `json:"sequences"`
	Extra      map[string]string `json:"extra,omitempty"`
	// Files: the tenant's files follow the tables, as a tar stream
	// ([TenantFiles]). Older exports have none.
	Files bool `json:"files,omitempty"`
}

type exportTable struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
}

type exportSequence struct {
	Name      string `json:"name"`
	LastValue *int64 `json:"last_value"`
	IsCalled  bool   `json:"is_called"`
}

// Export writes one tenant's migration version and data to w, as one
// consistent snapshot, followed by its files when the registry has a
// [RegistryConfig].Files. The file does not name the schema, so [Registry.Import]
// can restore it as a new tenant of any installation with the same tenant
// migrations, in either tier (Import makes a schema-tier tenant).
// Returns [ErrTenantNotFound].
func (r *Registry) Export(ctx context.Context, slug string, w io.Writer) error {
	t, err := r.Get(ctx, slug)
	if err != nil {
		return err
	}
	if err := pgident.Validate("schema", t.Schema); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	// A database-tier tenant's schema is read where it lives, as the
	// owner of its database; the file is the same in both tiers.
	var src interface {
		BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error)
	} = r.pool
	if t.Tier == TierDatabase {
		conn, err := r.tier.connectAs(ctx, t.Server, t.Database)
		if err != nil {
			return fmt.Errorf("export tenant %q: %w", slug, err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		src = conn
	}
	err = pgx.BeginTxFunc(ctx, src, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		h := exportHeader{Slug: t.Slug, Name: t.Name, OnTrial: t.OnTrial, Version: t.MigrationVersion,
			Checksums: map[int64]string{}, ExportedAt: time.Now().UTC(), Files: r.files != nil}
		if t.PaidUntil != nil {
			s := t.PaidUntil.Format(time.DateOnly)
			h.PaidUntil = &s
		}
		for _, m := range r.migrator.TenantLine().Upto(t.MigrationVersion) {
			h.Checksums[m.Version] = m.Checksum
		}
		if h.Tables, err = tenantTables(ctx, tx, t.Schema); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `SELECT sequencename::text, last_value, NOT (last_value IS NULL)
			FROM pg_sequences WHERE schemaname = $1 ORDER BY 1`, t.Schema)
		if h.Sequences, err = pgx.CollectRows(rows, pgx.RowToStructByPos[exportSequence]); err != nil {
			return fmt.Errorf("read sequences: %w", err)
		}
		hb, err := json.Marshal(h)
		if err != nil {
			return err
		}
		bw.WriteString(exportMagic)
		bw.Write(hb)
		bw.WriteByte('\n')
		for _, tb := range h.Tables {
			sql := "COPY " + pgident.QuoteQualified(t.Schema, tb.Name) + " (" + quoteList(tb.Columns) + ") TO STDOUT"
			if _, err := tx.Conn().PgConn().CopyTo(ctx, bw, sql); err != nil {
				return fmt.Errorf("export table %s: %w", tb.Name, err)
			}
			bw.WriteString("\\.\n")
		}
		if r.files != nil {
			if err := r.files.Export(ctx, t, bw); err != nil {
				return fmt.Errorf("export files: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("export tenant %q: %w", slug, err)
	}
	return bw.Flush()
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = pgident.Quote(n)
	}
	return strings.Join(q, ", ")
}

// tenantTables lists the schema's tables (but the migration history) in an
// order where every table comes after the tables its foreign keys point to,
// with their stored (not generated) columns.
func tenantTables(ctx context.Context, tx pgx.Tx, schema string) ([]exportTable, error) {
	rows, _ := tx.Query(ctx, `
		SELECT c.relname::text,
		       array(SELECT a.attname::text FROM pg_attribute a
		             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
		             ORDER BY a.attnum),
		       array(SELECT DISTINCT f.relname::text FROM pg_constraint k JOIN pg_class f ON f.oid = k.confrelid
		             WHERE k.conrelid = c.oid AND k.contype = 'f' AND k.confrelid <> c.oid AND f.relnamespace = c.relnamespace)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> $2
		ORDER BY c.relname`, schema, condomigrate.HistoryTable)
	type tableDeps struct {
		name    string
		columns []string
		deps    []string
	}
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (tableDeps, error) {
		var t tableDeps
		err := row.Scan(&t.name, &t.columns, &t.deps)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var out []exportTable
	done := map[string]bool{}
	for len(out) < len(all) {
		progress := false
		for _, t := range all {
			if done[t.name] || slices.ContainsFunc(t.deps, func(d string) bool { return !done[d] }) {
				continue
			}
			done[t.name] = true
			out = append(out, exportTable{Name: t.name, Columns: t.columns})
			progress = true
		}
		if !progress {
			return nil, errors.New("tables have circular foreign keys; export them with pg_dump")
		}
	}
	return out, nil
}

// ImportParams names the tenant an export becomes.
type ImportParams struct {
	Slug string
	// Name defaults to the exported tenant's name.
	Name string
	// Domains are the new tenant's custom domains (an export carries none:
	// they still belong to the original).
	Domains []string
	// Tier and Server are where the new tenant lives, as in
	// [CreateParams]: an export of either tier imports into either.
	// Default to [TierSchema] and [MainServer].
	Tier   Tier
	Server string
}

// Import creates a new tenant from an export made by [Registry.Export]: the
// tenant is created at the export's migration version, its data is copied
// in, sequences are restored, and it is migrated to the latest version, all
// in one transaction. Files in the export are stored into
// [RegistryConfig].Files before that transaction commits, and removed again
// if it does not. Returns [ErrIncompatibleExport] when the file is not an
// export, was made with migrations this application does not have, or
// carries files and the registry has no file store; and the errors of
// [Registry.Create].
func (r *Registry) Import(ctx context.Context, src io.Reader, p ImportParams) (*Tenant, error) {
	br := bufio.NewReaderSize(src, 1<<16)
	magic := make([]byte, len(exportMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != exportMagic {
		return nil, fmt.Errorf("import: not a Condo export file: %w", ErrIncompatibleExport)
	}
	line, err := br.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("import: truncated header: %w", ErrIncompatibleExport)
	}
	var h exportHeader
	if err := json.Unmarshal(line, &h); err != nil {
		return nil, fmt.Errorf("import: bad header: %v: %w", err, ErrIncompatibleExport)
	}
	line0 := r.migrator.TenantLine()
	if h.Version < 0 {
		return nil, fmt.Errorf("import: bad migration version %d: %w", h.Version, ErrIncompatibleExport)
	}
	if h.Version > line0.Latest() {
		return nil, fmt.Errorf("import: export is at migration %d, this application only has %d: %w", h.Version, line0.Latest(), ErrIncompatibleExport)
	}
	for _, m := range line0.Upto(h.Version) {
		if h.Checksums[m.Version] != m.Checksum {
			return nil, fmt.Errorf("import: migration %d_%s differs from the exporter's: %w", m.Version, m.Name, ErrIncompatibleExport)
		}
	}
	if h.Files && r.files == nil {
		return nil, fmt.Errorf("import: the export carries files and this registry has no file store: %w", ErrIncompatibleExport)
	}
	var paid *time.Time
	if h.PaidUntil != nil {
		d, err := time.Parse(time.DateOnly, *h.PaidUntil)
		if err != nil {
			return nil, fmt.Errorf("import: bad paid_until: %w", ErrIncompatibleExport)
		}
		paid = &d
	}
	name := p.Name
	if name == "" {
		name = h.Name
	}
	cp := CreateParams{Slug: p.Slug, Name: name, Domains: p.Domains, PaidUntil: paid, OnTrial: h.OnTrial,
		Tier: p.Tier, Server: p.Server, version: h.Version, skipHooks: true}
	if h.Version == 0 {
		cp.version = -1 // create with no migrations at all (0 means "all")
	}
	var filesOf *Tenant // set once files may have been stored
	cp.OnCreated = func(ctx context.Context, tx pgx.Tx, t *Tenant) error {
		var v int64
		if t.Tier == TierDatabase {
			// The hook runs in the registry's transaction; the data goes
			// to the tenant's own database, as its owner (migrations are
			// DDL), in a transaction there committed before the
			// registry's: if that one fails, Create drops the database.
			conn, err := r.tier.connectAs(ctx, t.Server, t.Database)
			if err != nil {
				return err
			}
			defer conn.Close(context.WithoutCancel(ctx))
			err = pgx.BeginFunc(ctx, conn, func(dtx pgx.Tx) error {
				if err := loadExport(ctx, dtx, t, &h, br); err != nil {
					return err
				}
				v, err = r.migrator.ApplyTenantDatabaseTx(ctx, dtx, t.Slug, t.Schema, line0.Latest())
				return err
			})
			if err != nil {
				return err
			}
			if err := r.migrator.RecordTenantCatalogTx(ctx, tx, v); err != nil {
				return err
			}
		} else {
			if err := loadExport(ctx, tx, t, &h, br); err != nil {
				return err
			}
			var err error
			if v, err = r.migrator.ApplyTenantTx(ctx, tx, t.Slug, t.Schema, t.MigrationVersion); err != nil {
				return err
			}
		}
		t.MigrationVersion = v
		if err := setVersionTx(ctx, tx, t.ID, v); err != nil {
			return err
		}
		if h.Files {
			// Last, so that a failure above stores nothing; the id is
			// the new tenant's whether the transaction commits or not.
			filesOf = t
			if err := r.files.Import(ctx, t, br); err != nil {
				return fmt.Errorf("import files: %w", err)
			}
		}
		return nil
	}
	t, err := r.Create(ctx, cp)
	if err != nil {
		if filesOf != nil {
			if perr := r.files.Purge(context.WithoutCancel(ctx), filesOf); perr != nil {
				r.logger.LogAttrs(ctx, slog.LevelWarn, "import failed; removing its files failed too",
					slog.String("tenant", filesOf.Slug), slog.Int64("tenant_id", filesOf.ID), slog.Any("err", perr))
			}
		}
		return nil, fmt.Errorf("import: %w", err)
	}
	return t, nil
}

// loadExport copies the export's tables (read from br) into t's schema in
// tx and restores its sequences.
func loadExport(ctx context.Context, tx pgx.Tx, t *Tenant, h *exportHeader, br *bufio.Reader) error {
	for _, tb := range h.Tables {
		if err := pgident.Validate("table", tb.Name); err != nil {
			return fmt.Errorf("%v: %w", err, ErrIncompatibleExport)
		}
		for _, c := range tb.Columns {
			if err := pgident.Validate("column", c); err != nil {
				return fmt.Errorf("%v: %w", err, ErrIncompatibleExport)
			}
		}
		pr, pw := io.Pipe()
		// The file's own error (a truncated export) is sent before the
		// pipe carries it to CopyFrom, so it is there to return when
		// the COPY failed of it: the server's error says only that the
		// client ended the COPY.
		fileErr := make(chan error, 1)
		go func() {
			err := copySection(br, pw)
			fileErr <- err
			pw.CloseWithError(err)
		}()
		sql := "COPY " + pgident.QuoteQualified(t.Schema, tb.Name) + " (" + quoteList(tb.Columns) + ") FROM STDIN"
		_, err := tx.Conn().PgConn().CopyFrom(ctx, pr, sql)
		pr.CloseWithError(errors.New("copy ended")) // unblocks the reader goroutine on error
		if err != nil {
			select {
			case ferr := <-fileErr:
				if ferr != nil {
					return fmt.Errorf("import table %s: %w", tb.Name, ferr)
				}
			default:
			}
			return fmt.Errorf("import table %s: %w", tb.Name, err)
		}
	}
	for _, s := range h.Sequences {
		if s.LastValue == nil {
			continue
		}
		if err := pgident.Validate("sequence", s.Name); err != nil {
			return fmt.Errorf("%v: %w", err, ErrIncompatibleExport)
		}
		if _, err := tx.Exec(ctx, "SELECT setval($1::regclass, $2, $3)",
			pgident.QuoteQualified(t.Schema, s.Name), *s.LastValue, s.IsCalled); err != nil {
			return fmt.Errorf("restore sequence %s: %w", s.Name, err)
		}
	}
	return nil
}

// copySection copies one table's COPY data from br to w, up to and not
// including the `\.` line.
func copySection(br *bufio.Reader, w io.Writer) error {
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long row: pass it through in pieces.
			if _, werr := w.Write(line); werr != nil {
				return werr
			}
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				if _, werr := w.Write(line); werr != nil {
					return werr
				}
			}
			if err != nil {
				return fmt.Errorf("truncated export: %w", ErrIncompatibleExport)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("truncated export: %w", ErrIncompatibleExport)
		}
		if string(line) == "\\.\n" {
			return nil
		}
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
}
