// React hooks with the guide's signatures, on top of the dependency-free tracker. React is a peer dependency.
import { useCallback, useEffect, useRef, useState } from 'react';
import { SessionTracker } from '../tracker.mjs';

// One session per (user, model group, experiment) and page: React StrictMode runs effects twice in
// development, and a second mount must not start a second session.
const starts = new Map();

function startOnce(userId, modelGroup, experimentId, endpoint) {
  const key = JSON.stringify([userId, modelGroup, experimentId, endpoint]);
  let promise = starts.get(key);
  if (!promise) {
    promise = SessionTracker.createSession({ userId, modelGroup, experimentId, endpoint });
    starts.set(key, promise);
    promise.catch(() => starts.delete(key)); // a later mount may try again
  }
  return promise;
}

/**
 * Starts a session (POST /session/start with the detected environment) and returns its id: null until the
 * server has answered. The session ends with the page (the final events and the end travel in one beacon).
 */
export function useSession({ userId, modelGroup, experimentId = 'default', endpoint = '' }) {
  const [sessionId, setSessionId] = useState(null);
  useEffect(() => {
    if (!userId || !modelGroup) return undefined;
    let live = true;
    startOnce(userId, modelGroup, experimentId, endpoint).then(
      (id) => { if (live) setSessionId(id); },
      (error) => { console.warn('[SessionTracker] session start failed', error); });
    return () => { live = false; };
  }, [userId, modelGroup, experimentId, endpoint]);
  return sessionId;
}

/**
 * Captures interactions for the session (the guide's options; the tracker's delivery options pass through)
 * and returns { logEvent }. Events logged before the session id is known are kept and sent once it is.
 */
export function useEventTracking({ sessionId, ...options }) {
  const trackerRef = useRef(null);
  const early = useRef([]);
  const optionsRef = useRef(options);
  optionsRef.current = options;
  // Re-attach when an option's value changes, not on every render's new object (functions compare by presence).
  const optionsKey = JSON.stringify(options, (key, value) => (typeof value === 'function' ? 'fn' : value));

  useEffect(() => {
    if (!sessionId) return undefined;
    const tracker = SessionTracker.attach(sessionId, optionsRef.current);
    trackerRef.current = tracker;
    for (const [type, data] of early.current.splice(0)) tracker.logEvent(type, data);
    return () => {
      // Unmount stops capturing; queued events are still delivered, and the page's end closes the session.
      tracker.stopCapture();
      if (trackerRef.current === tracker) trackerRef.current = null;
    };
  }, [sessionId, optionsKey]);

  const logEvent = useCallback((type, data = {}) => {
    const tracker = trackerRef.current ?? (sessionId ? SessionTracker.get(sessionId) : null);
    if (tracker) return tracker.logEvent(type, data);
    early.current.push([type, data]);
    return true;
  }, [sessionId]);

  return { logEvent };
}
