package litnode

import (
	"crypto/rand"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
)

// E2EEVersion is the only envelope version (docs/naga-wire.md §5.2).
const E2EEVersion = "1"

// Sizes of the E2EE envelope parts (docs/naga-wire.md §5.1).
const (
	e2eeRandomSize = 16
	e2eeKeySize    = 32
	e2eeNonceSize  = 24
	// e2eeZeroPrefix is the sodalite crypto_box_BOXZEROBYTES prefix of
	// ciphertext_and_tag (docs/naga-wire.md §5.1 Encrypt step 7).
	e2eeZeroPrefix = 16
	// e2eeAADSize is 1 + 16 + 8 + 32 + 32 (docs/naga-wire.md §5.1 Encrypt step 4).
	e2eeAADSize = 1 + e2eeRandomSize + 8 + 2*e2eeKeySize
)

// e2eeJSTime is JS Date.prototype.toISOString for a UTC time.
const e2eeJSTime = "2006-01-02T15:04:05.000Z"

// E2EEEnvelope is the v1 E2EE envelope {"version":"1","payload":{…}} of every
// request and response body of the encrypted endpoints (docs/naga-wire.md §5.2).
// The request-only "epoch" key is ignored.
type E2EEEnvelope struct {
	Version string      `json:"version"`
	Payload E2EEPayload `json:"payload"`
}

// E2EEPayload is the payload of an E2EEEnvelope (docs/naga-wire.md §5.2). Hex fields
// carry no 0x.
type E2EEPayload struct {
	// VerificationKey is the SENDER's X25519 public key, 64 lowercase hex.
	VerificationKey string `json:"verification_key"`
	// Random is 16 random bytes, 32 hex.
	Random string `json:"random"`
	// CreatedAt is an RFC 3339 time whose whole seconds enter the nonce.
	CreatedAt string `json:"created_at"`
	// CiphertextAndTag is 16 zero bytes ‖ Poly1305 tag ‖ ciphertext, hex.
	CiphertextAndTag string `json:"ciphertext_and_tag"`
}

// X25519KeyPair is an X25519 key pair for E2EE: a client's per-node,
// per-operation key, or a node's identity key (docs/naga-wire.md §5.1 "Keys"). Its
// secret never prints: String, GoString, Format, LogValue and MarshalJSON
// redact it. Build it with NewX25519KeyPair or X25519KeyPairFromSecret so
// that Public matches Secret.
type X25519KeyPair struct {
	Public, Secret [32]byte
}

// NewX25519KeyPair makes a fresh key pair from rnd (crypto/rand when nil).
func NewX25519KeyPair(rnd io.Reader) (X25519KeyPair, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	var sec [32]byte
	if _, err := io.ReadFull(rnd, sec[:]); err != nil {
		return X25519KeyPair{}, fmt.Errorf("generate X25519 key: %w", err)
	}
	kp := X25519KeyPairFromSecret(sec)
	clear(sec[:])
	return kp, nil
}

// X25519KeyPairFromSecret returns the key pair of a 32-byte X25519 secret
// (docs/naga-wire.md §5.1 Encrypt step 1: public = X25519(secret, basepoint)).
func X25519KeyPairFromSecret(secret [32]byte) X25519KeyPair {
	return X25519KeyPair{Public: x25519Public(&secret), Secret: secret}
}

// x25519Public returns X25519(secret, basepoint).
func x25519Public(secret *[32]byte) [32]byte {
	var pub [32]byte
	p, err := curve25519.X25519(secret[:], curve25519.Basepoint)
	if err != nil {
		// Unreachable: X25519 fails only for a low-order input point, and
		// the basepoint has prime order.
		panic("litnode: x25519 base point multiplication: " + err.Error())
	}
	copy(pub[:], p)
	return pub
}

// String redacts the secret.
func (k X25519KeyPair) String() string {
	return "X25519KeyPair{public:" + hex.EncodeToString(k.Public[:]) + " secret:REDACTED}"
}

