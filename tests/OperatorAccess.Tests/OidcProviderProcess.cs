using System.Diagnostics;
using System.Text;
using SessionTracking.TestSupport;

namespace SessionTracking.OperatorAccess.Tests;

/// <summary>
/// The OpenID Connect provider of oidc-provider.mjs (node, the npm package installed by test.sh's <c>npm ci</c>) on a
/// free loopback port, issuer <c>http://localhost:port</c>: another site than the gateway's <c>127.0.0.1</c>, as a
/// real provider is.
/// </summary>
public sealed class OidcProviderProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private OidcProviderProcess(Process process, string authority)
    {
        _process = process;
        Authority = authority;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Authority { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static async Task<OidcProviderProcess> StartAsync(string clientId, string clientSecret, string redirectUri, string allowedGroup)
    {
        var script = Path.Combine(RepoPaths.Root, "tests", "OperatorAccess.Tests", "oidc-provider.mjs");
        if (!Directory.Exists(Path.Combine(RepoPaths.Root, "node_modules", "oidc-provider")))
        {
            throw new InvalidOperationException("node_modules/oidc-provider is missing: run 'npm ci' at the repository root (./test.sh does).");
        }

        var port = FreePort.Next();
        var info = new ProcessStartInfo("node")
        {
            WorkingDirectory = RepoPaths.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(script);
        info.Environment["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        info.Environment["CLIENT_ID"] = clientId;
        info.Environment["CLIENT_SECRET"] = clientSecret;
        info.Environment["REDIRECT_URI"] = redirectUri;
        info.Environment["GROUP_ALLOWED"] = allowedGroup;
        var provider = new OidcProviderProcess(Process.Start(info) ?? throw new InvalidOperationException("node did not start"), $"http://localhost:{port}");

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (provider._process.HasExited)
            {
                throw new InvalidOperationException($"The OpenID Connect provider exited with {provider._process.ExitCode}:\n{provider.Output}");
            }

            try
            {
                using var response = await http.GetAsync($"http://127.0.0.1:{port}/.well-known/openid-configuration");
                if (response.IsSuccessStatusCode)
                {
                    return provider;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        await provider.DisposeAsync();
        throw new TimeoutException("The OpenID Connect provider did not answer within 30 s:\n" + provider.Output);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}
