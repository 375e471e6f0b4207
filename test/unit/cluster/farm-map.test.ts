// The farm map (src/cluster/farm-map.ts): auto mode (rendezvous hashing: herder
// counts, herd:false members, input-order independence, load balance, minimal
// movement when a member joins or leaves), manual mode (parseFarm, formatFarm,
// herders = declaring members, unassigned flocks) and rendezvousScore.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { computeFarmMap, farmSummary, formatFarm, parseFarm, rendezvousScore, type FarmMap, type FarmMember } from '../../../src/cluster/farm-map.js';
import { fnv1a32 } from '../../../src/keys.js';
import { prng } from '../../helpers/prng.js';

const FLOCKS = 1024;

function auto(ids: readonly string[], extra: FarmMember[] = []): FarmMember[] {
  return [...ids.map((nodeId) => ({ nodeId, herd: true })), ...extra];
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function randomIds(seed: number, count: number): string[] {
  const random = prng(seed);
  const ids = new Set<string>();
  while (ids.size < count) ids.add(`n${Math.floor(random() * 1e9).toString(36)}`);
  return [...ids];
}

function herdCounts(map: FarmMap): { herds: Map<string, number>; leads: Map<string, number> } {
  const herds = new Map<string, number>();
  const leads = new Map<string, number>();
  for (const herders of map.herders) {
    for (const id of herders) herds.set(id, (herds.get(id) ?? 0) + 1);
    if (herders[0] !== undefined) leads.set(herders[0], (leads.get(herders[0]) ?? 0) + 1);
  }
  return { herds, leads };
}

const FIVE = ['node-1', 'node-2', 'node-3', 'node-4', 'node-5'];

describe('computeFarmMap, auto mode', () => {
  test('every flock gets min(replicas, herding members) distinct herding members', () => {
    const members = auto(FIVE, [
      { nodeId: 'app-1', herd: false },
      { nodeId: 'app-2', herd: false },
    ]);
    for (const replicas of [1, 2, 3, 5, 7]) {
      const map = computeFarmMap(members, { flocks: 256, replicas });
      assert.equal(map.mode, 'auto');
      assert.equal(map.flocks, 256);
      assert.equal(map.herders.length, 256);
      map.herders.forEach((herders, flock) => {
        assert.equal(herders.length, Math.min(replicas, FIVE.length), `flock ${flock}, replicas ${replicas}`);
        assert.equal(new Set(herders).size, herders.length, `flock ${flock} has a herder twice: ${herders.join(',')}`);
        for (const id of herders) assert.ok(FIVE.includes(id), `flock ${flock} is herded by ${id}, which is not a herding member`);
      });
    }
  });

  test('a cluster with no herding member herds nothing', () => {
    const map = computeFarmMap([{ nodeId: 'app', herd: false }], { flocks: 16, replicas: 3 });
    assert.equal(map.mode, 'auto');
    assert.deepEqual(map.herders, Array.from({ length: 16 }, () => []));
    assert.equal(farmSummary(map).unassigned.length, 16);
  });

  test('a farm declared by a herd:false member does not make the map manual', () => {
    const map = computeFarmMap(auto(FIVE, [{ nodeId: 'app', herd: false, farm: [0, 1, 2] }]), { flocks: 64, replicas: 3 });
    assert.equal(map.mode, 'auto');
    for (const herders of map.herders) {
      assert.equal(herders.length, 3);
      assert.ok(!herders.includes('app'));
    }
  });

  test('the same members in any order give the identical map', () => {
    const random = prng(7);
    const members = auto(randomIds(11, 7), [{ nodeId: 'app', herd: false }]);
    const reference = computeFarmMap(members, { flocks: FLOCKS, replicas: 3 });
    for (let i = 0; i < 10; i++) {
      assert.deepEqual(computeFarmMap(shuffled(members, random), { flocks: FLOCKS, replicas: 3 }), reference);
    }
  });

  test('the herders are the members with the highest rendezvous scores, best first', () => {
    const ids = randomIds(5, 6);
    const map = computeFarmMap(auto(ids), { flocks: 128, replicas: 3 });
    map.herders.forEach((herders, flock) => {
      const expected = [...ids].sort((a, b) => rendezvousScore(fnv1a32(b), flock) - rendezvousScore(fnv1a32(a), flock)).slice(0, 3);
      assert.deepEqual(herders, expected, `flock ${flock}`);
    });
  });

  for (const [name, ids] of [
    ['node-1..node-5', FIVE],
    ['5 seeded random node ids (seed 1)', randomIds(1, 5)],
    ['5 seeded random node ids (seed 2)', randomIds(2, 5)],
  ] as const) {
    test(`the load is balanced over 5 members (${name})`, () => {
      const { herds, leads } = herdCounts(computeFarmMap(auto(ids), { flocks: FLOCKS, replicas: 3 }));
      const herdTarget = (3 * FLOCKS) / 5;
      const leadTarget = FLOCKS / 5;
      for (const id of ids) {
        const herded = herds.get(id) ?? 0;
        const led = leads.get(id) ?? 0;
        assert.ok(Math.abs(herded - herdTarget) <= 0.2 * herdTarget, `${id} herds ${herded} flocks, expected about ${herdTarget}`);
        assert.ok(Math.abs(led - leadTarget) <= 0.2 * leadTarget, `${id} leads ${led} flocks, expected about ${leadTarget}`);
      }
    });
  }

  test('adding a 6th member moves about 1/6 of the assignments, all of them to the new member', () => {
    const replicas = 3;
    const before = computeFarmMap(auto(FIVE), { flocks: FLOCKS, replicas });
    const after = computeFarmMap(auto([...FIVE, 'node-6']), { flocks: FLOCKS, replicas });
    let changed = 0;
    for (let flock = 0; flock < FLOCKS; flock++) {
      const old = before.herders[flock]!;
      const now = after.herders[flock]!;
      const gained = now.filter((id) => !old.includes(id));
      const lost = old.filter((id) => !now.includes(id));
      changed += gained.length;
      assert.equal(lost.length, gained.length, `flock ${flock}`);
      for (const id of gained) assert.equal(id, 'node-6', `flock ${flock} gained old member ${id}: ${old.join(',')} -> ${now.join(',')}`);
      // The old members that stay keep their relative order; the one that leaves is the last.
      const joined = now.includes('node-6');
      assert.deepEqual(
        now.filter((id) => id !== 'node-6'),
        old.slice(0, joined ? replicas - 1 : replicas),
        `flock ${flock}: ${old.join(',')} -> ${now.join(',')}`,
      );
    }
    const fraction = changed / (FLOCKS * replicas);
    assert.ok(fraction >= 0.08 && fraction <= 0.3, `${(fraction * 100).toFixed(1)}% of the assignments changed, expected about 1/6`);
  });

  test('removing a member moves only the flocks it herded', () => {
    const replicas = 3;
    const six = [...FIVE, 'node-6'];
    const before = computeFarmMap(auto(six), { flocks: FLOCKS, replicas });
    const after = computeFarmMap(auto(six.filter((id) => id !== 'node-3')), { flocks: FLOCKS, replicas });
    let moved = 0;
    for (let flock = 0; flock < FLOCKS; flock++) {
      const old = before.herders[flock]!;
      const now = after.herders[flock]!;
      if (!old.includes('node-3')) {
        assert.deepEqual(now, old, `flock ${flock} did not involve node-3 but changed`);
        continue;
      }
      moved++;
      const kept = old.filter((id) => id !== 'node-3');
      assert.deepEqual(now.slice(0, kept.length), kept, `flock ${flock}: ${old.join(',')} -> ${now.join(',')}`);
      assert.equal(now.length, replicas);
      assert.ok(!old.includes(now[replicas - 1]!), `flock ${flock}: the replacement must be a new herder`);
    }
    assert.ok(moved > 0, 'node-3 herded no flock at all');
  });
});

describe('parseFarm', () => {
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  test('parses flocks and inclusive ranges, sorted and distinct', () => {
    assert.deepEqual(parseFarm('0-511,700', FLOCKS), [...range(0, 511), 700]);
    assert.deepEqual(parseFarm('9', FLOCKS), [9]);
    assert.deepEqual(parseFarm('7,3,5', FLOCKS), [3, 5, 7]);
    assert.deepEqual(parseFarm('4-4', FLOCKS), [4]);
  });

  test('ignores spaces around the parts', () => {
    assert.deepEqual(parseFarm(' 3 , 1-2 ,\t7 ', FLOCKS), [1, 2, 3, 7]);
  });

  test('merges duplicates and overlapping ranges', () => {
    assert.deepEqual(parseFarm('5,5,4-6,6-8,8', FLOCKS), [4, 5, 6, 7, 8]);
  });

  test('accepts ranges and flocks up to the last flock', () => {
    assert.deepEqual(parseFarm('1020-1023', FLOCKS), [1020, 1021, 1022, 1023]);
    assert.deepEqual(parseFarm('1023', FLOCKS), [1023]);
    assert.deepEqual(parseFarm('0-15', 16), range(0, 15));
  });

  const errors: ReadonlyArray<readonly [string, RegExp]> = [
    ['', /at least one flock/],
    [' , ', /at least one flock/],
    ['1,,2', /"" is not a flock/],
    ['a', /"a"/],
    ['0,x,2', /"x"/],
    ['5-3', /"5-3".*backwards/],
    ['1--2', /"1--2"/],
    ['-1', /"-1"/],
    ['1.5', /"1.5"/],
    ['1024', /flock 1024 is out of range/],
    ['1000-1024', /flock 1024 is out of range/],
    ['0-511,5000', /flock 5000 is out of range/],
  ];
  for (const [text, message] of errors) {
    test(`refuses ${JSON.stringify(text)} with a message naming the bad part`, () => {
      assert.throws(() => parseFarm(text, FLOCKS), message);
    });
  }
});

describe('formatFarm', () => {
  test('writes runs as ranges and lone flocks alone', () => {
    assert.equal(formatFarm([...Array.from({ length: 512 }, (_, i) => i), 700]), '0-511,700');
    assert.equal(formatFarm([3, 1, 2, 2, 9, 5, 6]), '1-3,5-6,9');
    assert.equal(formatFarm([4]), '4');
    assert.equal(formatFarm([]), '');
  });

  test('parseFarm reads back what formatFarm writes', () => {
    const random = prng(42);
    for (let i = 0; i < 200; i++) {
      const flocks = 1 + Math.floor(random() * 256);
      const count = 1 + Math.floor(random() * flocks);
      const set = Array.from({ length: count }, () => Math.floor(random() * flocks));
      const expected = [...new Set(set)].sort((a, b) => a - b);
      const text = formatFarm(set);
      assert.deepEqual(parseFarm(text, flocks), expected, text);
      assert.equal(formatFarm(parseFarm(text, flocks)), text);
    }
  });
});

describe('computeFarmMap, manual mode', () => {
  const members: FarmMember[] = [
    { nodeId: 'a', herd: true, farm: parseFarm('0-7', 16) },
    { nodeId: 'b', herd: true, farm: parseFarm('4-11', 16) },
    { nodeId: 'c', herd: true, farm: parseFarm('6,9', 16) },
    { nodeId: 'd', herd: true }, // no farm: herds nothing once anyone declares one
    { nodeId: 'app', herd: false },
  ];

  test('the herders of a flock are exactly the members that declare it, ordered by score', () => {
    const map = computeFarmMap(members, { flocks: 16, replicas: 2 });
    assert.equal(map.mode, 'manual');
    for (let flock = 0; flock < 16; flock++) {
      const declaring = members.filter((m) => m.herd && m.farm?.includes(flock) === true).map((m) => m.nodeId);
      const herders = map.herders[flock]!;
      assert.deepEqual([...herders].sort(), declaring.sort(), `flock ${flock}`);
      const scores = herders.map((id) => rendezvousScore(fnv1a32(id), flock));
      for (let i = 1; i < scores.length; i++) assert.ok(scores[i - 1]! >= scores[i]!, `flock ${flock} herders out of order`);
    }
    // The replicas option does not cap a manual farm: flock 6 is declared by three members.
    assert.equal(map.herders[6]!.length, 3);
  });

  test('members without a farm herd nothing and undeclared flocks have no herders', () => {
    const map = computeFarmMap(members, { flocks: 16, replicas: 3 });
    const { byNode, unassigned } = farmSummary(map);
    assert.equal(byNode.get('d'), undefined);
    assert.equal(byNode.get('app'), undefined);
    assert.deepEqual(byNode.get('a'), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(byNode.get('b'), [4, 5, 6, 7, 8, 9, 10, 11]);
    assert.deepEqual(byNode.get('c'), [6, 9]);
    assert.deepEqual(unassigned, [12, 13, 14, 15]);
    for (const flock of unassigned) assert.deepEqual(map.herders[flock], []);
  });

  test('a member that declares an empty farm makes the map manual and herds nothing', () => {
    const map = computeFarmMap([{ nodeId: 'a', herd: true, farm: [] }, { nodeId: 'b', herd: true }], { flocks: 8, replicas: 3 });
    assert.equal(map.mode, 'manual');
    assert.deepEqual(farmSummary(map).unassigned, [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  test('member order does not change a manual map', () => {
    const random = prng(3);
    const reference = computeFarmMap(members, { flocks: 16, replicas: 3 });
    for (let i = 0; i < 5; i++) assert.deepEqual(computeFarmMap(shuffled(members, random), { flocks: 16, replicas: 3 }), reference);
  });
});

describe('farmSummary', () => {
  test('lists the flocks of each node in order and the flocks without herders', () => {
    const map: FarmMap = { mode: 'manual', flocks: 4, herders: [['x', 'y'], [], ['y'], []] };
    const { byNode, unassigned } = farmSummary(map);
    assert.deepEqual([...byNode.entries()], [
      ['x', [0]],
      ['y', [0, 2]],
    ]);
    assert.deepEqual(unassigned, [1, 3]);
  });
});

describe('rendezvousScore', () => {
  test('is a deterministic 32-bit unsigned score of (node hash, flock)', () => {
    const random = prng(99);
    for (let i = 0; i < 100; i++) {
      const hash = Math.floor(random() * 2 ** 32);
      const flock = Math.floor(random() * FLOCKS);
      const score = rendezvousScore(hash, flock);
      assert.equal(rendezvousScore(hash, flock), score);
      assert.ok(Number.isInteger(score) && score >= 0 && score < 2 ** 32, String(score));
    }
  });

  test('does not change between releases (nodes of different versions must agree on the map)', () => {
    assert.equal(rendezvousScore(0, 0), 3144930883);
    assert.equal(rendezvousScore(0x811c9dc5, 1), 3217926909);
    assert.equal(rendezvousScore(123456789, 1023), 3354955172);
  });

  test('depends on both the node and the flock', () => {
    const scores = new Set<number>();
    for (let flock = 0; flock < 64; flock++) scores.add(rendezvousScore(fnv1a32('node-1'), flock));
    for (let n = 0; n < 64; n++) scores.add(rendezvousScore(fnv1a32(`node-${n + 2}`), 0));
    assert.ok(scores.size >= 120, `only ${scores.size} distinct scores of 128`);
  });
});