// GoString redacts the secret.
func (k X25519KeyPair) GoString() string { return k.String() }

// Format redacts the secret for every verb, %#v and %x included.
func (k X25519KeyPair) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// LogValue redacts the secret in log/slog output.
func (k X25519KeyPair) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("public", hex.EncodeToString(k.Public[:])),
		slog.String("secret", "REDACTED"))
}

// MarshalJSON writes the public key only, so that a key pair never reaches
// JSON by accident.
func (k X25519KeyPair) MarshalJSON() ([]byte, error) {
	return []byte(`{"public":"` + hex.EncodeToString(k.Public[:]) + `","secret":"REDACTED"}`), nil
}

// e2eeNonce derives the nonce SHA-512(aad)[:24] with
// aad = 0x01 ‖ random ‖ ts(8, big-endian) ‖ recipientPublic ‖ senderPublic
// (docs/naga-wire.md §5.1 Encrypt steps 3–5, Decrypt steps 3–5).
func e2eeNonce(random *[16]byte, unixSeconds int64, recipientPublic, senderPublic *[32]byte) [24]byte {
	var aad [e2eeAADSize]byte
	aad[0] = 0x01
	copy(aad[1:17], random[:])
	binary.BigEndian.PutUint64(aad[17:25], uint64(unixSeconds))
	copy(aad[25:57], recipientPublic[:])
	copy(aad[57:89], senderPublic[:])
	sum := sha512.Sum512(aad[:])
	var nonce [24]byte
	copy(nonce[:], sum[:e2eeNonceSize])
	return nonce
}

// E2EEEncrypt seals plaintext from sender to recipientPublic (docs/naga-wire.md §5.1
// Encrypt) with the given random bytes and time, so that the result is
// deterministic. created_at is written as JS toISOString (milliseconds, Z);
// its whole seconds enter the nonce. Use E2EESeal in production.
//
// The sender's public key is sender.Public (step 1 is done once, when the
// key pair is made); build key pairs with NewX25519KeyPair or
// X25519KeyPairFromSecret.
func E2EEEncrypt(sender X25519KeyPair, recipientPublic [32]byte, plaintext []byte, random [16]byte, now time.Time) E2EEEnvelope {
	var shared [32]byte
	box.Precompute(&shared, &recipientPublic, &sender.Secret)
	env := e2eeSealShared(&shared, &sender.Public, &recipientPublic, plaintext, random, now)
	clear(shared[:])
	return env
}

// e2eeSealShared is E2EEEncrypt with the box shared key already computed
// (box.Precompute of the recipient's public and the sender's secret key).
func e2eeSealShared(shared, senderPublic, recipientPublic *[32]byte, plaintext []byte, random [16]byte, now time.Time) E2EEEnvelope {
	now = now.UTC()
	ts := now.Unix() // step 3: whole seconds (floor)
	nonce := e2eeNonce(&random, ts, recipientPublic, senderPublic)
	// Step 7: the sodalite layout prepends 16 zero bytes to box output.
	ct := make([]byte, e2eeZeroPrefix, e2eeZeroPrefix+box.Overhead+len(plaintext))
	ct = box.SealAfterPrecomputation(ct, plaintext, &nonce, shared) // step 6
	return E2EEEnvelope{
		Version: E2EEVersion,
		Payload: E2EEPayload{
			VerificationKey:  hex.EncodeToString(senderPublic[:]),
			Random:           hex.EncodeToString(random[:]),
			CreatedAt:        now.Format(e2eeJSTime), // step 8
			CiphertextAndTag: hex.EncodeToString(ct),
		},
	}
}

// E2EESeal is E2EEEncrypt with 16 bytes from crypto/rand and the current
// time (docs/naga-wire.md §5.1 Encrypt step 2).
func E2EESeal(sender X25519KeyPair, recipientPublic [32]byte, plaintext []byte) (E2EEEnvelope, error) {
	var random [16]byte
	if _, err := rand.Read(random[:]); err != nil {
		return E2EEEnvelope{}, fmt.Errorf("e2ee: read random: %w", err)
	}
	return E2EEEncrypt(sender, recipientPublic, plaintext, random, time.Now()), nil
}

