namespace SessionTracking.TestSupport;

/// <summary>Locates the repository and the built service binaries from a test's output folder.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary>The gateway's build output (built by the solution build that precedes the tests).</summary>
    public static string GatewayDll => Output("Gateway", "SessionTracking.Gateway.dll");

    public static string SiloDll => Output("Silo", "SessionTracking.Silo.dll");

    /// <summary>bench/Baseline: bare Kestrel that parses and echoes an event.</summary>
    public static string BenchBaselineDll => Output(Path.Combine("bench", "Baseline"), "SessionTracking.Bench.Baseline.dll");

    /// <summary>bench/Tools: the load and in-process measurements of bench/run.sh.</summary>
    public static string BenchToolsDll => Output(Path.Combine("bench", "Tools"), "SessionTracking.Bench.Tools.dll");

    public static string NewTempDirectory(string prefix)
    {
        var path = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }

    private static string Output(string project, string dll)
    {
        // Tests run from tests/<Project>/bin/<Configuration>/net10.0/: use the same configuration for the service.
        // BaseDirectory ends with a separator, which DirectoryInfo counts as an empty last segment: trim it first.
        var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent?.Name ?? "Debug";
        var path = Path.Combine(Root, project, "bin", configuration, "net10.0", dll);
        return File.Exists(path)
            ? path
            : throw new FileNotFoundException($"{dll} is not built; run 'dotnet build Orleans.SessionTracking.sln -c {configuration}' first.", path);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Orleans.SessionTracking.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Orleans.SessionTracking.sln not found above " + AppContext.BaseDirectory);
    }
}
