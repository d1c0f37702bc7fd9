using System.Reflection;
using System.Xml.Linq;
using SessionTracking.Storage.Mongo;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

/// <summary>
/// The storage adapters are the only projects with a database driver; Grains (the grains and the storage port) and
/// Shared (what gateways use too) have none, nor ASP.NET Core, nor clustering or telemetry exporters; Shared does not
/// depend on Grains.
/// </summary>
[TestCategory("BVT")]
public sealed class ProjectLayoutTests
{
    private static readonly string[] Drivers = ["Microsoft.Data.Sqlite", "SQLitePCL", "MongoDB."];

    private static readonly string[] HostingOnly = ["Microsoft.AspNetCore", "Orleans.Clustering.", "Orleans.Hosting.Kubernetes", "OpenTelemetry.Exporter.", "StackExchange.Redis"];

    [Fact]
    public void The_grains_assembly_references_no_driver_no_aspnetcore_and_no_clustering_or_exporter()
    {
        var referenced = typeof(SessionGrain).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();

        Assert.Contains("SessionTracking.Shared", referenced); // the check sees real references
        Assert.DoesNotContain(referenced, name => Drivers.Concat(HostingOnly).Any(name.StartsWith));
        Assert.DoesNotContain(referenced, name => name.StartsWith("SessionTracking.Storage", StringComparison.Ordinal));
    }

    [Fact]
    public void Each_adapter_assembly_carries_its_own_driver_only()
    {
        var sqlite = References(typeof(SqliteSessionStore).Assembly);
        var mongo = References(typeof(MongoSessionStore).Assembly);

        Assert.Contains("Microsoft.Data.Sqlite", sqlite);
        Assert.DoesNotContain(sqlite, name => name.StartsWith("MongoDB.", StringComparison.Ordinal));
        Assert.Contains(mongo, name => name.StartsWith("MongoDB.", StringComparison.Ordinal));
        Assert.DoesNotContain(mongo, name => name.StartsWith("Microsoft.Data.Sqlite", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Grains/Grains.csproj")]
    [InlineData("Shared/Shared.csproj")]
    public void The_project_and_every_project_it_references_declare_no_driver_and_no_aspnetcore(string project)
    {
        var closure = ProjectClosure(Path.Combine(RepoPaths.Root, project));

        Assert.True(closure.Count >= 2, "the walk follows ProjectReference items");
        foreach (var (path, document) in closure)
        {
            var packages = Items(document, "PackageReference").ToList();
            var name = Path.GetRelativePath(RepoPaths.Root, path);
            Assert.True(packages.Count > 0, $"{name} has no PackageReference: the walk reads the wrong items");
            Assert.Empty(packages.Where(p => Drivers.Any(p.StartsWith)).Select(p => $"{name}: {p}"));
            Assert.Empty(Items(document, "FrameworkReference").Select(f => $"{name}: {f}"));
        }

        if (project.StartsWith("Grains/", StringComparison.Ordinal))
        {
            var grains = closure.Single(p => p.Path.EndsWith("Grains.csproj", StringComparison.Ordinal)).Document;
            Assert.DoesNotContain(Items(grains, "PackageReference"), p => HostingOnly.Any(p.StartsWith));
        }
        else
        {
            Assert.DoesNotContain(closure, p => Path.GetFileName(p.Path) == "Grains.csproj");
        }
    }

    private static List<string> References(Assembly assembly) => [.. assembly.GetReferencedAssemblies().Select(a => a.Name!)];

    private static IEnumerable<string> Items(XDocument project, string item) =>
        project.Descendants(item).Select(e => (string?)e.Attribute("Include")).OfType<string>();

    private static List<(string Path, XDocument Document)> ProjectClosure(string project)
    {
        var seen = new List<(string, XDocument)>();
        var pending = new Stack<string>([Path.GetFullPath(project)]);
        while (pending.TryPop(out var path))
        {
            if (seen.Any(s => s.Item1 == path))
            {
                continue;
            }

            var document = XDocument.Load(path);
            seen.Add((path, document));
            foreach (var reference in Items(document, "ProjectReference"))
            {
                pending.Push(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, reference.Replace('\\', Path.DirectorySeparatorChar))));
            }
        }

        return seen;
    }
}
