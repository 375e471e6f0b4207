// The member table and failure detector (src/cluster/membership.ts): merge
// (new members, versions, incarnations, a node's word about itself), gossip
// convergence of several tables (entries passed through the wire validator,
// as they are between nodes), digests, and liveness (alive/suspect/dead over
// time, heard, grace for newly learned members, forgiveStall).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readMember } from '../../../src/cluster/bleet-messages.js';
import { MemberTable, type MemberInfo } from '../../../src/cluster/membership.js';
import { prng } from '../../helpers/prng.js';

const DETECTOR = { suspectAfterMs: 1000, deadAfterMs: 3000 };

function member(nodeId: string, incarnation = 100, extra: Partial<MemberInfo> = {}): MemberInfo {
  return {
    nodeId,
    httpUrl: `http://${nodeId}.test:8080`,
    bleetUrl: `ws://${nodeId}.test:9090`,
    herd: true,
    incarnation,
    ...extra,
  };
}

/** A node's own entry the way src/node/node-core.ts builds it (farm before incarnation). */
function selfEntry(nodeId: string, incarnation: number, farm?: string): MemberInfo {
  return {
    nodeId,
    httpUrl: `http://${nodeId}.test:8080`,
    bleetUrl: `ws://${nodeId}.test:9090`,
    herd: true,
    ...(farm === undefined ? {} : { farm }),
    incarnation,
  };
}

/** What a peer receives of a table: every entry re-read by the bleet validator. */
function overTheWire(table: MemberTable): MemberInfo[] {
  return table.list().map((m) => readMember(JSON.parse(JSON.stringify(m))));
}

function table(self: MemberInfo, now = 0): MemberTable {
  return new MemberTable(self, DETECTOR, now);
}

