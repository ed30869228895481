/**
 * Test seams for producer tests: a RemotingClient that records the requests a transport makes and
 * delays those to chosen addresses (a slow broker, as the client sees it), passed to a
 * RemotingTransport through its `remoting` option.
 */
import { RemotingClient } from '../../lib/remoting/remoting-client';
import type { RemotingCommand } from '../../lib/remoting/remoting-command';
import { sleep } from './client-envs';

export interface SeenRequest { addr: string; code: number; fields: Record<string, string>; body: Buffer | undefined; oneway: boolean }

export class TappedRemotingClient extends RemotingClient {
  readonly requests: SeenRequest[] = [];
  /** addr → ms added before each request to it is sent. */
  readonly delays = new Map<string, number>();

  override async invokeSync(addr: string, request: RemotingCommand, timeoutMs: number): Promise<RemotingCommand> {
    this.requests.push({ addr, code: request.code, fields: { ...request.extFields }, body: request.body, oneway: false });
    const delay = this.delays.get(addr) ?? 0;
    if (delay > 0) await sleep(delay);
    return super.invokeSync(addr, request, timeoutMs);
  }

  override async invokeOneway(addr: string, request: RemotingCommand, timeoutMs: number): Promise<void> {
    this.requests.push({ addr, code: request.code, fields: { ...request.extFields }, body: request.body, oneway: true });
    return super.invokeOneway(addr, request, timeoutMs);
  }
}
