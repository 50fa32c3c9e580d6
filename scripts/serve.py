"""Serves the repository root as static files on 127.0.0.1, for the page and its tests.

Sends the headers the page relies on: the wasm MIME type, no caching (a rebuilt pkg/ is always
the one loaded), COOP/COEP so the page is cross-origin isolated (needed by wasm threads; left out
with --no-isolation), and the Content-Security-Policy. Answers byte ranges (`Range: bytes=a-b`),
so the page reads a large model file a tensor at a time.

--model DIR serves a downloaded model folder (config.json, model.safetensors, tokenizer.json) at
/local-model/, with /local-model/manifest.json naming its files: the page opens with that model.
Without it /local-model/manifest.json is `null`.
"""
import argparse
import functools
import http.server
import json
import os
import re

LOCAL_MODEL = "/local-model/"
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")


# worker-src allows blob: for the threaded build's pool: wasm-bindgen-rayon starts each of its
# workers from a blob of its own (same-origin) script.
CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; style-src 'self'; "
    "img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'"
)


class Handler(http.server.SimpleHTTPRequestHandler):
    isolated = True
    # The folder --model serves at LOCAL_MODEL, or None.
    model_dir = None
    # The byte range asked for, (start, end inclusive), while a ranged response is sent.
    byte_range = None
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".json": "application/json",
    }

    def end_headers(self):
        # The page's policy (index.html says the same) also reaches the worker, whose script
        # takes its policy from its own response: code from this origin only, wasm allowed,
        # no eval, and no connection anywhere else.
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Cache-Control", "no-store")
        if self.isolated:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        super().end_headers()

    def translate_path(self, path):
        if self.model_dir and path.split("?", 1)[0].startswith(LOCAL_MODEL):
            name = path.split("?", 1)[0][len(LOCAL_MODEL):]
            return os.path.join(self.model_dir, name) if name in MODEL_FILES else os.path.join(self.model_dir, "\0missing")
        return super().translate_path(path)

    def do_GET(self):
        if self.path.split("?", 1)[0] == LOCAL_MODEL + "manifest.json":
            # Without --model: `null`, so the page, which always asks, opens with its own model
            # and logs no failed request.
            manifest = None
            if self.model_dir:
                files = {name: name for name in MODEL_FILES if os.path.isfile(os.path.join(self.model_dir, name))}
                manifest = {"name": os.path.basename(os.path.normpath(self.model_dir)), "files": files}
            body = json.dumps(manifest).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def send_head(self):
        # A single byte range of a file: 206 with that part only.
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = self.translate_path(self.path)
        if not match or not os.path.isfile(path):
            self.byte_range = None
            return super().send_head()
        size = os.path.getsize(path)
        start = int(match.group(1))
        end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
        if start > end:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        source = open(path, "rb")
        self.byte_range = (start, end)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return source

    def copyfile(self, source, outputfile):
        # The kernel copies the file to the socket (sendfile), not Python in 64 KB pieces: the
        # page asks for its scripts, the wasm module and the model at once, and the small
        # scripts no longer wait for the interpreter behind the big files.
        try:
            if self.byte_range:
                start, end = self.byte_range
                self.connection.sendfile(source, start, end - start + 1)
            else:
                self.connection.sendfile(source)
        except (BrokenPipeError, ConnectionResetError):
            # The browser went away mid-file (a reload, a closed tab): nothing is lost, and no
            # traceback is worth printing.
            self.close_connection = True

    def log_message(self, fmt, *args):
        if os.environ.get("VLM_SERVE_QUIET") != "1":
            super().log_message(fmt, *args)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    parser.add_argument("--no-isolation", action="store_true",
                        help="leave out COOP/COEP: the page is not cross-origin isolated and runs on one thread")
    parser.add_argument("--model", metavar="DIR",
                        help="a downloaded model folder (config.json, model.safetensors, tokenizer.json): the page opens with it")
    args = parser.parse_args()
    Handler.isolated = not args.no_isolation
    if args.model:
        missing = [n for n in MODEL_FILES if not os.path.isfile(os.path.join(args.model, n))]
        if missing:
            parser.error(f"--model {args.model}: no {', '.join(missing)} there (a model folder holds {', '.join(MODEL_FILES)})")
        Handler.model_dir = os.path.abspath(args.model)
    handler = functools.partial(Handler, directory=os.path.abspath(args.root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    served = f" with the model in {Handler.model_dir}" if Handler.model_dir else ""
    print(f"VLM Explainer: http://127.0.0.1:{server.server_address[1]}/{served}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
