package main

import (
	"fmt"

	"github.com/litsignd/litsignd/consumer"
)

// producerUsage documents --producer of sign, exec and bench.
const producerUsage = "producer name: jobs go to <prefix>.jobs.<producer>.<kind>; \"default\" uses the un-namespaced <prefix>.jobs.<kind> (on in litsignd dev)"

// jobSubject is where producer publishes jobs of kind (README "NATS
// contract").
func jobSubject(topo consumer.Topology, producer, kind string) (string, error) {
	if producer == consumer.DefaultProducer {
		return topo.JobSubject(kind), nil
	}
	if !consumer.ValidProducer(producer) {
		return "", fmt.Errorf("--producer %q: want [A-Za-z0-9_-]{1,64}", producer)
	}
	return topo.ProducerJobSubject(producer, kind), nil
}
