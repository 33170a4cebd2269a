package server

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sharesvc/sharesvc/internal/duration"
)

// jsonSeconds is a duration field of a request body: a JSON number of
// seconds, or a string such as "90s", "3d" or "1w".
type jsonSeconds struct {
	n    int64
	text *string
}

// UnmarshalJSON takes a number as encoding/json does for an int64 (and
// fails as it does), or keeps a string for seconds to read.
func (j *jsonSeconds) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		j.text = &s
		return nil
	}
	return json.Unmarshal(b, &j.n)
}

// seconds is the field as a whole number of seconds (nil when absent).
// A string that is not a duration of whole seconds is an error naming
// field.
func (j *jsonSeconds) seconds(field string) (*int64, error) {
	if j == nil {
		return nil, nil
	}
	if j.text == nil {
		n := j.n
		return &n, nil
	}
	d, err := duration.Parse(*j.text)
	if err != nil {
		return nil, fmt.Errorf("%w: field %q: %v", errBadJSON, field, err)
	}
	if d%time.Second != 0 {
		return nil, fmt.Errorf("%w: field %q: %q is not a whole number of seconds", errBadJSON, field, *j.text)
	}
	n := int64(d / time.Second)
	return &n, nil
}

// UnmarshalJSON reads the body with expires_in and presign_ttl as numbers
// of seconds or duration strings.
func (req *createLinkRequest) UnmarshalJSON(b []byte) error {
	type plain createLinkRequest
	var aux struct {
		*plain
		ExpiresIn  *jsonSeconds `json:"expires_in"`
		PresignTTL *jsonSeconds `json:"presign_ttl"`
	}
	aux.plain = (*plain)(req)
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	var err error
	if req.ExpiresIn, err = aux.ExpiresIn.seconds("expires_in"); err != nil {
		return err
	}
	req.PresignTTL, err = aux.PresignTTL.seconds("presign_ttl")
	return err
}

// UnmarshalJSON reads the body with max_lifetime and max_presign_ttl as
// numbers of seconds or duration strings.
func (req *GrantRequest) UnmarshalJSON(b []byte) error {
	type plain GrantRequest
	var aux struct {
		*plain
		MaxLifetime   *jsonSeconds `json:"max_lifetime"`
		MaxPresignTTL *jsonSeconds `json:"max_presign_ttl"`
	}
	aux.plain = (*plain)(req)
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	var err error
	if req.MaxLifetime, err = aux.MaxLifetime.seconds("max_lifetime"); err != nil {
		return err
	}
	req.MaxPresignTTL, err = aux.MaxPresignTTL.seconds("max_presign_ttl")
	return err
}
