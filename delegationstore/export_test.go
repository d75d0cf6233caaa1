package delegationstore

// Test helpers shared with the black-box tests of package
// delegationstore_test.
var (
	NewTestPKP        = newTestPKP
	NewTestSessionKey = newTestSessionKey
	NewTestHandOff    = newTestHandOff
	NewTestKeyring    = newTestKeyring
)

// KEKBytes exposes a KEK's key so tests can look for it where it must not
// be.
func KEKBytes(k *KEK) []byte { return k.key[:] }
