using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Options;
using SessionTracking.TestSupport;

namespace SessionTracking.Gateway.Tests;

/// <summary>One gateway with an operator key (and no practical limit on sign-in attempts), shared by the sign-in tests.</summary>
public sealed class SignInGateway : GatewayHost
{
    public const string Key = "operator-key-for-sign-in-tests";

    public SignInGateway()
    {
        Settings = new Dictionary<string, string>
        {
            ["Security:OperatorApiKey"] = Key,
            ["Security:SignIn:AttemptsPerMinute"] = "1000",
        };
    }
}

/// <summary>
/// The operator cookie through the real gateway in process: what signing in with the key issues, which endpoints accept
/// it, the cross-site rule for state changes, sign-out, key rotation, attempt limits and the OpenID Connect settings'
/// start-up validation. The browser flows (pages, dashboard, identity provider) are in tests/OperatorAccess.Tests.
/// </summary>
[TestCategory("BVT")]
public sealed class OperatorSignInTests(SignInGateway gateway) : IClassFixture<SignInGateway>
{
    private const string Key = SignInGateway.Key;
    private readonly HttpClient _client = NewClient(gateway);

    [Fact]
    public async Task Signing_in_with_the_key_issues_a_strict_http_only_expiring_cookie_that_operator_endpoints_accept()
    {
        var sessionId = await _client.StartSessionAsync("cookie-user");

        using var wrong = await SignInAsync(_client, "not-the-key");
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal("application/problem+json", wrong.Content.Headers.ContentType?.MediaType);
        Assert.False(wrong.Headers.Contains("Set-Cookie"));

        using var right = await SignInAsync(_client, Key);
        Assert.Equal(HttpStatusCode.NoContent, right.StatusCode);
        var setCookie = right.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("SessionTracking.Operator=", StringComparison.Ordinal));
        var attributes = setCookie.Split(';', StringSplitOptions.TrimEntries).Skip(1).ToList();
        Assert.Contains("httponly", attributes);
        Assert.Contains("samesite=strict", attributes);
        Assert.Contains("secure", attributes); // not a loopback browser connection
        Assert.Contains("path=/", attributes);
        var expires = DateTimeOffset.Parse(attributes.Single(a => a.StartsWith("expires=", StringComparison.Ordinal))["expires=".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(expires, DateTimeOffset.UtcNow.AddHours(7.9), DateTimeOffset.UtcNow.AddHours(8.1)); // Security:SignIn:Lifetime default
        var cookie = setCookie.Split(';')[0];

        foreach (var path in new[] { $"/session/{sessionId}", "/analytics", "/exports/sessions.csv", "/metrics", "/dashboard/DashboardCounters" })
        {
            using var anonymous = await SendAsync(HttpMethod.Get, path);
            using var signedIn = await SendAsync(HttpMethod.Get, path, ("Cookie", cookie));
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.True(signedIn.StatusCode == HttpStatusCode.OK, $"{path} with the cookie: {(int)signedIn.StatusCode} {await signedIn.Content.ReadAsStringAsync()}");
        }

        using var me = await SendAsync(HttpMethod.Get, "/auth/session", ("Cookie", cookie));
        var session = JsonDocument.Parse(await me.Content.ReadAsStringAsync()).RootElement;
        Assert.True(session.GetProperty("signed_in").GetBoolean());
        Assert.Equal("key", session.GetProperty("method").GetString());
        Assert.True(session.GetProperty("key_sign_in").GetBoolean());
        Assert.Equal(JsonValueKind.Null, session.GetProperty("single_sign_on").ValueKind);

        using var tampered = await SendAsync(HttpMethod.Get, "/analytics", ("Cookie", cookie[..^4] + "AAAA"));
        Assert.Equal(HttpStatusCode.Unauthorized, tampered.StatusCode);
    }

    [Fact]
    public async Task A_cookie_authenticated_delete_must_come_from_the_gateways_own_pages_while_the_key_header_needs_nothing_more()
    {
        var cookie = await SignedInCookieAsync();
        await _client.StartSessionAsync("to-forget");

        using var bare = await SendAsync(HttpMethod.Delete, "/users/to-forget", ("Cookie", cookie));
        using var crossSite = await SendAsync(HttpMethod.Delete, "/users/to-forget", ("Cookie", cookie), ("X-Requested-With", "x"), ("Sec-Fetch-Site", "cross-site"));
        using var sameSite = await SendAsync(HttpMethod.Delete, "/users/to-forget", ("Cookie", cookie), ("X-Requested-With", "x"), ("Sec-Fetch-Site", "same-site"));
        using var otherOrigin = await SendAsync(HttpMethod.Delete, "/users/to-forget", ("Cookie", cookie), ("X-Requested-With", "x"), ("Origin", "https://evil.example.net"));
        Assert.Equal(HttpStatusCode.Forbidden, bare.StatusCode);
        Assert.Contains("X-Requested-With", await bare.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, crossSite.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, sameSite.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, otherOrigin.StatusCode);
        Assert.Equal("application/problem+json", crossSite.Content.Headers.ContentType?.MediaType);

        using var ownPage = await SendAsync(HttpMethod.Delete, "/users/to-forget", ("Cookie", cookie), ("X-Requested-With", "x"), ("Sec-Fetch-Site", "same-origin"));
        Assert.Equal(HttpStatusCode.OK, ownPage.StatusCode);
        Assert.Equal(1, JsonDocument.Parse(await ownPage.Content.ReadAsStringAsync()).RootElement.GetProperty("sessions").GetInt32());

        using var program = await SendAsync(HttpMethod.Delete, "/users/to-forget", ("X-Api-Key", Key));
        Assert.Equal(HttpStatusCode.OK, program.StatusCode);

        // A wrong key in the header is refused even next to a valid cookie: the header decides.
        using var wrongHeader = await SendAsync(HttpMethod.Get, "/analytics", ("Cookie", cookie), ("X-Api-Key", "wrong"));
        Assert.Equal(HttpStatusCode.Unauthorized, wrongHeader.StatusCode);
    }

    [Fact]
    public async Task Sign_out_needs_the_header_and_expires_the_cookie()
    {
        var cookie = await SignedInCookieAsync();

        using var forged = await SendAsync(HttpMethod.Post, "/auth/signout", ("Cookie", cookie));
        Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);

        using var signOut = await SendAsync(HttpMethod.Post, "/auth/signout", ("Cookie", cookie), ("X-Requested-With", "x"), ("Sec-Fetch-Site", "same-origin"));
        Assert.Equal(HttpStatusCode.NoContent, signOut.StatusCode);
        var cleared = signOut.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("SessionTracking.Operator=", StringComparison.Ordinal));
        Assert.Contains("expires=Thu, 01 Jan 1970", cleared, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_browser_opening_an_operator_page_is_sent_to_the_sign_in_page_and_programs_get_401()
    {
        using var navigation = await SendAsync(HttpMethod.Get, "/dashboard/", ("Sec-Fetch-Mode", "navigate"), ("Accept", "text/html"));
        Assert.Equal(HttpStatusCode.Redirect, navigation.StatusCode);
        Assert.Equal("/signin.html?return_url=%2Fdashboard%2F", navigation.Headers.Location?.OriginalString);

        using var script = await SendAsync(HttpMethod.Get, "/dashboard/DashboardCounters", ("Sec-Fetch-Mode", "cors"));
        Assert.Equal(HttpStatusCode.Unauthorized, script.StatusCode);
        Assert.Equal("Bearer", script.Headers.WwwAuthenticate.Single().Scheme);

        using var page = await _client.GetAsync("/signin.html");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode); // the pages themselves hold no data: static and open
    }

