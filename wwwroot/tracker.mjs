// ES module entry of the tracker: tracker.js is a plain script (no build step) that installs the global
// SessionTracker; importing it for its side effect and re-exporting the global keeps one implementation.
import './tracker.js';

export const SessionTracker = globalThis.SessionTracker;
export default SessionTracker;
