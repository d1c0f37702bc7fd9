using Microsoft.Playwright;
using SessionTracking.TestSupport;

namespace SessionTracking.OperatorAccess.Tests;

/// <summary>
/// Sign-in through a real OpenID Connect provider (oidc-provider on loopback, another site than the gateway): a user of
/// the allowed group reaches the dashboard; a user outside it is answered 403 and gets no operator cookie.
/// </summary>
[Collection(OperatorCollection.Name)]
[TestCategory("SlowBVT")]
public sealed class OpenIdConnectTests(OperatorFixture fixture)
{
    private const string CookieName = "SessionTracking.Operator";

    [Fact]
    public async Task A_user_of_the_allowed_group_signs_in_at_the_provider_and_reaches_the_dashboard()
    {
        await using var context = await fixture.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync("/dashboard/");
        await page.WaitForURLAsync("**/signin.html?return_url=%2Fdashboard%2F");
        var button = page.Locator("#sso-card:not([hidden]) #sso");
        await button.WaitForAsync();
        Assert.Equal($"Sign in with {OperatorFixture.ProviderName}", await button.InnerTextAsync());

        await button.ClickAsync();
        await SignInAtProviderAsync(page, "alice");

        var counters = page.WaitForResponseAsync(r => r.Url.EndsWith("/dashboard/DashboardCounters", StringComparison.Ordinal) && r.Status == 200, new PageWaitForResponseOptions { Timeout = 30_000 });
        await page.WaitForURLAsync("**/dashboard/", new PageWaitForURLOptions { Timeout = 30_000 });
        Assert.Equal("Orleans Dashboard", await page.TitleAsync());
        await counters;

        var session = await page.EvaluateAsync<System.Text.Json.JsonElement>("async () => (await fetch('/auth/session')).json()");
        Assert.True(session.GetProperty("signed_in").GetBoolean());
        Assert.Equal("oidc", session.GetProperty("method").GetString());
        Assert.Equal("alice", session.GetProperty("name").GetString());
        var cookie = (await context.CookiesAsync()).Single(c => c.Name == CookieName);
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);

        // The same cookie opens the analytics page.
        await fixture.RecordSessionAsync("oidc-visible");
        await page.GotoAsync("/analytics.html");
        await page.Locator("section.experiment[data-experiment='operator-exp']").WaitForAsync(new LocatorWaitForOptions { Timeout = 30_000 });
    }

    [Fact]
    public async Task A_user_outside_the_allowed_group_gets_403_and_no_cookie()
    {
        await using var context = await fixture.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync("/signin.html?return_url=%2Fdashboard%2F");
        await page.Locator("#sso-card:not([hidden]) #sso").ClickAsync();

        var callback = page.WaitForResponseAsync(r => r.Url.Contains("/signin-oidc", StringComparison.Ordinal), new PageWaitForResponseOptions { Timeout = 30_000 });
        await SignInAtProviderAsync(page, "bob");
        var answer = await callback;
        Assert.Equal(403, answer.Status);
        Assert.Contains("bob", await page.Locator("#message").InnerTextAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain(await context.CookiesAsync(), c => c.Name == CookieName);

        await page.GotoAsync("/dashboard/");
        await page.WaitForURLAsync("**/signin.html?return_url=%2Fdashboard%2F");
        await page.Locator("#sso-card:not([hidden])").WaitForAsync();
    }

    /// <summary>The provider's development login form: any password; the login decides the groups.</summary>
    private async Task SignInAtProviderAsync(IPage page, string login)
    {
        await page.WaitForURLAsync($"{fixture.Provider.Authority}/**", new PageWaitForURLOptions { Timeout = 30_000 });
        await page.FillAsync("input[name=login]", login);
        await page.FillAsync("input[name=password]", "any-password");
        await page.ClickAsync("button[type=submit]");
    }
}
