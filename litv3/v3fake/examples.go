package v3fake

// Example actions in the shape of the v3 documentation's recipes
// (docs/lit-v3.md §4.1, §4.3, §4.4): what users run, so the fake must run
// them unmodified. Tests and interop/gohelper (v3-examples) use them.
const (
	// ExampleSignMessage is the signing guide's action: main({pkpId,
	// message}) signs with wallet.signMessage (EIP-191).
	ExampleSignMessage = `async function main({ pkpId, message }) {
  const privateKey = await Lit.Actions.getPrivateKey({ pkpId });
  const wallet = new ethers.Wallet(privateKey);
  const signature = await wallet.signMessage(message);
  return { signature, address: wallet.address };
}`
	// ExampleSignDigest signs a raw 32-byte digest without a prefix.
	ExampleSignDigest = `async function main({ pkpId, digest }) {
  const privateKey = await Lit.Actions.getPrivateKey({ pkpId });
  const sig = new ethers.utils.SigningKey(privateKey).signDigest(digest);
  return { signature: ethers.utils.joinSignature(sig), r: sig.r, s: sig.s, v: sig.v, recoveryParam: sig.recoveryParam };
}`
	// ExampleEncryptDecrypt round-trips a message through the PKP's key.
	ExampleEncryptDecrypt = `async function main({ pkpId, message }) {
  const ciphertext = await Lit.Actions.Encrypt({ pkpId, message });
  const plaintext = await Lit.Actions.Decrypt({ pkpId, ciphertext });
  return { ciphertext, plaintext };
}`
	// ExampleEthersUtils uses ethers.utils only.
	ExampleEthersUtils = `async function main({ message, address }) {
  const bytes = ethers.utils.toUtf8Bytes(message);
  return {
    keccak256: ethers.utils.keccak256(bytes),
    hashMessage: ethers.utils.hashMessage(message),
    digestBytes: Array.from(ethers.utils.arrayify(ethers.utils.keccak256(bytes))).length,
    checksummed: ethers.utils.getAddress(address),
    version: ethers.version,
  };
}`
	// ExampleActionKey signs with the action's own key
	// (getLitActionPrivateKey) and reports the action's wallet address.
	ExampleActionKey = `async function main({ message, ipfsId }) {
  const wallet = new ethers.Wallet(await Lit.Actions.getLitActionPrivateKey());
  return {
    signature: await wallet.signMessage(message),
    address: await Lit.Actions.getLitActionWalletAddress({ ipfsId }),
    publicKey: await Lit.Actions.getLitActionPublicKey({ ipfsId }),
  };
}`
)
