/**
 * Reads the emulator with boto3 (the project's `.venv` Python) as one
 * account, so a test can check what Bunker wrote with code that shares
 * nothing with Bunker's own adapters or the JS SDK.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { credentialsFor, DEFAULT_TEST_REGION } from '../../support/aws';

const PYTHON = fileURLToPath(new URL('../../../.venv/bin/python', import.meta.url));

/**
 * The lines every script starts with: `ARGS` (the JSON arguments), `client(name)`
 * for the account, and `out(value)` to hand JSON back (bytes as base64, the rest as strings).
 */
const PRELUDE = `
import base64, json, os, sys
import boto3
ARGS = json.loads(sys.argv[1])
def client(name):
    return boto3.client(name, endpoint_url=os.environ['BOTO3_ENDPOINT'], region_name=os.environ['AWS_DEFAULT_REGION'])
def _plain(value):
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    return str(value)
def out(value):
    print(json.dumps(value, default=_plain))
`;

/** Runs `script` (Python, after the prelude) as `account` and returns what it passed to `out`. */
export async function boto3<T>(
  endpoint: string,
  account: string,
  script: string,
  args: unknown = {},
  region: string = DEFAULT_TEST_REGION,
): Promise<T> {
  const credentials = await credentialsFor(endpoint, account);
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      ['-c', `${PRELUDE}\n${script}`, JSON.stringify(args)],
      {
        env: {
          PATH: process.env.PATH,
          BOTO3_ENDPOINT: endpoint,
          AWS_DEFAULT_REGION: region,
          AWS_ACCESS_KEY_ID: credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
          ...(credentials.sessionToken ? { AWS_SESSION_TOKEN: credentials.sessionToken } : {}),
        },
        timeout: 30_000,
        maxBuffer: 32 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`boto3 script failed: ${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as T);
      },
    );
  });
}
