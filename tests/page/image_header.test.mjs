// The page's header check (www/image-header.js) on the bad-input fixtures, in Node: each file's
// format and declared size are read from its first bytes, and what must not be decoded is
// refused with the file's name and what to do.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers.mjs';
import { sniff, checkImage } from '../../www/image-header.js';

const file = (name) => new Uint8Array(readFileSync(path.join(ROOT, 'tests/fixtures/bad_input', name)));

test('formats and declared sizes come from the header alone', () => {
  const expected = {
    'rgb16.png': ['png', 64, 48], 'palette.png': ['png', 64, 48], 'alpha.png': ['png', 64, 48], 'gray.png': ['png', 64, 48],
    'one_pixel.png': ['png', 1, 1], 'wide.png': ['png', 4000, 10], 'bomb.png': ['png', 50000, 50000],
    'cmyk.jpg': ['jpeg', 64, 48], 'progressive.jpg': ['jpeg', 64, 48], 'exif_rotated.jpg': ['jpeg', 48, 64],
    'animated.gif': ['gif', 64, 48], 'photo.avif': ['avif', 64, 48], 'photo.heic': ['heic', 64, 64],
    // The HEIC encoder codes 64x64 (its smallest block) and crops to 64x48 on display.
    'drawing.svg': ['svg', 0, 0], 'document.png': ['pdf', 0, 0], 'notes.png': ['text', 0, 0], 'empty.png': ['empty', 0, 0],
  };
  for (const [name, [format, width, height]] of Object.entries(expected)) {
    const info = sniff(file(name));
    assert.deepEqual([info.format, info.width, info.height], [format, width, height], name);
  }
  // A lossless WebP header for 64x48, written by hand: 14 bits of width - 1, then of height - 1.
  const vp8l = Uint8Array.from([...Buffer.from('RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f', 'latin1'), 0x3f, 0xc0, 0x0b, 0x00]);
  assert.deepEqual(sniff(vp8l), { format: 'webp', width: 64, height: 48, complete: true });
});

test('a cut-short PNG or JPEG is found without decoding it', () => {
  assert.equal(sniff(file('truncated.png')).complete, false);
  assert.equal(sniff(file('truncated.jpg')).complete, false);
  for (const name of ['rgb16.png', 'cmyk.jpg', 'progressive.jpg', 'exif_rotated.jpg']) assert.equal(sniff(file(name)).complete, true, name);
});

test('what must not be decoded is refused with the file name and what to do', () => {
  const refusals = {
    'empty.png': /^empty\.png: the file is empty \(0 bytes\)/,
    'truncated.png': /^truncated\.png: the PNG file is cut short .*download or save it again/,
    'truncated.jpg': /^truncated\.jpg: the JPEG file is cut short/,
    'notes.png': /^notes\.png: this file holds text, not an image/,
    'document.png': /^document\.png: this is a PDF document, not an image: export the page as PNG or JPEG/,
    'bomb.png': /^bomb\.png: the image declares 50000x50000 pixels; the largest accepted is 16384 .* scale it down first/,
  };
  for (const [name, pattern] of Object.entries(refusals)) {
    assert.throws(() => checkImage(file(name), name), { message: pattern }, name);
  }
  assert.throws(() => checkImage(Uint8Array.from([0, 1, 2, 250, 251]), 'x.bin'), { message: /^x\.bin: this is not an image in a format the page reads/ });
  for (const name of ['rgb16.png', 'wide.png', 'photo.heic', 'photo.avif', 'drawing.svg']) assert.doesNotThrow(() => checkImage(file(name), name));
});
