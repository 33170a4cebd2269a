package sts

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
)

// AssumeRoleAPI is the part of the STS client AssumeRole uses.
type AssumeRoleAPI interface {
	AssumeRole(ctx context.Context, in *awssts.AssumeRoleInput, optFns ...func(*awssts.Options)) (*awssts.AssumeRoleOutput, error)
}

// AssumeRole is the production Source: it calls sts:AssumeRole with the
// long-term credentials of the client's configuration.
type AssumeRole struct {
	Client      AssumeRoleAPI
	RoleARN     string
	SessionName string        // RoleSessionName; see DefaultSessionName
	Duration    time.Duration // DurationSeconds; 900s .. the role's maximum
	// Policy, when set, is the session policy (JSON) passed to AssumeRole:
	// the session may do only what both the role and this policy allow.
	// See Scope.Policy.
	Policy string
}

// Retrieve assumes the role and returns the session credentials.
func (a *AssumeRole) Retrieve(ctx context.Context) (Credentials, error) {
	in := &awssts.AssumeRoleInput{
		RoleArn:         aws.String(a.RoleARN),
		RoleSessionName: aws.String(a.SessionName),
		DurationSeconds: aws.Int32(int32(a.Duration / time.Second)),
	}
	if a.Policy != "" {
		in.Policy = aws.String(a.Policy)
	}
	out, err := a.Client.AssumeRole(ctx, in)
	if err != nil {
		return Credentials{}, fmt.Errorf("assume role %s: %w", a.RoleARN, err)
	}
	c := out.Credentials
	if c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil || c.SessionToken == nil || c.Expiration == nil {
		return Credentials{}, fmt.Errorf("assume role %s: %w", a.RoleARN, ErrNotSession)
	}
	return Credentials{
		AccessKeyID:     *c.AccessKeyId,
		SecretAccessKey: *c.SecretAccessKey,
		SessionToken:    *c.SessionToken,
		Expires:         c.Expiration.UTC(),
		SessionName:     a.SessionName,
		Issued:          c.Expiration.UTC().Add(-a.Duration),
	}, nil
}

var sessionNameBad = regexp.MustCompile(`[^\w+=,.@-]`)

// DefaultSessionName names this instance in CloudTrail:
// "sharesvc-<host>-<pid>", reduced to the characters and length
// RoleSessionName allows ([\w+=,.@-], 2–64).
func DefaultSessionName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return SanitizeSessionName("sharesvc-" + host + "-" + strconv.Itoa(os.Getpid()))
}

// SanitizeSessionName replaces characters RoleSessionName forbids with '-'
// and cuts the result to 64 characters.
func SanitizeSessionName(s string) string {
	s = sessionNameBad.ReplaceAllString(s, "-")
	if len(s) > 64 {
		s = s[:64]
	}
	for len(s) < 2 {
		s += "-"
	}
	return s
}
