// What a drop on the page brings: files, or a folder (a downloaded model's), read through the
// entries the browser gives for the drop (`DataTransferItem.webkitGetAsEntry()`). A folder's
// files and those of the folders inside it, one level down, count; nothing deeper.

/// A model's files by their names (the image files of a drop are anything else).
export const isModelFile = (file) => /\.(safetensors|json)$/i.test(file.name);

/// The drop's entries: taken while the event runs (the browser empties the DataTransfer after).
export function dropEntries(dataTransfer) {
  return [...(dataTransfer?.items ?? [])]
    .filter((item) => item.kind === 'file')
    .map((item) => item.webkitGetAsEntry?.())
    .filter(Boolean);
}

const fileOf = (entry) => new Promise((resolve, reject) => entry.file(resolve, reject));

/// Every entry of a folder: `readEntries` gives them a batch at a time, then an empty batch.
async function folderEntries(folder) {
  const reader = folder.createReader();
  const all = [];
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) return all;
    all.push(...batch);
  }
}

/// The files of dropped `entries`: files as they are, a folder's files, and the files of the
/// folders in it (`depth` levels of folders: the dropped one and one inside it).
export async function filesOfEntries(entries, depth = 2) {
  const files = [];
  for (const entry of entries) {
    if (entry.isFile) files.push(await fileOf(entry));
    else if (entry.isDirectory && depth > 0) files.push(...await filesOfEntries(await folderEntries(entry), depth - 1));
  }
  return files;
}
