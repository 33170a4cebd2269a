// Command sharesvc serves share links that redirect to short-lived S3
// presigned URLs signed with STS session credentials, and administers them.
//
// Usage:
//
//	sharesvc serve [flags]                     run the service
//	sharesvc token create|list|revoke          manage API tokens (create works offline for the first admin)
//	sharesvc link create|list|show|revoke      manage links
//	sharesvc share FILE [--to ADDR]            upload a file and share it by link
//	sharesvc offboard NAME                     revoke a person's links and token
//	sharesvc killswitch on|off|status          stop every link from minting
//	sharesvc audit keygen|verify|list|export|prune  read, check and maintain the audit log offline
//	sharesvc migrate --from FILE --to URL      copy a SQLite database into an empty PostgreSQL one
//	sharesvc backup --db FILE --out FILE       a checked copy of a live SQLite database
//	sharesvc demo [flags]                      run everything locally and print a working link
//	sharesvc completion bash|zsh|fish          print a shell completion script
//	sharesvc version                           print the version, VCS revision and Go version
//
// Flags may follow arguments ("sharesvc link show ID --json"). Long flags
// take two dashes; the single dash of earlier releases ("-db FILE") is still
// accepted for every long flag. A flag with a SHARESVC_* variable takes its
// value from the variable when the flag is not given; help shows only the
// variable's name, never its value.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/sharesvc/sharesvc/internal/buildinfo"
	"github.com/sharesvc/sharesvc/internal/clientip"
	"github.com/sharesvc/sharesvc/internal/ratelimit"
	"github.com/sharesvc/sharesvc/internal/sts"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one stops the process at once
	// rather than waiting for the drain.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, errUsage) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sharesvc:", err)
		os.Exit(1)
	}
}

// errUsage is returned after the usage was printed for a command line that
// named no command; main exits with status 2 without another message.
var errUsage = errors.New("usage")

// cli is the command tree. Each command is a struct in its own file with a
// Run(*runEnv) error method; a new command is one more field here.
type cli struct {
	Serve      serveCmd      `cmd:"" help:"Run the service (flags default from SHARESVC_* variables)."`
	Token      tokenCmd      `cmd:"" help:"Manage API tokens (create works offline for the first admin)."`
	Link       linkCmd       `cmd:"" help:"Create, list, show and revoke links."`
	Share      shareCmd      `cmd:"" help:"Upload a file from this computer and share it by link (or mail it with --to)."`
	Grant      grantCmd      `cmd:"" help:"Manage grants: who may share which bucket and key prefix."`
	Person     personCmd     `cmd:"" help:"List the people who sign in through the identity provider; override a role."`
	Offboard   offboardCmd   `cmd:"" help:"Revoke every link NAME created and their tokens, and stop their sign-in."`
	Killswitch killswitchCmd `cmd:"" help:"Stop (or resume) every link from minting."`
	Audit      auditCmd      `cmd:"" help:"Read, check and maintain the audit log offline."`
	Migrate    migrateCmd    `cmd:"" help:"Copy a SQLite database into an empty PostgreSQL database, and check the copy."`
	Backup     backupCmd     `cmd:"" help:"Copy a live SQLite database consistently and check the copy."`
	Demo       demoCmd       `cmd:"" help:"Start a local S3+STS server and the service, print a link."`
	Completion completionCmd `cmd:"" help:"Print a shell completion script (bash, zsh or fish)."`
	Version    versionCmd    `cmd:"" help:"Print the version, VCS revision and Go version."`
}

const description = `Share private S3 objects through short links that redirect to fresh,
short-lived presigned URLs; every access is audited.

The admin commands (token, link, offboard, killswitch) talk to a running
server: set SHARESVC_URL and SHARESVC_TOKEN. They print tables; add --json
for scripts. Run "sharesvc COMMAND --help" for a command's flags.`

// runEnv is what every command's Run gets: the process's context,
// environment and output.
type runEnv struct {
	ctx            context.Context
	getenv         func(string) string
	stdout, stderr io.Writer
}

type versionCmd struct{}

// Run prints what the sharesvc_build_info metric reports too.
func (versionCmd) Run(e *runEnv) error {
	_, err := io.WriteString(e.stdout, buildinfo.Read().String())
	return err
}

// run is the whole program; main only supplies the process's environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c cli
	p, err := newParser(&c, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		p.Stdout = stderr
		printHelp(p, nil)
		return errUsage
	}
	if args[0] == "help" { // "sharesvc help [COMMAND…]", as before
		printHelp(p, args[1:])
		return nil
	}
	kctx, done, err := parse(p, args)
	if done || err != nil {
		return err
	}
	return kctx.Run(&runEnv{ctx: ctx, getenv: getenv, stdout: stdout, stderr: stderr})
}

// exited is what the parser's Exit panics with (after --help), so that run
// returns instead of ending the process.
type exited struct{ code int }

