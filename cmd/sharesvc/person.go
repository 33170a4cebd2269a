package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/people"
	"github.com/sharesvc/sharesvc/internal/server"
)

// personCmd is "sharesvc person list|role|enable": the people who sign in
// through the identity provider.
type personCmd struct {
	List   personListCmd   `cmd:"" help:"List the people who sign in through the identity provider."`
	Role   personRoleCmd   `cmd:"" help:"Override a person's role (ROLE), or let their groups decide again (--clear)."`
	Enable personEnableCmd `cmd:"" help:"Let an offboarded person sign in again (their links and tokens stay revoked)."`
}

// personWhere says where a person command works: offline on a database,
// or through a running server.
type personWhere struct {
	DB    string `name:"db" envvar:"SHARESVC_DB" placeholder:"FILE|URL" help:"Work offline on this database: a SQLite file or postgres:// URL."`
	URL   string `name:"url" envvar:"SHARESVC_URL" placeholder:"URL" help:"Ask this running sharesvc instead (with SHARESVC_TOKEN: an admin's; an auditor's lists)."`
	Token string `name:"token" envvar:"SHARESVC_TOKEN" placeholder:"TOKEN" help:"API token for --url (prefer the variable: flags show up in ps)."`
	JSON  bool   `name:"json" help:"Print JSON instead of a table."`
}

// client is the server to ask, or nil to work offline on w.DB. Exactly one
// of the two must be given.
func (w *personWhere) client(cmd string) (*apiClient, error) {
	return offlineOrRemote(cmd, "work on", "an admin's", w.DB, w.URL, w.Token)
}

type personListCmd struct {
	personWhere
}

func (c *personListCmd) Run(e *runEnv) error {
	cl, err := c.client("person list")
	if err != nil {
		return err
	}
	var out []server.PersonResponse
	if cl != nil {
		if out, err = remotePeople(e.ctx, cl); err != nil {
			return fmt.Errorf("person list: %w", err)
		}
	} else {
		d, err := openReadOnly(e.ctx, c.DB)
		if err != nil {
			return fmt.Errorf("person list: %w", err)
		}
		defer d.Close()
		ps, err := people.List(e.ctx, d)
		if err != nil {
			return fmt.Errorf("person list: %w", err)
		}
		for _, p := range ps {
			out = append(out, server.ToPersonResponse(p))
		}
	}
	if c.JSON {
		if out == nil {
			out = []server.PersonResponse{}
		}
		return printJSON(e.stdout, out)
	}
	rows := make([][]string, 0, len(out))
	for _, p := range out {
		role := p.Role
		if p.Override != "" {
			role += " (override; groups: " + p.GroupRole + ")"
		}
		state := "active"
		if p.DisabledAt != nil {
			state = "disabled " + fmtTime(p.DisabledAt)
		}
		rows = append(rows, []string{p.ID, p.Name, dash(p.Email), dash(p.DisplayName), dash(strings.Join(p.Groups, ",")), role, fmtTime(&p.SeenAt), state})
	}
	return table(e.stdout, []string{"ID", "NAME", "EMAIL", "DISPLAY NAME", "GROUPS", "ROLE", "LAST SEEN", "STATE"}, rows)
}

type personRoleCmd struct {
	Name  string `arg:"" placeholder:"NAME" help:"The person's sharesvc name (see: sharesvc person list)."`
	Role  string `arg:"" optional:"" placeholder:"ROLE" help:"admin, sharer or auditor."`
	Clear bool   `name:"clear" help:"Remove the override: the person's groups decide their role again."`
	personWhere
}

