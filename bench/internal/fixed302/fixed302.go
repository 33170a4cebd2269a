// Package fixed302 is the server the load test measures sharesvc against:
// every request answered with a 302 and a fixed Location as long as
// sharesvc's presigned URLs. bench/bare302 runs it bare, bench/durable302
// after a durable row; both send the very same bytes.
package fixed302

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
)

// Flags registers -listen and -location-bytes on the default flag set;
// call Serve with their values after flag.Parse.
func Flags() (listen *string, locationBytes *int) {
	return flag.String("listen", "127.0.0.1:0", "listen address"),
		flag.Int("location-bytes", 1100, "length of the Location header")
}

// Serve listens on addr, prints the address it got on stdout (the load
// test reads it), and answers every request with a 302 to a Location of
// locationBytes bytes once before (if not nil) has returned nil; otherwise
// with a 503. It returns only on failure.
func Serve(addr string, locationBytes int, before func(*http.Request) error) error {
	loc := "http://127.0.0.1:9/bucket/key?X-Amz-Signature=" + strings.Repeat("a", max(0, locationBytes-48))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout, ln.Addr().String())
	return http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if before != nil {
			if err := before(r); err != nil {
				log.Printf("before the 302: %v", err)
				http.Error(w, "unavailable", http.StatusServiceUnavailable)
				return
			}
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusFound)
	}))
}
