// Command bare302 is the baseline of the redirect benchmark: a bare net/http
// handler that answers every request with a 302 and a fixed Location of the
// same length as sharesvc's presigned URLs (see bench/internal/fixed302).
// Nothing is looked up, signed or written.
package main

import (
	"flag"
	"log"

	"github.com/sharesvc/sharesvc/bench/internal/fixed302"
)

func main() {
	addr, n := fixed302.Flags()
	flag.Parse()
	log.Fatal(fixed302.Serve(*addr, *n, nil))
}
