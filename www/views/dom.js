// What the panels share to reach and fill their elements.

export const $ = (id) => document.getElementById(id);

export const range = (n) => [...Array(n).keys()];

/// Replaces a select's options with `[value, text]` pairs, keeping its value where it is still
/// one of them.
export function fillSelect(select, options) {
  const previous = select.value;
  select.replaceChildren(...options.map(([value, text]) => {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = text;
    return o;
  }));
  if ([...select.options].some((o) => o.value === previous)) select.value = previous;
}
