package devnet

import (
	"testing"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
)

// Naga actions have ethers (5.7.2) as a global, as on the real network: the
// usual recipe of hashing with ethers and signing the digest with
// signEcdsa runs, and the combined signature is over that digest.
func TestExecuteActionWithEthers(t *testing.T) {
	s := newActSetup(t, Config{})
	code := `(async () => {
  const toSign = ethers.utils.arrayify(ethers.utils.keccak256(ethers.utils.toUtf8Bytes(message)));
  await Lit.Actions.signEcdsa({ toSign, publicKey, sigName: "sig1" });
  Lit.Actions.setResponse({ response: ethers.utils.hexlify(toSign) + " " + ethers.version });
})();`
	d := execData(t, s.exec(t, execReq{code: code, params: map[string]any{
		"message": "hello ethers", "publicKey": s.pkp.PublicKey.Hex()}}))
	digest := crypto.Keccak256([]byte("hello ethers"))
	if want := hexutil.Encode(digest) + " ethers/5.7.2"; d[0].Response != want {
		t.Fatalf("response %q, want %q", d[0].Response, want)
	}
	sig, err := combineSig(t, d, "sig1")
	if err != nil {
		t.Fatal(err)
	}
	if got := recoverAddr(t, sig, [32]byte(digest)); got != s.pkp.EthAddress {
		t.Fatalf("the signature over ethers' digest recovers to %s, want %s", got, s.pkp.EthAddress)
	}
}

// A run's declarations and globals do not leak into the next run on the
// pooled VM.
func TestExecuteActionsDoNotShareGlobals(t *testing.T) {
	s := newActSetup(t, Config{})
	execData(t, s.exec(t, execReq{code: `const x = 1; var y = 2; globalThis.z = 3; Lit.Actions.setResponse({response: "ok"});`}))
	d := execData(t, s.exec(t, execReq{code: `const x = 4; Lit.Actions.setResponse({response: typeof y + typeof z + x});`}))
	if d[0].Response != "undefinedundefined4" {
		t.Fatalf("response %q", d[0].Response)
	}
}
