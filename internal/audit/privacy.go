package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrConfig means an audit setting (privacy mode, key, checkpoint or
// retention setting) is unusable; the wrapped message names it.
var ErrConfig = errors.New("invalid audit setting")

// IPMode says how client addresses are stored in the log.
type IPMode string

// Client address privacy modes.
const (
	// IPFull stores the address as received.
	IPFull IPMode = "full"
	// IPTruncate stores the network: /24 for IPv4, /48 for IPv6.
	IPTruncate IPMode = "truncate"
	// IPHash stores a keyed hash (HMAC-SHA256) of the address: equal
	// addresses give equal values, but the address cannot be read back
	// without the key.
	IPHash IPMode = "hash"
)

// MinIPKeySize is the smallest key IPHash accepts.
const MinIPKeySize = 16

// IPPrivacy turns client addresses into what the log stores. A nil
// *IPPrivacy stores them in full.
type IPPrivacy struct {
	mode IPMode
	key  []byte
}

// NewIPPrivacy returns the privacy mode named mode ("full", "truncate" or
// "hash"; "" means full). Hash mode needs a key of at least MinIPKeySize
// bytes. Errors wrap ErrConfig.
func NewIPPrivacy(mode IPMode, key []byte) (*IPPrivacy, error) {
	switch mode {
	case "", IPFull:
		return &IPPrivacy{mode: IPFull}, nil
	case IPTruncate:
		return &IPPrivacy{mode: IPTruncate}, nil
	case IPHash:
		if len(key) < MinIPKeySize {
			return nil, fmt.Errorf("%w: client IP hash mode needs a key of at least %d bytes (got %d)", ErrConfig, MinIPKeySize, len(key))
		}
		return &IPPrivacy{mode: IPHash, key: append([]byte(nil), key...)}, nil
	}
	return nil, fmt.Errorf("%w: client IP mode %q must be full, truncate or hash", ErrConfig, mode)
}

// Mode returns the privacy mode.
func (p *IPPrivacy) Mode() IPMode {
	if p == nil {
		return IPFull
	}
	return p.mode
}

// Apply returns addr as stored under the mode. addr is an IP address or a
// network in CIDR form (flood summaries name a network). Text that is
// neither is kept in full mode, hashed in hash mode, and replaced by
// "invalid" in truncate mode, so that nothing identifying leaks through a
// malformed value.
func (p *IPPrivacy) Apply(addr string) string {
	if p == nil || p.mode == IPFull || addr == "" {
		return addr
	}
	switch p.mode {
	case IPTruncate:
		pfx, ok := parsePrefix(addr)
		if !ok {
			return "invalid"
		}
		bits := 48
		if pfx.Addr().Is4() {
			bits = 24
		}
		if pfx.Bits() < bits {
			bits = pfx.Bits()
		}
		return netip.PrefixFrom(pfx.Addr(), bits).Masked().String()
	case IPHash:
		canon := addr
		if pfx, ok := parsePrefix(addr); ok {
			canon = pfx.String()
			if pfx.IsSingleIP() {
				canon = pfx.Addr().String()
			}
		}
		m := hmac.New(sha256.New, p.key)
		m.Write([]byte(canon))
		return "hmac:" + hex.EncodeToString(m.Sum(nil)[:16])
	}
	return addr
}

// parsePrefix parses an address (as a single-address prefix) or a CIDR
// network, unmapping IPv4-in-IPv6 and dropping zones.
func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		if p.Addr().Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				bits = 0
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), bits)
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), true
}

// FloodKey returns the unit a flood budget counts for a client address: the
// address itself for IPv4, its /64 for IPv6 (one host usually holds a whole
// /64), and addr unchanged when it is not an address.
func FloodKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}
