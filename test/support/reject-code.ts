import { expect } from 'chai';
import { KeelError } from '../../lib/common/errors';

/** Awaits `p`, expects it to reject with a Node-style error carrying `code`, and returns that error. */
export async function rejectCode(p: Promise<unknown>, code: string): Promise<Error & { code: string }> {
  let error: unknown;
  try {
    await p;
  } catch (e) {
    error = e;
  }
  expect(error, `expected a rejection with code ${code}`).to.be.instanceOf(Error);
  expect((error as { code?: unknown }).code).to.equal(code);
  return error as Error & { code: string };
}

/** Awaits `p` and expects a KeelError with `code` (a typed, stable error, not a raw errno). */
export async function rejectKeelCode(p: Promise<unknown>, code: string): Promise<KeelError> {
  const e = await rejectCode(p, code);
  expect(e).to.be.instanceOf(KeelError);
  return e as unknown as KeelError;
}
