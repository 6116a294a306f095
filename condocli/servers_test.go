package condocli_test

import (
	"strings"
	"testing"

	"github.com/condo-dev/condo/condocli"
)

func TestParseServers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, wantErr string
		want              map[string]string
	}{
		{name: "lines", in: "# servers\neu=postgres://o:s3cret@eu/postgres\n\nus = postgresql://o@us/postgres\n",
			want: map[string]string{"eu": "postgres://o:s3cret@eu/postgres", "us": "postgresql://o@us/postgres"}},
		{name: "env", in: "eu=postgres://o:s3cret@eu/postgres;us=postgres://o@us/postgres",
			want: map[string]string{"eu": "postgres://o:s3cret@eu/postgres", "us": "postgres://o@us/postgres"}},
		{name: "json", in: `{"eu": "postgres://o:s3cret@eu/postgres"}`, want: map[string]string{"eu": "postgres://o:s3cret@eu/postgres"}},
		{name: "no equals", in: "eu=postgres://o@eu/db\npostgres://o:s3cret@x/db", wantErr: "line 2"},
		{name: "not a url", in: "eu=mysql://o:s3cret@eu/db", wantErr: `line 1: server "eu"`},
		{name: "bad url", in: "eu=postgres://o:s3cret@eu:notaport/db", wantErr: `line 1: server "eu": not a valid`},
		{name: "bad name", in: "E U=postgres://o:s3cret@eu/db", wantErr: "line 1: server name"},
		{name: "twice", in: "eu=postgres://a@b/c\neu=postgres://o:s3cret@b/c", wantErr: "line 2"},
		{name: "bad json", in: `{"eu": "postgres://o:s3cret@eu/db",}`, wantErr: "not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := condocli.ParseServers(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error echoes the password: %v", err)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}
