package sts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// ErrInvalidScope is returned (wrapped, naming the field) for a Scope that
// cannot be turned into a session policy.
var ErrInvalidScope = errors.New("invalid scope")

// ErrOutOfScope is returned when a URL is asked for outside the scope of the
// grant it would be signed with.
var ErrOutOfScope = errors.New("request outside the grant's scope")

// MaxSessionPolicy is the longest session policy AWS accepts in AssumeRole
// (plain text; its packed form has a separate limit that a policy this small
// stays well inside).
const MaxSessionPolicy = 2048

// Actions is a set of what a scoped session may do with objects.
type Actions uint8

const (
	// Download allows s3:GetObject, which on AWS and on SeaweedFS also
	// authorises HEAD of the object.
	Download Actions = 1 << iota
	// Upload allows s3:PutObject (conditional writes need nothing more).
	Upload
)

// Scope is what one grant lets its sharers sign: the objects of Bucket whose
// key starts with Prefix (a plain string prefix: "docs" also covers
// "docs-old/x"; end it with '/' to mean a folder), for Actions.
type Scope struct {
	Bucket  string
	Prefix  string // "" means the whole bucket
	Actions Actions
}

// Validate reports why s cannot be a session policy (ErrInvalidScope, wrapped):
// the bucket must follow S3's naming rules, the prefix must be valid UTF-8 of
// at most 1024 bytes without '*', '?' or '$' (IAM wildcards and policy
// variables), and Actions must be a non-empty combination of Download and
// Upload.
func (s Scope) Validate() error {
	if s.Bucket == "" {
		return fmt.Errorf("%w: bucket: must not be empty", ErrInvalidScope)
	}
	if err := validBucket(s.Bucket); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidScope, err)
	}
	switch {
	case len(s.Prefix) > maxKeyLen:
		return fmt.Errorf("%w: prefix: %d bytes, at most %d allowed", ErrInvalidScope, len(s.Prefix), maxKeyLen)
	case !utf8.ValidString(s.Prefix):
		return fmt.Errorf("%w: prefix %q: not valid UTF-8", ErrInvalidScope, s.Prefix)
	case strings.ContainsAny(s.Prefix, "*?$"):
		// In a policy's Resource these are wildcards or start a variable; a
		// grant on "a*" must not mean every key starting with "a".
		return fmt.Errorf("%w: prefix %q: '*', '?' and '$' are not allowed", ErrInvalidScope, s.Prefix)
	}
	if s.Actions == 0 || s.Actions&^(Download|Upload) != 0 {
		return fmt.Errorf("%w: actions %d: must be Download, Upload or both", ErrInvalidScope, s.Actions)
	}
	return nil
}

// Policy returns the AssumeRole session policy allowing exactly s: the
// actions on arn:aws:s3:::<bucket>/<prefix>*. Errors: ErrInvalidScope
// (wrapped) from Validate, or when the policy would exceed MaxSessionPolicy.
func (s Scope) Policy() (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	type statement struct {
		Effect   string
		Action   []string
		Resource []string
	}
	var actions []string
	if s.Actions&Download != 0 {
		actions = append(actions, "s3:GetObject")
	}
	if s.Actions&Upload != 0 {
		actions = append(actions, "s3:PutObject")
	}
	doc := struct {
		Version   string
		Statement []statement
	}{"2012-10-17", []statement{{"Allow", actions, []string{"arn:aws:s3:::" + s.Bucket + "/" + s.Prefix + "*"}}}}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidScope, err)
	}
	p := strings.TrimSuffix(b.String(), "\n")
	if len(p) > MaxSessionPolicy {
		return "", fmt.Errorf("%w: prefix: the session policy would be %d bytes, AWS allows %d", ErrInvalidScope, len(p), MaxSessionPolicy)
	}
	return p, nil
}

// Allows reports whether r stays inside s: same bucket, a key under the
// prefix, and GET/HEAD only with Download, PUT and POST (a multipart
// upload's start and completion) only with Upload.
func (s Scope) Allows(r Request) bool {
	if r.Bucket != s.Bucket || !strings.HasPrefix(r.Key, s.Prefix) {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return s.Actions&Download != 0
	case http.MethodPut, http.MethodPost: // POST: multipart uploads
		return s.Actions&Upload != 0
	}
	return false
}
