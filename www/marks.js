// The `vlm:` performance marks that the page, its model worker and the client that starts it
// set (bench/page_timeline.mjs prints them by name).

/// A run's mark: one entry per name, the latest run's.
export function mark(name) { performance.clearMarks(name); performance.mark(name); }

/// A start-up milestone: every time it is reached stays on the timeline.
export function milestone(name) { performance.mark(name); }
