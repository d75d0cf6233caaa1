package main

// intakeWorkers is how many hand-offs a replica verifies and stores at
// once. Each spends most of its time waiting on JetStream round trips (the
// stored revision, the compare-and-set write, the event, the secure delete,
// the ack) and about 1.3 ms of CPU on the BLS pairing, so far more than
// GOMAXPROCS keep the CPUs busy (the intake consumer allows 256 pending).
const intakeWorkers = 64
