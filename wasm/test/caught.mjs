import assert from 'node:assert/strict';

/** What `f()` threw or rejected with (it must do one of them). */
export async function caught(f) {
  try {
    await f();
  } catch (e) {
    return e;
  }
  assert.fail('neither threw nor rejected');
}
