package consumer

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/litsignd/litsignd/litnode"
)

// nagaBackend runs jobs on a Naga-compatible network (a self-run lit-peer
// network or the devnet) through litnode: fresh session signatures per
// job, PKPSign or ExecuteJS (jobs.go).
type nagaBackend struct{ j *Jobs }

func (nagaBackend) Name() string { return "naga" }

func (b nagaBackend) Sign(ctx context.Context, msg jetstream.Msg, job Job, log *slog.Logger) (litnode.ECDSASignature, error) {
	return b.j.sign(ctx, msg, job, log)
}

func (b nagaBackend) Execute(ctx context.Context, msg jetstream.Msg, job Job, log *slog.Logger, f *finisher) (litnode.ExecuteJSResult, error) {
	return b.j.execute(ctx, msg, job, log, f)
}
