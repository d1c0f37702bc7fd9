using System.Diagnostics;
using System.Text.RegularExpressions;
using SessionTracking.TestSupport;

namespace SessionTracking.Cluster.Tests;

/// <summary>
/// <c>nginx -t</c> on deploy/nginx.conf, included the way the nginx image includes it (conf.d inside its http block).
/// Needs nginx (Debian package <c>nginx</c>, which ./test.sh and .ci/run install); no server is started.
/// </summary>
[TestCategory("SlowBVT")]
public sealed partial class EntryProxyConfigTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Nginx_accepts_the_entry_proxy_configuration()
    {
        var site = File.ReadAllText(Path.Combine(RepoPaths.Root, "deploy", "nginx.conf"));
        var (exitCode, log) = await TestAsync(site);
        output.WriteLine(log);

        Assert.True(exitCode == 0, $"nginx -t refused deploy/nginx.conf:\n{log}");
        Assert.Contains("syntax is ok", log, StringComparison.Ordinal);
        Assert.Contains("test is successful", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nginx_refuses_a_broken_copy_so_the_check_can_fail()
    {
        var site = File.ReadAllText(Path.Combine(RepoPaths.Root, "deploy", "nginx.conf"));

        var (exitCode, log) = await TestAsync(site[..site.LastIndexOf('}')]); // the server block's closing brace

        Assert.NotEqual(0, exitCode);
        Assert.Contains("unexpected end of file", log, StringComparison.Ordinal);
    }

    /// <summary>Runs <c>nginx -t</c> with <paramref name="site"/> as the only server configuration, in a temp prefix.</summary>
    private static async Task<(int ExitCode, string Log)> TestAsync(string site)
    {
        var nginx = new[] { "/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("nginx is not installed: run `apt-get install -y --no-install-recommends nginx` (./test.sh and .ci/run do).");
        var prefix = RepoPaths.NewTempDirectory("nginx-config");
        try
        {
            // nginx resolves upstream servers when it reads its configuration, and compose's service names (gateway1,
            // gateway2) resolve only inside compose's network: they are pointed at loopback, nothing else changes.
            var upstreams = UpstreamServerRegex().Matches(site);
            Assert.Equal(["gateway1", "gateway2"], upstreams.Select(m => m.Groups["host"].Value).Distinct().Order());
            File.WriteAllText(Path.Combine(prefix, "default.conf"), UpstreamServerRegex().Replace(site, "server 127.0.0.1:${port}"));

            // As in the nginx image's /etc/nginx/nginx.conf, with every path nginx writes under the temp prefix.
            File.WriteAllText(Path.Combine(prefix, "nginx.conf"), $$"""
                pid {{prefix}}/nginx.pid;
                error_log {{prefix}}/error.log;
                events { worker_connections 1024; }
                http {
                    default_type application/octet-stream;
                    access_log off;
                    client_body_temp_path {{prefix}}/body;
                    proxy_temp_path {{prefix}}/proxy;
                    fastcgi_temp_path {{prefix}}/fastcgi;
                    uwsgi_temp_path {{prefix}}/uwsgi;
                    scgi_temp_path {{prefix}}/scgi;
                    include {{prefix}}/default.conf;
                }
                """);

            var info = new ProcessStartInfo(nginx) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in new[] { "-t", "-p", prefix, "-e", Path.Combine(prefix, "error.log"), "-c", Path.Combine(prefix, "nginx.conf") })
            {
                info.ArgumentList.Add(arg);
            }

            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            return (process.ExitCode, await stdout + await stderr);
        }
        finally
        {
            Directory.Delete(prefix, recursive: true);
        }
    }

    [GeneratedRegex(@"server (?<host>[a-z][a-z0-9-]*):(?<port>\d+)")]
    private static partial Regex UpstreamServerRegex();
}
