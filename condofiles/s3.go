package condofiles

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3 stores objects in one bucket of an S3-compatible server, each
// tenant under its own prefix. Files' keys are safe as S3 names as they
// are: the allow-list leaves nothing to escape.
type S3 struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
}

// NewS3 returns a backend storing in bucket through client (built by the
// application, e.g. from aws config.LoadDefaultConfig; see
// [NewS3Client] for a static endpoint and keys).
func NewS3(client *s3.Client, bucket string) *S3 {
	return &S3{client: client, presign: s3.NewPresignClient(client), bucket: bucket}
}

// S3ClientOpts configure [NewS3Client].
type S3ClientOpts struct {
	// Endpoint is the server's URL ("http://127.0.0.1:7070"). Empty:
	// AWS's, from Region.
	Endpoint string
	// Region defaults to "us-east-1".
	Region string
	// AccessKey and SecretKey are static credentials.
	AccessKey, SecretKey string
	// PathStyle addresses buckets as endpoint/bucket rather than
	// bucket.endpoint, as most self-hosted servers want.
	PathStyle bool
}

// NewS3Client returns a client for an S3-compatible server with static
// credentials. Checksums are sent only where S3 requires them: S3
// compatibles lag behind AWS's newer default checksums.
func NewS3Client(o S3ClientOpts) *s3.Client {
	region := o.Region
	if region == "" {
		region = "us-east-1"
	}
	cfg := aws.Config{
		Region:                     region,
		Credentials:                credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	return s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
	})
}

// Put uploads body with one PutObject: [Files] hands it a spooled,
// seekable file of known size, which SigV4 can hash.
func (b *S3) Put(ctx context.Context, name string, body io.ReadSeeker, size int64, contentType string) error {
	_, err := b.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &b.bucket, Key: &name, Body: body,
		ContentLength: aws.Int64(size), ContentType: aws.String(contentType),
	})
	return err
}

// Get opens name.
func (b *S3) Get(ctx context.Context, name string) (io.ReadCloser, Object, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: &name})
	if err != nil {
		return nil, Object{}, s3Error(err)
	}
	return out.Body, Object{Key: name, Size: aws.ToInt64(out.ContentLength),
		ContentType: aws.ToString(out.ContentType), Modified: aws.ToTime(out.LastModified)}, nil
}

// Stat describes name (HeadObject).
func (b *S3) Stat(ctx context.Context, name string) (Object, error) {
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: &name})
	if err != nil {
		return Object{}, s3Error(err)
	}
	return Object{Key: name, Size: aws.ToInt64(out.ContentLength),
		ContentType: aws.ToString(out.ContentType), Modified: aws.ToTime(out.LastModified)}, nil
}

// Delete removes name.
func (b *S3) Delete(ctx context.Context, name string) error {
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &name})
	if err != nil {
		if err := s3Error(err); !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// List pages through ListObjectsV2 (S3 returns names in order).
func (b *S3) List(ctx context.Context, prefix string, fn func(Object) error) error {
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return s3Error(err)
		}
		for _, o := range page.Contents {
			if err := fn(Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// DeletePrefix deletes what List finds, 1,000 names per DeleteObjects
// (S3's limit).
func (b *S3) DeletePrefix(ctx context.Context, prefix string) error {
	var batch []types.ObjectIdentifier
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		out, err := b.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &b.bucket,
			Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)}})
		if err != nil {
			return s3Error(err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("delete %s: %s (%d failed)", aws.ToString(e.Key), aws.ToString(e.Message), len(out.Errors))
		}
		batch = batch[:0]
		return nil
	}
	err := b.List(ctx, prefix, func(o Object) error {
		batch = append(batch, types.ObjectIdentifier{Key: aws.String(o.Key)})
		if len(batch) == 1000 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// PresignGet signs a GET URL valid for ttl.
func (b *S3) PresignGet(ctx context.Context, name string, ttl time.Duration) (string, error) {
	req, err := b.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: &name},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return "", err
	}
	return req.URL, nil
}

// s3Error maps S3's "no such key" answers to [ErrNotFound].
func s3Error(err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var api smithy.APIError
	switch {
	case errors.As(err, &nsk), errors.As(err, &nf):
		return fmt.Errorf("%w", ErrNotFound)
	case errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound"):
		return fmt.Errorf("%w", ErrNotFound)
	}
	return err
}
