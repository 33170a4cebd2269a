// Command bare302 is the baseline of the redirect benchmark: a bare net/http
// handler that answers every request with a 302 and a fixed Location of the
// same length as sharesvc's presigned URLs. Nothing is looked up, signed or
// written.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "listen address")
	n := flag.Int("location-bytes", 1100, "length of the Location header")
	flag.Parse()
	loc := "http://127.0.0.1:9/bucket/key?X-Amz-Signature=" + strings.Repeat("a", max(0, *n-48))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(os.Stdout, ln.Addr().String())
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusFound)
	})
	log.Fatal(http.Serve(ln, h))
}
