import { EC2ServiceException } from '@aws-sdk/client-ec2';
import {
  DependencyTimeoutException,
  DisabledException,
  KeyUnavailableException,
  KMSInternalException,
  KMSInvalidStateException,
  KMSServiceException,
  LimitExceededException,
  NotFoundException,
} from '@aws-sdk/client-kms';
import {
  AuthorizationNotFoundFault,
  DBClusterNotFoundFault,
  DBClusterSnapshotAlreadyExistsFault,
  DBClusterSnapshotNotFoundFault,
  DBInstanceNotFoundFault,
  DBSnapshotAlreadyExistsFault,
  DBSnapshotNotFoundFault,
  InvalidDBClusterSnapshotStateFault,
  InvalidDBInstanceStateFault,
  InvalidDBSnapshotStateFault,
  KMSKeyNotAccessibleFault,
  RDSServiceException,
  ResourceNotFoundFault,
  SharedSnapshotQuotaExceededFault,
  SnapshotQuotaExceededFault,
} from '@aws-sdk/client-rds';
import { describe, expect, it } from 'vitest';
import {
  type AwsErrorClass,
  classifyAwsError,
  describeAwsError,
  isLockRefusal,
} from '../../lambdas/adapters/aws-errors';

/**
 * What the SDK's query-protocol deserializer adds to a modeled RDS exception:
 * the wire code, which often lacks the class name's `Fault`.
 */
const withWireCode = <E extends Error>(error: E, Code: string): E =>
  Object.assign(error, { Code, Type: 'Sender', Error: { Type: 'Sender', Code, Message: error.message } });

/** An RDS answer the SDK has no class for: the base exception named after the code. */
const rdsError = (name: string, message: string, httpStatusCode = 400) =>
  new RDSServiceException({
    name,
    $fault: httpStatusCode < 500 ? 'client' : 'server',
    $metadata: { httpStatusCode },
    message,
  });

/** EC2 has no modeled exceptions: every answer is the base exception named after the code. */
const ec2Error = (name: string, message: string, httpStatusCode = 400) =>
  new EC2ServiceException({
    name,
    $fault: httpStatusCode < 500 ? 'client' : 'server',
    $metadata: { httpStatusCode },
    message,
  });

const kmsError = (name: string, message: string, httpStatusCode = 400) =>
  new KMSServiceException({
    name,
    $fault: httpStatusCode < 500 ? 'client' : 'server',
    $metadata: { httpStatusCode },
    message,
  });

type Case = [label: string, expected: AwsErrorClass, error: unknown];

