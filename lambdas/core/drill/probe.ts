/**
 * "The engine answers": whether a restored database's engine speaks its own
 * wire protocol on the endpoint RDS reports, proven without credentials and
 * without reading any data.
 *
 * RDS reporting `available` and an endpoint says where the engine should
 * listen, not that it does: a restore whose storage came back but whose
 * engine does not start, or an endpoint nothing serves, passes every
 * describe call. The probe opens a TCP connection and plays the first move
 * of the engine's own protocol, the part every server answers before any
 * login:
 *
 * - MySQL, MariaDB, Aurora MySQL: the server speaks first, with its initial
 *   handshake packet (protocol 10), which names the server version.
 * - PostgreSQL, Aurora PostgreSQL: an SSLRequest, answered by one byte `S`
 *   or `N`; then (after `N` on the same connection, after `S` on a fresh
 *   one, since the probe speaks no TLS) a StartupMessage for a user that
 *   does not exist, answered by an authentication request (`R`) or an
 *   error (`E`). Either proves the engine parsed the message: a refused
 *   login is still an answer. No password is ever sent.
 * - SQL Server: a TDS PRELOGIN packet, answered by the server's PRELOGIN
 *   response with its version (compared with the copy's major and minor).
 * - Oracle: a TNS CONNECT packet for the database's service (its RDS
 *   `DBName`), answered by the listener with ACCEPT, REDIRECT or RESEND: the
 *   database is registered with it; a REFUSE (TNS-12514, service unknown)
 *   fails. With no name to ask for, the CONNECT names no service and any
 *   TNS answer counts, REFUSE included: that proves the listener only.
 * - Any other engine: a TCP connect only, and the check says just that
 *   ("accepts connections"), not that the engine answered.
 *
 * Silence, garbage, an error packet, the other protocol's greeting, a
 * closed port and a timeout are all "not answered". The dialogue is here,
 * over {@link Dial} (one TCP connection per call); the bytes move in an
 * adapter (`lambdas/adapters/drill/probe-tcp.ts`), in-process in the local
 * mode and inside the drill network's probe function in AWS.
 */

/** What the probe is asked: the restored engine and where RDS says it listens. */
export interface EngineProbeRequest {
  /** The RDS engine name (`postgres`, `mysql`, `aurora-postgresql`, `sqlserver-ee`, …). */
  readonly engine: string;
  readonly address: string;
  readonly port: number;
  /**
   * The restored database's name, where the engine's first exchange can name
   * one: Oracle's service (RDS's `DBName`, `ORCL` by default). A listener
   * that accepts a CONNECT for it has the database registered.
   */
  readonly database?: string;
}

/** What the probe found: an answer of the engine's own protocol, or why not. */
export interface EngineAnswer {
  readonly answered: boolean;
  /** In words: what answered, or what came instead (never data, never a credential). */
  readonly detail: string;
  /** The version the server announced, where its greeting carries one (MySQL, SQL Server; not TNS or PostgreSQL). */
  readonly serverVersion?: string;
}

/** The port: asks the engine at an endpoint for its protocol's greeting. */
export interface EngineProbe {
  answer(request: EngineProbeRequest): Promise<EngineAnswer>;
}

/** How a wire exchange ended. */
export type ExchangeEnd = 'complete' | 'closed' | 'timeout';

/** One TCP connection, as the dialogue sees it. */
export interface ProbeConnection {
  /**
   * Sends `send` (if any), then reads until `complete` says the answer is
   * whole, the peer closes, or the read timeout passes; returns everything
   * read on this call.
   */
  exchange(
    send: Uint8Array | undefined,
    complete: (received: Uint8Array) => boolean,
  ): Promise<{ readonly received: Uint8Array; readonly end: ExchangeEnd }>;
  close(): void;
}

/** Opens a connection to the endpoint; rejects (with words) when it is refused or times out. */
export type Dial = () => Promise<ProbeConnection>;

