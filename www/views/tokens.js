// The LLM's input as one strip: 196 image tokens (each showing its patch) then the text tokens
// (each showing its text piece). Hovering a token reports its position.

export class TokenStrip {
  constructor(el, { grid = 14, patch = 16, onHover }) {
    this.el = el;
    this.grid = grid;
    this.patch = patch;
    this.onHover = onHover;
    this.highlighted = null;
  }

  render(sequence, imageUrl) {
    this.el.replaceChildren();
    let textIndex = 0;
    const scale = 1.5;
    sequence.kinds.forEach((kind, pos) => {
      const cell = document.createElement('span');
      cell.dataset.kind = kind;
      cell.dataset.pos = pos;
      if (kind === 'image') {
        cell.className = 'tok tok-image';
        cell.title = `image token ${pos}`;
        const x = (pos % this.grid) * this.patch * scale;
        const y = Math.floor(pos / this.grid) * this.patch * scale;
        cell.style.backgroundImage = `url(${imageUrl})`;
        cell.style.backgroundSize = `${this.grid * this.patch * scale}px`;
        cell.style.backgroundPosition = `-${x}px -${y}px`;
      } else {
        cell.className = 'tok tok-text';
        cell.textContent = sequence.pieces[textIndex].replace(/ /g, '␣');
        cell.title = `text token ${textIndex}, id ${sequence.text_ids[textIndex]}`;
        cell.dataset.textIndex = textIndex++;
      }
      cell.addEventListener('pointerenter', () => this.onHover(pos));
      cell.addEventListener('pointerleave', () => this.onHover(-1));
      this.el.append(cell);
    });
  }

  highlight(pos) {
    this.highlighted?.classList.remove('active');
    this.highlighted = pos >= 0 ? this.el.children[pos] ?? null : null;
    this.highlighted?.classList.add('active');
    // Scroll the strip itself, never the page: hovering a patch must not move the image
    // away from under the pointer when the strip is below the fold.
    if (this.highlighted) {
      const cell = this.highlighted.getBoundingClientRect();
      const strip = this.el.getBoundingClientRect();
      if (cell.left < strip.left) this.el.scrollLeft -= strip.left - cell.left;
      else if (cell.right > strip.right) this.el.scrollLeft += cell.right - strip.right;
    }
  }
}