func (c *personRoleCmd) Run(e *runEnv) error {
	var role auth.Role
	switch {
	case c.Clear && c.Role != "":
		return errors.New("person role: give a ROLE or --clear, not both")
	case !c.Clear && c.Role == "":
		return errors.New("person role: give a ROLE (admin, sharer or auditor), or --clear to follow the person's groups")
	case !c.Clear:
		r, err := auth.ParseRole(c.Role)
		if err != nil {
			return fmt.Errorf("person role: %w", err)
		}
		role = r
	}
	cl, err := c.client("person role")
	if err != nil {
		return err
	}
	var p server.PersonResponse
	if cl != nil {
		id, err := remotePersonID(e.ctx, cl, c.Name)
		if err != nil {
			return fmt.Errorf("person role: %w", err)
		}
		var body map[string]any
		if role == "" {
			body = map[string]any{"role": nil}
		} else {
			body = map[string]any{"role": string(role)}
		}
		if err := cl.do(e.ctx, "PUT", "/api/v1/people/"+id+"/role", body, &p); err != nil {
			return fmt.Errorf("person role: %w", err)
		}
	} else {
		got, err := setRoleOffline(e.ctx, c.DB, c.Name, role, time.Now())
		if err != nil {
			return fmt.Errorf("person role: %w", err)
		}
		p = server.ToPersonResponse(got)
	}
	if c.JSON {
		return printJSON(e.stdout, p)
	}
	if p.Override != "" {
		fmt.Fprintf(e.stdout, "%s is now %s by override\n", p.Name, p.Role)
	} else {
		fmt.Fprintf(e.stdout, "%s now follows their groups: %s\n", p.Name, p.Role)
	}
	return nil
}

// remotePeople lists the people of a running server.
func remotePeople(ctx context.Context, cl *apiClient) ([]server.PersonResponse, error) {
	var page struct {
		People []server.PersonResponse `json:"people"`
	}
	err := cl.do(ctx, "GET", "/api/v1/people", nil, &page)
	return page.People, err
}

// remotePersonID finds the id of the person called name on a running
// server, escaped for a path.
func remotePersonID(ctx context.Context, cl *apiClient, name string) (string, error) {
	ps, err := remotePeople(ctx, cl)
	if err != nil {
		return "", err
	}
	for _, q := range ps {
		if q.Name == name {
			return url.PathEscape(q.ID), nil
		}
	}
	return "", fmt.Errorf("%w: %s (see: sharesvc person list)", people.ErrNotFound, name)
}

// onPersonOffline runs verb on the person called name in the existing
// database at path, through the same verbs as the API, audited as done by
// "cli": whoever holds the database acts as an admin.
func onPersonOffline(ctx context.Context, path, name string, now time.Time,
	verb func(a *app.App, actor app.Actor, id string) (*people.Person, error)) (*people.Person, error) {
	if !db.IsPostgres(path) {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no database at %s: %w", path, err)
		}
	}
	d, err := db.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	a, closeApp, err := offlineApp(ctx, d, now)
	if err != nil {
		return nil, err
	}
	defer closeApp()
	p, err := people.NewStore(d.Read).ByName(ctx, name)
	if err != nil {
		return nil, err
	}
	return verb(a, app.Actor{Name: "cli", Role: auth.RoleAdmin}, p.ID)
}

// setRoleOffline changes the role override of the person called name in
// the existing database at path.
func setRoleOffline(ctx context.Context, path, name string, role auth.Role, now time.Time) (*people.Person, error) {
	return onPersonOffline(ctx, path, name, now, func(a *app.App, actor app.Actor, id string) (*people.Person, error) {
		return a.SetPersonRole(ctx, actor, id, role)
	})
}

type personEnableCmd struct {
	Name string `arg:"" placeholder:"NAME" help:"The person's sharesvc name (see: sharesvc person list)."`
	personWhere
}

func (c *personEnableCmd) Run(e *runEnv) error {
	cl, err := c.client("person enable")
	if err != nil {
		return err
	}
	var p server.PersonResponse
	if cl != nil {
		id, err := remotePersonID(e.ctx, cl, c.Name)
		if err != nil {
			return fmt.Errorf("person enable: %w", err)
		}
		if err := cl.do(e.ctx, "POST", "/api/v1/people/"+id+"/enable", nil, &p); err != nil {
			return fmt.Errorf("person enable: %w", err)
		}
	} else {
		got, err := onPersonOffline(e.ctx, c.DB, c.Name, time.Now(), func(a *app.App, actor app.Actor, id string) (*people.Person, error) {
			return a.EnablePerson(e.ctx, actor, id)
		})
		if err != nil {
			return fmt.Errorf("person enable: %w", err)
		}
		p = server.ToPersonResponse(got)
	}
	if c.JSON {
		return printJSON(e.stdout, p)
	}
	fmt.Fprintf(e.stdout, "%s may sign in again, as %s\n", p.Name, p.Role)
	return nil
}