/** The protocol families the probe speaks. */
export type EngineFamily = 'mysql' | 'postgres' | 'sqlserver' | 'oracle' | 'tcp';

export function engineFamily(engine: string): EngineFamily {
  if (/^(mysql|mariadb|aurora|aurora-mysql)$/.test(engine)) return 'mysql';
  if (/^(postgres|aurora-postgresql)$/.test(engine)) return 'postgres';
  if (/^(custom-)?sqlserver-/.test(engine)) return 'sqlserver';
  if (/^(custom-)?oracle-/.test(engine)) return 'oracle';
  return 'tcp';
}

/**
 * The port each engine listens on by default. Drill restores set it
 * explicitly, so the drill network's security group rules name exactly
 * these ports. `undefined` for an engine outside the list: RDS then picks.
 */
export function engineDefaultPort(engine: string): number | undefined {
  switch (engineFamily(engine)) {
    case 'mysql':
      return 3306;
    case 'postgres':
      return 5432;
    case 'sqlserver':
      return 1433;
    case 'oracle':
      return 1521;
    default:
      return engine.startsWith('db2-') ? 50000 : undefined;
  }
}

/** Every port a drill restore listens on: the probe's only way out, the databases' only way in. */
export const DRILL_ENGINE_PORTS = [1433, 1521, 3306, 5432, 50000] as const;

/** The check's name: what a pass proves. */
export const engineCheckName = (engine: string) =>
  engineFamily(engine) === 'tcp' ? 'accepts connections' : 'engine answers';

/** The user a PostgreSQL StartupMessage names: no such role exists, so no login can succeed. */
export const PROBE_USER = 'bunker_drill_probe';

/** Runs the engine family's dialogue over `dial`; never throws. */
export async function probeEngine(engine: string, dial: Dial, database?: string): Promise<EngineAnswer> {
  try {
    switch (engineFamily(engine)) {
      case 'mysql':
        return await once(dial, (c) => mysqlDialogue(c));
      case 'postgres':
        return await postgresDialogue(dial);
      case 'sqlserver':
        return await once(dial, (c) => sqlServerDialogue(c));
      case 'oracle':
        return await once(dial, (c) => oracleDialogue(c, database));
      default:
        return await once(dial, async () => ({
          answered: true,
          detail: 'accepts TCP connections (the engine has no greeting the probe speaks)',
        }));
    }
  } catch (error) {
    return { answered: false, detail: `no connection: ${(error as Error).message}` };
  }
}

async function once(dial: Dial, talk: (connection: ProbeConnection) => Promise<EngineAnswer>): Promise<EngineAnswer> {
  const connection = await dial();
  try {
    return await talk(connection);
  } finally {
    connection.close();
  }
}

/** What came instead of an answer, in words. */
function notAnswered(expected: string, received: Uint8Array, end: ExchangeEnd): EngineAnswer {
  if (received.length === 0) {
    return {
      answered: false,
      detail:
        end === 'timeout'
          ? `no answer: the connection opened but ${expected} never came`
          : `no answer: the connection closed before ${expected}`,
    };
  }
  const other = recognise(received);
  return {
    answered: false,
    detail: other
      ? `answered as ${other}, not with ${expected}`
      : `answered ${received.length} byte(s) that are not ${expected}`,
  };
}

/** Another protocol's greeting, named, so a drill against the wrong engine says which. */
function recognise(bytes: Uint8Array): string | undefined {
  const greeting = parseMysqlGreeting(bytes);
  if (greeting.ok) return `MySQL (server ${greeting.version})`;
  if (startsWithText(bytes, 'HTTP/')) return 'an HTTP server';
  if (startsWithText(bytes, 'SSH-')) return 'an SSH server';
  return undefined;
}

const startsWithText = (bytes: Uint8Array, text: string) =>
  bytes.length >= text.length && [...text].every((char, i) => bytes[i] === char.charCodeAt(0));

// --- MySQL ----------------------------------------------------------------

