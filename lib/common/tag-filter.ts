import type { MessageFilter } from './message';
import { tagsHashCode } from './tag-hash';
import { KeelError } from './errors';

/** A parsed subscription expression: `*` (everything) or `TagA || TagB`. */
export interface Subscription {
  expression: string;
  /** null for `*`. */
  tags: ReadonlySet<string> | null;
  /** What getMessages needs; undefined for `*`. */
  filter: MessageFilter | undefined;
}

/**
 * Whether a subscription can name the tag: not empty, no whitespace, `|` or
 * `*`. The producer refuses other tags, which no expression but `*` selects.
 */
export function isSelectableTag(tag: string): boolean {
  return tag !== '' && !/[\s|*]/.test(tag);
}

/**
 * Parses a tag expression. The filter first tests the ConsumeQueue's tag hash,
 * which needs no CommitLog read, then confirms the tag on the message itself,
 * because different tags can share a hash (`Aa` and `BB` do).
 */
export function parseSubscription(expression: string | undefined): Subscription {
  const expr = (expression ?? '*').trim();
  if (expr === '' || expr === '*') return { expression: '*', tags: null, filter: undefined };
  const tags = new Set<string>();
  for (const part of expr.split('||')) {
    const tag = part.trim();
    if (!isSelectableTag(tag)) {
      throw new KeelError('SUBSCRIPTION_INVALID', `tag expression ${JSON.stringify(expression)} must be "*" or tags joined by "||"`);
    }
    tags.add(tag);
  }
  const codes = new Set([...tags].map(tagsHashCode));
  return {
    expression: [...tags].join(' || '),
    tags,
    filter: {
      matchTagsCode: (code) => codes.has(code),
      matchMessage: (m) => m.tags !== undefined && tags.has(m.tags),
    },
  };
}
