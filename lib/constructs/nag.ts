/**
 * cdk-nag acknowledgements, kept narrow: one finding id at a time, on the
 * construct that holds the finding, never with an empty reason.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** The cdk-nag pack every acknowledgement here refers to. */
export const NAG_PACK = 'AwsSolutions';

/**
 * Acknowledges one cdk-nag finding (`AwsSolutions-IAM5[Resource::...]`, or a
 * whole rule such as `AwsSolutions-L1`) on `scope` and its children.
 */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  if (reason.trim().length < 20) {
    throw new Error(`${scope.node.path}: acknowledging ${id} needs a concrete reason, got "${reason}"`);
  }
  Validations.of(scope).acknowledge({ id, reason });
}

/**
 * Renders a template value the way cdk-nag's IAM5 rule names it in a
 * finding id: `Fn::Join` joined, `Ref` as `<Name>`, `Fn::GetAtt` as
 * `<Name.Attr>`. cdk-nag keeps this function internal, so it is mirrored here.
 */
export function flattenForNag(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value.replace(/\$\{/g, '<').replace(/}/g, '>');
  if (typeof value === 'object' && value !== null) {
    const node = value as Record<string, unknown>;
    if (node['Fn::Join']) {
      const [delimiter, items] = node['Fn::Join'] as [string, unknown[]];
      return items.map(flattenForNag).join(delimiter);
    }
    if (node['Fn::Sub']) return flattenForNag(node['Fn::Sub']);
    if (node['Fn::GetAtt']) {
      const [resource, attribute] = node['Fn::GetAtt'] as [unknown, unknown];
      return `<${flattenForNag(resource)}.${flattenForNag(attribute)}>`;
    }
    if (node['Fn::ImportValue']) return flattenForNag(node['Fn::ImportValue']);
    if (node.Ref) return `<${flattenForNag(node.Ref)}>`;
  }
  return JSON.stringify(value);
}

/** The IAM5 finding ids a statement's wildcards raise: `Action::x:y*`, `Resource::arn:...*`. */
export function wildcardFindings(
  scope: IConstruct,
  actions: readonly string[],
  resources: readonly string[],
): string[] {
  const stack = Stack.of(scope);
  return [
    ...actions.filter((action) => action.includes('*')).map((action) => `Action::${action}`),
    ...resources
      .map((resource) => flattenForNag(stack.resolve(resource)))
      .filter((resource) => resource.includes('*'))
      .map((resource) => `Resource::${resource}`),
  ];
}
