package auth

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/testrig/testdb"
)

// Each test's database is on the run's engine (SHARESVC_TEST_DB).
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func TestInsertDuplicateName(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, testdb.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	now := time.UnixMilli(1_700_000_000_000).UTC()
	first := &Token{ID: NewID(), Name: "carol", Role: RoleAdmin, CreatedAt: now, CreatedBy: "cli"}
	_, hash := NewSecret()
	if err := Insert(ctx, d.Read, first, hash); err != nil {
		t.Fatalf("Insert(carol) = %v", err)
	}
	for _, tc := range []struct {
		name string
		tok  *Token
		want error
	}{
		{"same name", &Token{ID: NewID(), Name: "carol", Role: RoleSharer, CreatedAt: now, CreatedBy: "cli"}, ErrExists},
		{"other name", &Token{ID: NewID(), Name: "dave", Role: RoleSharer, CreatedAt: now, CreatedBy: "cli"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, h := NewSecret()
			if err := Insert(ctx, d.Read, tc.tok, h); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Insert(%q) = %v; want %v", tc.tok.Name, err, tc.want)
			}
		})
	}
	got, err := NewStore(d.Read).ByID(ctx, first.ID)
	if err != nil || got.Role != RoleAdmin {
		t.Fatalf("Get(first) = %+v, %v; want carol unchanged as admin", got, err)
	}
	// A failure that is not a taken name stays what it is.
	d.Close()
	dup := &Token{ID: NewID(), Name: "erin", Role: RoleSharer, CreatedAt: now, CreatedBy: "cli"}
	if err := Insert(ctx, d.Read, dup, hash); err == nil || errors.Is(err, ErrExists) {
		t.Fatalf("Insert on a closed database = %v; want an error other than ErrExists", err)
	}
}
