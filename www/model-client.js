// The one place that owns the model's worker and its messages. Requests get an id; replies and
// stage events with that id go to the request's handler.

export class ModelClient {
  constructor(onCrash) {
    this.handlers = new Map();
    this.nextId = 1;
    this.onCrash = onCrash;
    this.start();
  }

  start() {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.worker.onmessage = ({ data }) => this.handlers.get(data.id)?.(data);
    this.worker.onerror = (e) => {
      e.preventDefault();
      const message = e.message || 'the model worker stopped';
      for (const handler of this.handlers.values()) handler({ type: 'error', message });
      this.handlers.clear();
      this.worker.terminate();
      this.start();
      this.onCrash?.(message);
    };
  }

  /// Sends a request; `onEvent` sees every message for it. Resolves with the final message
  /// (`loaded`, `done`, `visionAttention`), rejects with an Error on `error`.
  request(msg, onEvent = () => {}, finalTypes = ['loaded', 'done', 'visionAttention', 'scene']) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.handlers.set(id, (data) => {
        if (data.type === 'error') {
          this.handlers.delete(id);
          reject(new Error(data.message));
        } else if (finalTypes.includes(data.type)) {
          this.handlers.delete(id);
          resolve(data);
        } else {
          onEvent(data);
        }
      });
      this.worker.postMessage({ ...msg, id });
    });
  }
}
