package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3 endpoint settings the SDK's endpoint rules refuse stop serve at start,
// naming what is wrong, before the database is created.
func TestServeRejectsEndpointSettings(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"AWS_USE_DUALSTACK_ENDPOINT": "true", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:18333"}, "dual-stack in combination with a custom endpoint"},
		{map[string]string{"AWS_USE_FIPS_ENDPOINT": "true", "AWS_ENDPOINT_URL": "https://minio.example.com"}, "custom endpoint cannot be combined with FIPS"},
		{map[string]string{"AWS_USE_FIPS_ENDPOINT": "TRUE", "AWS_REGION": "cn-north-1"}, "does not support FIPS"},
		{map[string]string{"AWS_REGION": "aws-global"}, "signing region"},
		{map[string]string{"AWS_USE_FIPS_ENDPOINT": "yes"}, "AWS_USE_FIPS_ENDPOINT must be true or false"},
		{map[string]string{"AWS_USE_DUALSTACK_ENDPOINT": "1"}, "AWS_USE_DUALSTACK_ENDPOINT must be true or false"},
	} {
		db := filepath.Join(t.TempDir(), "s.db")
		env := withEnv(map[string]string{
			"SHARESVC_ROLE_ARN": "arn:aws:iam::123456789012:role/x", "SHARESVC_DB": db,
			"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
			"SHARESVC_METRICS_LISTEN": "127.0.0.1:0", "SHARESVC_LISTEN": "127.0.0.1:0",
		}, tc.env)
		var errb bytes.Buffer
		err := run(context.Background(), []string{"serve"}, getenvFrom(env), &bytes.Buffer{}, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve with %v = %v; want an error saying %q", tc.env, err, tc.want)
		}
		if _, err := os.Stat(db); !os.IsNotExist(err) {
			t.Errorf("serve with %v: database file exists after the refusal (%v)", tc.env, err)
		}
	}
}

// The endpoint variables given to serve reach every client made from its
// AWS configuration, as they would from the process environment.
func TestAWSConfigEndpointVariables(t *testing.T) {
	cfg, err := awsConfig(context.Background(), getenvFrom(map[string]string{
		"AWS_REGION": "us-gov-west-1", "AWS_USE_FIPS_ENDPOINT": "true", "AWS_USE_DUALSTACK_ENDPOINT": "True",
	}))
	if err != nil {
		t.Fatal(err)
	}
	o := s3.NewFromConfig(cfg).Options()
	if o.EndpointOptions.UseFIPSEndpoint != aws.FIPSEndpointStateEnabled || o.EndpointOptions.UseDualStackEndpoint != aws.DualStackEndpointStateEnabled {
		t.Errorf("S3 client endpoint options %+v; want FIPS and dual-stack on", o.EndpointOptions)
	}
}
