// What a route's compile took from the carry-over registry is recorded, can be taken on by a later build
// only while each resource is still the very instance alive, and a build can tell whether any it took was
// closed meanwhile.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ResourceRegistry } from './carry-over.js';

describe('carry-over scopes', () => {
  it('records what code asked for, adopts it while alive, and notices a resource closed meanwhile', async () => {
    const registry = new ResourceRegistry();
    const closed: string[] = [];
    const make = (name: string) => ({ name });
    const first = registry.scope();
    first.get('outside', () => make('outside'));
    const { result, used } = first.record(() =>
      first.get(
        'pool',
        () => make('pool'),
        (v) => void closed.push(v.name),
      ),
    );
    assert.deepEqual([...used.keys()], ['pool'], 'only what ran under record');
    registry.retain(first);

    const second = registry.scope();
    assert.equal(second.adopt(used), true);
    assert.deepEqual([...second.keys], ['pool']);
    assert.equal(second.intact(), true);
    await registry.release(first);
    assert.deepEqual(closed, ['pool'], 'the second build was never retained');
    assert.equal(second.intact(), false, 'a resource it took is gone');

    const third = registry.scope();
    assert.equal(third.adopt(used), false, 'gone');
    const again = third.get('pool', () => make('pool'));
    assert.notEqual(again, result);
    assert.equal(third.adopt(used), false, 'replaced by another instance under the same key');
    assert.deepEqual([...third.keys], ['pool']);
  });
});
