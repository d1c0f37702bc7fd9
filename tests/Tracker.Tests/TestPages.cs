namespace SessionTracking.Tracker.Tests;

/// <summary>
/// The page the tests drive: it loads the gateway's <c>/tracker.js</c> with a script tag, exactly as a customer page
/// would, and starts a session with the options the test put in <c>window.__trackerOptions</c>.
/// </summary>
internal static class TestPages
{
    public const string Tracked = """
        <!doctype html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <title>tracker test page</title>
          <style>
            body { font: 16px sans-serif; margin: 20px; }
            .tall { height: 3000px; background: linear-gradient(#fff, #ddd); }
            #hover-target { display: inline-block; width: 200px; height: 60px; background: #cde; }
          </style>
          <script src="/tracker.js"></script>
          <script>
            window.trackerReady = SessionTracker.start(Object.assign(
              { userId: 'browser-test', modelGroup: 'gpt-4', experimentId: 'tracker-tests' },
              window.__trackerOptions || {})).then(function (t) { window.tracker = t; return t; });
          </script>
        </head>
        <body>
          <h1>Tracker test page</h1>
          <p id="para">Machine learning is the study of algorithms that improve through experience.</p>
          <button id="btn">Press me</button>
          <a id="spa-link" href="#" onclick="history.pushState({}, '', '?view=details'); return false;">details view</a>
          <div id="hover-target">hover here</div>
          <form onsubmit="return false">
            <input id="name" type="text" autocomplete="off">
            <input id="pw" type="password" autocomplete="off">
            <textarea id="notes"></textarea>
          </form>
          <div data-st-ignore>
            <button id="secret-btn">private button</button>
            <input id="secret-input" type="text">
            <p id="secret-para">Ignored paragraph text</p>
          </div>
          <button id="throw" onclick="setTimeout(function () { throw new TypeError('boom from test'); })">throw</button>
          <button id="reject" onclick="Promise.reject(new Error('rejected in test'))">reject</button>
          <div class="tall"></div>
        </body>
        </html>
        """;
}
