// Command sharesvc serves share links that redirect to short-lived S3
// presigned URLs signed with STS session credentials, and administers them.
//
// Usage:
//
//	sharesvc serve            run the service
//	sharesvc token …          manage API tokens (create works offline for the first admin)
//	sharesvc link …           create, list, show and revoke links
//	sharesvc offboard NAME    revoke a person's links and token
//	sharesvc killswitch …     stop every link from minting
//	sharesvc demo             run everything locally and print a working link
//	sharesvc version          print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sharesvc:", err)
		os.Exit(1)
	}
}

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `sharesvc: share private S3 objects through short links that redirect to
fresh, short-lived presigned URLs; every access is audited.

Usage:
  sharesvc serve [flags]          run the service (flags default from SHARESVC_* variables)
  sharesvc token create|list|revoke  manage API tokens (create works offline for the first admin)
  sharesvc link create|list|show|revoke  manage links
  sharesvc offboard NAME          revoke every link NAME created and their token
  sharesvc killswitch on|off|status  stop (or resume) every link from minting
  sharesvc audit verify|list|export|prune|keygen  read, check and maintain the audit log offline
  sharesvc demo [flags]           start a local S3+STS server and the service, print a link
  sharesvc version                print the version

The admin commands talk to a running server: set SHARESVC_URL and
SHARESVC_TOKEN. They print tables; add --json for scripts.
Run "sharesvc COMMAND -h" for a command's flags.
`

// run is the whole program; main only supplies the process's environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "token":
		return runToken(ctx, args[1:], getenv, stdout, stderr)
	case "link":
		return runLink(ctx, args[1:], getenv, stdout, stderr)
	case "offboard":
		return runOffboard(ctx, args[1:], getenv, stdout, stderr)
	case "killswitch":
		return runKillSwitch(ctx, args[1:], getenv, stdout, stderr)
	case "audit":
		return runAudit(ctx, args[1:], getenv, stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "sharesvc", version)
		return nil
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