// E2EEDecrypt opens an envelope addressed to recipient (docs/naga-wire.md §5.1
// Decrypt) and returns the plaintext and the sender's public key (the
// envelope's verification_key). Every error wraps ErrDecrypt; an envelope
// whose fields do not parse (version, hex, lengths, created_at, the 16-zero
// prefix) also wraps ErrMalformed. The recipient's public key is
// recipient.Public (step 1 is done when the key pair is made).
func E2EEDecrypt(recipient X25519KeyPair, env E2EEEnvelope) (plaintext []byte, senderPublic [32]byte, err error) {
	return e2eeOpen(&recipient, nil, env)
}

// e2eeOpen is E2EEDecrypt; when known is not nil and the envelope's sender is
// known.peer, it opens with the precomputed shared key instead of deriving
// it again.
func e2eeOpen(recipient *X25519KeyPair, known *e2eeChannel, env E2EEEnvelope) (plaintext []byte, senderPublic [32]byte, err error) {
	p := env.Payload
	plaintext, _, senderPublic, err = e2eeOpenFields(recipient, known, []byte(env.Version), []byte(p.VerificationKey), []byte(p.Random), []byte(p.CreatedAt), []byte(p.CiphertextAndTag), nil, nil)
	if err == nil && plaintext == nil {
		plaintext = []byte{}
	}
	return plaintext, senderPublic, err
}

// e2eeOpenFields is e2eeOpen on the envelope's fields as bytes: the
// plaintext is appended to dst, and the ciphertext decoded into scratch
// (returned for reuse).
func e2eeOpenFields(recipient *X25519KeyPair, known *e2eeChannel, version, verificationKey, randomHex, createdAt, ciphertextHex, dst, scratch []byte) (plaintext, scratchOut []byte, senderPublic [32]byte, err error) {
	malformed := func(format string, args ...any) ([]byte, []byte, [32]byte, error) {
		return nil, scratch, [32]byte{}, fmt.Errorf("%w: %w: "+format, append([]any{ErrDecrypt, ErrMalformed}, args...)...)
	}
	if string(version) != E2EEVersion {
		return malformed("envelope version %q, want %q", version, E2EEVersion)
	}
	// Step 2. The node decodes with the Rust hex crate: no 0x (§5.2).
	if len(verificationKey) != 2*e2eeKeySize {
		return malformed("verification_key must be %d bytes of hex", e2eeKeySize)
	}
	if _, err := hex.Decode(senderPublic[:], verificationKey); err != nil {
		return malformed("verification_key must be %d bytes of hex", e2eeKeySize)
	}
	var random [16]byte
	if len(randomHex) != 2*e2eeRandomSize {
		return malformed("random must be %d bytes of hex", e2eeRandomSize)
	}
	if _, err := hex.Decode(random[:], randomHex); err != nil {
		return malformed("random must be %d bytes of hex", e2eeRandomSize)
	}
	// Step 3: ts = floor(created_at) in seconds; any RFC 3339 form, with or
	// without a fraction (JS writes ms and Z, chrono ns and +00:00).
	created, err := time.Parse(time.RFC3339Nano, string(createdAt))
	if err != nil {
		return malformed("created_at is not RFC 3339: %q", createdAt)
	}
	ct, err := hex.AppendDecode(scratch[:0], ciphertextHex)
	if err != nil {
		return malformed("ciphertext_and_tag is not hex")
	}
	scratch = ct
	// Step 6: strip the 16-byte zero prefix the sender always emits.
	if len(ct) < e2eeZeroPrefix+box.Overhead {
		return malformed("ciphertext_and_tag is %d bytes, shorter than %d", len(ct), e2eeZeroPrefix+box.Overhead)
	}
	for _, b := range ct[:e2eeZeroPrefix] {
		if b != 0 {
			return malformed("ciphertext_and_tag does not start with %d zero bytes", e2eeZeroPrefix)
		}
	}
	// Steps 4–5: recipient first, then sender, as in encryption.
	nonce := e2eeNonce(&random, created.Unix(), &recipient.Public, &senderPublic)
	var pt []byte
	var ok bool
	if known != nil && known.peer == senderPublic {
		pt, ok = box.OpenAfterPrecomputation(dst, ct[e2eeZeroPrefix:], &nonce, &known.shared)
	} else {
		pt, ok = box.Open(dst, ct[e2eeZeroPrefix:], &nonce, &senderPublic, &recipient.Secret)
	}
	if !ok {
		return nil, scratch, [32]byte{}, fmt.Errorf("%w: authentication failed (wrong key or tampered envelope)", ErrDecrypt)
	}
	return pt, scratch, senderPublic, nil
}

