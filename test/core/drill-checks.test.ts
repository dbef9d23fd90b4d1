import { describe, expect, it } from 'vitest';
import { sendsNothing } from '../../lambdas/adapters/drill/checks';

describe('sendsNothing (the drill place sends nothing)', () => {
  const matchNothing = { IpProtocol: 'icmp', FromPort: 252, ToPort: 86, IpRanges: [{ CidrIp: '255.255.255.255/32' }] };

  it('holds for a group with no egress rule, and for the vault stack group whose one rule matches no packet', () => {
    expect(sendsNothing([])).toBe(true);
    expect(sendsNothing([matchNothing])).toBe(true);
  });

  it("fails for EC2's default allow-all, a rule to anywhere beside the match-nothing one, and look-alikes", () => {
    expect(sendsNothing([{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }])).toBe(false);
    expect(
      sendsNothing([
        matchNothing,
        { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
      ]),
    ).toBe(false);
    expect(sendsNothing([{ ...matchNothing, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }])).toBe(false);
    expect(sendsNothing([{ ...matchNothing, UserIdGroupPairs: [{ GroupId: 'sg-0123' }] }])).toBe(false);
  });
});
