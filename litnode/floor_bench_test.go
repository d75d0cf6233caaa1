package litnode

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"syscall"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"
)

// BenchmarkCryptoFloor is the Go crypto floor of one pkp-sign request for a
// network of n nodes: the client's cryptography alone, without JSON, hex,
// HTTP or NATS, for the nodes the SDK contacts, max(3, ⌊2n/3⌋):
//
//   - one ed25519 session signature per node contacted (messages of the
//     real size, built once);
//   - per node, X25519 both ways and XSalsa20-Poly1305 both ways: with
//     keys=fresh a new client key pair (one base-point multiplication) and
//     shared key (one scalar multiplication) per node per request, as the
//     SDKs do; with keys=reused the key pair and shared key of the current
//     handshake (docs/e2ee-key-reuse.md), so only the symmetric part;
//     requests and responses of the real sizes;
//   - combining the ECDSA shares, verifying the signature and recovering
//     its public key.
//
// Compare the daemon's CPU per job with this in the same run on the same
// machine (README "Performance"); ns/op is the floor per request.
func BenchmarkCryptoFloor(b *testing.B) {
	for _, n := range []int{4, 10, 20} {
		for _, keys := range []string{"fresh", "reused"} {
			b.Run(fmt.Sprintf("nodes=%d/keys=%s", n, keys), func(b *testing.B) {
				benchCryptoFloor(b, max(3, 2*n/3), keys == "reused")
			})
		}
	}
}

func benchCryptoFloor(b *testing.B, t int, reuse bool) {
	v := loadBLSVectors(b)
	key, err := GenerateSessionKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	delegation := AuthSig{Sig: v.DelegationAuthSig.AuthSig.Sig, DerivedVia: DerivedViaBLS, SignedMessage: v.DelegationAuthSig.AuthSig.SignedMessage,
		Address: "0x0000000000000000000000000000000000000000", Algo: AlgoLitBLS}
	targets := make([]Target, t)
	for i := range targets {
		targets[i] = Target{URL: fmt.Sprintf("https://node-%02d.example:7470", i), MaxPrice: big.NewInt(1e15)}
	}
	now := time.Now()
	sigs, err := MintSessionSigs(SessionSigRequest{Key: key, Capabilities: []AuthSig{delegation}, IssuedAt: now, Expiration: now.Add(2 * time.Minute), Targets: targets,
		Resources: []ResourceAbilityRequest{{Resource: LitResource{ResourcePrefix: "lit-pkp", Resource: "*"}, Ability: AbilityPKPSigning}}})
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([][]byte, t)
	requests := make([][]byte, t)
	for i, tg := range targets {
		msgs[i] = []byte(sigs[tg.URL].SignedMessage)
		toSign := make([]int, 32)
		requests[i], _ = json.Marshal(pkpSignBody{ToSign: toSign, SigningScheme: "EcdsaK256Sha256", Pubkey: "0x04" + fmt.Sprintf("%0128x", 1),
			AuthSig: sigs[tg.URL], NodeSet: nodeSet(targets), Epoch: 7, AuthMethods: []any{}, KeySetID: "naga-keyset1"})
	}
	// A response of the real size: a GenericResponse with an ECDSA share.
	response := make([]byte, 720)
	rand.Read(response)

	// ECDSA shares of one signing by t nodes.
	var secret, k, digest [32]byte
	secret[0], secret[31], k[0], k[31] = 0x5a, 7, 0x3c, 11
	rand.Read(digest[:])
	ids := make([][32]byte, t)
	for i := range ids {
		ids[i][31] = byte(i + 1)
	}
	ss, bigR, err := MakeECDSAShares(secret, digest, k, ids)
	if err != nil {
		b.Fatal(err)
	}
	pub := secp256k1.PrivKeyFromBytes(secret[:]).PubKey().SerializeUncompressed()
	shares := make([]ECDSAShare, t)
	for i := range shares {
		shares[i] = ECDSAShare{Digest: digest[:], SignatureShare: ss[i], BigR: bigR, PublicKey: pub, SigType: ECDSASigTypeK256, Result: ecdsaShareSuccess}
	}
	if _, err := CombineECDSAShares(shares); err != nil {
		b.Fatal(err)
	}

	nodes := make([]X25519KeyPair, t)
	channels := make([]*e2eeChannel, t)
	sealedResp := make([][]byte, t)
	var nonce [24]byte
	for i := range nodes {
		nodes[i], _ = NewX25519KeyPair(nil)
		channels[i], _ = newE2EEChannel(nil, nodes[i].Public)
		sealedResp[i] = box.SealAfterPrecomputation(nil, response, &nonce, &channels[i].shared)
	}
	out := make([]byte, 0, 8192)
	b.ReportAllocs()
	cpu0 := processCPU()
	n := 0
	for b.Loop() {
		n++
		for i := range t {
			_ = key.Sign(msgs[i])
			ch := channels[i]
			if !reuse {
				// A fresh key pair and shared key: the cost is the X25519
				// work; the response below still opens under the
				// handshake's key, which costs the same symmetric work.
				fresh, err := newE2EEChannel(nil, nodes[i].Public)
				if err != nil {
					b.Fatal(err)
				}
				_ = fresh
			}
			out = box.SealAfterPrecomputation(out[:0], requests[i], &nonce, &ch.shared)
			if _, ok := secretbox.Open(out[:0], sealedResp[i], &nonce, &ch.shared); !ok {
				b.Fatal("open")
			}
		}
		if _, err := CombineECDSAShares(shares); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time, not wall time: on a shared machine the comparison with the
	// daemon's process_cpu_seconds_total must not count time spent waiting.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(max(n, 1)), "cpu-ns/op")
}

// processCPU is the process's user + system CPU time in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
