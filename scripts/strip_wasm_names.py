"""Moves a wasm module's `name` section (function names, for stack traces and profilers) out of
the module the page downloads: MODULE keeps every other section, MODULE's `.names.wasm` sibling
is the module as built, names included (bench/wasm_size.mjs reads it to size the code by crate).

    python3 scripts/strip_wasm_names.py pkg/vlm_explainer_bg.wasm
"""
import os
import sys


def leb(data, at):
    value, shift = 0, 0
    while True:
        b = data[at]
        at += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, at


def without_names(data):
    if data[:4] != b"\0asm":
        raise ValueError("not a wasm module")
    out, at = bytearray(data[:8]), 8
    while at < len(data):
        start = at
        section = data[at]
        size, body = leb(data, at + 1)
        at = body + size
        if section == 0:
            name_len, name_at = leb(data, body)
            if data[name_at:name_at + name_len] == b"name":
                continue
        out += data[start:at]
    return bytes(out)


def main(path):
    with open(path, "rb") as f:
        data = f.read()
    stripped = without_names(data)
    if len(stripped) == len(data):
        return
    named = path[: -len(".wasm")] + ".names.wasm"
    with open(named, "wb") as f:
        f.write(data)
    with open(path + ".tmp", "wb") as f:
        f.write(stripped)
    os.replace(path + ".tmp", path)
    print(f"[build] {path}: name section moved to {os.path.basename(named)} ({(len(data) - len(stripped)) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main(sys.argv[1])
