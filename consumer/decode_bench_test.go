package consumer

import (
	"testing"

	"github.com/nats-io/nats.go"
)

// BenchmarkDecodeJob decodes a typical pkp-sign job body (the envelope scan,
// the strict checks and the decode).
func BenchmarkDecodeJob(b *testing.B) {
	body := []byte(`{"id":"job-0001-abcdef","pkpPublicKey":"0x04a06caf5ec5d28b6d2655df16e7540f8b2515c9790bf5580b95114e0704d39e7ce19b22ae6a61d77cb11b25999fb265a3cd2b524fc50f4363013320e9b4aa9846","toSign":"hello from a producer, a message of ordinary length","chain":"ethereum","replyTo":"_INBOX.abc.def"}`)
	hdr := nats.Header{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeJob(body, hdr); err != nil {
			b.Fatal(err)
		}
	}
}
