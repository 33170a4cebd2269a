package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sharesvc/sharesvc/internal/server"
)

func runOffboard(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var reason string
	f, c, asJSON := clientFlags("offboard", getenv, stderr)
	f.fs.StringVar(&reason, "reason", "", "why (recorded in the audit log)")
	a, err := parseFlags(f, reorder(args), 1, "sharesvc offboard NAME [--reason TEXT]  (revokes every link NAME created and their token)")
	if err != nil {
		return err
	}
	var out server.OffboardResponse
	if err := c.do(ctx, "POST", "/api/v1/offboard", map[string]string{"name": a[0], "reason": reason}, &out); err != nil {
		return fmt.Errorf("offboard: %w", err)
	}
	if *asJSON {
		return printJSON(stdout, out)
	}
	fmt.Fprintf(stdout, "offboarded %s: %d links revoked, %d tokens revoked\n", out.Name, out.LinksRevoked, out.TokensRevoked)
	return nil
}

func runKillSwitch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = "sharesvc killswitch on --reason TEXT | off | status"
	var reason string
	f, c, asJSON := clientFlags("killswitch", getenv, stderr)
	f.fs.StringVar(&reason, "reason", "", "why (required to turn it on; recorded in the audit log)")
	a, err := parseFlags(f, reorder(args), 1, usage)
	if err != nil {
		return err
	}
	var out server.KillSwitchResponse
	switch a[0] {
	case "on", "off":
		err = c.do(ctx, "POST", "/api/v1/killswitch", map[string]any{"on": a[0] == "on", "reason": reason}, &out)
	case "status":
		err = c.do(ctx, "GET", "/api/v1/killswitch", nil, &out)
	default:
		return fmt.Errorf("usage: %s", usage)
	}
	if err != nil {
		return fmt.Errorf("killswitch: %w", err)
	}
	if *asJSON {
		return printJSON(stdout, out)
	}
	if out.On {
		fmt.Fprintf(stdout, "kill switch ON since %s (by %s: %s): no link mints a URL and no mail goes out; URLs already minted live until they expire\n",
			fmtTime(out.Since), out.By, out.Reason)
	} else {
		fmt.Fprintln(stdout, "kill switch off: links mint and mail goes out normally")
	}
	return nil
}
