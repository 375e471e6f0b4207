/**
 * examples/client-script/client.ts against a running three-node cluster of
 * real `grex start` processes: it prints each customer's results and the
 * node that ran them, which is the active node the cluster reports, and a
 * second run continues where the first left off.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runExample } from '../helpers/examples.js';
import { requestJson } from '../helpers/http.js';
import { startProcessCluster } from '../helpers/process-cluster.js';
import { suiteContext } from '../helpers/suite.js';

const SCRIPT = 'examples/client-script/client.ts';

interface Line {
  customer: string;
  visits: number;
  contacts: number;
  activeNode: string;
}

function parse(stdout: string): { ran: Line[]; next: Map<string, string> } {
  const ran: Line[] = [];
  const next = new Map<string, string>();
  for (const line of stdout.trim().split('\n')) {
    const result = /^(\S+): visits=(\d+) contacts=(\d+) activeNode=(\S+)$/.exec(line);
    const target = /^(\S+): next job goes to (\S+)$/.exec(line);
    if (result !== null) ran.push({ customer: result[1]!, visits: Number(result[2]), contacts: Number(result[3]), activeNode: result[4]! });
    else if (target !== null) next.set(target[1]!, target[2]!);
    else assert.fail(`unexpected output line: ${line}`);
  }
  return { ran, next };
}

describe('examples/client-script against a running cluster', () => {
  const t = suiteContext();

  test('reports each customer with the active node that ran its jobs; a second run continues the counts', async () => {
    const nodes = await startProcessCluster(t, ['ca', 'cb', 'cc']);
    const seeds = [nodes[1]!.url, nodes[2]!.url];

    const first = await runExample(SCRIPT, seeds);
    assert.equal(first.code, 0, first.stderr);
    const { ran, next } = parse(first.stdout);
    assert.deepEqual(ran.map((l) => l.customer), ['johndoe', 'janedoe', 'acme']);
    for (const line of ran) {
      assert.equal(line.visits, 1);
      assert.equal(line.contacts, 1);
      const route = (await requestJson(`${nodes[0]!.url}/route/${line.customer}`)).body as { activeNode: string };
      assert.equal(line.activeNode, route.activeNode);
      assert.equal(next.get(line.customer), route.activeNode, 'the client goes straight to the active node next time');
    }

    const second = await runExample(SCRIPT, [nodes[0]!.url]);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(
      parse(second.stdout).ran.map((l) => [l.customer, l.visits, l.contacts]),
      [
        ['johndoe', 2, 2],
        ['janedoe', 2, 2],
        ['acme', 2, 2],
      ],
    );
  });

  test('without node URLs it prints its usage and exits with 2', async () => {
    const run = await runExample(SCRIPT, []);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /usage: client\.ts <node URL>/);
  });
});
