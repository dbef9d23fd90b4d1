/**
 * Reads IAM policy statements out of a synthesized template, wherever they
 * are (key policies, topic and queue policies, trust policies, identity
 * policies, Lambda permissions), with CloudFormation intrinsics flattened to
 * strings so an account id can be searched for in a principal or an ARN.
 */

/** A template as `Template.toJSON()` returns it. */
export type TemplateJson = { Resources: Record<string, CfnResourceJson> };
export type CfnResourceJson = {
  Type: string;
  Properties?: Record<string, unknown>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
};

export interface Statement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Principal?: unknown;
  readonly Action?: string | string[];
  readonly NotAction?: string | string[];
  readonly Resource?: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

/** One statement and where it was found. */
export interface FoundStatement {
  readonly logicalId: string;
  readonly type: string;
  /** The property path that held the policy document, e.g. `KeyPolicy`, `AssumeRolePolicyDocument`. */
  readonly property: string;
  readonly statement: Statement;
}

/** `Fn::Join` joined, `Ref` as `<Name>`, `Fn::GetAtt` as `<Name.Attr>`; anything else as JSON. */
export function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(flatten).join(',');
  if (value && typeof value === 'object') {
    const node = value as Record<string, unknown>;
    if (node['Fn::Join']) {
      const [delimiter, parts] = node['Fn::Join'] as [string, unknown[]];
      return parts.map(flatten).join(delimiter);
    }
    if (node.Ref !== undefined) return `<${flatten(node.Ref)}>`;
    if (node['Fn::GetAtt']) return `<${(node['Fn::GetAtt'] as unknown[]).map(flatten).join('.')}>`;
  }
  return JSON.stringify(value);
}

export const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** Every statement of every policy document in the template, and each Lambda permission as a statement. */
export function policyStatements(template: TemplateJson): FoundStatement[] {
  const found: FoundStatement[] = [];
  const visit = (logicalId: string, type: string, path: string, node: unknown): void => {
    if (Array.isArray(node)) {
      for (const [index, item] of node.entries()) visit(logicalId, type, `${path}[${index}]`, item);
      return;
    }
    if (!node || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    if (Array.isArray(record.Statement)) {
      for (const statement of record.Statement as Statement[])
        found.push({ logicalId, type, property: path, statement });
      return;
    }
    for (const [key, child] of Object.entries(record)) visit(logicalId, type, path ? `${path}.${key}` : key, child);
  };
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type === 'AWS::Lambda::Permission') {
      const props = resource.Properties ?? {};
      const principal = flatten(props.Principal);
      found.push({
        logicalId,
        type: resource.Type,
        property: 'Principal',
        statement: {
          Effect: 'Allow',
          Principal: principal.endsWith('.amazonaws.com') ? { Service: principal } : { AWS: principal },
          Action: flatten(props.Action),
        },
      });
      continue;
    }
    visit(logicalId, resource.Type, '', resource.Properties);
  }
  return found;
}

/** Principals of a statement as strings: `*`, ARNs (flattened) or service names. */
export function principalsOf(statement: Statement): string[] {
  const principal = statement.Principal;
  if (principal === undefined) return [];
  if (principal === '*') return ['*'];
  return Object.values(principal as Record<string, unknown>).flatMap((value) => asArray(value).map(flatten));
}

/** Whether a principal string names the account: its root, a role of it, or the bare id. */
export function principalIsAccount(principal: string, account: string): boolean {
  return principal === account || principal.includes(`:${account}:`);
}

export function actionsOf(statement: Statement): string[] {
  return asArray(statement.Action);
}

/** The value of a condition key under an operator, as an array of flattened strings. */
export function conditionValues(statement: Statement, operator: string, key: string): string[] {
  return asArray(statement.Condition?.[operator]?.[key]).map(flatten);
}

/** Logical id that a `Ref` or `Fn::GetAtt` points to, if the value is one. */
export function referencedId(value: unknown): string | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const node = value as Record<string, unknown>;
  if (typeof node.Ref === 'string') return node.Ref;
  if (Array.isArray(node['Fn::GetAtt'])) return node['Fn::GetAtt'][0] as string;
  return undefined;
}

/** Logical ids of the resources of a type whose properties match the predicate. */
export function logicalIds(
  template: TemplateJson,
  type: string,
  predicate: (props: Record<string, unknown>) => boolean = () => true,
): string[] {
  return Object.entries(template.Resources)
    .filter(([, resource]) => resource.Type === type && predicate(resource.Properties ?? {}))
    .map(([id]) => id);
}
