// SPDX-License-Identifier: Apache-2.0
// docs/scheme.md must carry the test vectors the independent implementation
// computes from tests/fixtures today: a changed scheme or fixture fails here
// until the documentation is regenerated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { vectors } from '../independent/p2pcp-scheme.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const doc = readFileSync(`${root}/docs/scheme.md`, 'utf8');
const computed = vectors(`${root}/tests/fixtures`);

test('every fixed point is in docs/scheme.md', () => {
  for (const [curve, { point }] of Object.entries(computed.fixedPoints)) {
    assert.ok(doc.includes(point), `${curve} point`);
  }
});

for (const key of computed.keys) {
  test(`every vector of ${key.fixture} is in docs/scheme.md`, () => {
    for (const [name, value] of Object.entries(key)) {
      if (['fixture', 'type', 'spki'].includes(name)) continue;
      assert.ok(doc.includes(value), `${key.fixture} ${name}`);
    }
  });
}