// newParser builds the parser for the command tree rooted at grammar.
// Variables are read through getenv only (see envResolver), never from the
// process environment.
func newParser(grammar any, getenv func(string) string, stdout, stderr io.Writer) (*kong.Kong, error) {
	return kong.New(grammar,
		kong.Name("sharesvc"),
		kong.Description(description),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exited{code}) }),
		kong.Resolvers(envResolver(getenv)),
		kong.ValueFormatter(helpWithEnv),
		kong.Vars{"session_name": sts.DefaultSessionName()},
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: true}),
		kong.TypeMapper(reflect.TypeFor[time.Duration](), textMapper("DURATION", parseDuration)),
		kong.TypeMapper(reflect.TypeFor[ratelimit.Limit](), textMapper("LIMIT", ratelimit.ParseLimit)),
		kong.TypeMapper(reflect.TypeFor[[]netip.Prefix](), textMapper("PREFIXES", clientip.ParsePrefixes)),
	)
}

// parse parses args. done is true when help was printed and nothing is
// left to do. A usage error prints the command's short usage to stderr and
// says what to run next.
func parse(p *kong.Kong, args []string) (kctx *kong.Context, done bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			x, ok := r.(exited)
			if !ok {
				panic(r)
			}
			kctx, done, err = nil, true, nil
			if x.code != 0 {
				err = errUsage
			}
		}
	}()
	kctx, err = p.Parse(longFlags(args))
	if err != nil {
		var perr *kong.ParseError
		if errors.As(err, &perr) && perr.Context != nil {
			p.Stdout = p.Stderr
			kong.DefaultShortHelpPrinter(kong.HelpOptions{}, perr.Context)
		}
		return nil, false, err
	}
	return kctx, false, nil
}

// printHelp prints the help of the command at path to the parser's
// standard output.
func printHelp(p *kong.Kong, path []string) {
	parse(p, append(path, "--help"))
}

// longFlags turns a single dash before a name of two or more characters
// ("-db", "-listen=x", "-s3-path-style") into two, as the flag package of earlier releases
// accepted both: every flag but -h is long, so "-db" means --db, never
// -d -b. Everything after "--" is left alone.
func longFlags(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == "--" {
			copy(out[i:], args[i:])
			break
		}
		if name, _, _ := strings.Cut(a, "="); len(name) > 2 && name[0] == '-' && isLetter(name[1]) {
			out[i] = "-" + a
		}
	}
	return out
}

func isLetter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }

// envResolver gives a flag that is not on the command line the value of
// its variable (the field's envvar tag) from getenv; an empty variable is
// unset. A value that does not parse is reported with the variable's name
// and without the value, which may be a secret.
func envResolver(getenv func(string) string) kong.Resolver {
	return kong.ResolverFunc(func(_ *kong.Context, _ *kong.Path, f *kong.Flag) (any, error) {
		name := f.Tag.Get("envvar")
		if name == "" {
			return nil, nil
		}
		v := getenv(name)
		if v == "" {
			return nil, nil
		}
		scratch := reflect.New(f.Target.Type()).Elem()
		dc := &kong.DecodeContext{Value: f.Value, Scan: kong.ScanFromTokens(kong.Token{Type: kong.FlagValueToken, Value: v})}
		if err := f.Mapper.Decode(dc, scratch); err != nil {
			return nil, fmt.Errorf("$%s: %s", name, redact(err.Error(), v))
		}
		return v, nil
	})
}

// redact removes v from msg: quoted, as parsers quote it, and bare unless
// it is so short that it would match ordinary words of the message.
func redact(msg, v string) string {
	msg = strings.ReplaceAll(msg, strconv.Quote(v), "the value")
	if len(v) >= 6 {
		msg = strings.ReplaceAll(msg, v, "the value")
	}
	return msg
}

// helpWithEnv is kong's help text for a flag with its variable's name
// added, as "(SHARESVC_X)": the name only, never the value.
func helpWithEnv(v *kong.Value) string {
	h := kong.DefaultHelpValueFormatter(v)
	if name := v.Tag.Get("envvar"); name != "" {
		h += " ($" + name + ")"
	}
	return h
}

// textMapper maps a flag value through parse.
func textMapper[T any](placeholder string, parse func(string) (T, error)) kong.Mapper {
	return placeholderMapper{placeholder, kong.MapperFunc(func(ctx *kong.DecodeContext, target reflect.Value) error {
		var s string
		if err := ctx.Scan.PopValueInto(placeholder, &s); err != nil {
			return err
		}
		v, err := parse(s)
		if err != nil {
			return err
		}
		target.Set(reflect.ValueOf(v))
		return nil
	})}
}

// placeholderMapper names the value in help ("--presign-ttl=DURATION")
// unless the flag has a default or a placeholder tag.
type placeholderMapper struct {
	name string
	kong.MapperFunc
}

func (m placeholderMapper) PlaceHolder(f *kong.Flag) string {
	switch {
	case f.PlaceHolder != "":
		return f.PlaceHolder
	case f.HasDefault:
		return f.Default
	}
	return m.name
}
