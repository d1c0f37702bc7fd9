using System.Net;
using Microsoft.Playwright;
using SessionTracking.TestSupport;

namespace SessionTracking.OperatorAccess.Tests;

/// <summary>
/// Signing in with the operator key in Chromium: once signed in, the Orleans dashboard (page and its live counters), the
/// analytics page and the timeline work without typing the key again; a wrong key, an expired cookie and a signed-out
/// browser are refused.
/// </summary>
[Collection(OperatorCollection.Name)]
[TestCategory("SlowBVT")]
public sealed class KeySignInTests(OperatorFixture fixture)
{
    private const string CookieName = "SessionTracking.Operator";

    [Fact]
    public async Task An_operator_signs_in_once_and_sees_the_dashboard_counters_the_analytics_and_the_timeline()
    {
        var sessionId = await fixture.RecordSessionAsync("key-operator");
        await using var context = await fixture.NewContextAsync();
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);

        // Opening the dashboard sends the browser to the sign-in page, which knows where to come back to.
        await page.GotoAsync("/dashboard/");
        await page.WaitForURLAsync("**/signin.html?return_url=%2Fdashboard%2F");

        await page.FillAsync("#key", "not-the-operator-key");
        await page.ClickAsync("#key-form button[type=submit]");
        await page.Locator("#status.alarm").WaitForAsync();
        Assert.StartsWith("401", await page.Locator("#status").InnerTextAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain(await context.CookiesAsync(), c => c.Name == CookieName);

        var counters = page.WaitForResponseAsync(r => r.Url.EndsWith("/dashboard/DashboardCounters", StringComparison.Ordinal) && r.Status == 200, new PageWaitForResponseOptions { Timeout = 30_000 });
        await page.FillAsync("#key", OperatorFixture.Key);
        await page.ClickAsync("#key-form button[type=submit]");
        await page.WaitForURLAsync("**/dashboard/");
        Assert.Equal("Orleans Dashboard", await page.TitleAsync());
        await counters;
        // The dashboard polls its counters: later answers (still on the cookie alone) list the co-hosted silo.
        var hosts = 0;
        for (var poll = 0; poll < 20 && hosts == 0; poll++)
        {
            var answer = await page.WaitForResponseAsync(r => r.Url.EndsWith("/dashboard/DashboardCounters", StringComparison.Ordinal), new PageWaitForResponseOptions { Timeout = 30_000 });
            Assert.Equal(200, answer.Status);
            hosts = (await answer.JsonAsync())!.Value.GetProperty("hosts").GetArrayLength();
        }

        Assert.Equal(1, hosts);

        // The analytics page: no key field, no key typed, the figures are there.
        await page.GotoAsync("/analytics.html");
        var experiment = page.Locator("section.experiment[data-experiment='operator-exp']");
        await experiment.WaitForAsync(new LocatorWaitForOptions { Timeout = 30_000 });
        Assert.Equal(0, await page.Locator("#key").CountAsync());
        Assert.Contains("operator (key)", await page.Locator("#operator").InnerTextAsync(), StringComparison.Ordinal);

        await page.GotoAsync($"/timeline.html?session_id={sessionId}");
        await page.Locator("#timeline").WaitForAsync(new LocatorWaitForOptions { Timeout = 30_000 });
        Assert.Equal("3", await page.Locator("#event-count").InnerTextAsync());

        // The cookie: HttpOnly (scripts cannot read it), SameSite=Strict, with an expiry; not Secure on loopback HTTP only.
        var cookie = (await context.CookiesAsync()).Single(c => c.Name == CookieName);
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);
        Assert.InRange(DateTimeOffset.FromUnixTimeSeconds((long)cookie.Expires), DateTimeOffset.UtcNow.AddHours(7.5), DateTimeOffset.UtcNow.AddHours(8.5));
        Assert.False(cookie.Secure);
        Assert.DoesNotContain(CookieName, await page.EvaluateAsync<string>("() => document.cookie"), StringComparison.Ordinal);

        // Sign out: the cookie is gone and every operator page asks to sign in again.
        await page.ClickAsync("#signout");
        await page.WaitForURLAsync("**/signin.html?return_url=*");
        Assert.DoesNotContain(await context.CookiesAsync(), c => c.Name == CookieName);
        await page.GotoAsync("/analytics.html");
        await page.WaitForURLAsync("**/signin.html?return_url=%2Fanalytics.html");
        await page.GotoAsync("/dashboard/");
        await page.WaitForURLAsync("**/signin.html?return_url=%2Fdashboard%2F");
        await page.Locator("#key-card:not([hidden])").WaitForAsync();

        // Nothing is left in the browser; a program without the key gets 401.
        using var anonymous = new HttpClient { BaseAddress = fixture.BaseAddress };
        using var metrics = await anonymous.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.Unauthorized, metrics.StatusCode);
        Assert.Empty(errors);
    }

    [Fact]
    public async Task An_expired_sign_in_is_refused_by_the_gateway_and_the_pages_ask_again()
    {
        await using var context = await fixture.NewContextAsync(fixture.ShortBaseAddress);
        var page = await context.NewPageAsync();
        await page.GotoAsync("/signin.html");
        await page.FillAsync("#key", OperatorFixture.Key);
        var signIn = page.WaitForResponseAsync("**/auth/signin");
        await page.ClickAsync("#key-form button[type=submit]");
        var setCookie = (await (await signIn).AllHeadersAsync())["set-cookie"];
        await page.Locator("#signed-in:not([hidden])").WaitForAsync();
        var cookie = (await context.CookiesAsync()).Single(c => c.Name == CookieName);
        // From the header: Playwright reports Expires as a float, which cannot hold today's time to the second.
        var expires = DateTimeOffset.Parse(setCookie.Split(';').Select(a => a.Trim()).Single(a => a.StartsWith("expires=", StringComparison.Ordinal))["expires=".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(expires, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow + OperatorFixture.ShortLifetime + TimeSpan.FromSeconds(1));

        // The same cookie a program replays: accepted while valid, refused by the gateway once expired (not merely
        // dropped by the browser).
        using var replay = new HttpClient { BaseAddress = fixture.ShortBaseAddress };
        replay.DefaultRequestHeaders.Add("Cookie", $"{CookieName}={cookie.Value}");
        using (var valid = await replay.GetAsync("/analytics"))
        {
            Assert.Equal(HttpStatusCode.OK, valid.StatusCode);
        }

        var wait = expires - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(1.5);
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait);
        }

        using (var expired = await replay.GetAsync("/analytics"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, expired.StatusCode);
        }

        await page.GotoAsync("/analytics.html");
        await page.WaitForURLAsync("**/signin.html?return_url=%2Fanalytics.html");
        await page.Locator("#key-card:not([hidden])").WaitForAsync();
    }
}