// e2eeChannel is one client key pair's E2EE channel to one node identity
// key: the box shared key is derived once (box.Precompute) and serves
// every request sealed to the node and every response the node seals back
// with the same identity key.
type e2eeChannel struct {
	local  X25519KeyPair
	peer   [32]byte
	shared [32]byte
}

// newE2EEChannel makes a fresh key pair from rnd and derives its shared key
// with the node identity key peer.
func newE2EEChannel(rnd io.Reader, peer [32]byte) (*e2eeChannel, error) {
	kp, err := NewX25519KeyPair(rnd)
	if err != nil {
		return nil, err
	}
	ch := &e2eeChannel{local: kp, peer: peer}
	box.Precompute(&ch.shared, &ch.peer, &ch.local.Secret)
	return ch, nil
}

// appendSealedRequest appends the request envelope of plaintext sealed on
// the channel with 16 bytes from crypto/rand (docs/naga-wire.md §5.1
// Encrypt), with its top-level epoch: byte for byte what encoding/json
// writes for E2EEEncrypt's envelope plus "epoch" (§5.2), without the
// envelope's intermediate strings. The ciphertext is sealed into scratch
// (returned for reuse) and hex-encoded straight into b.
func (ch *e2eeChannel) appendSealedRequest(b, scratch, plaintext []byte, now time.Time, epoch uint64) (out, scratchOut []byte, err error) {
	var random [16]byte
	if _, err := rand.Read(random[:]); err != nil {
		return b, scratch, fmt.Errorf("e2ee: read random: %w", err)
	}
	out, scratchOut = appendSealedEnvelope(b, scratch, &ch.shared, &ch.local.Public, &ch.peer, plaintext, &random, now, epoch)
	return out, scratchOut, nil
}

// appendSealedEnvelope is e2eeSealShared and the JSON of its envelope with
// the epoch, written directly: every field is hex, the fixed-form time or
// "1", so nothing needs escaping.
func appendSealedEnvelope(b, scratch []byte, shared, senderPublic, recipientPublic *[32]byte, plaintext []byte, random *[16]byte, now time.Time, epoch uint64) (out, scratchOut []byte) {
	now = now.UTC()
	nonce := e2eeNonce(random, now.Unix(), recipientPublic, senderPublic)
	// Step 7: the 16 zero bytes of the sodalite layout, then box output.
	scratch = append(scratch[:0], make([]byte, e2eeZeroPrefix)...)
	scratch = box.SealAfterPrecomputation(scratch, plaintext, &nonce, shared)
	b = slices.Grow(b, 2*len(scratch)+256)
	b = append(b, `{"version":"`+E2EEVersion+`","payload":{"verification_key":"`...)
	b = hex.AppendEncode(b, senderPublic[:])
	b = append(b, `","random":"`...)
	b = hex.AppendEncode(b, random[:])
	b = append(b, `","created_at":"`...)
	b = now.AppendFormat(b, e2eeJSTime)
	b = append(b, `","ciphertext_and_tag":"`...)
	b = hex.AppendEncode(b, scratch)
	b = append(b, `"},"epoch":`...)
	b = strconv.AppendUint(b, epoch, 10)
	return append(b, '}'), scratch
}
