/*!
 * Orleans.SessionTracking browser tracker — dependency-free, no build step.
 *
 *   <script src="/tracker.js"></script>                        -> global SessionTracker
 *   import { SessionTracker } from '/tracker.mjs'              -> ES module (re-exports this file)
 *   const { SessionTracker } = require('orleans-session-tracking') -> CommonJS / bundlers
 *
 *   const tracker = await SessionTracker.start({ userId: 'u1', modelGroup: 'gpt-4' });
 *   tracker.logEvent('feedback', { feedback: 'up' });
 *
 * Delivery contract (docs/tracker.md): every event gets a client id `<tracker instance>-<sequence>` that the
 * server deduplicates, so any resend (retry, beacon after a fetch, reload of the offline queue) is harmless.
 * The final events and the end of the session travel in ONE request (`{"events": [...], "end": true}`), because
 * two separate beacons arrive in any order and events that arrive after the end are refused (409).
 */
(function (root, factory) {
  'use strict';
  var api = factory(root);
  if (typeof module === 'object' && module && module.exports) {
    module.exports = api;
    module.exports.SessionTracker = api;
    module.exports.default = api;
  }
  if (root) {
    root.SessionTracker = api;
  }
})(typeof globalThis !== 'undefined' ? globalThis : typeof window !== 'undefined' ? window : this, function (root) {
  'use strict';

  var VERSION = '1.0.0';
  var STORAGE_PREFIX = 'sessiontracker:';
  var TYPE_PATTERN = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/;

  /** The guide's options (first block) and the delivery/privacy knobs this tracker adds. */
  var DEFAULTS = {
    endpoint: '',                 // base URL of the gateway; '' = same origin
    trackScroll: true,
    trackClicks: true,
    trackHover: false,
    trackSelection: true,         // selection and copy
    trackActivity: true,
    trackKeys: true,
    trackNavigation: true,        // initial page + SPA history changes
    trackErrors: true,
    scrollThrottle: 500,          // ms between scroll events
    activityIdleTimeout: 30000,   // ms without input before "idle"
    hoverDelay: 500,              // ms the pointer must rest on an element before a hover event
    maxTextLength: 500,           // selected/copied/error text is cut to this many characters
    ignoreAttribute: 'data-st-ignore', // no events from elements inside a subtree carrying this attribute
    respectDoNotTrack: false,     // true: Do-Not-Track / Global Privacy Control turn the tracker off
    batchSize: 25,                // events per request (a full batch is sent at once)
    flushInterval: 2000,          // ms an event may wait for its batch
    maxBatchBytes: 60000,         // bytes per request (beacons must stay under 64 KB)
    retryBaseDelay: 500,          // first retry delay, doubled per failure, with jitter
    retryMaxDelay: 30000,         // longest retry delay (a larger Retry-After is still honoured)
    maxQueueSize: 1000,           // unsent events kept (memory and localStorage); oldest dropped beyond
    persist: true,                // keep unsent events in localStorage (offline, crash, reload)
    orphanAge: 600000,            // ms after which another page's unsent queue counts as abandoned
    onError: null                 // function (error) called on delivery problems (default: console.warn)
  };

  var registry = {}; // sessionId -> Tracker of this page

  function assign(target) {
    for (var i = 1; i < arguments.length; i++) {
      var source = arguments[i];
      if (source) {
        for (var key in source) {
          if (Object.prototype.hasOwnProperty.call(source, key) && source[key] !== undefined) {
            target[key] = source[key];
          }
        }
      }
    }
    return target;
  }

  function now() {
    return Date.now();
  }

  function randomId() {
    var c = root.crypto;
    if (c && c.getRandomValues) {
      var bytes = new Uint8Array(6);
      c.getRandomValues(bytes);
      var s = '';
      for (var i = 0; i < bytes.length; i++) {
        s += (bytes[i] + 256).toString(16).slice(1);
      }
      return s;
    }
    return Math.random().toString(16).slice(2, 14);
  }

  function cut(text, max) {
    text = String(text == null ? '' : text);
    return text.length > max ? text.slice(0, max) : text;
  }

  var encoder = root.TextEncoder ? new root.TextEncoder() : null;

  function jsonLength(value) {
    // UTF-8 bytes of the JSON; without TextEncoder every character counts as 3 (an upper bound).
    var s = JSON.stringify(value);
    return encoder ? encoder.encode(s).length : s.length * 3;
  }

  function storage() {
    try {
      return root.localStorage || null;
    } catch (e) {
      return null; // blocked by privacy settings
    }
  }

  function privacyOptOut() {
    var nav = root.navigator || {};
    return nav.globalPrivacyControl === true || nav.doNotTrack === '1' || nav.doNotTrack === 'yes' || root.doNotTrack === '1';
  }

  // ---------------------------------------------------------------- environment (the guide's fields)

  function detectEnvironment() {
    var nav = root.navigator || {};
    var ua = nav.userAgent || '';
    var browser = /Edg\//.test(ua) ? 'Edge'
      : /OPR\/|Opera/.test(ua) ? 'Opera'
      : /Firefox\//.test(ua) ? 'Firefox'
      : /(Chrome|Chromium|CriOS)\//.test(ua) ? 'Chrome'
      : /Safari\//.test(ua) ? 'Safari' : 'Other';
    var os = /Windows/.test(ua) ? 'Windows'
      : /iPhone|iPad|iPod/.test(ua) ? 'iOS'
      : /Android/.test(ua) ? 'Android'
      : /CrOS/.test(ua) ? 'ChromeOS'
      : /Mac OS X|Macintosh/.test(ua) ? 'macOS'
      : /Linux/.test(ua) ? 'Linux' : 'Other';
    var device = /iPad|Tablet/.test(ua) || (/Android/.test(ua) && !/Mobile/.test(ua)) ? 'tablet'
      : /Mobi|iPhone|iPod/.test(ua) ? 'mobile' : 'desktop';
    var connection = nav.connection || nav.mozConnection || nav.webkitConnection;
    return {
      device: device,
      browser: browser,
      os: os,
      viewport: { width: root.innerWidth || 0, height: root.innerHeight || 0 },
      language: nav.language || 'unknown',
      connection: (connection && connection.effectiveType) || 'unknown'
    };
  }

  // ---------------------------------------------------------------- DOM helpers

  function isEditable(el) {
    if (!el || el.nodeType !== 1) return false;
    var tag = el.tagName;
    return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || el.isContentEditable === true;
  }

  function isPassword(el) {
    return !!el && el.tagName === 'INPUT' && String(el.type).toLowerCase() === 'password';
  }

  function elementOf(node) {
    while (node && node.nodeType !== 1) node = node.parentNode;
    return node || null;
  }

  function describe(el) {
    return el && el.tagName ? el.tagName : 'UNKNOWN';
  }

  function pageUrl() {
    return root.location ? root.location.href : '';
  }

  // ---------------------------------------------------------------- Tracker

  function Tracker(sessionId, options) {
    this.sessionId = sessionId;
    this.options = assign({}, DEFAULTS, options);
    this.instanceId = randomId();
    this.ended = false;       // the server has ended the session (or end() was acknowledged)
    this.stats = { queued: 0, sent: 0, duplicates: 0, dropped: 0, retries: 0 };
    this._seq = 0;
    this._queue = [];         // unacknowledged events, oldest first: {id, type, data, t}
    this._dropped = 0;        // events dropped because the queue was full, not yet reported
    this._droppedTotal = 0;
    this._sending = false;
    this._attempt = 0;
    this._retryTimer = null;
    this._holdUntil = 0;      // no request before this time (the server's Retry-After)
    this._flushTimer = null;
    this._endRequested = false;
    this._endWaiters = [];
    this._flushWaiters = [];
    this._isolate = 0;        // after a 400/413 on a batch: send this many events one by one
    this._capture = null;     // teardown of the DOM listeners while capturing
    this._closed = false;     // the page is gone (pagehide): nothing more is sent from here
    this._storageKey = STORAGE_PREFIX + sessionId;
    this._restore();
    this._installLifecycle();
    this._heartbeat = setInterval(this._touch.bind(this), 60000);
    if (this._queue.length) this._schedule();
  }

  Tracker.prototype.logEvent = function (type, data) {
    if (this.ended || this._endRequested || this._closed) {
      this._warn('event "' + type + '" ignored: the session has ended');
      return false;
    }
    if (typeof type !== 'string' || !TYPE_PATTERN.test(type)) {
      this._warn('event type "' + type + '" is not valid (letters, digits, _ . : -; up to 64)');
      return false;
    }
    data = data == null ? {} : data;
    if (typeof data !== 'object' || Array.isArray(data)) {
      data = { value: data };
    }
    var event = { id: this.instanceId + '-' + (++this._seq), type: type, data: data, t: now() };
    var size;
    try {
      // Serialized now: later changes to the caller's object do not change what was logged.
      event.data = JSON.parse(JSON.stringify(data));
      size = jsonLength(event);
    } catch (e) {
      this._warn('event "' + type + '" dropped: data is not serializable (' + e.message + ')');
      this.stats.dropped++;
      return false;
    }
    if (size > this.options.maxBatchBytes - 200) {
      this._warn('event "' + type + '" dropped: larger than maxBatchBytes');
      this.stats.dropped++;
      return false;
    }
    this._queue.push(event);
    this.stats.queued++;
    var overflow = this._queue.length - this.options.maxQueueSize;
    if (overflow > 0) {
      // Oldest first: the newest events describe what the user is doing now. The drop is reported.
      this._queue.splice(0, overflow);
      this._dropped += overflow;
      this._droppedTotal += overflow;
      this.stats.dropped += overflow;
    }
    this._persist();
    this._schedule();
    return true;
  };

  /** Sends everything queued now; resolves when the server has acknowledged it (true) or the session is gone (false). */
  Tracker.prototype.flush = function () {
    var self = this;
    if (!this._queue.length && !this._dropped) return Promise.resolve(true);
    var last = this._queue.length ? this._queue[this._queue.length - 1].id : null;
    return new Promise(function (resolve) {
      self._flushWaiters.push({ last: last, resolve: resolve });
      self._pump(true);
    });
  };

  /** Sends the remaining events together with the end of the session (one request); resolves when acknowledged. */
  Tracker.prototype.end = function () {
    var self = this;
    if (this.ended) return Promise.resolve(true);
    this.stopCapture();
    this._endRequested = true;
    return new Promise(function (resolve) {
      self._endWaiters.push(resolve);
      self._pump(true);
    });
  };

  /** Turns automatic capture on (again) with the given options; used by useEventTracking. */
  Tracker.prototype.startCapture = function (options) {
    if (options) assign(this.options, options);
    this.stopCapture();
    if (this.ended || this._endRequested) return this;
    this._capture = capture(this);
    return this;
  };

  Tracker.prototype.stopCapture = function () {
    if (this._capture) {
      this._capture();
      this._capture = null;
    }
    return this;
  };

  /** Number of events waiting for the server. */
  Tracker.prototype.pending = function () {
    return this._queue.length;
  };

  // -------------------------------------------------------------- delivery

  Tracker.prototype._schedule = function () {
    if (this._queue.length >= this.options.batchSize) {
      this._pump(false);
    } else if (!this._flushTimer) {
      var self = this;
      this._flushTimer = setTimeout(function () {
        self._flushTimer = null;
        self._pump(false);
      }, this.options.flushInterval);
    }
  };

  Tracker.prototype._takeBatch = function () {
    // The gateway takes at most 500 events per request (Gateway:MaxEventsPerBatch); one place is kept for the drop report.
    var limit = this._isolate > 0 ? 1 : Math.max(1, Math.min(this.options.batchSize, 499));
    var batch = [];
    var bytes = 200;
    for (var i = 0; i < this._queue.length && batch.length < limit; i++) {
      var size = jsonLength(this._queue[i]) + 1;
      if (batch.length && bytes + size > this.options.maxBatchBytes) break;
      batch.push(this._queue[i]);
      bytes += size;
    }
    return batch;
  };

  /** The report of events the full queue had to drop, sent as an event of its own (deduplicated by id). */
  Tracker.prototype._dropReport = function () {
    if (!this._dropped) return null;
    return {
      id: this.instanceId + '-dropped-' + this._droppedTotal,
      type: 'tracker.dropped',
      data: { dropped: this._dropped, total_dropped: this._droppedTotal, reason: 'queue_full', max_queue_size: this.options.maxQueueSize },
      t: now()
    };
  };

  Tracker.prototype._pump = function (immediate) {
    if (this._sending || this._closed || this.ended) return;
    if (!this._queue.length && !this._dropped && !this._endRequested) return;
    if (this._retryTimer) {
      // flush()/end()/online may cut our own backoff short, never the server's Retry-After.
      if (!immediate || now() < this._holdUntil) return;
      clearTimeout(this._retryTimer);
      this._retryTimer = null;
    }
    if (this._flushTimer) {
      clearTimeout(this._flushTimer);
      this._flushTimer = null;
    }
    var nav = root.navigator;
    if (nav && nav.onLine === false) return; // the 'online' listener resumes

    var batch = this._takeBatch();
    var report = this._dropReport();
    var reported = this._dropped;
    var events = report ? [report].concat(batch) : batch;
    var end = this._endRequested && batch.length === this._queue.length;
    var body = eventBody(this.sessionId, events, end);

    var self = this;
    this._sending = true;
    request(this.options.endpoint + '/session/event', body, false).then(function (response) {
      self._sending = false;
      self._onResponse(response, batch, reported, end);
    }, function (error) {
      self._sending = false;
      self._retry(null, error);
    });
  };

  Tracker.prototype._onResponse = function (response, batch, reported, end) {
    var status = response.status;
    if (status >= 200 && status < 300) {
      this._attempt = 0;
      this._dropped -= reported;
      this._ack(batch);
      if (this._isolate > 0) this._isolate -= batch.length;
      var self = this;
      response.json().then(function (body) {
        self.stats.sent += body.accepted || 0;
        self.stats.duplicates += body.duplicates || 0;
        if (body.ended && !self.ended) self._finish(true); // ended by the server meanwhile (idle timeout)
      }, function () {});
      if (end) this._finish(true);
      else this._continue();
      return;
    }
    if (status === 409) {
      // The session ended elsewhere (another tab, an earlier beacon): what is left can never be stored.
      this._drop(this._queue.length, 'session_ended');
      this._finish(false);
      return;
    }
    if (status === 404) {
      this._drop(this._queue.length, 'session_not_found');
      this._finish(false);
      return;
    }
    if (status === 400 || status === 413 || status === 415) {
      if (batch.length > 1) {
        this._isolate = batch.length; // find the bad event: resend this batch one event at a time
      } else {
        this._ack(batch);
        this.stats.dropped += batch.length;
        this._warn('event rejected by the server (' + status + '), dropped');
      }
      this._continue();
      return;
    }
    this._retry(response);
  };

  Tracker.prototype._continue = function () {
    this._resolveFlushWaiters();
    if (this._queue.length || this._dropped || this._endRequested) {
      if (this._queue.length >= this.options.batchSize || this._flushWaiters.length || this._endRequested) this._pump(false);
      else this._schedule();
    }
  };

  Tracker.prototype._retry = function (response, error) {
    // Exponential backoff with full jitter; the server's Retry-After (429/503) is a lower bound.
    var o = this.options;
    var delay = Math.min(o.retryMaxDelay, o.retryBaseDelay * Math.pow(2, this._attempt));
    delay = delay / 2 + Math.random() * delay / 2;
    var retryAfter = response && response.headers && response.headers.get('Retry-After');
    if (retryAfter) {
      var seconds = Number(retryAfter);
      var ms = isNaN(seconds) ? Date.parse(retryAfter) - now() : seconds * 1000;
      if (ms > 0) {
        delay = Math.max(delay, ms + Math.random() * 250);
        this._holdUntil = now() + delay;
      }
    }
    this._attempt++;
    this.stats.retries++;
    if (this.options.onError || this._attempt === 1) {
      this._warn('delivery failed (' + (response ? 'HTTP ' + response.status : error) + '), retrying in ' + Math.round(delay) + ' ms');
    }
    var self = this;
    this._retryTimer = setTimeout(function () {
      self._retryTimer = null;
      self._pump(false);
    }, delay);
  };

  Tracker.prototype._ack = function (batch) {
    if (!batch.length) return;
    var ids = {};
    for (var i = 0; i < batch.length; i++) ids[batch[i].id] = true;
    this._queue = this._queue.filter(function (e) { return !ids[e.id]; });
    this._persist();
  };

  Tracker.prototype._drop = function (count, reason) {
    if (count > 0) {
      this.stats.dropped += count;
      this._warn(count + ' events dropped: ' + reason);
    }
    this._queue = [];
    this._dropped = 0;
  };

  Tracker.prototype._resolveFlushWaiters = function () {
    // Events are acknowledged oldest first, so a flush is done once the newest event it waits for is gone.
    var queue = this._queue;
    var dropped = this._dropped;
    var pendingIds = {};
    for (var i = 0; i < queue.length; i++) pendingIds[queue[i].id] = true;
    this._flushWaiters = this._flushWaiters.filter(function (w) {
      if (w.last === null ? queue.length === 0 && !dropped : !pendingIds[w.last]) {
        w.resolve(true);
        return false;
      }
      return true;
    });
  };

  Tracker.prototype._finish = function (ok) {
    this.ended = true;
    this.stopCapture();
    clearInterval(this._heartbeat);
    if (this._flushTimer) clearTimeout(this._flushTimer);
    if (this._retryTimer) clearTimeout(this._retryTimer);
    this._flushTimer = this._retryTimer = null;
    this._queue = [];
    this._removeStored();
    this._uninstallLifecycle();
    delete registry[this.sessionId];
    this._endWaiters.splice(0).forEach(function (resolve) { resolve(ok); });
    this._flushWaiters.splice(0).forEach(function (w) { w.resolve(ok); });
  };

  /**
   * The page is going away: everything unacknowledged (including a batch whose fetch is still in flight: the
   * server drops what it already has) goes out as text/plain beacons under 64 KB. With `end` the last chunk
   * carries the end, so the final events and the end arrive in the same request.
   */
  Tracker.prototype._sendFinal = function (end) {
    if (this.ended || this._closed) return;
    var events = this._queue.slice();
    var report = this._dropReport();
    if (report) events.unshift(report);
    if (!events.length && !end) return;
    var chunks = [];
    var current = [];
    var bytes = 200;
    for (var i = 0; i < events.length; i++) {
      var size = jsonLength(events[i]) + 1;
      if (current.length && (bytes + size > this.options.maxBatchBytes || current.length >= 500)) {
        chunks.push(current);
        current = [];
        bytes = 200;
      }
      current.push(events[i]);
      bytes += size;
    }
    chunks.push(current);
    var url = this.options.endpoint + '/session/event';
    for (var c = 0; c < chunks.length; c++) {
      var body = eventBody(this.sessionId, chunks[c], end && c === chunks.length - 1);
      if (!body.events.length && !body.end) continue;
      beacon(url, body);
    }
    if (end) {
      // Kept until a later page load has confirmed delivery (resends are deduplicated), see drainOrphans.
      this._closed = true;
      this._persist(true);
      this.stopCapture();
    }
  };

  Tracker.prototype._installLifecycle = function () {
    var self = this;
    if (typeof root.addEventListener !== 'function') return;
    var onHidden = function () {
      if (root.document && root.document.visibilityState === 'hidden') self._sendFinal(false);
    };
    var onPageHide = function (e) {
      // persisted = the page goes into the back/forward cache and may come back: flush but do not end.
      self._sendFinal(!(e && e.persisted));
    };
    var onPageShow = function (e) {
      if (e && e.persisted && self._closed) {
        self._closed = false;
      }
    };
    var onOnline = function () {
      self._attempt = 0;
      self._pump(true);
    };
    root.document && root.document.addEventListener('visibilitychange', onHidden);
    root.addEventListener('pagehide', onPageHide);
    root.addEventListener('pageshow', onPageShow);
    root.addEventListener('online', onOnline);
    this._lifecycle = function () {
      root.document && root.document.removeEventListener('visibilitychange', onHidden);
      root.removeEventListener('pagehide', onPageHide);
      root.removeEventListener('pageshow', onPageShow);
      root.removeEventListener('online', onOnline);
    };
  };

  Tracker.prototype._uninstallLifecycle = function () {
    if (this._lifecycle) this._lifecycle();
    this._lifecycle = null;
  };

  // -------------------------------------------------------------- offline queue (localStorage)

  Tracker.prototype._persist = function (closed) {
    if (!this.options.persist) return;
    closed = closed || this._closed; // a late answer after pagehide must not erase the record of the unconfirmed end
    var store = storage();
    if (!store) return;
    if (!this._queue.length && !this._dropped && !closed) {
      this._removeStored();
      return;
    }
    var record = {
      v: 1, session_id: this.sessionId, endpoint: this.options.endpoint, closed: !!closed, seen: now(),
      events: this._queue, dropped: this._dropped, dropped_total: this._droppedTotal, instance: this.instanceId
    };
    try {
      store.setItem(this._storageKey, JSON.stringify(record));
    } catch (e) {
      // Quota: keep the newest half (the drop is counted and reported) rather than fail the page.
      var half = Math.ceil(this._queue.length / 2);
      if (half > 0 && half < this._queue.length + 1) {
        this._queue.splice(0, half);
        this._dropped += half;
        this._droppedTotal += half;
        this.stats.dropped += half;
        try {
          record.events = this._queue;
          record.dropped = this._dropped;
          store.setItem(this._storageKey, JSON.stringify(record));
        } catch (ignored) { /* memory only */ }
      }
    }
  };

  Tracker.prototype._touch = function () {
    if (this._queue.length || this._dropped) this._persist();
  };

  Tracker.prototype._removeStored = function () {
    var store = storage();
    if (store) {
      try { store.removeItem(this._storageKey); } catch (e) { /* ignore */ }
    }
  };

  Tracker.prototype._restore = function () {
    // The same session reopened in this tab (reload of a page that keeps its session id): resend what it left.
    var store = this.options.persist && storage();
    if (!store) return;
    try {
      var record = JSON.parse(store.getItem(this._storageKey) || 'null');
      if (record && record.events) {
        this._queue = record.events.slice(-this.options.maxQueueSize);
        this._dropped = record.dropped || 0;
        this._droppedTotal = record.dropped_total || 0;
      }
    } catch (e) { /* corrupt entry: ignore */ }
  };

  /**
   * Queues left by pages that are gone (closed after their beacons, or abandoned for orphanAge) are resent in
   * order, one request after another, with the end: a beacon may have been lost; duplicates are dropped by the server.
   */
  function drainOrphans(endpoint, exceptSessionId) {
    var store = storage();
    if (!store || typeof root.fetch !== 'function') return Promise.resolve();
    var keys = [];
    try {
      for (var i = 0; i < store.length; i++) {
        var key = store.key(i);
        if (key && key.indexOf(STORAGE_PREFIX) === 0) keys.push(key);
      }
    } catch (e) {
      return Promise.resolve();
    }
    return keys.reduce(function (previous, key) {
      return previous.then(function () {
        var record;
        try { record = JSON.parse(store.getItem(key) || 'null'); } catch (e) { record = null; }
        if (!record || !record.session_id) { store.removeItem(key); return; }
        if (record.session_id === exceptSessionId || registry[record.session_id]) return;
        if (!record.closed && now() - (record.seen || 0) < DEFAULTS.orphanAge) return; // another live tab
        var events = record.events || [];
        var base = record.endpoint != null ? record.endpoint : endpoint;
        var chain = Promise.resolve(true);
        for (var start = 0; start === 0 || start < events.length; start += 100) {
          (function (chunk, last) {
            chain = chain.then(function (ok) {
              if (!ok) return false;
              var body = eventBody(record.session_id, chunk, last);
              return request(base + '/session/event', body, false).then(function (r) {
                return (r.status >= 200 && r.status < 300) || r.status === 404 || r.status === 409 || r.status === 400;
              }, function () { return false; });
            });
          })(events.slice(start, start + 100), start + 100 >= events.length);
        }
        return chain.then(function (ok) {
          if (ok) store.removeItem(key);
        });
      });
    }, Promise.resolve()).catch(function () {});
  }

  // -------------------------------------------------------------- transport

  /**
   * A POST /session/event body, made right before its request leaves: `sent_at` is this page's clock now, so a retry,
   * a beacon or a later page's resend each tell the server the time of their own send. The server takes
   * (its receive time − sent_at) as this clock's skew and stores every event's corrected time beside `t`.
   */
  function eventBody(sessionId, events, end) {
    var body = { session_id: sessionId, events: events, sent_at: now() };
    if (end) body.end = true;
    return body;
  }

  function request(url, body, keepalive) {
    // text/plain is a "simple" content type: no CORS preflight; the gateway reads it as JSON.
    return root.fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
      body: JSON.stringify(body),
      keepalive: !!keepalive,
      credentials: 'same-origin'
    });
  }

  function beacon(url, body) {
    var text = JSON.stringify(body);
    var nav = root.navigator;
    try {
      if (nav && typeof nav.sendBeacon === 'function' && root.Blob) {
        if (nav.sendBeacon(url, new root.Blob([text], { type: 'text/plain;charset=UTF-8' }))) return true;
      }
    } catch (e) { /* fall through */ }
    try {
      request(url, body, true).catch(function () {});
      return true;
    } catch (e) {
      return false;
    }
  }

  Tracker.prototype._warn = function (message) {
    var handler = this.options.onError;
    if (typeof handler === 'function') {
      try { handler(new Error(message)); } catch (e) { /* never let a handler break tracking */ }
    } else if (root.console && root.console.warn) {
      root.console.warn('[SessionTracker] ' + message);
    }
  };

  // -------------------------------------------------------------- automatic capture

  function capture(tracker) {
    var o = tracker.options;
    var doc = root.document;
    if (!doc || typeof root.addEventListener !== 'function') return function () {};
    var listeners = [];
    var timers = [];
    var restoreHistory = null;

    function on(target, type, handler, options) {
      target.addEventListener(type, handler, options);
      listeners.push(function () { target.removeEventListener(type, handler, options); });
    }

    function ignored(node) {
      var el = elementOf(node);
      return !!(el && el.closest && el.closest('[' + o.ignoreAttribute + ']'));
    }

    function log(type, data) {
      if (!tracker.ended && !tracker._closed) tracker.logEvent(type, data);
    }

    // navigate: the page itself, then SPA history changes (pushState/replaceState/popstate/hashchange).
    if (o.trackNavigation) {
      var navigated = function () {
        var url = pageUrl();
        if (url !== tracker._lastUrl) { // per tracker: re-attaching (React StrictMode) does not repeat it
          tracker._lastUrl = url;
          log('navigate', { page_url: url });
        }
      };
      navigated();
      var history = root.history;
      if (history && history.pushState) {
        var push = history.pushState;
        var replace = history.replaceState;
        history.pushState = function () {
          var result = push.apply(this, arguments);
          navigated();
          return result;
        };
        history.replaceState = function () {
          var result = replace.apply(this, arguments);
          navigated();
          return result;
        };
        restoreHistory = function () {
          history.pushState = push;
          history.replaceState = replace;
        };
      }
      on(root, 'popstate', navigated);
      on(root, 'hashchange', navigated);
    }

    // scroll {scrollY, speed (px/s), direction}: at most one per scrollThrottle, trailing edge included.
    if (o.trackScroll) {
      var lastY = root.scrollY || 0;
      var lastTime = now();
      var lastSent = 0;
      var trailing = null;
      var emitScroll = function () {
        trailing = null;
        var y = Math.round(root.scrollY || 0);
        var t = now();
        if (y === lastY) return;
        var elapsed = Math.max(1, t - lastTime);
        log('scroll', { scrollY: y, speed: Math.round(Math.abs(y - lastY) * 1000 / elapsed), direction: y > lastY ? 'down' : 'up' });
        lastY = y;
        lastTime = t;
        lastSent = t;
      };
      on(root, 'scroll', function () {
        var wait = o.scrollThrottle - (now() - lastSent);
        if (wait <= 0) emitScroll();
        else if (!trailing) {
          trailing = setTimeout(emitScroll, wait);
          timers.push(trailing);
        }
      }, { passive: true });
    }

    // click {target, x, y, page_url}
    if (o.trackClicks) {
      on(doc, 'click', function (e) {
        if (ignored(e.target)) return;
        var el = elementOf(e.target);
        var data = { target: describe(el), x: Math.round(e.pageX), y: Math.round(e.pageY), page_url: pageUrl() };
        if (el && el.id) data.target_id = cut(el.id, 100);
        log('click', data);
      }, true);
    }

    // hover {target, x, y}: only after the pointer rested hoverDelay ms on the same element.
    if (o.trackHover) {
      var hoverTimer = null;
      var hoverEl = null;
      var pointer = { x: 0, y: 0 };
      on(doc, 'mousemove', function (e) {
        pointer.x = e.pageX;
        pointer.y = e.pageY;
      }, { passive: true, capture: true });
      on(doc, 'mouseover', function (e) {
        if (hoverTimer) clearTimeout(hoverTimer);
        hoverEl = elementOf(e.target);
        pointer.x = e.pageX;
        pointer.y = e.pageY;
        if (!hoverEl || ignored(hoverEl) || hoverEl === doc.body || hoverEl === doc.documentElement) return;
        var el = hoverEl;
        hoverTimer = setTimeout(function () {
          if (hoverEl === el) log('hover', { target: describe(el), x: Math.round(pointer.x), y: Math.round(pointer.y) });
        }, o.hoverDelay);
        timers.push(hoverTimer);
      }, true);
      on(doc, 'mouseout', function (e) {
        if (elementOf(e.target) === hoverEl && hoverTimer) {
          clearTimeout(hoverTimer);
          hoverTimer = null;
          hoverEl = null;
        }
      }, true);
    }

    // selection / copy {selected_text, page_url}: page text only, never the contents of form fields.
    if (o.trackSelection) {
      var selectionTimer = null;
      var lastSelection = '';
      var selectedText = function () {
        var active = doc.activeElement;
        if (isEditable(active)) return '';
        var sel = root.getSelection ? root.getSelection() : null;
        if (!sel || sel.isCollapsed || !sel.rangeCount) return '';
        if (ignored(sel.anchorNode) || ignored(sel.focusNode)) return '';
        if (isEditable(elementOf(sel.anchorNode)) || isEditable(elementOf(sel.focusNode))) return '';
        return String(sel.toString()).trim();
      };
      on(doc, 'selectionchange', function () {
        if (selectionTimer) clearTimeout(selectionTimer);
        selectionTimer = setTimeout(function () {
          var text = selectedText();
          if (text && text !== lastSelection) {
            log('selection', { selected_text: cut(text, o.maxTextLength), page_url: pageUrl() });
          }
          lastSelection = text;
        }, 300);
        timers.push(selectionTimer);
      });
      on(doc, 'copy', function (e) {
        if (ignored(e.target) || isEditable(elementOf(e.target))) return;
        var text = selectedText();
        if (text) log('copy', { selected_text: cut(text, o.maxTextLength), page_url: pageUrl() });
      }, true);
    }

    // key {target: key name}. Characters are never recorded: a printable key is "Character" (or the shortcut,
    // e.g. "Control+C", outside form fields); password fields and ignored subtrees produce nothing.
    if (o.trackKeys) {
      on(doc, 'keydown', function (e) {
        var el = elementOf(e.target);
        if (isPassword(el) || ignored(el) || e.isComposing) return;
        var key = e.key || 'Unidentified';
        if (key === 'Control' || key === 'Meta' || key === 'Alt' || key === 'Shift' || key === 'AltGraph') return;
        var modifiers = (e.ctrlKey ? 'Control+' : '') + (e.metaKey ? 'Meta+' : '') + (e.altKey ? 'Alt+' : '');
        if (key.length === 1) {
          // Control/Meta + key is a shortcut (Control+C), not text. Alt (AltGr = Control+Alt) types characters.
          key = (e.ctrlKey || e.metaKey) && !e.altKey ? modifiers + key.toUpperCase() : 'Character';
        } else if (modifiers) {
          key = modifiers + key;
        }
        log('key', { target: key, element: describe(el) });
      }, true);
    }

    // activity {activity_state}: "idle" after activityIdleTimeout ms without input, "active" on the next input.
    if (o.trackActivity) {
      var idle = false;
      var idleTimer = null;
      var arm = function () {
        if (idleTimer) clearTimeout(idleTimer);
        idleTimer = setTimeout(function () {
          idle = true;
          log('activity', { activity_state: 'idle' });
        }, o.activityIdleTimeout);
      };
      var activity = function () {
        if (idle) {
          idle = false;
          log('activity', { activity_state: 'active' });
        }
        arm();
      };
      ['mousemove', 'mousedown', 'keydown', 'wheel', 'touchstart', 'scroll'].forEach(function (type) {
        on(doc, type, activity, { passive: true, capture: true });
      });
      arm();
      listeners.push(function () { if (idleTimer) clearTimeout(idleTimer); });
    }

    // error {error_code, text}: uncaught errors, failed resources, unhandled promise rejections.
    if (o.trackErrors) {
      on(root, 'error', function (e) {
        if (e && e.error !== undefined || e.message) {
          var where = e.filename ? ' (' + e.filename + ':' + e.lineno + ':' + e.colno + ')' : '';
          log('error', { error_code: (e.error && e.error.name) || 'Error', text: cut((e.message || String(e.error)) + where, o.maxTextLength) });
        } else if (e && e.target && e.target !== root && e.target.tagName) {
          log('error', { error_code: 'resource_error', text: cut(describe(e.target) + ' ' + (e.target.src || e.target.href || ''), o.maxTextLength) });
        }
      }, true);
      on(root, 'unhandledrejection', function (e) {
        var reason = e && e.reason;
        var text = reason && reason.message ? reason.message : String(reason);
        log('error', { error_code: 'unhandled_rejection', text: cut(text, o.maxTextLength) });
      });
    }

    return function () {
      listeners.splice(0).forEach(function (remove) { remove(); });
      timers.splice(0).forEach(function (t) { clearTimeout(t); });
      if (restoreHistory) restoreHistory();
    };
  }

  // -------------------------------------------------------------- public API

  /** A tracker that records nothing (Do-Not-Track / GPC opt-out, no browser). */
  function disabledTracker(reason) {
    return {
      sessionId: null,
      disabled: reason,
      ended: false,
      stats: { queued: 0, sent: 0, duplicates: 0, dropped: 0, retries: 0 },
      logEvent: function () { return false; },
      flush: function () { return Promise.resolve(true); },
      end: function () { return Promise.resolve(true); },
      startCapture: function () { return this; },
      stopCapture: function () { return this; },
      pending: function () { return 0; }
    };
  }

  /**
   * Attaches to a session that exists already (useSession started it, or the server did): one tracker per
   * session and page, so calling attach twice returns the same tracker with the new options applied.
   * A new tracker also delivers the queues that earlier pages of this origin left behind (drainOrphans).
   */
  function attach(sessionId, options) {
    if (!sessionId) throw new Error('SessionTracker.attach: a sessionId is required');
    options = options || {};
    if (options.respectDoNotTrack && privacyOptOut()) return disabledTracker('do_not_track');
    var tracker = registry[sessionId];
    if (!tracker) {
      tracker = new Tracker(sessionId, options);
      registry[sessionId] = tracker;
      drainOrphans(tracker.options.endpoint, sessionId);
    }
    if (options.capture !== false) tracker.startCapture(options);
    return tracker;
  }

  function createSession(options) {
    var o = assign({}, DEFAULTS, options);
    if (!o.userId || !o.modelGroup) return Promise.reject(new Error('SessionTracker.start: userId and modelGroup are required'));
    var body = {
      user_id: String(o.userId),
      model_group: String(o.modelGroup),
      experiment_id: o.experimentId || 'default',
      environment: assign(detectEnvironment(), o.environment)
    };
    var attempt = 0;
    function tryStart() {
      return request(o.endpoint + '/session/start', body, false).then(function (response) {
        if (response.status === 201 || response.status === 200) return response.json();
        if (response.status === 429 || response.status >= 500) throw { retry: response };
        return response.text().then(function (text) { throw new Error('session start failed: HTTP ' + response.status + ' ' + text); });
      }).catch(function (error) {
        if (error instanceof Error && !(error instanceof TypeError)) throw error;
        if (attempt >= 6) throw new Error('session start failed after retries');
        var delay = Math.min(o.retryMaxDelay, o.retryBaseDelay * Math.pow(2, attempt++));
        delay = delay / 2 + Math.random() * delay / 2;
        var retryAfter = error && error.retry && Number(error.retry.headers.get('Retry-After'));
        if (retryAfter > 0) delay = Math.max(delay, retryAfter * 1000);
        return new Promise(function (resolve) { setTimeout(resolve, delay); }).then(tryStart);
      });
    }
    return tryStart().then(function (json) { return json.session_id; });
  }

  /**
   * Starts a session (POST /session/start with the detected environment) and returns a Promise of its tracker,
   * capturing automatically per the options.
   */
  function start(options) {
    options = options || {};
    if (options.respectDoNotTrack && privacyOptOut()) return Promise.resolve(disabledTracker('do_not_track'));
    if (typeof root.fetch !== 'function') return Promise.resolve(disabledTracker('no_fetch'));
    return createSession(options).then(function (sessionId) {
      return attach(sessionId, options);
    });
  }

  return {
    version: VERSION,
    defaults: DEFAULTS,
    start: start,
    attach: attach,
    createSession: createSession,
    detectEnvironment: detectEnvironment,
    drainOrphans: drainOrphans,
    get: function (sessionId) { return registry[sessionId] || null; }
  };
});