/** A MySQL packet is whole: 3-byte little-endian length and a sequence byte, then the payload. */
const mysqlPacketWhole = (b: Uint8Array) => b.length >= 4 && b.length >= 4 + (b[0] | (b[1] << 8) | (b[2] << 16));

/**
 * The server's initial handshake packet, protocol 10: sequence 0, then
 * 0x0a, the version as a NUL-terminated string, a 4-byte connection id, 8
 * bytes of auth data and a 0 filler. An error packet (0xff) is the server
 * refusing the connection (too many, host blocked) and is not an answer.
 */
export function parseMysqlGreeting(bytes: Uint8Array): { ok: true; version: string } | { ok: false; error?: string } {
  if (!mysqlPacketWhole(bytes)) return { ok: false };
  const length = bytes[0] | (bytes[1] << 8) | (bytes[2] << 16);
  const payload = bytes.subarray(4, 4 + length);
  if (bytes[3] !== 0 || payload.length === 0) return { ok: false };
  if (payload[0] === 0xff) {
    // Error packet: 2-byte code, then (protocol 4.1) '#' and a 5-character SQL state, then the message.
    const code = payload.length >= 3 ? payload[1] | (payload[2] << 8) : 0;
    const text = asciiText(payload.subarray(payload[3] === 0x23 ? 9 : 3));
    return { ok: false, error: `error ${code}${text ? `: ${text}` : ''}` };
  }
  if (payload[0] !== 0x0a) return { ok: false };
  const end = payload.indexOf(0, 1);
  if (end < 2 || end > 64) return { ok: false };
  const version = asciiText(payload.subarray(1, end));
  // After the version: connection id (4), auth data part 1 (8), one 0 filler.
  if (version.length !== end - 1 || payload.length < end + 14 || payload[end + 13] !== 0) return { ok: false };
  return { ok: true, version };
}

/** Printable ASCII only, at most 200 characters; anything else ends it. */
function asciiText(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) {
    if (byte < 0x20 || byte > 0x7e || text.length >= 200) break;
    text += String.fromCharCode(byte);
  }
  return text;
}

async function mysqlDialogue(connection: ProbeConnection): Promise<EngineAnswer> {
  const { received, end } = await connection.exchange(undefined, mysqlPacketWhole);
  const greeting = parseMysqlGreeting(received);
  if (greeting.ok) {
    return {
      answered: true,
      detail: `MySQL protocol 10 handshake from server ${greeting.version}`,
      serverVersion: greeting.version,
    };
  }
  if (greeting.error) return { answered: false, detail: `the server refused the connection (${greeting.error})` };
  return notAnswered('a MySQL handshake', received, end);
}

// --- PostgreSQL -----------------------------------------------------------

