import { expect } from 'chai';
import { VirtualClock } from '../../lib/common/clock';
import { KeelError } from '../../lib/common/errors';
import { RemotingClient } from '../../lib/remoting/remoting-client';
import { RemotingCommand } from '../../lib/remoting/remoting-command';
import { RemotingServer } from '../../lib/remoting/remoting-server';
import { MemoryLogger, until } from './support';

const HOLD = 1002;

/** Request timeouts on the client's clock: each request fails at its own deadline, whatever order they were sent in. */
describe('remoting - client request timeouts', () => {
  let server: RemotingServer;
  let client: RemotingClient;
  let clock: VirtualClock;
  let held: { v: string; answer(): void }[];

  beforeEach(async () => {
    held = [];
    server = new RemotingServer({ logger: new MemoryLogger() });
    server.registerProcessor(HOLD, (req) => new Promise<RemotingCommand>((resolve) => {
      held.push({ v: req.field('v')!, answer: () => resolve(RemotingCommand.response(0, undefined, { v: req.field('v') })) });
    }));
    await server.start();
    clock = new VirtualClock(1_000_000);
    client = new RemotingClient({ logger: new MemoryLogger(), clock });
  });

  afterEach(async () => {
    for (const h of held.splice(0)) h.answer();
    await client.close();
    await server.close();
  });

  /** Sends HOLD requests with these timeouts; records when (virtual time) each settles and how. */
  async function hold(timeouts: number[]): Promise<Map<string, string>> {
    const outcome = new Map<string, string>();
    const start = clock.now();
    for (const [i, ms] of timeouts.entries()) {
      client.invokeSync(server.address(), RemotingCommand.request(HOLD, { v: `r${i}` }), ms).then(
        (r) => outcome.set(`r${i}`, `answered ${r.field('v')} at ${clock.now() - start}`),
        (e: KeelError) => outcome.set(`r${i}`, `${e.code} at ${clock.now() - start}`),
      );
    }
    await until(() => held.length === timeouts.length);
    return outcome;
  }

  it('remoting - a shorter timeout sent after longer ones still fails at its own deadline, the others at theirs', async () => {
    const outcome = await hold([5000, 1000, 3000, 1000]);
    await clock.advance(999);
    expect(outcome.size).to.equal(0);
    await clock.advance(1);
    expect([...outcome]).to.have.deep.members([['r1', 'REMOTING_TIMEOUT at 1000'], ['r3', 'REMOTING_TIMEOUT at 1000']]);
    await clock.advance(1999);
    expect(outcome.size).to.equal(2);
    await clock.advance(1);
    expect(outcome.get('r2')).to.equal('REMOTING_TIMEOUT at 3000');
    await clock.advance(2000);
    expect(outcome.get('r0')).to.equal('REMOTING_TIMEOUT at 5000');
  });

  it('remoting - an answered request does not time out, and the others still do; one timer serves them all', async () => {
    const outcome = await hold(Array.from({ length: 50 }, () => 2000));
    expect(clock.pendingTimers()).to.equal(1);
    held.find((h) => h.v === 'r7')!.answer();
    await until(() => outcome.size === 1);
    expect(outcome.get('r7')).to.equal('answered r7 at 0');
    await clock.advance(2000);
    expect(outcome.size).to.equal(50);
    expect([...outcome.values()].filter((o) => o === 'REMOTING_TIMEOUT at 2000')).to.have.length(49);
    // The late answers are dropped, and the connection still works.
    for (const h of held.splice(0)) h.answer();
    const after = client.invokeSync(server.address(), RemotingCommand.request(HOLD, { v: 'after' }), 1000);
    await until(() => held.length === 1);
    held.splice(0)[0]!.answer();
    expect((await after).field('v')).to.equal('after');
  });
});
