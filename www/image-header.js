// What an image file says about itself in its first bytes, read before the browser decodes a
// single pixel: its format, the size it declares, and whether it is complete. A 1 KB PNG can
// declare 50000 x 50000 pixels (10 GB to decode); this is where such a file is refused.
// The same limits as the Rust decoder (src/preprocess.rs).

export const MAX_SIDE = 16384;
export const MAX_PIXELS = 100e6;

const FORMAT_NAMES = { png: 'PNG', jpeg: 'JPEG', gif: 'GIF', webp: 'WebP', bmp: 'BMP', avif: 'AVIF', heic: 'HEIC', svg: 'SVG' };
/// Formats the wasm decoder reads when the browser cannot.
export const WASM_FORMATS = new Set(['png', 'jpeg', 'gif', 'webp', 'bmp']);

const u16be = (b, i) => (b[i] << 8) | b[i + 1];
const u16le = (b, i) => b[i] | (b[i + 1] << 8);
const u24le = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
const u32be = (b, i) => ((b[i] << 24) >>> 0) + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
const i32le = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
const ascii = (b, i, n) => String.fromCharCode(...b.subarray(i, i + n));
const startsWith = (b, bytes) => bytes.every((x, i) => b[i] === x);

function lastIndexOfPair(b, x, y) {
  for (let i = b.length - 2; i >= 0; i--) if (b[i] === x && b[i + 1] === y) return i;
  return -1;
}

function indexOfAscii(b, text, limit = b.length) {
  const codes = [...text].map((c) => c.charCodeAt(0));
  const end = Math.min(b.length, limit) - codes.length;
  for (let i = 0; i <= end; i++) if (codes.every((c, k) => b[i + k] === c)) return i;
  return -1;
}

/// A JPEG's size from its first SOF marker; complete when its EOI (FF D9) follows its last scan
/// (FF DA): entropy-coded data never holds FF D9, so an earlier EOI is a thumbnail's.
function jpeg(b) {
  let width = 0;
  let height = 0;
  for (let i = 2; i + 9 < b.length;) {
    if (b[i] !== 0xff) break;
    const marker = b[i + 1];
    if (marker === 0xff) { i += 1; continue; }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { i += 2; continue; }
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      height = u16be(b, i + 5);
      width = u16be(b, i + 7);
      break;
    }
    if (marker === 0xda) break;
    i += 2 + u16be(b, i + 2);
  }
  const scan = lastIndexOfPair(b, 0xff, 0xda);
  const end = lastIndexOfPair(b, 0xff, 0xd9);
  return { format: 'jpeg', width, height, complete: scan < 0 || end > scan };
}

function webp(b) {
  const chunk = ascii(b, 12, 4);
  if (chunk === 'VP8 ') return { format: 'webp', width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff };
  if (chunk === 'VP8L') {
    return {
      format: 'webp',
      width: 1 + (b[21] | ((b[22] & 0x3f) << 8)),
      height: 1 + ((b[22] >> 6) | (b[23] << 2) | ((b[24] & 0x0f) << 10)),
    };
  }
  if (chunk === 'VP8X') return { format: 'webp', width: 1 + u24le(b, 24), height: 1 + u24le(b, 27) };
  return { format: 'webp', width: 0, height: 0 };
}

/// HEIF containers (HEIC, AVIF): the brand says which; the `ispe` box holds the size.
function heif(b) {
  const brands = [];
  const boxSize = u32be(b, 0);
  for (let i = 8; i + 4 <= Math.min(boxSize, b.length); i += 4) if (i !== 12) brands.push(ascii(b, i, 4));
  const format = brands.some((x) => x === 'avif' || x === 'avis') ? 'avif' : 'heic';
  // One `ispe` per image item (tiles and thumbnails included): the largest is the picture.
  let width = 0;
  let height = 0;
  for (let at = indexOfAscii(b, 'ispe', 65536); at >= 0 && at + 16 <= b.length;) {
    width = Math.max(width, u32be(b, at + 8));
    height = Math.max(height, u32be(b, at + 12));
    const next = indexOfAscii(b.subarray(at + 4), 'ispe', 65536);
    at = next < 0 ? -1 : at + 4 + next;
  }
  return { format, width, height };
}

function looksLikeText(b) {
  const head = b.subarray(0, 1024);
  if (head.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head.length < b.length ? head.subarray(0, head.length - 4) : head);
    return true;
  } catch {
    return false;
  }
}

/// `{ format, width, height, complete }` from a file's first bytes; `format` is one of the image
/// formats above, or `pdf`, `zip`, `text`, `empty`, `unknown`. Width and height are 0 when the
/// header does not hold them (SVG, or a header cut short).
export function sniff(b) {
  const info = (format, width = 0, height = 0, complete = true) => ({ format, width, height, complete });
  if (b.length === 0) return info('empty');
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) {
    const complete = indexOfAscii(b.subarray(Math.max(0, b.length - 64)), 'IEND') >= 0;
    return b.length >= 24 ? info('png', u32be(b, 16), u32be(b, 20), complete) : info('png', 0, 0, false);
  }
  if (startsWith(b, [0xff, 0xd8, 0xff])) return jpeg(b);
  if (ascii(b, 0, 4) === 'GIF8') return info('gif', u16le(b, 6), u16le(b, 8));
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return { ...webp(b), complete: true };
  if (ascii(b, 0, 2) === 'BM' && b.length >= 26) return info('bmp', i32le(b, 18), Math.abs(i32le(b, 22)));
  if (ascii(b, 4, 4) === 'ftyp') return { ...heif(b), complete: true };
  if (ascii(b, 0, 4) === '%PDF') return info('pdf');
  if (startsWith(b, [0x50, 0x4b, 0x03, 0x04])) return info('zip');
  if (looksLikeText(b)) {
    const head = new TextDecoder().decode(b.subarray(0, 4096));
    return info(/<svg[\s>]/i.test(head) ? 'svg' : 'text');
  }
  return info('unknown');
}

export const formatName = (format) => FORMAT_NAMES[format] ?? format;

/// Refuses, with a message naming the file and saying what to do, anything the page must not
/// hand to a decoder. Returns the sniffed header otherwise.
export function checkImage(bytes, name) {
  const info = sniff(bytes);
  const refuse = (why) => { throw new Error(`${name}: ${why}`); };
  switch (info.format) {
    case 'empty': refuse('the file is empty (0 bytes): choose the image again, or another one'); break;
    case 'pdf': refuse('this is a PDF document, not an image: export the page as PNG or JPEG first'); break;
    case 'zip': refuse('this is a ZIP archive (or an office document), not an image: take the picture out of it first'); break;
    case 'text': refuse('this file holds text, not an image: choose a PNG, JPEG, GIF, WebP, BMP, AVIF or SVG file'); break;
    case 'unknown': refuse('this is not an image in a format the page reads (PNG, JPEG, GIF, WebP, BMP, AVIF, SVG)'); break;
    default: break;
  }
  const kind = formatName(info.format);
  if (!info.complete) refuse(`the ${kind} file is cut short (truncated: it ends before its pixels do): download or save it again`);
  const { width, height } = info;
  if (width > MAX_SIDE || height > MAX_SIDE || width * height > MAX_PIXELS) {
    refuse(`the image declares ${width}x${height} pixels; the largest accepted is ${MAX_SIDE} pixels a side and `
      + `${MAX_PIXELS / 1e6} million pixels in all: scale it down first`);
  }
  return info;
}
