// Package consumer holds litsignd's JetStream consumers: the delegation intake
// (verify a client's hand-off envelope, then store it) and the job consumer
// (mint session signatures just in time, call the Lit network, publish the
// result on the job's reply subject). It owns the acknowledgement policy: one
// function maps every error to Ack, NakWithDelay or Term.
//
// It depends on delegationstore and litnode; it knows nothing of flags or
// process lifetime, which belong to cmd/litsignd.
package consumer
