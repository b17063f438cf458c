// Unit tests (node --test) of the player's time logic: services/api/static/player_time.js.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  chapterAt, linkTime, parseTimeParam, playerChapters, playerStart,
} from '../../services/api/static/player_time.js';

test('deep-link times in every form a link may carry', () => {
  assert.equal(parseTimeParam('3723'), 3723);
  assert.equal(parseTimeParam('90s'), 90);
  assert.equal(parseTimeParam('12.5'), 12.5);
  assert.equal(parseTimeParam('1h2m3s'), 3723);
  assert.equal(parseTimeParam('62m'), 3720);
  assert.equal(parseTimeParam('1H'), 3600);
  assert.equal(parseTimeParam('2m5s'), 125);
  assert.equal(parseTimeParam('1:02:03'), 3723);
  assert.equal(parseTimeParam('12:30'), 750);
  assert.equal(parseTimeParam(' 25 '), 25);
});

test('anything else names no time', () => {
  for (const bad of ['', 'h', 'ms', 'abc', '-5', '1e9', '1m2h', '99:99', '1:2', 'Infinity', 'NaN',
    '9'.repeat(30), '99999999', '1h2m3s4', '0x10', null, undefined, 12]) {
    assert.equal(parseTimeParam(bad), null, String(bad));
  }
});

test('deep links land inside what the player plays', () => {
  assert.equal(playerStart(30, 0, 40), 30);
  assert.equal(playerStart(30, 20, 40), 10);
  assert.equal(playerStart(5, 20, 40), 0);
  assert.equal(playerStart(45, 0, 40), null);
  assert.equal(playerStart(45, 0, NaN), 45);
  assert.equal(playerStart(null, 0, 40), null);
  assert.equal(linkTime(10.9, 20), 30);
  assert.equal(linkTime(-1, 0), 0);
});

test('chapters on the player timeline', () => {
  const chapters = [
    { start_s: 0, title: 'Intro' }, { start_s: 12, title: 'Middle' }, { start_s: 25, title: 'End' },
  ];
  assert.equal(chapterAt(chapters, 0), 0);
  assert.equal(chapterAt(chapters, 11.9), 0);
  assert.equal(chapterAt(chapters, 12), 1);
  assert.equal(chapterAt(chapters, 100), 2);
  assert.equal(chapterAt([], 5), -1);
  assert.deepEqual(playerChapters(chapters, 0, 40).map((c) => c.at), [0, 12, 25]);
  // A window from 15 s to 35 s: the middle chapter starts it, the last at 10 s.
  assert.deepEqual(playerChapters(chapters, 15, 20), [
    { index: 1, title: 'Middle', at: 0 }, { index: 2, title: 'End', at: 10 },
  ]);
  assert.deepEqual(playerChapters(chapters, 0, 20).map((c) => c.index), [0, 1]);
});