    [Fact]
    public async Task Sign_in_takes_json_only_and_refuses_cross_site_posts()
    {
        using var form = await SendAsync(HttpMethod.Post, "/auth/signin", new StringContent($"key={Key}", System.Text.Encoding.UTF8, "application/x-www-form-urlencoded"));
        using var text = await SendAsync(HttpMethod.Post, "/auth/signin", new StringContent($$"""{"key":"{{Key}}"}""", System.Text.Encoding.UTF8, "text/plain"));
        using var crossSite = await SendAsync(HttpMethod.Post, "/auth/signin", Api.Json($$"""{"key":"{{Key}}"}"""), ("Sec-Fetch-Site", "cross-site"));
        using var empty = await SendAsync(HttpMethod.Post, "/auth/signin", Api.Json("{}"));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, form.StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, text.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, crossSite.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        Assert.All([form, text, crossSite, empty], r => Assert.False(r.Headers.Contains("Set-Cookie")));
    }

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("[]")]
    [InlineData("{\"key\":5}")]
    [InlineData("{\"key\":null}")]
    [InlineData("{\"key\":\"\"}")]
    [InlineData("{\"key\":{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}")]
    public async Task Bad_sign_in_bodies_are_a_400_problem_and_no_cookie(string body)
    {
        using var response = await SendAsync(HttpMethod.Post, "/auth/signin", Api.Json(body));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.False(response.Headers.Contains("Set-Cookie"));
    }

    [Fact]
    public async Task A_key_longer_than_any_real_one_and_odd_return_urls_are_answered_without_an_error()
    {
        using var longKey = await SignInAsync(_client, new string('k', 5000));
        Assert.Equal(HttpStatusCode.BadRequest, longKey.StatusCode);

        // No provider here: 404 whatever the return_url; the sign-in page link for a navigation never leaves the site.
        using var provider = await SendAsync(HttpMethod.Get, "/auth/oidc?return_url=https%3A%2F%2Fevil.example.net%2F");
        Assert.Equal(HttpStatusCode.NotFound, provider.StatusCode);
        using var navigation = await SendAsync(HttpMethod.Get, "/exports/sessions.csv?x=%0d%0aSet-Cookie:%20a=b", ("Sec-Fetch-Mode", "navigate"));
        Assert.Equal(HttpStatusCode.Redirect, navigation.StatusCode);
        Assert.StartsWith("/signin.html?return_url=%2Fexports%2Fsessions.csv", navigation.Headers.Location!.OriginalString, StringComparison.Ordinal);
        Assert.False(navigation.Headers.Contains("Set-Cookie"));
    }

    [Fact]
    public async Task A_new_key_signs_out_browsers_of_the_old_one_and_sign_in_attempts_are_limited()
    {
        var oldCookie = await SignedInCookieAsync();
        await using var rotated = new GatewayHost
        {
            Settings = new Dictionary<string, string>
            {
                ["Security:OperatorApiKey"] = "the-rotated-operator-key",
                ["Security:SignIn:AttemptsPerMinute"] = "2",
            },
        };
        using var client = NewClient(rotated);

        using var stale = await SendAsync(client, HttpMethod.Get, "/analytics", null, ("Cookie", oldCookie));
        Assert.Equal(HttpStatusCode.Unauthorized, stale.StatusCode);

        using var first = await SignInAsync(client, "guess-1");
        using var second = await SignInAsync(client, "guess-2");
        using var third = await SignInAsync(client, "the-rotated-operator-key");
        Assert.Equal(HttpStatusCode.Unauthorized, first.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, second.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.NotNull(third.Headers.RetryAfter);
    }

    [Fact]
    public async Task With_only_a_provider_configured_operator_endpoints_are_closed_and_an_unreachable_provider_is_a_503()
    {
        await using var proxied = new GatewayHost
        {
            Settings = new Dictionary<string, string>
            {
                ["Security:TrustForwardedFor"] = "true",
                ["Security:OpenIdConnect:Authority"] = $"https://127.0.0.1:{FreePort.Next()}",
                ["Security:OpenIdConnect:ClientId"] = "gateway",
                ["Security:OpenIdConnect:ClientSecret"] = "secret",
                ["Security:OpenIdConnect:AllowedGroups:0"] = "operators",
            },
        };
        using var client = NewClient(proxied);

        // No key configured: key sign-in is not offered, the provider is; the operator endpoints are closed.
        using var me = await SendAsync(client, HttpMethod.Get, "/auth/session", null);
        var session = JsonDocument.Parse(await me.Content.ReadAsStringAsync()).RootElement;
        Assert.True(session.GetProperty("protected").GetBoolean());
        Assert.False(session.GetProperty("key_sign_in").GetBoolean());
        Assert.Equal("single sign-on", session.GetProperty("single_sign_on").GetString());
        using var analytics = await SendAsync(client, HttpMethod.Get, "/analytics", null);
        Assert.Equal(HttpStatusCode.Unauthorized, analytics.StatusCode);
        using var keySignIn = await SignInAsync(client, "anything");
        Assert.Equal(HttpStatusCode.NotFound, keySignIn.StatusCode);

        using var unreachable = await SendAsync(client, HttpMethod.Get, "/auth/oidc?return_url=%2Fdashboard%2F", null, ("X-Forwarded-Proto", "https"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, unreachable.StatusCode);
        Assert.Equal("application/problem+json", unreachable.Content.Headers.ContentType?.MediaType);
        Assert.NotNull(unreachable.Headers.RetryAfter);
    }

    [Fact]
    public async Task The_provider_is_asked_to_return_to_the_scheme_and_host_the_browser_used_behind_a_trusted_proxy()
    {
        // A provider's discovery document on loopback: enough for the gateway to build the authorization request.
        string provider = "";
        var (app, address) = await LoopbackApp.StartAsync(app =>
        {
            app.MapGet("/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, object>
            {
                ["issuer"] = provider,
                ["authorization_endpoint"] = $"{provider}/authorize",
                ["token_endpoint"] = $"{provider}/token",
                ["userinfo_endpoint"] = $"{provider}/userinfo",
                ["jwks_uri"] = $"{provider}/jwks",
                ["response_types_supported"] = new[] { "code" },
                ["subject_types_supported"] = new[] { "public" },
                ["id_token_signing_alg_values_supported"] = new[] { "RS256" },
            }));
            app.MapGet("/jwks", () => Results.Json(new { keys = Array.Empty<object>() }));
        });
        await using var _ = app;
        provider = address;
        await using var proxied = new GatewayHost
        {
            Settings = new Dictionary<string, string>
            {
                ["Security:TrustForwardedFor"] = "true",
                ["Security:OpenIdConnect:Authority"] = provider,
                ["Security:OpenIdConnect:ClientId"] = "gateway",
                ["Security:OpenIdConnect:ClientSecret"] = "secret",
                ["Security:OpenIdConnect:AllowedGroups:0"] = "operators",
            },
        };
        using var client = NewClient(proxied);

        using var challenge = await SendAsync(client, HttpMethod.Get, "/auth/oidc?return_url=%2Fdashboard%2F", null, ("X-Forwarded-Proto", "https"), ("Host", "ops.example.com"));
        Assert.Equal(HttpStatusCode.Redirect, challenge.StatusCode);
        var location = challenge.Headers.Location!;
        Assert.StartsWith($"{provider}/authorize?", location.OriginalString, StringComparison.Ordinal);
        var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(location.Query);
        Assert.Equal("https://ops.example.com/signin-oidc", query["redirect_uri"].ToString());
        Assert.Equal("code", query["response_type"].ToString());
        Assert.False(query.ContainsKey("response_mode")); // the code flow's default, a query: not form_post
        Assert.Equal("S256", query["code_challenge_method"].ToString());
        Assert.Contains("openid", query["scope"].ToString(), StringComparison.Ordinal);
        var callbackCookies = challenge.Headers.GetValues("Set-Cookie").ToList();
        Assert.All(callbackCookies, c => Assert.Contains("samesite=lax", c, StringComparison.Ordinal));
        Assert.All(callbackCookies, c => Assert.Contains("secure", c, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("https://idp.example.com", "", "secret", "operators", "ClientId is required")]
    [InlineData("https://idp.example.com", "gateway", "", "operators", "ClientSecret is required")]
    [InlineData("https://idp.example.com", "gateway", "secret", "", "AllowedGroups must list at least one")]
    [InlineData("http://idp.example.com", "gateway", "secret", "operators", "must be an absolute https:// URL")]
    public async Task OpenID_Connect_settings_are_validated_at_start_up(string authority, string clientId, string clientSecret, string group, string message)
    {
        await using var factory = new GatewayHost
        {
            Settings = new Dictionary<string, string>
            {
                ["Security:OpenIdConnect:Authority"] = authority,
                ["Security:OpenIdConnect:ClientId"] = clientId,
                ["Security:OpenIdConnect:ClientSecret"] = clientSecret,
                ["Security:OpenIdConnect:AllowedGroups:0"] = group,
            },
        };

        var error = Assert.ThrowsAny<OptionsValidationException>(() => factory.CreateClient());
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    private static HttpClient NewClient(GatewayHost factory) =>
        factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = false });

    private async Task<string> SignedInCookieAsync()
    {
        using var response = await SignInAsync(_client, Key);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        return response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("SessionTracking.Operator=", StringComparison.Ordinal)).Split(';')[0];
    }

    private static Task<HttpResponseMessage> SignInAsync(HttpClient client, string key) =>
        SendAsync(client, HttpMethod.Post, "/auth/signin", Api.Json(JsonSerializer.Serialize(new { key })));

    private Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, params (string Name, string Value)[] headers) =>
        SendAsync(_client, method, path, null, headers);

    private Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent content, params (string Name, string Value)[] headers) =>
        SendAsync(_client, method, path, content, headers);

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, HttpContent? content, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return await client.SendAsync(request);
    }
}
