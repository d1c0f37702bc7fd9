using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Playwright;
using SessionTracking.TestSupport;

namespace SessionTracking.OperatorAccess.Tests;

/// <summary>
/// A signed-in operator's browser visits other pages that try to use the operator cookie: a page of another site and a
/// page of the same site on another port (which does get SameSite=Strict cookies). Neither can delete a user's data or
/// sign the operator out (the same-site page's requests carry the cookie and are refused by the gateway's rule for
/// cookie-authenticated state changes); the gateway's own page can delete, and only with the X-Requested-With header.
/// </summary>
[Collection(OperatorCollection.Name)]
[TestCategory("SlowBVT")]
public sealed class CrossSiteTests(OperatorFixture fixture)
{
    private const string Attack = """
        async (target) => {
          const outcome = {};
          try {
            const r = await fetch(target + '/users/cross-site-victim', { method: 'DELETE', credentials: 'include' });
            outcome.delete = r.status;
          } catch (e) { outcome.delete = 'blocked'; }
          try {
            // A "simple" request: sent without a preflight, with the cookie when the site is the same.
            await fetch(target + '/auth/signout', { method: 'POST', mode: 'no-cors', credentials: 'include' });
            outcome.signout = 'sent';
          } catch (e) { outcome.signout = 'blocked'; }
          return JSON.stringify(outcome);
        }
        """;

    [Fact]
    public async Task Other_sites_cannot_delete_with_the_operator_cookie_and_the_gateways_own_page_can()
    {
        var victim = await fixture.RecordSessionAsync("cross-site-victim");
        await using var context = await fixture.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync("/signin.html");
        await page.FillAsync("#key", OperatorFixture.Key);
        await page.ClickAsync("#key-form button[type=submit]");
        await page.Locator("#signed-in:not([hidden])").WaitForAsync();

        // Pages of other origins, served by a real server on loopback: another site (localhost), which gets no
        // SameSite=Strict cookie, and the same site (127.0.0.1) on another port, whose requests do carry it. Their
        // requests reach the gateway (its request log shows them), so what refuses them is the gateway.
        var (elsewhere, elsewhereAddress) = await LoopbackApp.StartAsync(app =>
            app.MapGet("/page.html", () => Results.Content("<!doctype html><title>elsewhere</title><p>nothing to see</p>", "text/html")));
        await using var _ = elsewhere;
        var port = new Uri(elsewhereAddress).Port;
        foreach (var (origin, refusal) in new[] { ($"http://localhost:{port}", 401), ($"http://127.0.0.1:{port}", 403) })
        {
            var before = fixture.GatewayOutput.Length;
            var attacker = await context.NewPageAsync();
            await attacker.GotoAsync($"{origin}/page.html");
            var outcome = JsonDocument.Parse(await attacker.EvaluateAsync<string>(Attack, fixture.BaseAddress.ToString().TrimEnd('/'))).RootElement;
            Assert.Equal("blocked", outcome.GetProperty("delete").ToString()); // and its answer is unreadable there (no CORS grant)
            await attacker.CloseAsync();

            var log = fixture.GatewayOutput[before..];
            Assert.Contains($"DELETE {fixture.BaseAddress}users/cross-site-victim - {refusal} ", log, StringComparison.Ordinal);
            using var stillThere = await fixture.Http.GetAsync($"/session/{victim}");
            Assert.Equal(HttpStatusCode.OK, stillThere.StatusCode);
            Assert.True(await SignedInAsync(page), $"a page of {origin} signed the operator out:\n{log}");
        }

        // The operator's own page: without the header refused, with it the deletion runs.
        var withoutHeader = await page.EvaluateAsync<int>("async () => (await fetch('/users/cross-site-victim', { method: 'DELETE' })).status");
        Assert.Equal(403, withoutHeader);
        using (var stillThere = await fixture.Http.GetAsync($"/session/{victim}"))
        {
            Assert.Equal(HttpStatusCode.OK, stillThere.StatusCode);
        }

        var withHeader = await page.EvaluateAsync<int>("async () => (await fetch('/users/cross-site-victim', { method: 'DELETE', headers: { 'X-Requested-With': 'operator-page' } })).status");
        Assert.Equal(200, withHeader);
        using var gone = await fixture.Http.GetAsync($"/session/{victim}");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    private static Task<bool> SignedInAsync(IPage page) =>
        page.EvaluateAsync<bool>("async () => (await (await fetch('/auth/session', { cache: 'no-store' })).json()).signed_in");
}
