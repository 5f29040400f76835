// The load generator (Postfix's smtp-source) and a tiny SMTP probe that tells whether a
// server is ready to take mail before any timing starts.
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { assertLoopback } from '../../test/harness/loopback.ts';
import { run } from '../../test/harness/processes.ts';

export interface Load {
  host: string;
  port: number;
  /** Messages in total, spread over the sessions (smtp-source -m). */
  count: number;
  /** Parallel SMTP sessions (smtp-source -s). */
  sessions: number;
  /** Body bytes per message, headers not included (smtp-source -l). */
  size: number;
  sender: string;
  recipient: string;
  heloName: string;
  timeoutMs: number;
}

/**
 * smtp-source arguments. `-d`: each of the 20 sessions stays connected and sends message
 * after message (MAIL, RCPT, DATA, then the next MAIL), which is "20 parallel sessions
 * sending many messages"; without it every message would pay a TCP connect, banner and
 * HELO, measuring connection setup as much as mail intake. smtp-source does not
 * pipeline (see its man page), so each command waits for its reply, and it stops at the
 * first reply that is not the expected 2xx/3xx (no -A): exit 0 means every message got
 * its 250.
 */
export function smtpSourceArgs(load: Load): string[] {
  return [
    '-d',
    '-s', String(load.sessions),
    '-m', String(load.count),
    '-l', String(load.size),
    '-f', load.sender,
    '-t', load.recipient,
    '-M', load.heloName,
    `${load.host}:${load.port}`,
  ];
}

export interface LoadResult {
  code: number | null;
  stderr: string;
  /** From spawning smtp-source to its exit: every message acknowledged with 250. */
  seconds: number;
}

export async function runSmtpSource(smtpSource: string, load: Load): Promise<LoadResult> {
  assertLoopback(load.host, 'benchmark target');
  const start = performance.now();
  const result = await run(smtpSource, smtpSourceArgs(load), { timeoutMs: load.timeoutMs });
  return { code: result.code, stderr: (result.stderr + result.stdout).trim(), seconds: (performance.now() - start) / 1000 };
}

export interface ProbeResult {
  greeting: string;
  /** The EHLO reply; empty when the greeting was not 220 or the server closed. */
  ehlo: string;
  /** The server takes mail: a 220 greeting and a 250 EHLO reply. */
  ready: boolean;
}

/** Greeting, EHLO, QUIT; never longer than `timeoutMs`. */
export function probeSmtp(host: string, port: number, timeoutMs = 5000): Promise<ProbeResult> {
  assertLoopback(host, 'benchmark target');
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let buffer = '';
    let greeting = '';
    let ehlo = '';
    let stage: 'greeting' | 'ehlo' | 'quit' = 'greeting';
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ greeting, ehlo, ready: greeting.startsWith('220') && ehlo.startsWith('250') });
    };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`SMTP probe of ${host}:${port} got no complete answer within ${timeoutMs} ms (so far: ${JSON.stringify(greeting + ehlo + buffer)})`));
    }, timeoutMs);
    // A reply is complete at its last line, "NNN text" (a space, not "-", after the code).
    const completeReply = (): string | undefined => {
      const lines = buffer.split('\r\n');
      for (let index = 0; index < lines.length - 1; index++) {
        if (/^\d{3}( |$)/.test(lines[index]!)) {
          const reply = lines.slice(0, index + 1).join('\n');
          buffer = lines.slice(index + 1).join('\r\n');
          return reply;
        }
      }
      return undefined;
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let reply = completeReply(); reply !== undefined; reply = completeReply()) {
        if (stage === 'greeting') {
          greeting = reply;
          if (!reply.startsWith('220')) return finish();
          stage = 'ehlo';
          socket.write('EHLO probe.client.test\r\n');
        } else if (stage === 'ehlo') {
          ehlo = reply;
          stage = 'quit';
          socket.write('QUIT\r\n');
        } else {
          return finish();
        }
      }
    });
    socket.on('error', (error) => {
      if (greeting) return finish();
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', finish);
  });
}
