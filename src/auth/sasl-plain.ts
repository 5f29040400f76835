// SASL PLAIN (RFC 4616): base64 of authzid NUL authcid NUL passwd. Used by POP3 AUTH
// (RFC 5034) and SMTP AUTH (RFC 4954), always inside TLS.

export interface PlainCredentials {
  authzid: string;
  username: string;
  password: string;
}

/** Decodes a PLAIN response; undefined when it is not well-formed. */
export function decodeSaslPlain(response: string): PlainCredentials | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(response) || response.length % 4 !== 0) return undefined;
  const text = Buffer.from(response, 'base64').toString('utf8');
  const parts = text.split('\0');
  if (parts.length !== 3) return undefined;
  const [authzid, username, password] = parts as [string, string, string];
  if (username === '' || password === '') return undefined;
  return { authzid, username, password };
}
