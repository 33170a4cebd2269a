// Package clientip decides which address a request came from: the direct
// peer, unless that peer is a configured trusted proxy, in which case the
// nearest untrusted address in X-Forwarded-For.
package clientip

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrBadProxy is returned (wrapped) by ParsePrefixes for an entry that is
// neither an address nor a CIDR prefix.
var ErrBadProxy = errors.New("invalid trusted proxy")

// ParsePrefixes reads a comma- or space-separated list of CIDR prefixes or
// single addresses ("10.0.0.0/8, 192.0.2.7, 2001:db8::/32"). An empty list
// trusts no proxy. Errors wrap ErrBadProxy and name the entry.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%w: %q is not a CIDR prefix such as 10.0.0.0/8", ErrBadProxy, f)
			}
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%w: %q is not an address or a CIDR prefix", ErrBadProxy, f)
		}
		a = a.Unmap().WithZone("")
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Resolver applies the trusted-proxy rule. The zero Resolver trusts no one.
type Resolver struct {
	trusted []netip.Prefix
}

// NewResolver returns a Resolver that believes X-Forwarded-For only from
// peers inside trusted.
func NewResolver(trusted []netip.Prefix) *Resolver {
	return &Resolver{trusted: append([]netip.Prefix(nil), trusted...)}
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Resolve returns the client's address given the direct peer (an
// http.Request's RemoteAddr, "host:port") and the X-Forwarded-For header
// values in order. Only when the peer is trusted is the header read, from
// the right: each hop a trusted proxy appended is skipped, and the first
// address not in a trusted prefix is the client. An unparsable entry ends
// the walk at the last address known good, so a client cannot hide behind
// garbage. The result is invalid only if RemoteAddr holds no address.
func (r *Resolver) Resolve(remoteAddr string, xff []string) netip.Addr {
	peer := parseHost(remoteAddr)
	if !peer.IsValid() || len(r.trusted) == 0 || !r.isTrusted(peer) {
		return peer
	}
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		hops := strings.Split(xff[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a := parseHost(strings.TrimSpace(hops[j]))
			if !a.IsValid() {
				return client
			}
			client = a
			if !r.isTrusted(a) {
				return a
			}
		}
	}
	return client
}

// parseHost reads an address with or without a port, brackets or zone.
func parseHost(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}
