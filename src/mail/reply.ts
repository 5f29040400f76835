// A reply of the mail protocols' shape: RFC 5321 §4.2 code, RFC 3463 enhanced status
// code and text. Policy checks and intake steps return refusals in it without knowing
// the protocol that will carry them (SMTP writes it as is; others translate it).
export interface Reply {
  code: number;
  /** RFC 3463 enhanced status code; absent for greetings, EHLO/HELO and 354. */
  enhanced?: string;
  text: string;
}
