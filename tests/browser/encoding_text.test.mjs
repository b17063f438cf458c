// Unit tests (node --test) of how the pages word renditions still being made and rough
// estimates: services/api/static/encoding.js and time.js, which touch no DOM when imported.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodingText } from '../../services/api/static/encoding.js';
import { roughly } from '../../services/api/static/time.js';

test('renditions with an estimate', () => {
  assert.equal(encodingText({ renditions: ['480p', '360p'], progress: 0.42, eta_s: 360 }), '480p and 360p in ~6 min');
  assert.equal(encodingText({ renditions: ['480p'], progress: 0.9, eta_s: 50 }), '480p in ~1 min');
  assert.equal(encodingText({ renditions: ['720p', '480p', '360p'], progress: 0.1, eta_s: 3900 }),
    '720p, 480p and 360p in ~1 h 5 min');
});

test('renditions without an estimate show the fraction done', () => {
  assert.equal(encodingText({ renditions: ['480p', '360p'], progress: 0.42, eta_s: null }), '480p and 360p … 42 %');
  assert.equal(encodingText({ renditions: ['480p'], progress: 0.004 }), '480p … 0 %');
  assert.equal(encodingText({ renditions: [], progress: 1, eta_s: null }), 'More qualities … 100 %');
});

test('rough estimates, to the minute', () => {
  assert.equal(roughly(0), '< 1 min');
  assert.equal(roughly(44), '< 1 min');
  assert.equal(roughly(45), '~1 min');
  assert.equal(roughly(89), '~1 min');
  assert.equal(roughly(90), '~2 min');
  assert.equal(roughly(360), '~6 min');
  assert.equal(roughly(3569), '~59 min');
  assert.equal(roughly(3600), '~1 h');
  assert.equal(roughly(7 * 24 * 3600), '~168 h');
  assert.equal(roughly(Number.NaN), '…');
});
