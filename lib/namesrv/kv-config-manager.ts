/**
 * The name server's key/value configuration (`KVConfigManager.java`), by namespace. mqadmin keeps
 * ordered-topic layouts here (namespace ORDER_TOPIC_CONFIG). Kept in memory: several name servers
 * share nothing, and a broker or admin tool writes every name server it knows.
 */

/** Namespace whose entries ("brokerA:4;brokerB:4") become a route's orderTopicConf. */
export const NAMESPACE_ORDER_TOPIC_CONFIG = 'ORDER_TOPIC_CONFIG';

export class KVConfigManager {
  private readonly table = new Map<string, Map<string, string>>();

  put(namespace: string, key: string, value: string): void {
    let ns = this.table.get(namespace);
    if (!ns) this.table.set(namespace, (ns = new Map()));
    ns.set(key, value);
  }

  get(namespace: string, key: string): string | undefined {
    return this.table.get(namespace)?.get(key);
  }

  delete(namespace: string, key: string): void {
    const ns = this.table.get(namespace);
    if (!ns) return;
    ns.delete(key);
    if (ns.size === 0) this.table.delete(namespace);
  }

  /** `KVTable` JSON (`{"table":{…}}`) of one namespace, or undefined when it has no entries. */
  listJson(namespace: string): Buffer | undefined {
    const ns = this.table.get(namespace);
    if (!ns || ns.size === 0) return undefined;
    const table: Record<string, string> = Object.create(null);
    for (const k of [...ns.keys()].sort()) table[k] = ns.get(k)!;
    return Buffer.from(JSON.stringify({ table }), 'utf8');
  }
}
