/**
 * `bunker status` when a reader role refuses the caller: the line it prints
 * names the role that refused and the fix (`--operator`, or deploying the
 * source stack again when the operator role was already used), and any
 * other error is left as it was.
 */
import { describe, expect, it } from 'vitest';
import { readerRoleRefusal } from '../../cli/aws-session';
import { explainRefusals } from '../../cli/status';
import type { ScopeDiscovery } from '../../lambdas/core/audit/types';
import { parseConfig } from '../../lib/config/load';

const config = parseConfig(
  {
    name: 'acme',
    backup: { account: '111111111111', region: 'eu-west-1' },
    sources: [{ account: '222222222222', regions: ['eu-central-1', 'eu-west-1'] }],
    artifacts: { rds: { enabled: true } },
    alerts: { emails: ['ops@example.com'] },
  },
  'test config',
);

/** What STS answers a principal a role's trust policy does not name. */
const accessDenied = Object.assign(
  new Error(
    'User: arn:aws:sts::111111111111:assumed-role/admin/jo is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role/acme-reader',
  ),
  { name: 'AccessDenied' },
);

const refusing = (error: Error): ScopeDiscovery => ({
  resources: async () => {
    throw error;
  },
});

describe('a reader role that refuses bunker status', () => {
  it('names the role, whom it trusts and --operator when status ran without it', async () => {
    const discovery = explainRefusals(refusing(accessDenied), config, false);
    await expect(discovery.resources('rds-snapshot', '222222222222', 'eu-west-1')).rejects.toThrow(
      'could not assume the reader role arn:aws:iam::222222222222:role/acme-reader: it trusts only the roles ' +
        'acme-intake, acme-audit, acme-operator of the backup account; run with --operator (assumes acme-operator; ' +
        'your credentials need sts:AssumeRole on it) or with a --profile whose role_arn is ' +
        'arn:aws:iam::111111111111:role/acme-operator',
    );
  });

  it('says to deploy the source stack again when the operator role itself was refused', () => {
    expect(readerRoleRefusal(accessDenied, config, '222222222222', true)?.message).toBe(
      'could not assume the reader role arn:aws:iam::222222222222:role/acme-reader: it trusts only the roles ' +
        'acme-intake, acme-audit, acme-operator of the backup account; the source stack of 222222222222 may ' +
        'predate the operator role: deploy it again so its reader role trusts acme-operator',
    );
  });

  it('leaves any other error as it was', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    const discovery = explainRefusals(refusing(throttled), config, false);
    await expect(discovery.resources('rds-snapshot', '222222222222', 'eu-west-1')).rejects.toBe(throttled);
  });
});
