"""Serves the repository root as static files on 127.0.0.1, for the page and its tests.

Sends the headers the page relies on: the wasm MIME type, no caching (a rebuilt pkg/ is always
the one loaded), COOP/COEP so the page is cross-origin isolated (needed by wasm threads; left out
with --no-isolation), and the Content-Security-Policy.
"""
import argparse
import functools
import http.server
import os


# worker-src allows blob: for the threaded build's pool: wasm-bindgen-rayon starts each of its
# workers from a blob of its own (same-origin) script.
CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; style-src 'self'; "
    "img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'"
)


class Handler(http.server.SimpleHTTPRequestHandler):
    isolated = True
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

    def copyfile(self, source, outputfile):
        # The kernel copies the file to the socket (sendfile), not Python in 64 KB pieces: the
        # page asks for its scripts, the wasm module and the model at once, and the small
        # scripts no longer wait for the interpreter behind the big files.
        try:
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
    args = parser.parse_args()
    Handler.isolated = not args.no_isolation
    handler = functools.partial(Handler, directory=os.path.abspath(args.root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    print(f"VLM Explainer: http://127.0.0.1:{server.server_address[1]}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
