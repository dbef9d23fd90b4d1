import { describe, expect, it } from 'vitest';
import { parseRewrite, parseRewrites, rewriteText, rewriteValue } from '../../lambdas/core/pull/restore/rewrite';
import { SecretValue } from '../../lambdas/core/pull/secret-value';

describe('--rewrite OLD=NEW', () => {
  it('splits on the first =, so NEW may hold = or be empty', () => {
    expect(parseRewrite('111111111111=333333333333')).toEqual({ from: '111111111111', to: '333333333333' });
    expect(parseRewrite('key=a=b')).toEqual({ from: 'key', to: 'a=b' });
    expect(parseRewrite('-staging=')).toEqual({ from: '-staging', to: '' });
  });

  it('refuses an empty OLD and text without =', () => {
    expect(() => parseRewrite('=new')).toThrow('a rewrite needs a non-empty OLD, got "=new"');
    expect(() => parseRewrite('no-equals')).toThrow('a rewrite is OLD=NEW, got "no-equals"');
    expect(() => parseRewrites(['a=b', '='])).toThrow('a rewrite needs a non-empty OLD, got "="');
  });

  it('replaces every occurrence, literally, in the order given', () => {
    const rewrites = parseRewrites([
      'arn:aws:sns:eu-west-1:111111111111:=arn:aws:sns:eu-central-1:333333333333:',
      'eu-west-1=eu-central-1',
      '111111111111=333333333333',
    ]);
    const text =
      '{"topic":"arn:aws:sns:eu-west-1:111111111111:orders","host":"db.eu-west-1.rds.amazonaws.com","owner":"111111111111"}';
    expect(rewriteText(text, rewrites)).toBe(
      '{"topic":"arn:aws:sns:eu-central-1:333333333333:orders","host":"db.eu-central-1.rds.amazonaws.com","owner":"333333333333"}',
    );
    // Patterns are not patterns: the dot is a dot.
    expect(rewriteText('a.b axb', parseRewrites(['a.b=c']))).toBe('c axb');
    // A later rewrite sees the earlier one's output.
    expect(rewriteText('x', parseRewrites(['x=y', 'y=z']))).toBe('z');
  });

  it('rewrites text values and leaves binary values as they are', () => {
    const rewrites = parseRewrites(['old=new']);
    expect(rewriteValue(SecretValue.text('old-host.old'), rewrites).reveal()).toBe('new-host.new');
    const bytes = new TextEncoder().encode('old');
    expect(rewriteValue(SecretValue.binary(bytes), rewrites).reveal()).toEqual(Uint8Array.from([111, 108, 100]));
  });
});