const int32 = (value: number) => [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
const readInt32 = (b: Uint8Array, at: number) =>
  ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;

/** SSLRequest: length 8 and the code 80877103. */
export const SSL_REQUEST = new Uint8Array([...int32(8), ...int32(80877103)]);

/** StartupMessage, protocol 3.0, for {@link PROBE_USER} and a database of the same name. */
export function startupMessage(user = PROBE_USER): Uint8Array {
  const text = [...`user\0${user}\0database\0${user}\0\0`].map((c) => c.charCodeAt(0));
  return new Uint8Array([...int32(8 + text.length), ...int32(196608), ...text]);
}

/** A backend message is whole: a type byte and a 4-byte length that counts itself. */
const pgMessageWhole = (b: Uint8Array) => b.length >= 5 && b.length >= 1 + readInt32(b, 1);

const AUTH_NAMES: Record<number, string> = {
  0: 'no authentication (trust): the probe closed at once',
  2: 'Kerberos V5 authentication',
  3: 'a cleartext password',
  5: 'an MD5 password',
  7: 'GSSAPI authentication',
  9: 'SSPI authentication',
  10: 'SASL authentication',
};

/** What the server said to the StartupMessage: an authentication request or an error, else nothing of PostgreSQL's. */
export function parsePostgresStartupAnswer(bytes: Uint8Array): { ok: true; detail: string } | { ok: false } {
  if (!pgMessageWhole(bytes)) return { ok: false };
  const length = readInt32(bytes, 1);
  if (length < 4 || length > 8192) return { ok: false };
  const body = bytes.subarray(5, 1 + length);
  if (bytes[0] === 0x52 && body.length >= 4) {
    const code = readInt32(body, 0);
    const name = AUTH_NAMES[code];
    if (!name) return { ok: false };
    const mechanisms =
      code === 10
        ? asciiList(body.subarray(4))
            .filter((m) => m.length > 0)
            .join(', ')
        : '';
    return { ok: true, detail: `asks for ${name}${mechanisms ? ` (${mechanisms})` : ''}` };
  }
  if (bytes[0] === 0x45) {
    // ErrorResponse: fields of a type byte and a NUL-terminated string, ended by a 0.
    const fields = new Map<string, string>();
    let at = 0;
    while (at < body.length && body[at] !== 0) {
      const end = body.indexOf(0, at + 1);
      if (end < 0) return { ok: false };
      fields.set(String.fromCharCode(body[at]), asciiText(body.subarray(at + 1, end)));
      at = end + 1;
    }
    const code = fields.get('C');
    if (!code || !/^[0-9A-Z]{5}$/.test(code)) return { ok: false };
    return { ok: true, detail: `refused the probe's login with SQLSTATE ${code}` };
  }
  return { ok: false };
}

const asciiList = (bytes: Uint8Array) => asciiText(bytes.map((b) => (b === 0 ? 0x2c : b))).split(',');

async function postgresDialogue(dial: Dial): Promise<EngineAnswer> {
  let connection = await dial();
  try {
    const ssl = await connection.exchange(SSL_REQUEST, (b) => b.length >= 1);
    const answer = ssl.received.length === 1 ? String.fromCharCode(ssl.received[0]) : '';
    if (answer !== 'S' && answer !== 'N')
      return notAnswered("PostgreSQL's answer to an SSLRequest", ssl.received, ssl.end);
    if (answer === 'S') {
      // The server would start TLS next, which the probe does not speak: ask again in the clear.
      connection.close();
      connection = await dial();
    }
    const startup = await connection.exchange(startupMessage(), pgMessageWhole);
    const parsed = parsePostgresStartupAnswer(startup.received);
    if (!parsed.ok) return notAnswered("PostgreSQL's answer to a StartupMessage", startup.received, startup.end);
    return {
      answered: true,
      detail: `PostgreSQL answered the SSLRequest with ${answer} and ${parsed.detail}`,
    };
  } finally {
    connection.close();
  }
}

// --- SQL Server -------------------------------------------------------------

/**
 * A TDS PRELOGIN packet (type 0x12, end of message) with the options
 * VERSION, ENCRYPTION (off), INSTOPT (default instance) and THREADID.
 */
export function tdsPrelogin(): Uint8Array {
  const options = [
    [0x00, 6],
    [0x01, 1],
    [0x02, 1],
    [0x03, 4],
  ];
  let offset = options.length * 5 + 1;
  const table: number[] = [];
  for (const [token, length] of options) {
    table.push(token, offset >> 8, offset & 0xff, length >> 8, length & 0xff);
    offset += length;
  }
  const data = [0, 0, 0, 0, 0, 0, 0x00, 0x00, 0, 0, 0, 0];
  const payload = [...table, 0xff, ...data];
  const length = 8 + payload.length;
  return new Uint8Array([0x12, 0x01, length >> 8, length & 0xff, 0, 0, 1, 0, ...payload]);
}

const tdsPacketWhole = (b: Uint8Array) => b.length >= 8 && b.length >= ((b[2] << 8) | b[3]);

/** The server's PRELOGIN response (a tabular result packet, 0x04) and the version it names. */
export function parseTdsPrelogin(bytes: Uint8Array): { ok: true; version: string } | { ok: false } {
  if (!tdsPacketWhole(bytes) || bytes[0] !== 0x04) return { ok: false };
  const length = (bytes[2] << 8) | bytes[3];
  if (length < 8 + 6) return { ok: false };
  const payload = bytes.subarray(8, length);
  for (let at = 0; at + 5 <= payload.length && payload[at] !== 0xff; at += 5) {
    if (payload[at] !== 0x00) continue;
    const offset = (payload[at + 1] << 8) | payload[at + 2];
    const size = (payload[at + 3] << 8) | payload[at + 4];
    if (size < 6 || offset + 6 > payload.length) return { ok: false };
    const v = payload.subarray(offset, offset + 6);
    return { ok: true, version: `${v[0]}.${v[1]}.${(v[2] << 8) | v[3]}` };
  }
  return { ok: false };
}

async function sqlServerDialogue(connection: ProbeConnection): Promise<EngineAnswer> {
  const { received, end } = await connection.exchange(tdsPrelogin(), tdsPacketWhole);
  const parsed = parseTdsPrelogin(received);
  if (!parsed.ok) return notAnswered('a TDS PRELOGIN response', received, end);
  return {
    answered: true,
    detail: `TDS PRELOGIN response from SQL Server ${parsed.version}`,
    serverVersion: parsed.version,
  };
}

// --- Oracle -----------------------------------------------------------------

/** A TNS CONNECT packet (type 1) for `service`, or for no particular service. */
export function tnsConnect(host: string, port: number, service = ''): Uint8Array {
  const name = service.replace(/[^A-Za-z0-9_$#.-]/g, '');
  const data = [
    ...(`(DESCRIPTION=(CONNECT_DATA=(SERVICE_NAME=${name})(CID=(PROGRAM=bunker-drill-probe)(HOST=probe)(USER=probe)))` +
      `(ADDRESS=(PROTOCOL=TCP)(HOST=${host.replace(/[^A-Za-z0-9.-]/g, '')})(PORT=${port})))`),
  ].map((c) => c.charCodeAt(0));
  const header = 58;
  const length = header + data.length;
  const packet = new Uint8Array(length);
  packet.set([length >> 8, length & 0xff, 0, 0, 0x01, 0, 0, 0]);
  // Version 314, lowest 300, no service options, SDU 8192, TDU 65535, protocol characteristics, one in hardware.
  packet.set([0x01, 0x3a, 0x01, 0x2c, 0, 0, 0x20, 0x00, 0xff, 0xff, 0x7f, 0x08, 0, 0, 0x00, 0x01], 8);
  packet.set([data.length >> 8, data.length & 0xff, 0, header, 0, 0, 0x08, 0x00, 0x41, 0x41], 24);
  packet.set(data, header);
  return packet;
}

const TNS_ANSWERS: Record<number, string> = { 2: 'ACCEPT', 4: 'REFUSE', 5: 'REDIRECT', 11: 'RESEND' };

/**
 * The TNS error a REFUSE names: after the header, a user and a system
 * reason byte and the 2-byte length of a text such as
 * `(DESCRIPTION=(TMP=)(VSNNUM=0)(ERR=12504)…)`. The probe asks for no
 * service, so a listener refuses it (TNS-12504, not given a service name):
 * the refusal proves the listener parsed the CONNECT, not that a database
 * registered with it.
 */
export function tnsRefuseError(bytes: Uint8Array): number | undefined {
  if (bytes.length < 12 || bytes[4] !== 4) return undefined;
  const length = (bytes[10] << 8) | bytes[11];
  const text = asciiText(bytes.subarray(12, 12 + Math.min(length, 200)));
  const code = /\(ERR=(\d{1,5})\)/.exec(text)?.[1];
  return code === undefined ? undefined : Number(code);
}

async function oracleDialogue(connection: ProbeConnection, service?: string): Promise<EngineAnswer> {
  const { received, end } = await connection.exchange(
    tnsConnect('probe', 0, service),
    (b) => b.length >= 8 && b.length >= ((b[0] << 8) | b[1]),
  );
  const type = TNS_ANSWERS[received[4]];
  const length = received.length >= 2 ? (received[0] << 8) | received[1] : 0;
  if (received.length < 8 || !type || length < 8 || received[5] !== 0) {
    return notAnswered("a TNS listener's answer", received, end);
  }
  const error = tnsRefuseError(received);
  const named = error === undefined ? '' : ` (TNS-${String(error).padStart(5, '0')})`;
  if (service) {
    // Asked for the database's own service: only a listener that has it registered hands the connection on.
    return type === 'REFUSE'
      ? { answered: false, detail: `the Oracle TNS listener refused the service ${service}${named}` }
      : { answered: true, detail: `the Oracle TNS listener answered ${type} for the service ${service}` };
  }
  return { answered: true, detail: `the Oracle TNS listener answered ${type}${named}` };
}

// --- The drill's judgement ------------------------------------------------------

/**
 * The MySQL-compatible version an engine version announces in its
 * handshake: `8.0.35` for MySQL, `10.6.14` for MariaDB (which prefixes
 * `5.5.5-` and suffixes `-MariaDB…`), and for Aurora MySQL only the
 * compatible major and minor (`8.0.mysql_aurora.3.05.2` announces `8.0.x`).
 */
export function announcedVersionMatches(engine: string, engineVersion: string, announced: string): boolean {
  const plain = announced.replace(/^5\.5\.5-/, '');
  if (engine === 'aurora-mysql' || engine === 'aurora' || engineVersion.includes('_aurora')) {
    const [major, minor] = engineVersion.split('.');
    return plain.startsWith(`${major}.${minor}.`);
  }
  const number = /^\d+\.\d+\.\d+/.exec(plain)?.[0];
  return number === engineVersion;
}

/**
 * Whether the version a SQL Server PRELOGIN response announces
 * (`<major>.<minor>.<build>`, MS-TDS 2.2.6.5) is the product version of the
 * copy's RDS engine version (`15.00.4153.1.v1`: SQL Server 2019, build
 * 4153). Major and minor are compared, not the build: a cumulative or
 * security update changes the build of the same product, and what the check
 * guards against is another product (another engine) answering.
 */
export function sqlServerVersionMatches(engineVersion: string, announced: string): boolean {
  const copy = /^(\d+)\.(\d+)\./.exec(engineVersion);
  const server = /^(\d+)\.(\d+)\./.exec(announced);
  return !!copy && !!server && Number(copy[1]) === Number(server[1]) && Number(copy[2]) === Number(server[2]);
}

/**
 * The check of a restored database's engine: it answered its own protocol's
 * greeting, and where the greeting names a version (MySQL's handshake, SQL
 * Server's PRELOGIN), that version is the copy's.
 */
export function engineAnswerCheck(
  engine: string,
  engineVersion: string | undefined,
  answer: EngineAnswer,
): { name: string; ok: boolean; detail: string } {
  const name = engineCheckName(engine);
  if (!answer.answered) return { name, ok: false, detail: answer.detail };
  const family = engineFamily(engine);
  if (
    (family === 'mysql' || family === 'sqlserver') &&
    answer.serverVersion !== undefined &&
    engineVersion !== undefined
  ) {
    const matches =
      family === 'mysql'
        ? announcedVersionMatches(engine, engineVersion, answer.serverVersion)
        : sqlServerVersionMatches(engineVersion, answer.serverVersion);
    if (!matches) {
      return {
        name,
        ok: false,
        detail: `${answer.detail}, but the copy is ${engine} ${engineVersion}`,
      };
    }
    return { name, ok: true, detail: `${answer.detail}, the copy's ${engine} ${engineVersion}` };
  }
  return { name, ok: true, detail: answer.detail };
}
