// A DKIM key pair as the store keeps it and the signer uses it (RFC 6376 §3.6.1,
// RFC 8463): shared by src/policy/dkim and src/store, neither of which knows the other.

export type DkimAlgorithm = 'rsa-sha256' | 'ed25519-sha256';

export interface DkimKeyPair {
  selector: string;
  algorithm: DkimAlgorithm;
  /** PKCS#8 PEM */
  privateKey: string;
  /** the p= value of the DNS record, base64 */
  publicKey: string;
}