describe('MemberTable.merge', () => {
  test('adds new members and bumps the version past both sides', () => {
    const t = table(member('a'));
    assert.equal(t.version, 1);
    assert.equal(t.merge([member('b'), member('c')], 5, 0), true);
    assert.equal(t.version, 6);
    assert.equal(t.size, 3);
    assert.deepEqual(t.get('b'), member('b'));
    assert.deepEqual(
      t.list().map((m) => m.nodeId),
      ['a', 'b', 'c'],
    );

    // The local version is the higher one this time.
    const u = table(member('z'));
    u.updateSelf(member('z', 100, { httpUrl: 'http://z.test:1' }));
    u.updateSelf(member('z', 100, { httpUrl: 'http://z.test:2' }));
    assert.equal(u.version, 3);
    assert.equal(u.merge([member('y')], 2, 0), true);
    assert.equal(u.version, 4);
  });

  test('keeps its own copy of a merged entry', () => {
    const t = table(member('a'));
    const b = member('b');
    t.merge([b], 1, 0);
    b.httpUrl = 'http://changed';
    assert.equal(t.get('b')!.httpUrl, 'http://b.test:8080');
  });

  test('merging the same table again changes nothing but adopts a higher remote version', () => {
    const t = table(member('a'));
    t.merge([member('a'), member('b')], 3, 0);
    const digest = t.digest();
    const version = t.version;
    assert.equal(t.merge([member('b')], 1, 0), false);
    assert.equal(t.version, version, 'a lower remote version is not adopted');
    assert.equal(t.merge([member('a'), member('b')], version + 10, 0), false);
    assert.equal(t.version, version + 10, 'a higher remote version is adopted');
    assert.equal(t.digest(), digest);
    assert.equal(t.size, 2);
  });

  test('a higher incarnation of a node replaces its entry, a lower one is ignored', () => {
    const t = table(member('a'));
    t.merge([member('b', 100)], 1, 0);
    const restarted = member('b', 200, { bleetUrl: 'ws://b.test:9999' });
    assert.equal(t.merge([restarted], 1, 0), true);
    assert.deepEqual(t.get('b'), restarted);
    const version = t.version;
    const digest = t.digest();
    assert.equal(t.merge([member('b', 150, { bleetUrl: 'ws://stale' })], 1, 0), false);
    assert.deepEqual(t.get('b'), restarted);
    assert.equal(t.version, version);
    assert.equal(t.digest(), digest);
  });

  test("a node never takes another's word about itself", () => {
    const self = member('a', 100);
    const t = table(self);
    const digest = t.digest();
    assert.equal(t.merge([member('a', 999, { httpUrl: 'http://impostor' })], 1, 0), false);
    assert.equal(t.merge([member('a', 100, { herd: false })], 1, 0), false);
    assert.deepEqual(t.get('a'), self);
    assert.equal(t.digest(), digest);
    assert.equal(t.version, 1);
  });

  test('updateSelf bumps the version only when the entry changes', () => {
    const t = table(member('a'));
    t.updateSelf(member('a'));
    assert.equal(t.version, 1);
    const digest = t.digest();
    t.updateSelf(member('a', 100, { bleetUrl: 'ws://a.test:1' }));
    assert.equal(t.version, 2);
    assert.notEqual(t.digest(), digest);
    assert.equal(t.get('a')!.bleetUrl, 'ws://a.test:1');
  });

  test('two tables end equal whichever pulls first', () => {
    for (const order of ['a first', 'b first'] as const) {
      const a = table(member('a'));
      a.merge([member('c', 100)], 4, 0);
      const b = table(member('b'));
      b.merge([member('c', 200), member('d')], 2, 0);
      const pullA = () => a.merge(overTheWire(b), b.version, 0);
      const pullB = () => b.merge(overTheWire(a), a.version, 0);
      if (order === 'a first') {
        pullA();
        pullB();
      } else {
        pullB();
        pullA();
      }
      // One more exchange settles the versions.
      pullA();
      pullB();
      assert.equal(a.digest(), b.digest(), order);
      assert.equal(a.version, b.version, order);
      assert.deepEqual(a.list(), b.list(), order);
      assert.equal(a.get('c')!.incarnation, 200, order);
    }
  });

  for (const seed of [1, 2, 3, 4, 5]) {
    test(`four tables gossiping pairwise in a seeded order converge to the same table (seed ${seed})`, () => {
      const random = prng(seed);
      // Manual farms on two nodes: entries are built like node-core.ts builds them and re-read from the wire by the others.
      const tables = [
        table(selfEntry('n1', 10, '0-511')),
        table(selfEntry('n2', 20, '512-1023')),
        table(selfEntry('n3', 30)),
        table(selfEntry('n4', 40)),
      ];
      // Partial, partly stale knowledge to start from.
      tables[0]!.merge([member('n3', 5)], 3, 0); // an old incarnation of n3
      tables[1]!.merge([member('n4', 40, { bleetUrl: 'ws://n4.test:9090', httpUrl: 'http://n4.test:8080' })], 1, 0);
      tables[2]!.merge([member('n1', 1)], 7, 0); // an old incarnation of n1
      // Everyone knows n1 (the seed).
      for (const t of tables.slice(1)) t.merge([readMember(tables[0]!.get('n1'))], 1, 0);

      let stableRounds = 0;
      for (let round = 0; round < 50 && stableRounds < 2; round++) {
        const before = tables.map((t) => `${t.digest()}@${t.version}`).join(' ');
        for (let k = 0; k < 12; k++) {
          const i = Math.floor(random() * tables.length);
          const j = Math.floor(random() * tables.length);
          if (i === j) continue;
          const puller = tables[i]!;
          const source = tables[j]!;
          // As cluster-node does: pull the table when the digest differs, else adopt a higher version.
          if (puller.digest() !== source.digest()) puller.merge(overTheWire(source), source.version, 0);
          else if (source.version > puller.version) puller.merge([], source.version, 0);
        }
        const after = tables.map((t) => `${t.digest()}@${t.version}`).join(' ');
        stableRounds = before === after ? stableRounds + 1 : 0;
      }
      const digests = new Set(tables.map((t) => t.digest()));
      const versions = new Set(tables.map((t) => t.version));
      assert.equal(digests.size, 1, `digests differ: ${tables.map((t) => t.digest()).join(' ')}`);
      assert.equal(versions.size, 1, `versions differ: ${tables.map((t) => t.version).join(' ')}`);
      for (const t of tables) {
        assert.deepEqual(
          t.list().map((m) => [m.nodeId, m.incarnation, m.farm]),
          [
            ['n1', 10, '0-511'],
            ['n2', 20, '512-1023'],
            ['n3', 30, undefined],
            ['n4', 40, undefined],
          ],
          t.selfId,
        );
      }
    });
  }
});

describe('MemberTable.digest', () => {
  test('changes exactly when the table changes', () => {
    const t = table(member('a'));
    const steps: [string, () => boolean, boolean][] = [
      ['add b', () => t.merge([member('b')], 1, 0), true],
      ['add b again', () => t.merge([member('b')], 1, 0), false],
      ['a higher version alone', () => t.merge([], 99, 0), false],
      ['b restarts', () => t.merge([member('b', 101)], 1, 0), true],
      ['b changes its farm', () => t.merge([member('b', 101, { farm: '0-3' })], 1, 0), true],
      ['b stale', () => t.merge([member('b', 50)], 1, 0), false],
      ['heard from b', () => (t.heard('b', 10), false), false],
      ['self unchanged', () => (t.updateSelf(member('a')), false), false],
      ['self stops herding', () => (t.updateSelf(member('a', 100, { herd: false })), true), true],
    ];
    for (const [name, step, changes] of steps) {
      const digest = t.digest();
      const changed = step();
      assert.equal(changed, changes, name);
      if (changes) assert.notEqual(t.digest(), digest, name);
      else assert.equal(t.digest(), digest, name);
    }
  });

  test('equal tables have equal digests, whatever the order they learned members in', () => {
    const random = prng(9);
    const entries = ['p', 'q', 'r', 's', 't'].map((id, i) => member(id, 100 + i));
    const reference = table(member('a'));
    reference.merge(entries, 1, 0);
    for (let i = 0; i < 5; i++) {
      const t = table(member('a'));
      for (const entry of [...entries].sort(() => random() - 0.5)) t.merge([entry], 1, 0);
      assert.equal(t.digest(), reference.digest());
    }
  });

  test('depends on the members, not on the order of the fields of their entries', () => {
    // n1's own entry (as node-core.ts builds it) and the copy a peer holds (as readMember builds it).
    const own = selfEntry('n1', 10, '0-511');
    const a = table(own);
    a.merge([member('n2')], 1, 0);
    const b = table(member('n2'));
    b.merge([readMember(JSON.parse(JSON.stringify(own)))], 1, 0);
    assert.deepEqual(a.list(), b.list());
    assert.equal(a.digest(), b.digest());
  });
});

