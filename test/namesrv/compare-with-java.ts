/**
 * Manual check, not part of `npm test` (it needs a Java 4.9.7 name server, see
 * shared/rocketmq-server/): sends the same requests to a Java name server and to keelmq's over one
 * connection each, and prints both raw answers and whether the bytes are identical.
 *
 *   node dist/test/namesrv/compare-with-java.js <java port> <keelmq port>
 *
 * Run against fresh servers: both keep state (the Java one also persists KV config in ~/namesrv).
 * Expected differences: cluster info (Java leaves brokerAddrs keys unquoted, keelmq quotes them),
 * the route for a version-121 client (same), a request without its required field (Java carries
 * on with null), unknown codes (the Java name server never answers), topic lists (HashMap order), and
 * a valid topic no broker registered (keelmq makes up a route on the brokers with TBW102).
 */
import * as net from 'node:net';
import { encodeFrame, FrameDecoder } from '../../lib/remoting/frame-codec';
import { bodyCrc32, encodeRegisterBrokerBody } from '../../lib/remoting/register-broker-body';
import { RemotingCommand } from '../../lib/remoting/remoting-command';
import { RequestCode as C } from '../../lib/remoting/request-code';

interface Answer { raw?: Buffer; timeout?: boolean }

class Conn {
  private readonly socket: net.Socket;
  private readonly decoder = new FrameDecoder();
  private raw: Buffer[] = [];
  private waiter?: (a: Answer) => void;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('error', () => {});
    this.socket.on('data', (b: Buffer) => {
      this.raw.push(b);
      if (this.decoder.push(b).length > 0 && this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w({ raw: Buffer.concat(this.raw.splice(0)) });
      }
    });
  }

  ask(cmd: RemotingCommand, ms = 1500): Promise<Answer> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.waiter = undefined; resolve({ timeout: true }); }, ms);
      this.waiter = (a) => { clearTimeout(t); resolve(a); };
      this.socket.write(encodeFrame(cmd));
    });
  }

  end(): void { this.socket.end(); }
}

function show(a: Answer): string {
  if (!a.raw) return 'no answer';
  const hl = a.raw.readInt32BE(4) & 0xffffff;
  return `${a.raw.subarray(8, 8 + hl).toString()}  body ${a.raw.subarray(8 + hl).toString() || '-'}`;
}

function register(name: string, port: number, compressed: boolean, crcDelta = 0, brokerId = 0): RemotingCommand {
  const topicConfigTable = [`${name}-T1`, `${name}-T2`, 'TBW102'].map((topicName) => ({
    topicName, readQueueNums: 2, writeQueueNums: 3, perm: topicName === 'TBW102' ? 7 : 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false,
  }));
  const body = encodeRegisterBrokerBody({ dataVersion: { counter: 3, timestamp: 1700000000000 }, topicConfigTable, filterServerList: [] }, compressed);
  return RemotingCommand.request(C.REGISTER_BROKER, {
    brokerName: name, brokerAddr: `127.0.0.1:${port}`, clusterName: 'CmpCluster', haServerAddr: `127.0.0.1:${port + 1}`, brokerId, compressed,
    bodyCrc32: bodyCrc32(body) + crcDelta,
  }, body);
}

async function main(): Promise<void> {
  const [javaPort, keelPort] = process.argv.slice(2).map(Number);
  if (!javaPort || !keelPort) throw new Error('usage: compare-with-java <java port> <keelmq port>');
  const steps: [string, () => RemotingCommand][] = [
    ['register (JSON body)', () => register('cmpjson', 30911, false)],
    ['register (compressed body)', () => register('cmpzip', 31911, true)],
    ['register (bad CRC)', () => register('cmpbad', 32911, false, 1)],
    ['register a slave', () => register('cmpjson', 30921, false, 0, 1)],
    ['route of a JSON-registered topic (master + slave)', () => RemotingCommand.request(C.GET_ROUTEINFO_BY_TOPIC, { topic: 'cmpjson-T1' })],
    ['route of a compressed-registered topic', () => RemotingCommand.request(C.GET_ROUTEINFO_BY_TOPIC, { topic: 'cmpzip-T2' })],
    ['route TBW102', () => RemotingCommand.request(C.GET_ROUTEINFO_BY_TOPIC, { topic: 'TBW102' })],
    ['route, version 121 client', () => Object.assign(RemotingCommand.request(C.GET_ROUTEINFO_BY_TOPIC, { topic: 'cmpzip-T2' }), { version: 121 })],
    ['route of an invalid topic', () => RemotingCommand.request(C.GET_ROUTEINFO_BY_TOPIC, { topic: 'no such topic' })],
    ['route without topic', () => RemotingCommand.request(C.GET_ROUTEINFO_BY_TOPIC, {})],
    ['cluster info', () => RemotingCommand.request(C.GET_BROKER_CLUSTER_INFO)],
    ['topic list', () => RemotingCommand.request(C.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)],
    ['topics by cluster', () => RemotingCommand.request(C.GET_TOPICS_BY_CLUSTER, { cluster: 'CmpCluster' })],
    ['kv put', () => RemotingCommand.request(C.PUT_KV_CONFIG, { namespace: 'NS', key: 'k', value: 'v' })],
    ['kv get', () => RemotingCommand.request(C.GET_KV_CONFIG, { namespace: 'NS', key: 'k' })],
    ['kv get, miss', () => RemotingCommand.request(C.GET_KV_CONFIG, { namespace: 'NS', key: 'zz' })],
    ['kv delete', () => RemotingCommand.request(C.DELETE_KV_CONFIG, { namespace: 'NS', key: 'k' })],
    ['ORDER_TOPIC_CONFIG put', () => RemotingCommand.request(C.PUT_KV_CONFIG, { namespace: 'ORDER_TOPIC_CONFIG', key: 'cmpjson-T1', value: 'cmpjson:3' })],
    ['register again: the KV table comes back', () => register('cmpjson', 30911, false)],
    ['delete topic on a cluster', () => RemotingCommand.request(C.DELETE_TOPIC_IN_NAMESRV, { topic: 'cmpzip-T1', clusterName: 'CmpCluster' })],
    ['unregister', () => RemotingCommand.request(C.UNREGISTER_BROKER, { brokerName: 'cmpzip', brokerAddr: '127.0.0.1:31911', clusterName: 'CmpCluster', brokerId: 0 })],
    ['route after unregister', () => RemotingCommand.request(C.GET_ROUTEINFO_BY_TOPIC, { topic: 'cmpzip-T2' })],
    ['unknown code', () => RemotingCommand.request(4242)],
  ];
  const java = new Conn(javaPort);
  const keel = new Conn(keelPort);
  let identical = 0;
  for (const [name, make] of steps) {
    const j = await java.ask(make());
    const k = await keel.ask(make());
    const same = j.raw !== undefined && k.raw !== undefined && j.raw.equals(k.raw);
    if (same) identical++;
    console.log(`== ${name}: ${same ? 'identical bytes' : 'DIFFERENT'}\n   java  ${show(j)}\n   keel  ${show(k)}`);
  }
  console.log(`${identical} of ${steps.length} answers byte-identical`);
  java.end();
  keel.end();
}

void main();
