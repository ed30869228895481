/**
 * The tag hash in every ConsumeQueue entry, and what tag filters and sharding
 * keys compare against: Java's String.hashCode, so a RocketMQ client's
 * subscription codes match the broker's entries.
 */

/** Java String.hashCode (over UTF-16 code units), as an int32. */
export function tagsHashCode(tags: string): number {
  let h = 0;
  for (let i = 0; i < tags.length; i++) h = (Math.imul(h, 31) + tags.charCodeAt(i)) | 0;
  return h;
}