describe('MemberTable liveness', () => {
  test('alive -> suspect -> dead as the silence grows, alive again once heard', () => {
    const t = table(member('a'), 1000);
    t.merge([member('b')], 1, 1000);
    const expectations: [number, string, boolean][] = [
      [1000, 'alive', true],
      [2000, 'alive', true], // silent exactly suspectAfterMs
      [2001, 'suspect', true],
      [4000, 'suspect', true], // silent exactly deadAfterMs
      [4001, 'dead', false],
      [100_000, 'dead', false],
    ];
    for (const [now, state, live] of expectations) {
      assert.equal(t.stateOf('b', now), state, `at ${now}`);
      assert.equal(t.isLive('b', now), live, `at ${now}`);
    }
    t.heard('b', 100_000);
    assert.equal(t.stateOf('b', 100_000), 'alive');
    assert.equal(t.stateOf('b', 101_001), 'suspect');
  });

  test('self is always alive', () => {
    const t = table(member('a'), 0);
    for (const now of [0, 5000, 1e12]) {
      assert.equal(t.stateOf('a', now), 'alive');
      assert.equal(t.isLive('a', now), true);
    }
  });

  test('a node that is not a member is dead, and hearing from it does not add it', () => {
    const t = table(member('a'), 0);
    t.heard('ghost', 0);
    assert.equal(t.stateOf('ghost', 0), 'dead');
    assert.equal(t.get('ghost'), undefined);
    assert.equal(t.size, 1);
  });

  test('a member learned by merge gets a full grace period from when it was learned', () => {
    const t = table(member('a'), 0);
    t.merge([member('b')], 1, 10_000);
    assert.equal(t.stateOf('b', 10_000), 'alive');
    assert.equal(t.stateOf('b', 11_000), 'alive');
    assert.equal(t.stateOf('b', 11_001), 'suspect');
    assert.equal(t.stateOf('b', 13_001), 'dead');
  });

  test('a new incarnation of a member gets a fresh grace period', () => {
    const t = table(member('a'), 0);
    t.merge([member('b', 100)], 1, 0);
    assert.equal(t.stateOf('b', 5000), 'dead');
    t.merge([member('b', 200)], 1, 5000);
    assert.equal(t.stateOf('b', 5000), 'alive');
  });

  test('hearing about a member from others does not make it alive', () => {
    const t = table(member('a'), 0);
    t.merge([member('b')], 1, 0);
    assert.equal(t.stateOf('b', 5000), 'dead');
    t.merge([member('b')], 9, 5000); // the same entry, gossiped again
    t.merge([member('b', 50)], 9, 5000); // an older incarnation
    assert.equal(t.stateOf('b', 5000), 'dead');
  });

  test('forgiveStall keeps a stall of this node from making members suspect', () => {
    const t = table(member('a'), 0);
    t.merge([member('b')], 1, 0);
    // This node's loop stood still from 500 to 2500; b was heard at 0.
    assert.equal(t.stateOf('b', 2500), 'suspect');
    t.forgiveStall(2000, 2500);
    assert.equal(t.stateOf('b', 2500), 'alive');
    assert.equal(t.stateOf('b', 3000), 'alive');
    assert.equal(t.stateOf('b', 3001), 'suspect', 'the forgiven silence runs on from there');
  });

  test('forgiveStall keeps a stall of this node from making members dead', () => {
    const t = table(member('a'), 0);
    t.merge([member('b'), member('c')], 1, 0);
    t.heard('c', 4000);
    assert.equal(t.stateOf('b', 5000), 'dead');
    t.forgiveStall(4500, 5000);
    assert.equal(t.stateOf('b', 5000), 'alive');
    assert.equal(t.stateOf('c', 5000), 'alive');
    assert.equal(t.stateOf('c', 6000), 'alive');
    assert.equal(t.stateOf('c', 6001), 'suspect', 'c was heard at 4000 and forgiven only up to now (5000)');
  });

  test('forgiveStall never moves lastHeard past now', () => {
    const t = table(member('a'), 0);
    t.merge([member('b')], 1, 0);
    t.forgiveStall(10_000, 3000);
    assert.equal(t.stateOf('b', 3000), 'alive');
    assert.equal(t.stateOf('b', 4000), 'alive');
    assert.equal(t.stateOf('b', 4001), 'suspect', 'lastHeard is 3000, not 10000');
    assert.equal(t.stateOf('b', 6001), 'dead');
  });
});
