package consumer

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// DefaultProducer is the producer of jobs on the un-namespaced subjects
// <prefix>.jobs.<kind> (unless Producers.DenyDefault is set).
const DefaultProducer = "default"

// DefaultInboxPrefix is a producer's inbox prefix unless configured.
const DefaultInboxPrefix = "_INBOX."

// producerOther labels the metrics of producers that are not configured,
// so that a producer token cannot grow a label set.
const producerOther = "other"

// validProducer is what a producer token may be: one subject token.
var validProducer = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidProducer reports whether name is a valid producer token.
func ValidProducer(name string) bool { return validProducer.MatchString(name) }

// Producer is the configuration of one producer.
type Producer struct {
	// InboxPrefix is the prefix of the private reply subjects the
	// producer's results may go to besides <prefix>.results.<producer>.>;
	// "" means DefaultInboxPrefix. A producer sharing an account with
	// others gets one of its own (e.g. _INBOX_billing.) so that no other
	// producer can make litsignd write into its inbox.
	InboxPrefix string
}

// Producers is who may submit jobs (README "NATS contract"). A job's
// producer is the subject token after <prefix>.jobs.; the NATS permissions
// of deployments/nats/accounts.conf let each producer publish only on its
// own token, so a producer cannot claim another one's identity. The zero
// value accepts every namespaced producer (labelled "other" in metrics)
// and un-namespaced jobs as producer "default"; litsignd sets DenyDefault
// outside dev unless --allow-default-producer is given.
type Producers struct {
	// Known are the configured producers (metric labels, inbox prefixes).
	Known map[string]Producer
	// DenyDefault refuses jobs on <prefix>.jobs.<kind> (producer
	// "default") with bad_request.
	DenyDefault bool
}

// ParseProducers parses a --producers list: comma-separated names, each
// optionally followed by ":<inbox prefix>", e.g. "billing:_INBOX_billing.,
// payouts".
func ParseProducers(list string) (map[string]Producer, error) {
	out := map[string]Producer{}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, inbox, _ := strings.Cut(item, ":")
		if !ValidProducer(name) {
			return nil, fmt.Errorf("producer %q: want [A-Za-z0-9_-]{1,64}", name)
		}
		if inbox != "" && (!validSubject(strings.TrimSuffix(inbox, ".")) || strings.ContainsAny(inbox, "*>")) {
			return nil, fmt.Errorf("producer %s: inbox prefix %q is not a subject prefix", name, inbox)
		}
		if inbox != "" && !strings.HasSuffix(inbox, ".") {
			inbox += "."
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("producer %s listed twice", name)
		}
		out[name] = Producer{InboxPrefix: inbox}
	}
	return out, nil
}

// Names returns the configured producer names, sorted.
func (p Producers) Names() []string {
	names := make([]string, 0, len(p.Known))
	for n := range p.Known {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// label is the bounded metric label of producer.
func (p Producers) label(producer string) string {
	if producer == "" {
		return producerOther
	}
	if _, ok := p.Known[producer]; ok || (producer == DefaultProducer && !p.DenyDefault) {
		return producer
	}
	return producerOther
}

// inboxPrefix is producer's inbox prefix.
func (p Producers) inboxPrefix(producer string) string {
	if c, ok := p.Known[producer]; ok && c.InboxPrefix != "" {
		return c.InboxPrefix
	}
	return DefaultInboxPrefix
}

// jobAddress is where a job came from: its producer and kind, from the
// subject <prefix>.jobs.<producer>.<kind> (or <prefix>.jobs.<kind>, the
// default producer).
type jobAddress struct {
	producer string
	kind     string
	// err is set when the subject names no usable producer.
	err error
}

// parseJobSubject splits a job subject into producer and kind.
func (j *Jobs) parseJobSubject(subject string) jobAddress {
	rest, ok := strings.CutPrefix(subject, j.Topology.Prefix+".jobs.")
	if !ok || rest == "" {
		return jobAddress{producer: DefaultProducer, kind: "unknown", err: badJob("subject %q is not a jobs subject", subject)}
	}
	toks := strings.Split(rest, ".")
	switch len(toks) {
	case 1:
		a := jobAddress{producer: DefaultProducer, kind: boundKind(toks[0])}
		if j.Producers.DenyDefault {
			a.err = badJob("un-namespaced job subjects are disabled: publish on %s.jobs.<producer>.%s", j.Topology.Prefix, a.kind)
		}
		return a
	case 2:
		if !ValidProducer(toks[0]) { // cannot happen on a subject, but cheap
			return jobAddress{producer: DefaultProducer, kind: boundKind(toks[1]), err: badJob("producer token %q is invalid", toks[0])}
		}
		return jobAddress{producer: toks[0], kind: boundKind(toks[1])}
	}
	return jobAddress{producer: boundKind(toks[0]), kind: "unknown", err: badJob("job subject %q has too many tokens", subject)}
}

// boundKind keeps a kind from the subject short for logs and results.
func boundKind(k string) string {
	if k == "" || len(k) > 64 {
		return "unknown"
	}
	return k
}

// checkReplyFor restricts a job's reply subject to its producer's results
// subjects and inbox prefix (README "NATS contract"): litsignd publishes
// results under its own NATS identity, so without this a producer could
// make it write into another producer's results, into event subjects
// clients trust, or into the jobs and JetStream API subjects. On rejection
// the reply subject is dropped, so the error result goes to the default
// subject <prefix>.results.<producer>.<id>.
func (j *Jobs) checkReplyFor(job *Job) error {
	if job.ReplyTo == "" {
		return nil
	}
	own := j.Topology.Prefix + ".results." + job.Producer + "."
	inbox := j.Producers.inboxPrefix(job.Producer)
	if strings.HasPrefix(job.ReplyTo, own) || strings.HasPrefix(job.ReplyTo, inbox) {
		return nil
	}
	bad := job.ReplyTo
	job.ReplyTo = ""
	return badJob("replyTo %q: a result may go only to %s> or %s>", bad, own, inbox)
}
