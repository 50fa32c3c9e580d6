#!/usr/bin/env python3
"""Train the small byte-level BPE tokenizer used by the small nanoVLM fixture.

The real nanoVLM checkpoint uses the SmolLM2 tokenizer (49152 tokens), which
cannot be fetched here. This script trains a stand-in with the same pipeline
settings (see tests/reference/README.md): no normalizer, pre-tokenizer
Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False,
trim_offsets=True, use_regex=True)], ByteLevel post-processor and decoder, no
unk token, and the 17 SmolLM2 special tokens at ids 0..16.

The corpus is built from files every CPython 3.11 install has (the source of a
fixed list of standard-library modules: code, plus the English prose of their
docstrings and comments) and a few lines of Chinese text and emoji written
here, so a rerun with the pinned `tokenizers` gives the same file.

    python tests/reference/small_tokenizer.py --out tests/fixtures/nanovlm/small/tokenizer.json
"""
import argparse
import os
import sys
import sysconfig

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

# SmolLM2 / cosmo2 special tokens, in id order (ids 0..16).
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<repo_name>",
    "<reponame>",
    "<file_sep>",
    "<filename>",
    "<gh_stars>",
    "<issue_start>",
    "<issue_comment>",
    "<issue_closed>",
    "<jupyter_start>",
    "<jupyter_text>",
    "<jupyter_code>",
    "<jupyter_output>",
    "<jupyter_script>",
    "<empty_output>",
]

# Standard-library modules whose source makes up the English + code corpus.
STDLIB_MODULES = [
    "abc.py", "argparse.py", "base64.py", "bisect.py", "calendar.py", "cmd.py",
    "colorsys.py", "csv.py", "dataclasses.py", "datetime.py", "difflib.py",
    "enum.py", "fractions.py", "functools.py", "getopt.py", "gettext.py",
    "glob.py", "heapq.py", "hmac.py", "imghdr.py", "inspect.py", "ipaddress.py",
    "keyword.py", "locale.py", "numbers.py", "operator.py", "optparse.py",
    "pathlib.py", "pprint.py", "queue.py", "random.py", "sched.py",
    "secrets.py", "shlex.py", "shutil.py", "statistics.py", "string.py",
    "textwrap.py", "threading.py", "timeit.py", "tokenize.py", "turtle.py",
    "typing.py", "uuid.py", "wave.py", "weakref.py", "zipfile.py",
]

# A little Chinese prose (written for this corpus) and emoji, so multi-byte
# UTF-8 sequences get some merges too.
EXTRA_LINES = [
    "这是一只猫。它坐在窗边，看着外面的小鸟。",
    "今天天气很好，我们去公园散步吧。",
    "图像被切成小块，每一块变成一个向量。",
    "语言模型根据前面的词预测下一个词。",
    "注意力机制告诉我们模型在看图片的哪个部分。",
    "请回答问题：这是什么？答案：一只猫。",
    "我喜欢喝咖啡，也喜欢喝茶。",
    "学习需要时间，也需要耐心。",
    "Question: What is this? Answer: a cat 🐱",
    "Question: What color is the cup? Answer: white ☕",
    "Emoji: 😀 😃 😄 😁 😆 🙂 🎉 👍 🐱 🐶 ☕ 🌧️ 🌈 ❤️",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 224 196 49 576 2024 3.14159 1e-5",
]


def stdlib_dir():
    return sysconfig.get_paths()["stdlib"]


def corpus_lines():
    root = stdlib_dir()
    for name in STDLIB_MODULES:
        path = os.path.join(root, name)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                if line.strip():
                    yield line
    for _ in range(120):
        for line in EXTRA_LINES:
            yield line


def build(vocab_size):
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    return tok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab-size", type=int, default=1024)
    args = ap.parse_args()
    tok = build(args.vocab_size)
    for i, t in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(t) == i, (t, tok.token_to_id(t))
    assert tok.get_vocab_size() == args.vocab_size, tok.get_vocab_size()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tok.save(args.out, pretty=False)
    print(f"wrote {args.out}: {tok.get_vocab_size()} tokens "
          f"(python {sys.version.split()[0]}, stdlib {stdlib_dir()})")


if __name__ == "__main__":
    main()
