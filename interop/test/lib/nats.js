'use strict';
// NATS helpers for the tests, with the NATS JavaScript client (nats.js).

const crypto = require('node:crypto');
const { connect, StringCodec, headers, createInbox } = require('nats');

const sc = StringCodec();

async function connectNats(info) {
  const nc = await connect({ servers: info.natsUrl, name: 'litsignd-interop' });
  return { nc, js: nc.jetstream(), jsm: await nc.jetstreamManager() };
}

// nextMessage subscribes (before the caller publishes) and resolves with the
// first message on subject as {subject, data (string), json}.
function nextMessage(nc, subject, timeoutMs = 30000) {
  const sub = nc.subscribe(subject, { max: 1, timeout: timeoutMs });
  const done = (async () => {
    for await (const m of sub) {
      const data = sc.decode(m.data);
      let json;
      try {
        json = JSON.parse(data);
      } catch {
        json = undefined;
      }
      return { subject: m.subject, data, json, headers: m.headers };
    }
    throw new Error(`no message on ${subject}`);
  })();
  done.catch(() => {});
  return { sub, done };
}

// publishDelegation publishes an envelope on lit.delegations and waits for
// the delegation event (stored or rejected) of its PKP.
async function publishDelegation({ nc, js }, envelope, pkpPublicKey, prefix = 'lit') {
  const ev = nextMessage(nc, `${prefix}.events.delegation.*.${pkpPublicKey.toLowerCase()}`);
  await nc.flush();
  const ack = await js.publish(`${prefix}.delegations`, sc.encode(envelope));
  const event = await ev.done;
  return { ack, event };
}

// jobConsumerWired says whether `litsignd dev` consumes pkp-sign jobs: a
// JetStream stream must capture lit.jobs.pkp-sign and have a consumer.
async function jobConsumerWired(nats) {
  let stream;
  try {
    stream = await nats.jsm.streams.find('lit.jobs.pkp-sign');
  } catch {
    return { ok: false, why: 'no JetStream stream captures lit.jobs.pkp-sign' };
  }
  const consumers = await nats.jsm.consumers.list(stream).next();
  if (consumers.length === 0) return { ok: false, why: `stream ${stream} has no consumer` };
  return { ok: true, stream };
}

// submitJob publishes a pkp-sign job as a producer does and resolves with
// its result from a core _INBOX subscription.
async function submitJob(nats, pkpPublicKey, text) {
  const id = crypto.randomUUID();
  const replyTo = createInbox();
  const reply = nextMessage(nats.nc, replyTo, 60000);
  await nats.nc.flush();
  const h = headers();
  h.set('Lit-Reply-To', replyTo);
  h.set('Nats-Msg-Id', id);
  const ack = await nats.js.publish(
    'lit.jobs.pkp-sign',
    sc.encode(JSON.stringify({ id, pkpPublicKey, toSign: text, chain: 'ethereum' })),
    { headers: h },
  );
  return { id, ack, result: (await reply.done).json };
}

const NOT_WIRED = 'pkp-sign job consumer not wired into `litsignd dev` yet';

module.exports = { connectNats, nextMessage, publishDelegation, jobConsumerWired, submitJob, NOT_WIRED, sc, headers, createInbox };
