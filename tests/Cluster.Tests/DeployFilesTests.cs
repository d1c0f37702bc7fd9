using System.Text.RegularExpressions;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;
using YamlDotNet.RepresentationModel;

namespace SessionTracking.Cluster.Tests;

/// <summary>No Docker engine runs here: validate what can be validated without one.</summary>
[TestCategory("BVT")]
public sealed partial class DeployFilesTests
{
    private static readonly string Deploy = Path.Combine(RepoPaths.Root, "deploy");

    [Fact]
    public void Compose_file_parses_and_has_the_documented_topology()
    {
        var services = (YamlMappingNode)Load("docker-compose.yml")[0]["services"];

        Assert.Equal(["entry", "gateway1", "gateway2", "mongo", "redis", "silo1", "silo2"], services.Children.Keys.Select(k => k.ToString()).Order());
        foreach (var silo in new[] { "silo1", "silo2" })
        {
            var environment = (YamlMappingNode)services[silo]["environment"];
            Assert.Equal("Mongo", environment["Storage__Provider"].ToString());
            Assert.Equal(silo, environment["Cluster__AdvertisedHost"].ToString());
        }

        foreach (var gateway in new[] { "gateway1", "gateway2" })
        {
            var environment = (YamlMappingNode)services[gateway]["environment"];
            Assert.Equal("Client", environment["Orleans__Mode"].ToString());
            Assert.StartsWith("${OPERATOR_API_KEY", environment["Security__OperatorApiKey"].ToString(), StringComparison.Ordinal);
        }

        var nginx = File.ReadAllText(Path.Combine(Deploy, "nginx.conf"));
        Assert.Contains("gateway1:8080", nginx, StringComparison.Ordinal);
        Assert.Contains("gateway2:8080", nginx, StringComparison.Ordinal);
    }

    [Fact]
    public void Kubernetes_manifests_parse_and_wire_kubernetes_hosting()
    {
        var documents = Directory.GetFiles(Path.Combine(Deploy, "kubernetes"), "*.yaml").SelectMany(Load).ToList();
        var kinds = documents.Select(d => $"{d["kind"]}/{d["metadata"]["name"]}").ToList();

        Assert.All(documents, d => Assert.False(string.IsNullOrEmpty(d["apiVersion"].ToString())));
        Assert.Contains("Deployment/session-tracking-silo", kinds);
        Assert.Contains("Deployment/session-tracking-gateway", kinds);
        Assert.Contains("Role/orleans-pod-reader", kinds);
        var silo = documents.Single(d => $"{d["kind"]}/{d["metadata"]["name"]}" == "Deployment/session-tracking-silo");
        var container = (YamlMappingNode)((YamlSequenceNode)silo["spec"]["template"]["spec"]["containers"])[0];
        var env = ((YamlSequenceNode)container["env"]).Cast<YamlMappingNode>().Select(e => e["name"].ToString()).ToList();
        Assert.Contains("Cluster__Kubernetes", env);
        Assert.All(["POD_NAME", "POD_NAMESPACE", "POD_IP", "ORLEANS_SERVICE_ID", "ORLEANS_CLUSTER_ID"], name => Assert.Contains(name, env));
        var labels = (YamlMappingNode)silo["spec"]["template"]["metadata"]["labels"];
        Assert.Equal("session-tracking", labels["orleans/serviceId"].ToString());
    }

    [Fact]
    public void Every_setting_the_deploy_files_set_is_a_real_setting()
    {
        var text = string.Concat(new[] { "docker-compose.yml", "Dockerfile.silo", "Dockerfile.gateway" }.Select(f => File.ReadAllText(Path.Combine(Deploy, f))))
                   + string.Concat(Directory.GetFiles(Path.Combine(Deploy, "kubernetes"), "*.yaml").Select(File.ReadAllText));
        var known = new Dictionary<string, Type>
        {
            ["Cluster"] = typeof(ClusterSettings),
            ["Sessions"] = typeof(SessionOptions),
            ["Storage__Sqlite"] = typeof(SqliteStoreOptions),
        };

        foreach (Match match in SettingRegex().Matches(text))
        {
            var (section, key) = (match.Groups[1].Value, match.Groups[2].Value);
            if (known.TryGetValue(section, out var type))
            {
                Assert.True(type.GetProperty(key) is not null, $"{section}__{key} is not a property of {type.Name}");
            }
        }

        Assert.Matches(SettingRegex(), text);
    }

    [Theory]
    [InlineData("Dockerfile.silo", "SessionTracking.Silo.dll", "Silo/Silo.csproj")]
    [InlineData("Dockerfile.gateway", "SessionTracking.Gateway.dll", "Gateway/Gateway.csproj")]
    public void Dockerfiles_are_multi_stage_non_root_and_run_the_built_assembly(string file, string dll, string project)
    {
        var lines = File.ReadAllLines(Path.Combine(Deploy, file));

        Assert.Equal(2, lines.Count(l => l.StartsWith("FROM ", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.StartsWith("USER ", StringComparison.Ordinal) && !l.Contains("root", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains($"dotnet publish {project}", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("ENTRYPOINT", StringComparison.Ordinal) && l.Contains(dll, StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(RepoPaths.Root, project)));
    }

    private static List<YamlNode> Load(string relativePath)
    {
        var stream = new YamlStream();
        using var reader = new StringReader(File.ReadAllText(Path.Combine(Deploy, relativePath)));
        stream.Load(reader);
        return stream.Documents.Select(d => d.RootNode).ToList();
    }

    [GeneratedRegex(@"\b(Cluster|Sessions|Storage__Sqlite)__([A-Za-z]+)\b")]
    private static partial Regex SettingRegex();
}
