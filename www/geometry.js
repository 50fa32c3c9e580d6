// The grid the page draws by, read from the loaded model's config.json: the square image the
// model sees, its patches, whether the vision encoder puts a CLS token in front of them, and the
// image tokens the LLM reads. Today's models make one image token per patch; a pixel-shuffle
// projector (`projector.kind` "pixel_shuffle", nanoVLM's) makes one of each `factor` x `factor`
// block of neighbouring patches: token (r, c) of the (side / factor)-sided grid covers patches
// (factor r + dr, factor c + dc).
//
// Indices: patches and image tokens are numbered row by row from the top left.

/// A tensor's shape as the page prints it: `(1, 196, 192)`.
export const shapeText = (dims) => `(${dims.join(', ')})`;

export function geometry(config) {
  const { image_size: imageSize, patch_size: patchSize } = config.vision;
  // Patches per side, and in all.
  const side = imageSize / patchSize;
  const patches = side * side;
  // A CLS token before the patches (CLIP's): absent from config.json means there is one.
  const cls = config.vision.cls_token ?? true;
  // Patches per side of one image token.
  const factor = config.projector.kind === 'pixel_shuffle' ? config.projector.factor ?? 1 : 1;
  const tokenSide = side / factor;
  const imageTokens = tokenSide * tokenSide;

  const rowCol = (patch) => [Math.floor(patch / side), patch % side];
  return {
    imageSize, patchSize, side, patches, cls, factor, tokenSide, imageTokens,
    /// The side in pixels of the region one image token covers.
    tokenPixels: factor * patchSize,
    /// The normalised input tensor's shape.
    inputShape: [1, 3, imageSize, imageSize],
    /// The patch at the middle of the image (asked about when there is no CLS token and no
    /// patch under the pointer).
    centrePatch: Math.floor(side / 2) * side + Math.floor(side / 2),
    rowCol,
    /// The image token a patch belongs to.
    tokenOfPatch(patch) {
      const [r, c] = rowCol(patch);
      return Math.floor(r / factor) * tokenSide + Math.floor(c / factor);
    },
    /// The top-left patch of an image token's block.
    firstPatchOf(token) {
      const r = Math.floor(token / tokenSide);
      const c = token % tokenSide;
      return r * factor * side + c * factor;
    },
    /// Every patch of an image token's block, row by row.
    patchesOf(token) {
      const first = this.firstPatchOf(token);
      const out = [];
      for (let dr = 0; dr < factor; dr++) for (let dc = 0; dc < factor; dc++) out.push(first + dr * side + dc);
      return out;
    },
    /// The vision encoder's query position of a patch (-1: the CLS token, where there is one).
    queryOf(patch) { return cls ? patch + 1 : patch; },
    /// One row of vision attention (`1 + patches` weights with a CLS token first, `patches`
    /// without) as the patches' weights alone.
    patchWeights(row) { return row.slice(row.length - patches); },
  };
}
