// The demo chat: POST /query/stream with the session id (answers stream in; Stop aborts them), 👍/👎 as `feedback` events, and the live session document
// (GET /session/{id}) beside it. Everything else (scroll, clicks, selection, keys, …) the tracker captures itself.
(function () {
  'use strict';

  var params = new URLSearchParams(location.search);
  var userId = localStorage.getItem('userId') || 'user_' + Date.now();
  localStorage.setItem('userId', userId);
  var modelGroup = params.get('model_group') || 'gpt-4';
  var experimentId = params.get('experiment_id') || 'demo';

  var $ = function (id) { return document.getElementById(id); };
  var tracker = null;
  var refreshTimer = null;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function addMessage(kind, text) {
    var item = el('li', 'message ' + kind, text);
    $('messages').appendChild(item);
    item.scrollIntoView({ block: 'end' });
    return item;
  }

  function feedbackButtons(item, responseIndex) {
    var meta = item.querySelector('.meta') || item.appendChild(el('div', 'meta'));
    [['up', '👍'], ['down', '👎']].forEach(function (pair) {
      var button = el('button', null, pair[1]);
      button.type = 'button';
      button.title = 'feedback: ' + pair[0];
      button.addEventListener('click', function () {
        meta.querySelectorAll('button').forEach(function (b) { b.classList.remove('chosen'); });
        button.classList.add('chosen');
        tracker.logEvent('feedback', { feedback: pair[0], response_index: responseIndex });
        tracker.flush().then(refresh);
      });
      meta.appendChild(button);
    });
  }

  var responses = 0;
  var generation = null; // the AbortController of the answer being streamed: Stop aborts it

  function ask(event) {
    event.preventDefault();
    var prompt = $('prompt').value.trim();
    if (!prompt || !tracker || generation) return;
    addMessage('user', prompt);
    $('prompt').value = '';
    var pending = addMessage('model', '…');
    var text = '';
    generation = new AbortController();
    $('send').hidden = true;
    $('stop').hidden = false;
    streamQuery({ prompt: prompt, session_id: tracker.sessionId, user_id: userId, model_group: modelGroup }, generation.signal, function (token) {
      text += token;
      pending.textContent = text;
      pending.scrollIntoView({ block: 'end' });
    }).then(function (answer) {
      var meta = pending.appendChild(el('div', 'meta'));
      meta.appendChild(el('span', null, answer.model + ' · ' + answer.provider + ' · first token ' + answer.ttft_ms + ' ms · ' +
        answer.latency_ms + ' ms · ' + (answer.tokens_per_second == null ? '' : answer.tokens_per_second + ' tokens/s')));
      feedbackButtons(pending, responses++);
    }, function (error) {
      if (error.name === 'AbortError') {
        // The server saw the connection close and recorded the answer so far with stopped: true.
        pending.appendChild(el('div', 'meta', 'stopped'));
        feedbackButtons(pending, responses++);
        return;
      }
      pending.className = 'message error';
      pending.textContent = 'The query failed: ' + error.message;
      tracker.logEvent('error', { error_code: 'query_failed', text: String(error.message).slice(0, 300) });
    }).then(function () {
      generation = null;
      $('send').hidden = false;
      $('stop').hidden = true;
      setTimeout(refresh, 300);
    });
  }

  // POST /query/stream and read its server-sent events (EventSource cannot POST): `token` events carry the text,
  // `done` the figures the server recorded (ttft_ms, tokens, tokens_per_second), `error` a problem after the start.
  function streamQuery(body, signal, onToken) {
    return fetch('/query/stream', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Accept': 'text/event-stream' },
      body: JSON.stringify(body),
      signal: signal
    }).then(function (response) {
      if (!response.ok) {
        return response.json().then(function (problem) {
          throw new Error(problem.detail || problem.title || 'HTTP ' + response.status);
        });
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = '';
      var done = null;
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) {
            if (done) return done;
            throw new Error('the answer stream ended early');
          }
          buffer += decoder.decode(chunk.value, { stream: true });
          var boundary;
          while ((boundary = buffer.indexOf('\n\n')) >= 0) {
            var block = buffer.slice(0, boundary);
            buffer = buffer.slice(boundary + 2);
            var type = 'message';
            var data = '';
            block.split('\n').forEach(function (line) {
              if (line.indexOf('event:') === 0) type = line.slice(6).trim();
              else if (line.indexOf('data:') === 0) data += line.slice(5).replace(/^ /, '');
            });
            if (!data) continue;
            var payload = JSON.parse(data);
            if (type === 'token') onToken(payload.text);
            else if (type === 'done') done = payload;
            else if (type === 'error') throw new Error(payload.detail || payload.title);
          }
          return pump();
        });
      }
      return pump();
    });
  }

  function summarize(data) {
    var text = JSON.stringify(data);
    return text.length > 140 ? text.slice(0, 140) + '…' : text;
  }

  function render(doc) {
    var summary = $('summary');
    summary.textContent = '';
    var env = doc.environment || {};
    [['session_id', doc.session_id], ['user_id', doc.user_id], ['model_group', doc.model_group],
      ['experiment_id', doc.experiment_id], ['start_time', doc.start_time], ['end_time', doc.end_time || '— (open)'],
      ['environment', [env.device, env.browser, env.os, env.viewport && env.viewport.width + '×' + env.viewport.height, env.language, env.connection].filter(Boolean).join(' · ')],
      ['tracker', tracker ? 'pending ' + tracker.pending() + ' · sent ' + tracker.stats.sent + ' · retries ' + tracker.stats.retries + ' · dropped ' + tracker.stats.dropped : '']
    ].forEach(function (pair) {
      summary.appendChild(el('dt', null, pair[0]));
      summary.appendChild(el('dd', null, pair[1]));
    });
    var list = $('events');
    list.textContent = '';
    var events = doc.events || [];
    $('count').textContent = '(' + doc.event_count + ')';
    events.slice(-200).reverse().forEach(function (e) {
      var item = el('li');
      item.value = e.seq;
      item.appendChild(el('span', 'type', e.type));
      item.appendChild(document.createTextNode(' ' + summarize(e.data)));
      list.appendChild(item);
    });
    $('raw').textContent = JSON.stringify(doc, null, 2);
    if (doc.end_time) {
      $('end').disabled = true;
      $('send').disabled = true;
    }
  }

  function refresh() {
    if (!tracker || !tracker.sessionId) return;
    clearTimeout(refreshTimer);
    fetch('/session/' + encodeURIComponent(tracker.sessionId))
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (doc) { if (doc) render(doc); }, function () {})
      .then(function () {
        if (!document.hidden && !tracker.ended) refreshTimer = setTimeout(refresh, 2000);
      });
  }

  $('ask').addEventListener('submit', ask);
  $('stop').addEventListener('click', function () { if (generation) generation.abort(); });
  $('prompt').addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey) ask(e);
  });
  $('end').addEventListener('click', function () {
    $('end').disabled = true;
    tracker.end().then(refresh);
  });
  document.addEventListener('visibilitychange', function () { if (!document.hidden) refresh(); });

  SessionTracker.start({ userId: userId, modelGroup: modelGroup, experimentId: experimentId, flushInterval: 1000 })
    .then(function (t) {
      tracker = t;
      window.tracker = t; // for the curious, in the console
      $('timeline-link').href = '/timeline.html?session_id=' + encodeURIComponent(t.sessionId);
      refresh();
    }, function (error) {
      $('summary').textContent = 'The session could not be started: ' + error.message;
    });
})();
