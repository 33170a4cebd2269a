package main

import (
	"fmt"

	"github.com/sharesvc/sharesvc/internal/server"
)

// offboardCmd is "sharesvc offboard NAME".
type offboardCmd struct {
	Name   string `arg:"" help:"The person (token name) leaving."`
	Reason string `name:"reason" placeholder:"TEXT" help:"Why (recorded in the audit log)."`
	clientFlags
}

func (c *offboardCmd) Run(e *runEnv) error {
	var out server.OffboardResponse
	if err := c.client().do(e.ctx, "POST", "/api/v1/offboard", map[string]string{"name": c.Name, "reason": c.Reason}, &out); err != nil {
		return fmt.Errorf("offboard: %w", err)
	}
	if c.JSON {
		return printJSON(e.stdout, out)
	}
	fmt.Fprintf(e.stdout, "offboarded %s: %d links revoked, %d tokens revoked\n", out.Name, out.LinksRevoked, out.TokensRevoked)
	return nil
}

// killswitchCmd is "sharesvc killswitch on|off|status".
type killswitchCmd struct {
	On     killswitchOnCmd     `cmd:"" help:"Stop every link from minting and every mail from going out."`
	Off    killswitchOffCmd    `cmd:"" help:"Let links mint and mail go out again."`
	Status killswitchStatusCmd `cmd:"" help:"Show whether the kill switch is on."`
}

type killswitchSetFlags struct {
	Reason string `name:"reason" placeholder:"TEXT" help:"Why (required to turn it on; recorded in the audit log)."`
	clientFlags
}

type killswitchOnCmd struct{ killswitchSetFlags }

func (c *killswitchOnCmd) Run(e *runEnv) error { return c.set(e, true) }

type killswitchOffCmd struct{ killswitchSetFlags }

func (c *killswitchOffCmd) Run(e *runEnv) error { return c.set(e, false) }

func (c *killswitchSetFlags) set(e *runEnv, on bool) error {
	var out server.KillSwitchResponse
	if err := c.client().do(e.ctx, "POST", "/api/v1/killswitch", map[string]any{"on": on, "reason": c.Reason}, &out); err != nil {
		return fmt.Errorf("killswitch: %w", err)
	}
	return printKillSwitch(e, &c.clientFlags, out)
}

type killswitchStatusCmd struct {
	clientFlags
}

func (c *killswitchStatusCmd) Run(e *runEnv) error {
	var out server.KillSwitchResponse
	if err := c.client().do(e.ctx, "GET", "/api/v1/killswitch", nil, &out); err != nil {
		return fmt.Errorf("killswitch: %w", err)
	}
	return printKillSwitch(e, &c.clientFlags, out)
}

func printKillSwitch(e *runEnv, f *clientFlags, out server.KillSwitchResponse) error {
	if f.JSON {
		return printJSON(e.stdout, out)
	}
	if out.On {
		fmt.Fprintf(e.stdout, "kill switch ON since %s (by %s: %s): no link mints a URL and no mail goes out; URLs already minted live until they expire\n",
			fmtTime(out.Since), out.By, out.Reason)
	} else {
		fmt.Fprintln(e.stdout, "kill switch off: links mint and mail goes out normally")
	}
	return nil
}
