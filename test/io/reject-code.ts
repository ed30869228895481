import { expect } from 'chai';

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