describe('classifyAwsError', () => {
  describe('RDS', () => {
    it.each<Case>([
      [
        'the cross-Region copy quota',
        'quota',
        withWireCode(
          new SnapshotQuotaExceededFault({
            message: 'Cannot copy more than 5 snapshots across regions',
            $metadata: { httpStatusCode: 400 },
          }),
          'SnapshotQuotaExceeded',
        ),
      ],
      [
        'the manual snapshot quota',
        'quota',
        new SnapshotQuotaExceededFault({ message: 'Cannot create more than 100 manual snapshots', $metadata: {} }),
      ],
      ['the quota under its wire code alone', 'quota', { Code: 'SnapshotQuotaExceeded', message: 'quota' }],
      [
        'a copy quota said only in words under a generic code',
        'quota',
        rdsError('InvalidParameterCombination', 'Cannot copy more than 5 snapshots at the same time'),
      ],
      ['a copy quota that names its limit', 'quota', rdsError('InvalidParameterValue', 'The copy limit is 5')],
      [
        'a shared snapshot at its sharing quota',
        'refused',
        new SharedSnapshotQuotaExceededFault({
          message: 'You have exceeded the maximum number of accounts that you can share a manual DB snapshot with',
          $metadata: {},
        }),
      ],
      [
        'the sharing quota under its wire code',
        'refused',
        { Code: 'SharedSnapshotQuotaExceeded', message: 'quota', $metadata: {} },
      ],
      [
        'a DB snapshot already there',
        'exists',
        withWireCode(
          new DBSnapshotAlreadyExistsFault({
            message: 'Cannot create the snapshot because a snapshot with the identifier bunker-x already exists.',
            $metadata: {},
          }),
          'DBSnapshotAlreadyExists',
        ),
      ],
      [
        'a cluster snapshot already there',
        'exists',
        new DBClusterSnapshotAlreadyExistsFault({ message: 'already exists', $metadata: {} }),
      ],
      [
        'a DB snapshot not found or not shared',
        'not-found',
        withWireCode(
          new DBSnapshotNotFoundFault({
            message: 'DBSnapshot arn:aws:rds:eu-west-1:222222222222:snapshot:orders not found.',
            $metadata: {},
          }),
          'DBSnapshotNotFound',
        ),
      ],
      [
        'a cluster snapshot not found',
        'not-found',
        new DBClusterSnapshotNotFoundFault({ message: 'not found', $metadata: {} }),
      ],
      ['a DB instance not found', 'not-found', new DBInstanceNotFoundFault({ message: 'not found', $metadata: {} })],
      ['a DB cluster not found', 'not-found', new DBClusterNotFoundFault({ message: 'not found', $metadata: {} })],
      [
        'a resource to tag that is gone',
        'not-found',
        new ResourceNotFoundFault({ message: 'not found', $metadata: {} }),
      ],
      [
        'a key the backup account cannot use',
        'refused',
        new KMSKeyNotAccessibleFault({
          message: 'The target KMS key does not exist, is not enabled or you do not have permissions to access it.',
          $metadata: {},
        }),
      ],
      [
        'a DB snapshot still being created',
        'transient',
        new InvalidDBSnapshotStateFault({ message: 'Snapshot must be in available state', $metadata: {} }),
      ],
      [
        'a cluster snapshot still being created',
        'transient',
        new InvalidDBClusterSnapshotStateFault({ message: 'Snapshot must be in available state', $metadata: {} }),
      ],
      [
        'a DB instance busy',
        'transient',
        new InvalidDBInstanceStateFault({ message: 'Instance is not available', $metadata: {} }),
      ],
      [
        'an unauthorised security group',
        'refused',
        new AuthorizationNotFoundFault({ message: 'not authorized', $metadata: {} }),
      ],
      ['access denied', 'refused', rdsError('AccessDenied', 'User is not authorized to perform: rds:CopyDBSnapshot')],
      ['a bad parameter', 'refused', rdsError('InvalidParameterValue', 'Invalid snapshot identifier')],
      ['an internal failure', 'transient', rdsError('InternalFailure', 'An internal error occurred', 500)],
      ['a code RDS may add later', 'transient', rdsError('SomethingNewFault', 'Something new')],
    ])('%s is %s', (_label, expected, error) => {
      expect(classifyAwsError(error)).toBe(expected);
    });
  });

  describe('EC2', () => {
    it.each<Case>([
      [
        'too many snapshot copies in progress',
        'quota',
        ec2Error(
          'ResourceLimitExceeded',
          'Too many snapshot copies in progress. The limit is 5 for this destination region.',
        ),
      ],
      [
        'too many AMI copies in progress',
        'quota',
        ec2Error('ResourceLimitExceeded', 'You have reached the maximum number of concurrent image copies.'),
      ],
      ['the snapshot count quota', 'quota', ec2Error('SnapshotLimitExceeded', 'Maximum number of snapshots reached')],
      ['the pending snapshot quota', 'quota', ec2Error('PendingSnapshotLimitExceeded', 'Too many pending snapshots')],
      [
        'the per-volume concurrent snapshot quota',
        'quota',
        ec2Error(
          'ConcurrentSnapshotLimitExceeded',
          'Maximum allowed in-progress snapshots for a single volume exceeded.',
        ),
      ],
      ['the API rate', 'throttled', ec2Error('RequestLimitExceeded', 'Request limit exceeded.', 503)],
      [
        'the per-volume snapshot rate',
        'throttled',
        ec2Error(
          'SnapshotCreationPerVolumeRateExceeded',
          'The maximum per volume CreateSnapshot request rate has been exceeded.',
        ),
      ],
      [
        'an EBS snapshot not found or not shared',
        'not-found',
        ec2Error('InvalidSnapshot.NotFound', "The snapshot 'snap-0123456789abcdef0' does not exist."),
      ],
      [
        'an AMI not found or not shared',
        'not-found',
        ec2Error('InvalidAMIID.NotFound', "The image id '[ami-0123456789abcdef0]' does not exist"),
      ],
      [
        'a snapshot id EC2 cannot parse',
        'not-found',
        ec2Error('InvalidSnapshotID.Malformed', 'Invalid id: "snap-123456789" (expecting "snap-...")'),
      ],
      [
        'an image id EC2 cannot parse',
        'not-found',
        ec2Error('InvalidAMIID.Malformed', 'Invalid id: "ami-123456789" (expecting "ami-...")'),
      ],
      [
        'a deregistered AMI',
        'not-found',
        ec2Error('InvalidAMIID.Unavailable', "The image id '[ami-0123456789abcdef0]' is no longer available"),
      ],
      [
        'a shared AMI whose snapshots are not shared',
        'not-found',
        ec2Error('InvalidRequest', 'You do not have permission to access the storage of this ami'),
      ],
      [
        'an AMI name already taken',
        'exists',
        ec2Error('InvalidAMIName.Duplicate', 'AMI name bunker-x is already in use by AMI ami-1'),
      ],
      [
        'a snapshot still held by an AMI',
        'transient',
        ec2Error('InvalidSnapshot.InUse', 'The snapshot snap-1 is currently in use by ami-1'),
      ],
      ['a snapshot still pending', 'transient', ec2Error('IncorrectState', "Snapshot 'snap-1' is not 'completed'.")],
      [
        'a bad parameter',
        'refused',
        ec2Error('InvalidParameterValue', 'Value (x) for parameter snapshotId is invalid.'),
      ],
      ['an invalid request', 'refused', ec2Error('InvalidRequest', 'The request is not valid.')],
      [
        'a missing permission',
        'refused',
        ec2Error(
          'UnauthorizedOperation',
          'You are not authorized to perform this operation. Encoded authorization failure message: AbC',
        ),
      ],
      [
        'credentials EC2 cannot validate',
        'refused',
        ec2Error('AuthFailure', 'AWS was not able to validate the provided access credentials', 401),
      ],
      [
        'a key in the wrong state',
        'refused',
        ec2Error('InvalidKMSKey.InvalidState', 'The KMS key provided is in an incorrect state'),
      ],
      [
        'a key in the wrong state, as a state reason',
        'refused',
        { code: 'Client.InvalidKMSKey.InvalidState', message: 'The KMS key provided is in an incorrect state' },
      ],
      [
        'a key id EC2 cannot resolve',
        'refused',
        ec2Error('InvalidKeyId.NotFound', 'The key ID alias/x does not exist'),
      ],
      ['a disabled key, as EC2 relays it', 'refused', ec2Error('KMS.DisabledException', 'The key is disabled')],
      ['a revoked key', 'refused', ec2Error('CustomerKeyHasBeenRevoked', 'The KMS key cannot be accessed')],
      ['an internal error', 'transient', ec2Error('InternalError', 'An internal error has occurred', 500)],
      ['an overloaded server', 'transient', ec2Error('Unavailable', 'The server is overloaded', 503)],
    ])('%s is %s', (_label, expected, error) => {
      expect(classifyAwsError(error)).toBe(expected);
    });
  });

  describe('KMS', () => {
    it.each<Case>([
      [
        'a key that is gone',
        'refused',
        new NotFoundException({ message: 'Key arn:aws:kms:x does not exist', $metadata: {} }),
      ],
      ['a disabled key', 'refused', new DisabledException({ message: 'arn:aws:kms:x is disabled.', $metadata: {} })],
      [
        'a key pending deletion',
        'refused',
        new KMSInvalidStateException({ message: 'arn:aws:kms:x is pending deletion.', $metadata: {} }),
      ],
      [
        'access denied',
        'refused',
        kmsError('AccessDeniedException', 'User is not authorized to perform: kms:CreateGrant'),
      ],
      ['an internal error', 'transient', new KMSInternalException({ message: 'internal', $metadata: {} })],
      [
        'a key briefly unavailable',
        'transient',
        new KeyUnavailableException({ message: 'unavailable', $metadata: {} }),
      ],
      [
        'a custom key store timing out',
        'transient',
        new DependencyTimeoutException({ message: 'timeout', $metadata: {} }),
      ],
      ['a grant or rate limit', 'throttled', new LimitExceededException({ message: 'limit exceeded', $metadata: {} })],
    ])('%s is %s', (_label, expected, error) => {
      expect(classifyAwsError(error)).toBe(expected);
    });
  });

  describe('throttling', () => {
    it.each<Case>([
      ['Throttling', 'throttled', rdsError('Throttling', 'Rate exceeded')],
      ['ThrottlingException', 'throttled', kmsError('ThrottlingException', 'Rate exceeded')],
      ['TooManyRequestsException', 'throttled', rdsError('TooManyRequestsException', 'Too many requests')],
      ['HTTP 429 without a known code', 'throttled', rdsError('Unknown', 'slow down', 429)],
      [
        'an unknown code marked as throttling',
        'throttled',
        Object.assign(rdsError('SomethingNewFault', 'Slow down'), { $retryable: { throttling: true } }),
      ],
      [
        'an unknown code marked retryable without throttling',
        'transient',
        Object.assign(rdsError('SomethingNewFault', 'Try again'), { $retryable: {} }),
      ],
    ])('%s is %s', (_label, expected, error) => {
      expect(classifyAwsError(error)).toBe(expected);
    });
  });

  describe('not an AWS answer', () => {
    it.each<Case>([
      ['a plain Error', 'transient', new Error('something broke')],
      ['a TypeError', 'transient', new TypeError("Cannot read properties of undefined (reading 'x')")],
      ['a plain Error worded like a quota', 'transient', new Error('The limit is 5')],
      ['a network error', 'transient', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
      ['undefined', 'transient', undefined],
      ['null', 'transient', null],
      ['a string', 'transient', 'AccessDenied'],
      ['a number', 'transient', 403],
      ['an object with a code but no SDK class', 'refused', { name: 'AccessDenied', message: 'denied' }],
      ['a code that only contains a known one', 'transient', ec2Error('MySnapshotQuotaExceeded', 'no')],
    ])('%s is %s', (_label, expected, error) => {
      expect(classifyAwsError(error)).toBe(expected);
    });
  });
});

describe('describeAwsError', () => {
  it("gives the class, the SDK's name and the message", () => {
    const error = withWireCode(
      new SnapshotQuotaExceededFault({ message: 'Cannot copy more than 5 snapshots across regions', $metadata: {} }),
      'SnapshotQuotaExceeded',
    );

    expect(describeAwsError(error)).toEqual({
      class: 'quota',
      code: 'SnapshotQuotaExceededFault',
      message: 'Cannot copy more than 5 snapshots across regions',
    });
  });

  it.each<[label: string, error: unknown, described: { class: AwsErrorClass; code: string; message: string }]>([
    [
      'an EC2 answer',
      ec2Error('InvalidSnapshot.NotFound', 'gone'),
      { class: 'not-found', code: 'InvalidSnapshot.NotFound', message: 'gone' },
    ],
    [
      'a wire code alone',
      { Code: 'DBSnapshotNotFound', message: 'gone' },
      { class: 'not-found', code: 'DBSnapshotNotFound', message: 'gone' },
    ],
    ['a plain Error', new Error('broke'), { class: 'transient', code: 'Error', message: 'broke' }],
    [
      'a network error',
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      { class: 'transient', code: 'ECONNRESET', message: 'socket hang up' },
    ],
    ['undefined', undefined, { class: 'transient', code: 'Unknown', message: '' }],
    ['a string', 'it broke', { class: 'transient', code: 'Unknown', message: 'it broke' }],
    ['an object without a message', { name: 'AccessDenied' }, { class: 'refused', code: 'AccessDenied', message: '' }],
  ])('describes %s', (_label, error, described) => {
    expect(describeAwsError(error)).toEqual(described);
  });

  it('writes control characters, line separators and bidi overrides as visible escapes', () => {
    const error = ec2Error(
      'InvalidParameterValue',
      'Invalid name "x\nlevel=INFO msg=copied\r\u0000\u001b[31m\u0085\u2028\u202eevil\u2066\tend"',
    );

    expect(describeAwsError(error).message).toBe(
      'Invalid name "x\\nlevel=INFO msg=copied\\r\\u0000\\u001b[31m\\u0085\\u2028\\u202eevil\\u2066\\tend"',
    );
  });

  it('escapes the code as well', () => {
    expect(describeAwsError({ name: 'Bad\nCode', message: 'm' }).code).toBe('Bad\\nCode');
  });

  it('keeps a message of 300 characters whole', () => {
    const message = 'm'.repeat(300);

    expect(describeAwsError(rdsError('InvalidParameterValue', message)).message).toBe(message);
  });

  it('cuts a longer message to 300 characters, an ellipsis included', () => {
    const described = describeAwsError(rdsError('InvalidParameterValue', 'm'.repeat(1_000_000)));

    expect(described.message).toBe(`${'m'.repeat(299)}…`);
    expect(described.message).toHaveLength(300);
  });

  it('counts escapes against the bound and never cuts one in half', () => {
    const described = describeAwsError(rdsError('InvalidParameterValue', `${'a'.repeat(298)}\ntail`));

    expect(described.message).toBe(`${'a'.repeat(298)}…`);
  });

  it('never cuts a surrogate pair in half', () => {
    const described = describeAwsError(rdsError('InvalidParameterValue', `${'a'.repeat(298)}😀tail`));

    expect(described.message).toBe(`${'a'.repeat(298)}…`);
  });

  it('cuts a code to 100 characters', () => {
    expect(describeAwsError({ name: 'C'.repeat(500) }).code).toBe(`${'C'.repeat(99)}…`);
  });
});

describe('isLockRefusal', () => {
  const ec2Error = (code: string, message: string) =>
    Object.assign(new Error(message), { name: code, Code: code, $metadata: { httpStatusCode: 400 } });

  it("knows a locked snapshot by DeleteSnapshot's code", () => {
    expect(isLockRefusal('DeleteSnapshot', ec2Error('SnapshotLocked', 'The snapshot snap-1 is locked'))).toBe(true);
  });

  it("knows a protected image by DeregisterImage's code, and only as DeregisterImage's answer", () => {
    const protectedImage = ec2Error('OperationNotPermitted', 'The image ami-1 has deregistration protection enabled');
    expect(isLockRefusal('DeregisterImage', protectedImage)).toBe(true);
    expect(isLockRefusal('DeleteSnapshot', protectedImage)).toBe(false);
  });

  it('never takes the words of a message for a lock', () => {
    const inUse = ec2Error(
      'InvalidSnapshot.InUse',
      'The snapshot snap-1 is currently in use by ami-1 (protected, locked)',
    );
    expect(isLockRefusal('DeleteSnapshot', inUse)).toBe(false);
    const denied = ec2Error(
      'UnauthorizedOperation',
      'You are not authorized to perform: ec2:DeleteSnapshot on a locked snapshot',
    );
    expect(isLockRefusal('DeleteSnapshot', denied)).toBe(false);
    expect(isLockRefusal('DeregisterImage', 'OperationNotPermitted')).toBe(false);
  });
});
