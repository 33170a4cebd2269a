package audit

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sharesvc/sharesvc/internal/db"
)

// TestFiltersUseTheirIndexes checks the query plans of the auditors'
// filters, in particular that the actor and outcome filters reach the
// partial indexes (schema.sql, migration 5) for every value but the common
// one, which a newest-first scan finds at once.
func TestFiltersUseTheirIndexes(t *testing.T) {
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, c := range []struct {
		f    Filter
		want string // the index the plan must use; "" for a scan of the table
	}{
		{Filter{Actor: "alice"}, "audit_events_actor"},
		{Filter{Outcome: OutcomeDenied}, "audit_events_outcome"},
		{Filter{Actor: ActorClient}, ""},
		{Filter{Outcome: OutcomeMinted}, ""},
		{Filter{LinkID: "lnk_x", Outcome: OutcomeMinted}, "audit_events_link"},
		{Filter{RequestID: "0123"}, "audit_events_request"},
		{Filter{ClientIP: "192.0.2.1"}, "audit_events_client"},
		{Filter{Recipient: "r@example.org"}, "links_recipient"},
		{Filter{Bucket: "b", KeyPrefix: "k/"}, "links_bucket_key"},
		{Filter{Bucket: "b", KeyPrefix: "k/"}, "audit_events_link"},
	} {
		w, args := c.f.where()
		rows, err := d.Read.Query(`EXPLAIN QUERY PLAN SELECT `+eventColumns+` FROM audit_events WHERE `+w+` ORDER BY seq DESC LIMIT 100`, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		got := strings.Join(plan, "; ")
		if c.want == "" {
			if strings.Contains(got, "INDEX") {
				t.Errorf("filter %+v: plan %q uses an index; want a newest-first scan", c.f, got)
			}
			continue
		}
		if !strings.Contains(got, "INDEX "+c.want+" ") {
			t.Errorf("filter %+v: plan %q does not use %s", c.f, got, c.want)
		}
	}
}
