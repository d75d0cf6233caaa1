// litsignd's canonical signing action for Lit v3 (docs/lit-v3.md).
// Add its CID (litsign v3 action-cid) and the PKPs to the usage key's group.
// {op:"ping"} answers without touching a key (litsign v3 check);
// {pkpId, digest} signs the 32-byte digest (0x + 64 hex) with the PKP,
// with no prefix: litsignd hashes the message itself.
async function main(params) {
  if (params && params.op === "ping") {
    return { ok: true, action: "litsignd-sign/1" };
  }
  if (!params || typeof params.pkpId !== "string" || typeof params.digest !== "string" ||
      !/^0x[0-9a-fA-F]{64}$/.test(params.digest)) {
    throw new Error("litsignd-sign: want {pkpId, digest: 0x + 64 hex}");
  }
  const pk = await Lit.Actions.getPrivateKey({ pkpId: params.pkpId });
  const sig = new ethers.utils.SigningKey(pk).signDigest(params.digest);
  return { r: sig.r, s: sig.s, recoveryParam: sig.recoveryParam };
}
