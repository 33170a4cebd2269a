package main

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/sharesvc/sharesvc/internal/server"
)

type linkArrivalsCmd struct {
	ID string `arg:"" help:"The upload link's id (lnk_…)."`
	clientFlags
}

func (c *linkArrivalsCmd) Run(e *runEnv) error {
	var out struct {
		Arrivals []server.ArrivalResponse `json:"arrivals"`
	}
	if err := c.client().do(e.ctx, "GET", "/api/v1/links/"+url.PathEscape(c.ID)+"/arrivals", nil, &out); err != nil {
		return fmt.Errorf("link arrivals: %w", err)
	}
	if c.JSON {
		return printJSON(e.stdout, out.Arrivals)
	}
	rows := make([][]string, 0, len(out.Arrivals))
	for _, a := range out.Arrivals {
		// The server keeps names free of control characters; quoting keeps
		// a terminal safe from any other server all the same.
		name := strconv.Quote(a.Filename)
		name = name[1 : len(name)-1]
		if name == "" {
			name = "-"
		}
		rows = append(rows, []string{a.ID, name, strconv.FormatInt(a.Bytes, 10), fmtTime(&a.ArrivedAt), a.ClientIP, a.Key})
	}
	return table(e.stdout, []string{"ID", "NAME", "BYTES", "ARRIVED", "FROM", "KEY"}, rows)
}
