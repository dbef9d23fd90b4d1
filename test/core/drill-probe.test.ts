/**
 * The engine probe's protocol logic (lambdas/core/drill/probe.ts) through
 * the TCP adapter, against node `net` servers on 127.0.0.1 that answer as
 * the engine would, answer garbage, close at once, never answer, or speak
 * another engine's protocol. The servers' bytes are written out here from
 * the protocols' documentation, not built by the code under test. Read
 * timeouts are 150 ms, so a silent server costs that and no more.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { TcpEngineProbe } from '../../lambdas/adapters/drill/probe-tcp';
import {
  announcedVersionMatches,
  engineAnswerCheck,
  engineDefaultPort,
  SSL_REQUEST,
  sqlServerVersionMatches,
} from '../../lambdas/core/drill/probe';

const servers: Server[] = [];
afterAll(() => servers.forEach((server) => server.close()));

/** A server on a free port of 127.0.0.1 that runs `talk` for each connection; resolves its port. */
async function serve(talk: (socket: Socket) => void): Promise<number> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    talk(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

const probe = new TcpEngineProbe({ connectTimeoutMs: 500, readTimeoutMs: 150 });
const ask = (engine: string, port: number) => probe.answer({ engine, address: '127.0.0.1', port });

/** MySQL 8.0.35's handshake v10 (sequence 0): version, connection id 7, salt, filler, capabilities… */
const MYSQL_GREETING = Buffer.concat([
  Buffer.from([0x0a]),
  Buffer.from('8.0.35\0', 'latin1'),
  Buffer.from([7, 0, 0, 0]),
  Buffer.from('abcdefgh', 'latin1'),
  Buffer.from([0x00, 0xff, 0xf7, 0xff, 0x02, 0x00, 0xff, 0xdf, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
  Buffer.from('ijklmnopqrst\0mysql_native_password\0', 'latin1'),
]);
const packet = (payload: Buffer, sequence = 0) =>
  Buffer.concat([Buffer.from([payload.length & 0xff, (payload.length >> 8) & 0xff, 0, sequence]), payload]);

/** PostgreSQL's AuthenticationMD5Password: 'R', length 12, code 5, a 4-byte salt. */
const PG_AUTH_MD5 = Buffer.from([0x52, 0, 0, 0, 12, 0, 0, 0, 5, 1, 2, 3, 4]);
/** PostgreSQL's ErrorResponse to an unknown role: S FATAL, C 28000, M …, then the terminator. */
const PG_NO_ROLE = (() => {
  const body = Buffer.from('SFATAL\0C28000\0Mno pg_hba.conf entry for host\0\0', 'latin1');
  return Buffer.concat([Buffer.from([0x45, 0, 0, 0, body.length + 4]), body]);
})();

describe('MySQL, MariaDB, Aurora MySQL: the server handshake', () => {
  it('answers with the server version of a handshake v10', async () => {
    const port = await serve((socket) => socket.write(packet(MYSQL_GREETING)));
    expect(await ask('mysql', port)).toEqual({
      answered: true,
      detail: 'MySQL protocol 10 handshake from server 8.0.35',
      serverVersion: '8.0.35',
    });
  });

  it('takes a greeting that arrives in pieces', async () => {
    const port = await serve((socket) => {
      const whole = packet(MYSQL_GREETING);
      socket.write(whole.subarray(0, 3));
      setTimeout(() => socket.write(whole.subarray(3)), 20);
    });
    expect((await ask('aurora-mysql', port)).serverVersion).toBe('8.0.35');
  });

  it('is not answered by an error packet, garbage, a close or silence', async () => {
    const error = packet(Buffer.concat([Buffer.from([0xff, 0x69, 0x04]), Buffer.from('Host is blocked', 'latin1')]));
    const refused = await serve((socket) => socket.end(error));
    const garbage = await serve((socket) => socket.write(Buffer.from('\x05\x00\x00\x00hello world')));
    const closes = await serve((socket) => socket.destroy());
    const silent = await serve(() => {});
    expect(await ask('mysql', refused)).toEqual({
      answered: false,
      detail: 'the server refused the connection (error 1129: Host is blocked)',
    });
    expect(await ask('mysql', garbage)).toEqual({
      answered: false,
      detail: 'answered 15 byte(s) that are not a MySQL handshake',
    });
    expect(await ask('mariadb', closes)).toEqual({
      answered: false,
      detail: 'no answer: the connection closed before a MySQL handshake',
    });
    const started = Date.now();
    expect(await ask('mysql', silent)).toEqual({
      answered: false,
      detail: 'no answer: the connection opened but a MySQL handshake never came',
    });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('is not answered by a closed port', async () => {
    const port = await serve(() => {});
    servers.pop()?.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await ask('mysql', port)).toEqual({
      answered: false,
      detail: `no connection: port ${port} refused the connection`,
    });
  });
});

describe('PostgreSQL and Aurora PostgreSQL: SSLRequest, then a StartupMessage', () => {
  it("answers N to the SSLRequest and an MD5 password request to the probe user's startup", async () => {
    const seen: Buffer[] = [];
    const port = await serve((socket) => {
      let step = 0;
      socket.on('data', (chunk) => {
        seen.push(chunk);
        socket.write(step++ === 0 ? Buffer.from('N') : PG_AUTH_MD5);
      });
    });
    expect(await ask('postgres', port)).toEqual({
      answered: true,
      detail: 'PostgreSQL answered the SSLRequest with N and asks for an MD5 password',
    });
    expect(seen[0]).toEqual(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
    // Protocol 3.0, the probe user and its database, no password.
    expect(seen[1].subarray(4, 8)).toEqual(Buffer.from([0, 3, 0, 0]));
    expect(seen[1].subarray(8).toString('latin1')).toBe('user\0bunker_drill_probe\0database\0bunker_drill_probe\0\0');
  });

  it('after S asks again on a fresh connection, and a refused login still answers', async () => {
    let connections = 0;
    const port = await serve((socket) => {
      connections += 1;
      socket.once('data', (chunk) => {
        socket.write(chunk.equals(Buffer.from(SSL_REQUEST)) ? Buffer.from('S') : PG_NO_ROLE);
      });
    });
    expect(await ask('aurora-postgresql', port)).toEqual({
      answered: true,
      detail: "PostgreSQL answered the SSLRequest with S and refused the probe's login with SQLSTATE 28000",
    });
    expect(connections).toBe(2);
  });

  it('names a SASL request and its mechanisms', async () => {
    const body = Buffer.from([0, 0, 0, 10, ...Buffer.from('SCRAM-SHA-256\0\0', 'latin1')]);
    const sasl = Buffer.concat([Buffer.from([0x52, 0, 0, 0, body.length + 4]), body]);
    const port = await serve((socket) => {
      let step = 0;
      socket.on('data', () => socket.write(step++ === 0 ? Buffer.from('N') : sasl));
    });
    expect((await ask('postgres', port)).detail).toBe(
      'PostgreSQL answered the SSLRequest with N and asks for SASL authentication (SCRAM-SHA-256)',
    );
  });

  it('is not answered by a MySQL server (the wrong protocol), garbage or silence', async () => {
    const mysql = await serve((socket) => socket.write(packet(MYSQL_GREETING)));
    const garbage = await serve((socket) =>
      socket.once('data', () => socket.write('HTTP/1.1 400 Bad Request\r\n\r\n')),
    );
    const nAndSilence = await serve((socket) => socket.once('data', () => socket.write('N')));
    expect(await ask('postgres', mysql)).toEqual({
      answered: false,
      detail: "answered as MySQL (server 8.0.35), not with PostgreSQL's answer to an SSLRequest",
    });
    expect((await ask('postgres', garbage)).detail).toBe(
      "answered as an HTTP server, not with PostgreSQL's answer to an SSLRequest",
    );
    expect(await ask('postgres', nAndSilence)).toEqual({
      answered: false,
      detail: "no answer: the connection opened but PostgreSQL's answer to a StartupMessage never came",
    });
  });

  it('a MySQL probe of a PostgreSQL server hears nothing (PostgreSQL waits for the client)', async () => {
    const postgres = await serve((socket) => socket.once('data', () => socket.write('N')));
    expect((await ask('mysql', postgres)).answered).toBe(false);
  });
});

describe('SQL Server, Oracle, and any other engine', () => {
  it('SQL Server answers PRELOGIN with its version', async () => {
    // A tabular result packet: VERSION at offset 6 (6 bytes: 15.0, build 4153, sub-build 0), then the terminator.
    const payload = [0x00, 0x00, 0x06, 0x00, 0x06, 0xff, 15, 0, 0x10, 0x39, 0, 0];
    const answer = Buffer.from([0x04, 0x01, 0, 8 + payload.length, 0, 0, 1, 0, ...payload]);
    let first: Buffer | undefined;
    const port = await serve((socket) =>
      socket.once('data', (chunk) => {
        first = chunk;
        socket.write(answer);
      }),
    );
    expect(await ask('sqlserver-se', port)).toEqual({
      answered: true,
      detail: 'TDS PRELOGIN response from SQL Server 15.0.4153',
      serverVersion: '15.0.4153',
    });
    expect(first?.[0]).toBe(0x12);
  });

  it('SQL Server: a MySQL greeting on the port is the wrong protocol, a close is no answer', async () => {
    const mysql = await serve((socket) => socket.write(packet(MYSQL_GREETING)));
    const closes = await serve((socket) => socket.once('data', () => socket.destroy()));
    expect(await ask('sqlserver-ex', mysql)).toEqual({
      answered: false,
      detail: 'answered as MySQL (server 8.0.35), not with a TDS PRELOGIN response',
    });
    expect(await ask('sqlserver-se', closes)).toEqual({
      answered: false,
      detail: 'no answer: the connection closed before a TDS PRELOGIN response',
    });
  });

  it('Oracle: a REFUSE names the listener’s error; an ACCEPT answers too', async () => {
    // REFUSE: reasons 0x22 and 0, then the text's length (83) and the text a listener sends for a CONNECT naming no service.
    const text = '(DESCRIPTION=(TMP=)(VSNNUM=0)(ERR=12504)(ERROR_STACK=(ERROR=(CODE=12504)(EMFI=4))))';
    const refuse = Buffer.concat([Buffer.from([0, 95, 0, 0, 4, 0, 0, 0, 0x22, 0, 0, 83]), Buffer.from(text, 'latin1')]);
    // ACCEPT: version 314, options 0, SDU 8192, TDU 65535, value of one, no data at offset 32, flags 0.
    const accept = Buffer.from([
      0, 32, 0, 0, 2, 0, 0, 0, 0x01, 0x3a, 0, 0, 0x20, 0, 0xff, 0xff, 0, 1, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    const refuses = await serve((socket) => socket.once('data', () => socket.write(refuse)));
    const accepts = await serve((socket) => socket.once('data', () => socket.write(accept)));
    expect(await ask('oracle-se2', refuses)).toEqual({
      answered: true,
      detail: 'the Oracle TNS listener answered REFUSE (TNS-12504)',
    });
    expect(await ask('oracle-ee', accepts)).toEqual({
      answered: true,
      detail: 'the Oracle TNS listener answered ACCEPT',
    });
  });

  it("Oracle: a CONNECT names the database's service; only a listener that hands it on has the database", async () => {
    const text = '(DESCRIPTION=(TMP=)(VSNNUM=0)(ERR=12514)(ERROR_STACK=(ERROR=(CODE=12514)(EMFI=4))))';
    const refuse = Buffer.concat([Buffer.from([0, 95, 0, 0, 4, 0, 0, 0, 0x22, 0, 0, 83]), Buffer.from(text, 'latin1')]);
    const accept = Buffer.from([
      0, 32, 0, 0, 2, 0, 0, 0, 0x01, 0x3a, 0, 0, 0x20, 0, 0xff, 0xff, 0, 1, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    const asked: string[] = [];
    // A listener with ORCL registered: it reads the service the CONNECT names and refuses any other.
    const port = await serve((socket) =>
      socket.once('data', (chunk) => {
        const service = /\(SERVICE_NAME=([^)]*)\)/.exec(chunk.toString('latin1'))?.[1] ?? '?';
        asked.push(service);
        socket.write(service === 'ORCL' ? accept : refuse);
      }),
    );
    const database = (name: string) =>
      probe.answer({ engine: 'oracle-ee', address: '127.0.0.1', port, database: name });

    expect(await database('ORCL')).toEqual({
      answered: true,
      detail: 'the Oracle TNS listener answered ACCEPT for the service ORCL',
    });
    expect(await database('SALES')).toEqual({
      answered: false,
      detail: 'the Oracle TNS listener refused the service SALES (TNS-12514)',
    });
    expect(asked).toEqual(['ORCL', 'SALES']);
  });

  it('Oracle: the TNS listener answers REFUSE; garbage is not an answer', async () => {
    const refuse = Buffer.from([0, 12, 0, 0, 4, 0, 0, 0, 1, 1, 0, 0]);
    const port = await serve((socket) =>
      socket.once('data', (chunk) => {
        socket.write(chunk[4] === 1 ? refuse : Buffer.from('?'));
      }),
    );
    const garbage = await serve((socket) => socket.once('data', () => socket.write(Buffer.from('nonsense!'))));
    expect(await ask('oracle-ee', port)).toEqual({ answered: true, detail: 'the Oracle TNS listener answered REFUSE' });
    expect((await ask('oracle-se2', garbage)).answered).toBe(false);
  });

  it('another engine only accepts connections, and says so', async () => {
    const port = await serve(() => {});
    expect(await ask('db2-se', port)).toEqual({
      answered: true,
      detail: 'accepts TCP connections (the engine has no greeting the probe speaks)',
    });
    expect(engineAnswerCheck('db2-se', '11.5', await ask('db2-se', port)).name).toBe('accepts connections');
  });
});

describe('the drill check of the answer', () => {
  const greeting = (serverVersion: string) => ({
    answered: true,
    detail: `handshake from ${serverVersion}`,
    serverVersion,
  });

  it('passes a MySQL whose announced version is the copy’s, and fails another version', () => {
    expect(engineAnswerCheck('mysql', '8.0.35', greeting('8.0.35'))).toEqual({
      name: 'engine answers',
      ok: true,
      detail: "handshake from 8.0.35, the copy's mysql 8.0.35",
    });
    expect(engineAnswerCheck('mysql', '8.0.35', greeting('8.0.28'))).toEqual({
      name: 'engine answers',
      ok: false,
      detail: 'handshake from 8.0.28, but the copy is mysql 8.0.35',
    });
  });

  it('reads MariaDB’s 5.5.5- prefix and Aurora MySQL’s compatible version', () => {
    expect(announcedVersionMatches('mariadb', '10.6.14', '5.5.5-10.6.14-MariaDB-log')).toBe(true);
    expect(announcedVersionMatches('mariadb', '10.6.14', '5.5.5-10.11.6-MariaDB-log')).toBe(false);
    expect(announcedVersionMatches('aurora-mysql', '8.0.mysql_aurora.3.05.2', '8.0.32')).toBe(true);
    expect(announcedVersionMatches('aurora-mysql', '8.0.mysql_aurora.3.05.2', '5.7.12')).toBe(false);
    expect(announcedVersionMatches('mysql', '8.0.35', '8.0.351')).toBe(false);
  });

  it('passes a SQL Server whose PRELOGIN version is the copy’s major and minor, and fails another product', () => {
    const prelogin = (serverVersion: string) => ({
      answered: true,
      detail: `TDS PRELOGIN response from SQL Server ${serverVersion}`,
      serverVersion,
    });
    expect(engineAnswerCheck('sqlserver-se', '15.00.4153.1.v1', prelogin('15.0.4153'))).toEqual({
      name: 'engine answers',
      ok: true,
      detail: "TDS PRELOGIN response from SQL Server 15.0.4153, the copy's sqlserver-se 15.00.4153.1.v1",
    });
    expect(engineAnswerCheck('sqlserver-ex', '16.00.4095.4.v1', prelogin('15.0.4153'))).toEqual({
      name: 'engine answers',
      ok: false,
      detail: 'TDS PRELOGIN response from SQL Server 15.0.4153, but the copy is sqlserver-ex 16.00.4095.4.v1',
    });
    // Another build of the same product (a cumulative update) is the copy's engine; 10.50 is not 10.0.
    expect(sqlServerVersionMatches('15.00.4153.1.v1', '15.0.4236')).toBe(true);
    expect(sqlServerVersionMatches('10.50.6000.34.v1', '10.50.6000')).toBe(true);
    expect(sqlServerVersionMatches('10.50.6000.34.v1', '10.0.6000')).toBe(false);
    expect(sqlServerVersionMatches('15.00.4153.1.v1', '1.50.4153')).toBe(false);
  });

  it('takes an Oracle answer as it comes: TNS carries no database version to compare', () => {
    expect(
      engineAnswerCheck('oracle-ee', '19.0.0.0.ru-2024-01.rur-2024-01.r1', {
        answered: true,
        detail: 'the Oracle TNS listener answered REFUSE (TNS-12504)',
      }),
    ).toEqual({ name: 'engine answers', ok: true, detail: 'the Oracle TNS listener answered REFUSE (TNS-12504)' });
  });

  it('fails an engine that did not answer, with the probe’s words', () => {
    expect(engineAnswerCheck('postgres', '16.3', { answered: false, detail: 'no answer' })).toEqual({
      name: 'engine answers',
      ok: false,
      detail: 'no answer',
    });
  });

  it('restores on the engines’ default ports, which the drill network’s rules name', () => {
    expect(
      ['mysql', 'aurora-mysql', 'postgres', 'aurora-postgresql', 'sqlserver-ee', 'oracle-se2', 'db2-ae'].map(
        engineDefaultPort,
      ),
    ).toEqual([3306, 3306, 5432, 5432, 1433, 1521, 50000]);
    expect(engineDefaultPort('neptune')).toBeUndefined();
  });
});
