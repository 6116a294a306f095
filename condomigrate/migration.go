package condomigrate

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/condo-dev/condo/internal/sqlsplit"
)

// Migration is one versioned SQL file.
type Migration struct {
	Version  int64
	Name     string // the description part of the file name
	SQL      string
	Checksum string // hex SHA-256 of SQL
	// Statements are SQL split into its statements (internal/sqlsplit),
	// sent as one query string each: Citus forwards the text of some DDL
	// to its workers, which must not get the rest of the file with it.
	Statements []string
}

// Line is an ordered set of migrations.
type Line struct {
	Name       string
	Migrations []Migration // ascending by Version
}

// Latest returns the highest version in the line, or 0 when it is empty.
func (l *Line) Latest() int64 {
	if l == nil || len(l.Migrations) == 0 {
		return 0
	}
	return l.Migrations[len(l.Migrations)-1].Version
}

// After returns the migrations with a version above v.
func (l *Line) After(v int64) []Migration {
	if l == nil {
		return nil
	}
	i := sort.Search(len(l.Migrations), func(i int) bool { return l.Migrations[i].Version > v })
	return l.Migrations[i:]
}

// Upto returns the migrations with a version at most v.
func (l *Line) Upto(v int64) []Migration {
	if l == nil {
		return nil
	}
	i := sort.Search(len(l.Migrations), func(i int) bool { return l.Migrations[i].Version > v })
	return l.Migrations[:i]
}

// Get returns the migration with version v.
func (l *Line) Get(v int64) (Migration, bool) {
	for _, m := range l.Migrations {
		if m.Version == v {
			return m, true
		}
	}
	return Migration{}, false
}

var fileRE = regexp.MustCompile(`^([0-9]{1,18})_([a-z0-9_]{1,100})\.sql$`)

// FileError reports a migration file that cannot be used.
type FileError struct {
	File   string
	Reason string
}

func (e *FileError) Error() string { return fmt.Sprintf("migration file %s: %s", e.File, e.Reason) }

// Load reads the migrations of a line from the top directory of fsys. Files
// must be named NNNN_description.sql (digits, an underscore, lower-case
// letters, digits and underscores). Other files, including .sql files with
// other names, are an error, so that a typo never silently skips a
// migration. Directories and files starting with "." are ignored. All
// problems are returned at once, joined.
func Load(name string, fsys fs.FS) (*Line, error) {
	l := &Line{Name: name}
	if fsys == nil {
		return l, nil
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read %s migrations: %w", name, err)
	}
	var errs []error
	seen := map[int64]string{}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		m := fileRE.FindStringSubmatch(e.Name())
		if m == nil {
			errs = append(errs, &FileError{e.Name(), "name must look like 0001_create_tables.sql"})
			continue
		}
		v, _ := strconv.ParseInt(m[1], 10, 64)
		if v == 0 {
			errs = append(errs, &FileError{e.Name(), "version must be at least 1"})
			continue
		}
		if other, dup := seen[v]; dup {
			errs = append(errs, &FileError{e.Name(), fmt.Sprintf("version %d is also used by %s", v, other)})
			continue
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			errs = append(errs, &FileError{e.Name(), err.Error()})
			continue
		}
		sql := string(b)
		if strings.TrimSpace(sql) == "" {
			errs = append(errs, &FileError{e.Name(), "file is empty"})
			continue
		}
		if !isUTF8(b) {
			errs = append(errs, &FileError{e.Name(), "file is not valid UTF-8"})
			continue
		}
		stmts, err := sqlsplit.Split(sql)
		if err != nil {
			errs = append(errs, &FileError{e.Name(), err.Error()})
			continue
		}
		if len(stmts) == 0 {
			errs = append(errs, &FileError{e.Name(), "file holds only comments"})
			continue
		}
		sum := sha256.Sum256(b)
		l.Migrations = append(l.Migrations, Migration{Version: v, Name: m[2], SQL: sql, Checksum: hex.EncodeToString(sum[:]), Statements: stmts})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("load %s migrations: %w", name, errors.Join(errs...))
	}
	sort.Slice(l.Migrations, func(i, j int) bool { return l.Migrations[i].Version < l.Migrations[j].Version })
	return l, nil
}

//go:embed coresql/*.sql
var coreFS embed.FS

// coreLine returns Condo's own shared migrations.
func coreLine() *Line {
	sub, err := fs.Sub(coreFS, "coresql")
	if err != nil {
		panic(err) // the embedded directory is part of the build
	}
	l, err := Load("condo", sub)
	if err != nil {
		panic(err) // a bad built-in file is a programmer error caught by tests
	}
	return l
}
