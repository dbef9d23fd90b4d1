/**
 * Tags in bulk: one Resource Groups Tagging API GetResources call per 100
 * resources of a type, instead of one ListTagsForResource per parameter.
 */
import { paginateGetResources, type ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';

/**
 * The tags of every tagged resource of `resourceType` (`ssm:parameter`,
 * `secretsmanager:secret`), by ARN; only those carrying `filter` when given.
 */
export async function taggedResources(
  client: ResourceGroupsTaggingAPIClient,
  resourceType: string,
  filter?: { key: string; value: string },
): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>();
  const pages = paginateGetResources(
    { client },
    {
      ResourceTypeFilters: [resourceType],
      ResourcesPerPage: 100,
      ...(filter ? { TagFilters: [{ Key: filter.key, Values: [filter.value] }] } : {}),
    },
  );
  for await (const page of pages) {
    for (const resource of page.ResourceTagMappingList ?? []) {
      if (!resource.ResourceARN) continue;
      out.set(resource.ResourceARN, Object.fromEntries((resource.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])));
    }
  }
  return out;
}
